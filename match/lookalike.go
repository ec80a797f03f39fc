package match

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/unicode/norm"
)

// Reasons a host is reported as a lookalike of an official domain. They are
// metric label values and alert text, so they never change spelling.
const (
	LookalikeTypo              = "typo"
	LookalikeAddedWords        = "added words"
	LookalikeHyphenated        = "hyphenated"
	LookalikeOtherTLD          = "other TLD"
	LookalikeHomoglyph         = "homoglyph"
	LookalikePunycodeHomoglyph = "punycode homoglyph"
	LookalikeInsideOtherDomain = "official name inside another domain"
)

// DomainVerdict says why a host looks like an official domain.
type DomainVerdict struct {
	// Host is the host as examined: lower-case, without scheme, userinfo,
	// port, path or trailing dot.
	Host string
	// Official is the official domain it imitates, as configured (cleaned
	// the same way).
	Official string
	// Reason is one of the Lookalike* constants.
	Reason string
}

// Limits from RFC 1035, counted in runes so that Unicode hosts are judged
// before conversion. They also bound the cost of the edit distance.
const (
	maxHostRunes  = 253
	maxLabelRunes = 63
)

// minTypoLetters is the shortest official label that edit distance applies
// to: one or two edits turn a three-letter name like "wkz" into countless
// unrelated domains, so short names need an exact label.
const minTypoLetters = 6

// LookalikeDomain reports whether host imitates one of the official domains.
// host may be a bare host name or a URL; case, userinfo, port and a trailing
// dot do not matter. An official domain, its subdomains and anything else
// under the same registrable domain are never lookalikes, nor are IP
// addresses, public suffixes or malformed hosts.
//
// The checks run from the most to the least certain, across all official
// domains, and the first hit wins: a host that renders as an official domain
// (homoglyphs); the official label under another public suffix, with hyphens
// inserted, with words added, or in front of a foreign domain; the same
// after mapping confusable characters; a small edit distance from the
// official label.
func LookalikeDomain(host string, official []string) (DomainVerdict, bool) {
	return newDomainChecker(official).check(host)
}

// domainChecker holds official domains parsed once (public suffix, IDNA,
// confusables), for a matcher that checks every host of every post.
type domainChecker struct {
	official []parsedHost
}

func newDomainChecker(official []string) domainChecker {
	var c domainChecker
	for _, o := range official {
		if od, ok := parseHostName(o); ok {
			c.official = append(c.official, od)
		}
	}
	return c
}

// check is LookalikeDomain against the checker's official domains.
func (c domainChecker) check(host string) (DomainVerdict, bool) {
	h, ok := parseHostName(host)
	if !ok {
		return DomainVerdict{}, false
	}
	officials := make([]parsedHost, 0, len(c.official))
	for _, od := range c.official {
		// Subdomains are official by definition; the rest of the same
		// registrable domain belongs to the same registrant, so a near-miss
		// like "www2.umcutrecht.nl" is no impersonation either.
		if h.ascii == od.ascii || strings.HasSuffix(h.ascii, "."+od.ascii) ||
			(h.registrable() && h.etldPlusOne == od.etldPlusOne) {
			return DomainVerdict{}, false
		}
		if od.registrable() {
			officials = append(officials, od)
		}
	}
	if !h.registrable() {
		return DomainVerdict{}, false
	}
	verdict := func(o parsedHost, reason string) (DomainVerdict, bool) {
		return DomainVerdict{Host: h.clean, Official: o.clean, Reason: reason}, true
	}
	homoglyph := LookalikeHomoglyph
	if h.punycode {
		homoglyph = LookalikePunycodeHomoglyph
	}

	plain, skel := h.parts(h.labels), h.parts(h.skeleton)
	for _, o := range officials {
		// Rendering as the official domain itself beats any other reading
		// ("uzleuven.bе" with a Cyrillic е is not merely another TLD).
		if sk := o.parts(o.skeleton); skel.label == sk.label && skel.suffix == sk.suffix {
			return verdict(o, homoglyph)
		}
	}
	for _, o := range officials {
		if reason := lookalikeShape(plain, o.parts(o.labels)); reason != "" {
			return verdict(o, reason)
		}
	}
	for _, o := range officials {
		if lookalikeShape(skel, o.parts(o.skeleton)) != "" {
			return verdict(o, homoglyph)
		}
	}
	for _, o := range officials {
		// A non-ASCII label that is a small edit away is a homoglyph (or an
		// accent) doing the work, so only ASCII labels count as typos.
		if allASCII(plain.label) && isTypoOf(plain.label, o.parts(o.labels).label) {
			return verdict(o, LookalikeTypo)
		}
	}
	for _, o := range officials {
		if isTypoOf(skel.label, o.parts(o.skeleton).label) {
			return verdict(o, homoglyph)
		}
	}
	return DomainVerdict{}, false
}

// parsedHost is a host name in the forms the checks compare.
type parsedHost struct {
	clean string // lower-case input form, as reported
	ascii string // every label in ASCII (IDN labels as punycode)
	// labels are the lower-case labels with punycode decoded, the form a
	// reader sees in a browser's address bar.
	labels []string
	// skeleton holds labels with accents removed and confusable characters
	// replaced by the Latin letters they imitate.
	skeleton []string
	punycode bool // some label was punycode that decoded to non-ASCII
	// etldPlusOne is the registrable domain in ASCII, "" for a public
	// suffix; suffix is the number of labels in its public suffix.
	etldPlusOne string
	suffix      int
}

// hostParts is a host split around its registrable label, as in
// sub "www", label "umcutrecht", suffix "nl".
type hostParts struct {
	sub    []string
	label  string
	suffix string
}

func (d *parsedHost) registrable() bool { return d.etldPlusOne != "" }

func (d *parsedHost) parts(labels []string) hostParts {
	i := len(labels) - d.suffix - 1
	return hostParts{sub: labels[:i], label: labels[i], suffix: strings.Join(labels[i+1:], ".")}
}

// parseHostName cleans s and splits it into labels. ok is false for anything
// that is not a host name: empty labels, stray characters, IP addresses.
func parseHostName(s string) (parsedHost, bool) {
	clean, ok := cleanHostName(s)
	if !ok {
		return parsedHost{}, false
	}
	d := parsedHost{clean: clean}
	raw := strings.Split(clean, ".")
	ascii := make([]string, len(raw))
	d.labels = make([]string, len(raw))
	d.skeleton = make([]string, len(raw))
	for i, l := range raw {
		a, u := l, l
		if allASCII(l) {
			if strings.HasPrefix(l, "xn--") {
				// Decode leniently: what matters is how the label renders,
				// and a phisher's label need not pass a registry's checks.
				if dec, err := idna.Punycode.ToUnicode(l); err == nil && dec != l {
					u = strings.ToLower(dec)
					d.punycode = d.punycode || !allASCII(u)
				}
			}
		} else {
			enc, err := idna.Punycode.ToASCII(l)
			if err != nil {
				return parsedHost{}, false
			}
			a = strings.ToLower(enc)
		}
		ascii[i], d.labels[i], d.skeleton[i] = a, u, confusableSkeleton(u)
	}
	d.ascii = strings.Join(ascii, ".")
	if last := ascii[len(ascii)-1]; strings.Trim(last, "0123456789") == "" {
		return parsedHost{}, false // an IPv4 address or a numeric name
	}
	// A public suffix itself ("nl", "co.uk") has no registrable domain and
	// cannot be split; it is still a valid host for the subdomain check.
	if etld1, err := publicsuffix.EffectiveTLDPlusOne(d.ascii); err == nil {
		d.etldPlusOne = etld1
		d.suffix = strings.Count(etld1, ".")
	}
	return d, true
}

// cleanHostName reduces a host or URL to a lower-case host name without
// userinfo, port or surrounding dots, and checks its syntax.
func cleanHostName(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+len("://"):]
	}
	if i := strings.IndexAny(s, "/?#\\"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if strings.HasPrefix(s, "[") {
		return "", false // IPv6 literal
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if strings.Trim(s[i+1:], "0123456789") != "" {
			return "", false
		}
		s = s[:i]
	}
	s = strings.Trim(s, ".")
	return s, validHostName(s, 1)
}

// validHostName reports whether s is a host name of at least minLabels
// labels: letters (any script), digits and inner hyphens.
func validHostName(s string, minLabels int) bool {
	if s == "" || utf8.RuneCountInString(s) > maxHostRunes {
		return false
	}
	labels := 0
	for l := range strings.SplitSeq(s, ".") {
		labels++
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' || utf8.RuneCountInString(l) > maxLabelRunes {
			return false
		}
		for _, r := range l {
			if !isHostLabelRune(r) {
				return false
			}
		}
	}
	return labels >= minLabels
}

func isHostLabelRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-'
	}
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r))
}

func allASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lookalikeShape compares a host with an official domain, both split and in
// the same form, for the structural tricks: same label under another suffix,
// hyphens inserted, words added, or the name in front of a foreign domain.
// The caller has ruled out the official registrable domain itself.
func lookalikeShape(h, o hostParts) string {
	if h.label == o.label {
		if h.suffix != o.suffix {
			return LookalikeOtherTLD
		}
		return ""
	}
	flat, oflat := strings.ReplaceAll(h.label, "-", ""), strings.ReplaceAll(o.label, "-", "")
	if flat == oflat {
		return LookalikeHyphenated
	}
	if hasNameWithWords(h.label, o.label, true) {
		return LookalikeAddedWords
	}
	for _, sub := range h.sub {
		if hasNameWithWords(sub, o.label, false) {
			return LookalikeInsideOtherDomain
		}
	}
	return ""
}

// hasNameWithWords reports whether label is name with words added. A long name
// may be glued to the words ("umcutrechtnieuws"); a short one must stand
// between hyphens, since "wkz" inside a longer word is mostly coincidence.
// With needWord a single glued letter is no word: "umcutrechtt" is a
// typo, not an added word.
func hasNameWithWords(label, name string, needWord bool) bool {
	if label == name {
		return true
	}
	if utf8.RuneCountInString(strings.ReplaceAll(name, "-", "")) < minTypoLetters {
		return slices.Contains(strings.Split(label, "-"), name)
	}
	flat, oflat := strings.ReplaceAll(label, "-", ""), strings.ReplaceAll(name, "-", "")
	if !strings.Contains(flat, oflat) {
		return false
	}
	if needWord && !strings.Contains(label, "-") && utf8.RuneCountInString(flat)-utf8.RuneCountInString(oflat) < 2 {
		return false
	}
	return true
}

// typoBudget is how many edits still read as the name: one for a name of
// six to nine letters, two from ten. Two edits on "uzleuven" would already
// reach "kuleuven", a different institution.
func typoBudget(letters int) int {
	switch {
	case letters < minTypoLetters:
		return 0
	case letters < 10:
		return 1
	default:
		return 2
	}
}

// isTypoOf reports whether label, or one of its hyphen-separated words, is
// within the typo budget of the official label (and not equal to it).
func isTypoOf(label, official string) bool {
	oflat := []rune(strings.ReplaceAll(official, "-", ""))
	budget := typoBudget(len(oflat))
	if budget == 0 {
		return false
	}
	near := func(s string) bool {
		r := []rune(s)
		d := osaDistance(r, oflat, budget)
		return d > 0 && d <= budget
	}
	if near(strings.ReplaceAll(label, "-", "")) {
		return true
	}
	if !strings.Contains(label, "-") {
		return false
	}
	for w := range strings.SplitSeq(label, "-") {
		if near(w) {
			return true
		}
	}
	return false
}

// osaDistance is the Damerau–Levenshtein distance in its optimal string
// alignment form (adjacent transpositions count as one edit, as a slip of
// the fingers does). It stops early and returns limit+1 once the distance
// is known to exceed limit.
func osaDistance(a, b []rune, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	rows := make([]int, 3*(len(b)+1))
	prev2, prev, cur := rows[:len(b)+1], rows[len(b)+1:2*(len(b)+1)], rows[2*(len(b)+1):]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit+1)
}

// confusableSkeleton maps a label to the Latin letters it looks like, so that two
// labels that render alike compare equal. Compatibility forms (full-width
// and mathematical letters) and accents go first, then single confusable
// characters, then letter pairs that render as one letter. i, l and 1 all
// become l: they are the same stroke in many fonts.
func confusableSkeleton(label string) string {
	s := strings.ToLower(label)
	if allASCII(s) {
		// Most labels are plain ASCII without a confusable: skip the work.
		if !strings.ContainsAny(s, "01i|") && !strings.Contains(s, "rn") && !strings.Contains(s, "vv") {
			return s
		}
	} else {
		s = FoldString(norm.NFKC.String(s))
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if m, ok := confusableRunes[r]; ok {
			r = m
		}
		b.WriteRune(r)
	}
	return confusablePairs.Replace(b.String())
}

// confusableRunes are characters that render like a Latin letter in common
// fonts: digits, Cyrillic and Greek letters (lower case, since hosts are
// shown lower-case) and a few Latin variants.
var confusableRunes = map[rune]rune{
	'0': 'o', '1': 'l', 'i': 'l', '|': 'l', 'ı': 'l', 'ɩ': 'l', 'ǀ': 'l',
	'ɑ': 'a', 'ɡ': 'g', 'ʏ': 'y',
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h',
	'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ь': 'b',
	'і': 'l', 'ї': 'l', 'ј': 'j', 'ѕ': 's', 'һ': 'h', 'ԁ': 'd', 'ԛ': 'q',
	'ԝ': 'w', 'ү': 'y', 'ӏ': 'l', 'п': 'n', 'г': 'r',
	// Greek
	'α': 'a', 'β': 'b', 'γ': 'y', 'ε': 'e', 'η': 'n', 'ι': 'l', 'κ': 'k',
	'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ω': 'w',
	'ϲ': 'c', 'ϳ': 'j',
}

var confusablePairs = strings.NewReplacer("rn", "m", "vv", "w")

// FindHosts returns the byte spans of host names in free text: hosts of
// URLs with any scheme (after userinfo, before port) and bare domains such
// as "umcutrecht-nl.info" or "www.uzleuven-info.be/login". Bare domains need
// a suffix from the public suffix list, so "bijv.nu" counts but "zei.Toen"
// does not. The user part of an e-mail address is never a host; its domain
// part is. Spans point into s, in order, without overlap.
func FindHosts(s string) [][2]int {
	var spans [][2]int
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf && !hostWordBytes[c] {
			i++ // white space and punctuation between words
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isHostWordRune(r) {
			i += size
			continue
		}
		j := scanHostWord(s, i)
		if strings.HasPrefix(s[j:], "://") {
			start, end, next := authorityHost(s, j+len("://"))
			if start < end {
				spans = append(spans, [2]int{start, end})
			}
			i = next
			continue
		}
		if at := scanWhile(s, j, isMailboxRune); at < len(s) && s[at] == '@' {
			i = at + 1 // everything up to '@' is the user part of an address
			continue
		}
		start, end := trimHostSpan(s, i, j)
		if start < end && isBareDomain(s[start:end]) {
			spans = append(spans, [2]int{start, end})
			i = skipURLRest(s, end)
			continue
		}
		i = j
	}
	return spans
}

// authorityHost finds the host in the authority starting at p: after the last
// '@' (so "https://umcutrecht.nl@evil.example" yields the real target) and
// before any port. next is where scanning resumes, after the whole URL.
func authorityHost(s string, p int) (start, end, next int) {
	e := scanWhile(s, p, isAuthorityRune)
	next = skipURLRest(s, e)
	hs := p
	if k := strings.LastIndexByte(s[p:e], '@'); k >= 0 {
		hs = p + k + 1
	}
	start, end = trimHostSpan(s, hs, scanWhile(s, hs, isHostWordRune))
	if start >= end || !validHostName(s[start:end], 1) {
		return 0, 0, next
	}
	return start, end, next
}

// trimHostSpan drops the dots and hyphens a host cannot start or end with: the
// full stop after "zie umcutrecht.nl." or an ellipsis before a name.
func trimHostSpan(s string, i, j int) (int, int) {
	for i < j && (s[i] == '.' || s[i] == '-') {
		i++
	}
	for j > i && (s[j-1] == '.' || s[j-1] == '-') {
		j--
	}
	return i, j
}

// isBareDomain reports whether a dotted word outside a URL is a host name: it
// needs a registrable domain under a suffix from the public suffix list, so
// sentences run together ("zei.Toen") and version numbers do not count.
func isBareDomain(h string) bool {
	// Two labels need a dot; most words have none.
	if strings.IndexByte(h, '.') < 0 || !validHostName(h, 2) {
		return false
	}
	ascii, err := idna.Punycode.ToASCII(strings.ToLower(h))
	if err != nil {
		return false
	}
	tld := ascii[strings.LastIndexByte(ascii, '.')+1:]
	if strings.Trim(tld, "abcdefghijklmnopqrstuvwxyz") != "" && !strings.HasPrefix(tld, "xn--") {
		return false
	}
	ps, icann := publicsuffix.PublicSuffix(ascii)
	return (icann || strings.Contains(ps, ".")) && len(ps) < len(ascii)
}

// skipURLRest returns the end of a URL's path, query or port after a host
// ending at i, so that file names in paths are not taken for hosts.
func skipURLRest(s string, i int) int {
	if i >= len(s) || !strings.ContainsRune("/?#:", rune(s[i])) {
		return i
	}
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) || r == '<' || r == '>' || r == '"' {
			break
		}
		i += size
	}
	return i
}

func scanWhile(s string, i int, in func(rune) bool) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !in(r) {
			break
		}
		i += size
	}
	return i
}

// scanHostWord is scanWhile(s, i, isHostWordRune), a byte at a time over
// ASCII.
func scanHostWord(s string, i int) int {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if !hostWordBytes[c] {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isHostWordRune(r) {
			break
		}
		i += size
	}
	return i
}

// hostWordBytes is isHostWordRune for ASCII.
var hostWordBytes = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = isHostWordRune(rune(c))
	}
	return t
}()

// isHostWordRune is a character that continues a host-like word. '_' is
// included so that "foo_bar.nl" is rejected whole rather than read as
// "bar.nl".
func isHostWordRune(r rune) bool {
	return r == '.' || r == '_' || isHostLabelRune(r)
}

func isAuthorityRune(r rune) bool {
	return isHostWordRune(r) || (r < utf8.RuneSelf && strings.ContainsRune("~%!$&*+=:@", r))
}

func isMailboxRune(r rune) bool {
	return isHostWordRune(r) || r == '+' || r == '%' || r == '\''
}
