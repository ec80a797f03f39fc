package match

import (
	"cmp"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mediawatch/mediawatch/mention"
)

// Finding is one rule firing on one span of one field of a mention.
type Finding struct {
	Category   string   `json:"category"`
	Rule       string   `json:"rule"`
	Severity   Severity `json:"severity"`
	Confidence float64  `json:"confidence"`
	// Field is text, title, author, feed_title, url, links[i] or media[i].alt.
	Field string `json:"field"`
	// Start and End are byte offsets into the field's original string.
	Start int `json:"start"`
	End   int `json:"end"`
	// Evidence is the matched text, unredacted: when Sensitive it is personal
	// data and must go out only through RedactedEvidence or Redact.
	Evidence string `json:"evidence"`
	// Words are the rule's keywords and context words that fired.
	Words       []string `json:"words,omitempty"`
	Explanation string   `json:"explanation"`
	Sensitive   bool     `json:"sensitive"`
	// Institutions are the ids of the mentioned institutions the finding
	// concerns.
	Institutions []string `json:"institutions,omitempty"`
}

// Result is what the matcher makes of one mention.
type Result struct {
	// Institutions mentioned, by id, sorted.
	Institutions []string `json:"institutions,omitempty"`
	// Findings sorted by field (text, title, author, feed_title, url, links,
	// media), start, end and rule id.
	Findings []Finding `json:"findings,omitempty"`
}

// Matcher applies a compiled rule set. It is immutable once compiled and safe
// for concurrent use; a reload compiles a new Matcher.
type Matcher struct {
	rules        []compiledRule // sorted by id
	institutions []compiledInstitution
	// phrases holds every institution form and every rule word.
	phrases *phraseSet
	uses    []phraseUse // by phrase id
	// unkeyed are the rules without keywords, which every field they look
	// at may trigger.
	unkeyed []int32
	// literals holds the required literals and the prefixes of every
	// pattern (see pattern), literalRules and prefixRules the rules each
	// is a literal or a prefix of, by id.
	literals     *phraseSet
	literalRules [][]int32
	prefixRules  [][]int32
	// scratch recycles the buffers of Match.
	scratch sync.Pool
}

// phraseUse says what a hit of one phrase starts: the institutions it
// names, the rules it is a keyword of and the rules it silences.
type phraseUse struct {
	names     []int32
	keywordOf []int32
	silences  []int32
}

type compiledInstitution struct {
	Institution
	names []int // phrase ids of name, aliases and handles
	// shortNames and otherNames are phrase ids (see Institution), with[k]
	// the phrase ids of shortNames[k]'s With words.
	shortNames, otherNames []int
	with                   [][]int
	forms                  []string
	accounts               []string // folded, without leading '@'
	domains                []string
}

// phraseRef is a rule word compiled to a phrase id. inst is the institution
// an expanded {institution} word stands for, or -1.
type phraseRef struct {
	id   int
	word string
	inst int
	// short marks an institution's short name standing in for
	// {institution}: it needs a sentence around it to mean the institution.
	short bool
}

type compiledRule struct {
	Rule
	index     int // in Matcher.rules
	insts     []int
	fields    []string
	fieldSet  fieldKinds
	minDigits int // a field with fewer digits holds no number for the validator
	keywords  []phraseRef
	pattern   *pattern
	ctxAny    []phraseRef
	ctxNone   []phraseRef
	ctxLabels []phraseRef
	// near holds the compiled word groups of Near, in order.
	near [][]phraseRef
	// domains are the official domains of the rule's institutions, for a
	// lookalike_domain detector; domainInst[k] owns domains[k].
	domains    []string
	domainInst []int
	checker    domainChecker
	excPhrase  []int
	excAuthor  []string
	excDomain  []string
}

// Compile checks the rules against the institutions and builds a Matcher.
// Every problem is reported, joined; rule problems are *RuleError.
func Compile(rules []Rule, institutions []Institution) (*Matcher, error) {
	m := &Matcher{phrases: newPhraseSet()}
	var errs []error

	insts := make([]Institution, len(institutions))
	for i, in := range institutions {
		in.Aliases = slices.Clone(in.Aliases)
		in.OfficialAccounts = slices.Clone(in.OfficialAccounts)
		in.OfficialDomains = slices.Clone(in.OfficialDomains)
		insts[i] = in
	}
	slices.SortFunc(insts, func(a, b Institution) int { return cmp.Compare(a.ID, b.ID) })
	instIndex := map[string]int{}
	for _, in := range insts {
		switch {
		case strings.TrimSpace(in.ID) == "":
			errs = append(errs, fmt.Errorf("institution %q: missing id", in.Name))
			continue
		case strings.TrimSpace(in.Name) == "":
			errs = append(errs, fmt.Errorf("institution %s: missing name", in.ID))
			continue
		}
		if _, dup := instIndex[in.ID]; dup {
			errs = append(errs, fmt.Errorf("institution %s: duplicate id", in.ID))
			continue
		}
		ci := compiledInstitution{Institution: in, forms: institutionForms(in)}
		for _, sn := range in.ShortNames {
			if strings.TrimSpace(sn.Name) == "" || len(sn.With) == 0 {
				errs = append(errs, fmt.Errorf("institution %s: a short name needs a name and with words", in.ID))
				continue
			}
			ci.shortNames = append(ci.shortNames, m.phrases.add(sn.Name))
			var with []int
			for _, w := range sn.With {
				with = append(with, m.phrases.add(w))
			}
			ci.with = append(ci.with, with)
		}
		for _, on := range in.OtherNames {
			ci.otherNames = append(ci.otherNames, m.phrases.add(on))
		}
		for _, f := range ci.forms {
			ci.names = append(ci.names, m.phrases.add(f))
		}
		for _, a := range in.OfficialAccounts {
			if a = accountKey(a); a != "" {
				ci.accounts = append(ci.accounts, a)
			}
		}
		for _, d := range in.OfficialDomains {
			if d = normDomain(d); d != "" {
				ci.domains = append(ci.domains, d)
			}
		}
		instIndex[in.ID] = len(m.institutions)
		m.institutions = append(m.institutions, ci)
	}

	sorted := make([]Rule, len(rules))
	for i, r := range rules {
		sorted[i] = r.clone()
	}
	slices.SortStableFunc(sorted, func(a, b Rule) int { return cmp.Compare(a.ID, b.ID) })
	for i, r := range sorted {
		if i > 0 && sorted[i-1].ID == r.ID {
			errs = append(errs, &RuleError{File: r.File, Line: r.Line, Rule: r.ID,
				Msg: fmt.Sprintf("duplicate id, also defined at %s:%d", sorted[i-1].File, sorted[i-1].Line)})
			continue
		}
		cr, err := m.compileRule(r, instIndex)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.rules = append(m.rules, cr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m.index()
	return m, nil
}

// index builds the phrase automaton and the tables that lead from a phrase
// hit to the institutions and rules it concerns.
func (m *Matcher) index() {
	m.phrases.build()
	m.uses = make([]phraseUse, len(m.phrases.phrases))
	for i, in := range m.institutions {
		for _, id := range in.names {
			m.uses[id].names = appendOnce(m.uses[id].names, int32(i))
		}
	}
	m.literals = &phraseSet{ids: map[string]int{}, anywhere: true}
	for ri := range m.rules {
		r := &m.rules[ri]
		r.index = ri
		if r.pattern != nil {
			for _, lit := range r.pattern.literals {
				id := m.literals.add(lit)
				for id >= len(m.literalRules) {
					m.literalRules = append(m.literalRules, nil)
					m.prefixRules = append(m.prefixRules, nil)
				}
				m.literalRules[id] = appendOnce(m.literalRules[id], int32(ri))
			}
			for _, prefix := range r.pattern.prefixList {
				id := m.literals.add(prefix)
				for id >= len(m.literalRules) {
					m.literalRules = append(m.literalRules, nil)
					m.prefixRules = append(m.prefixRules, nil)
				}
				m.prefixRules[id] = appendOnce(m.prefixRules[id], int32(ri))
			}
		}
		// The words of a near rule's first group trigger it, like keywords:
		// without one of them it cannot match.
		triggers := r.keywords
		if len(triggers) == 0 && len(r.near) > 0 {
			triggers = r.near[0]
		}
		for _, kw := range triggers {
			m.uses[kw.id].keywordOf = appendOnce(m.uses[kw.id].keywordOf, int32(ri))
		}
		for _, id := range r.excPhrase {
			m.uses[id].silences = appendOnce(m.uses[id].silences, int32(ri))
		}
		if len(triggers) == 0 {
			m.unkeyed = append(m.unkeyed, int32(ri))
		}
	}
	m.literals.build()
}

func appendOnce(list []int32, v int32) []int32 {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

func (m *Matcher) compileRule(r Rule, instIndex map[string]int) (compiledRule, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, &RuleError{File: r.File, Line: r.Line, Rule: r.ID, Msg: fmt.Sprintf(format, args...)})
	}
	cr := compiledRule{Rule: r, fields: r.Fields}
	if len(cr.fields) == 0 {
		cr.fields = defaultFields()
	}
	for _, f := range cr.fields {
		k := fieldKindOf(f)
		if k == 0 {
			fail("unknown field %q", f)
		}
		cr.fieldSet |= k
	}
	cr.minDigits = validatorMinDigits(r.Validator)
	if len(r.Institutions) == 0 {
		for i := range m.institutions {
			cr.insts = append(cr.insts, i)
		}
	}
	for _, id := range r.Institutions {
		i, ok := instIndex[id]
		if !ok {
			fail("unknown institution %q", id)
			continue
		}
		if !slices.Contains(cr.insts, i) {
			cr.insts = append(cr.insts, i)
		}
	}
	slices.Sort(cr.insts)
	if !slices.Contains(Categories, r.Category) {
		fail("unknown category %q", r.Category)
	}
	if !r.Severity.Valid() {
		fail("unknown severity %q", r.Severity)
	}
	if r.Validator != "" && validatorFinder(r.Validator) == nil {
		fail("unknown validator %q", r.Validator)
	}
	if r.Author != "" && r.Author != AuthorNonOfficial {
		fail("unknown author condition %q", r.Author)
	}
	if r.Confidence < 0 || r.Confidence > 1 {
		fail("confidence %v out of range [0, 1]", r.Confidence)
	}
	if r.Context.Window < 0 {
		fail("negative context window %d", r.Context.Window)
	}
	if r.Context.Window == 0 {
		cr.Context.Window = DefaultContextWindow
	}
	if r.Context.LabelWindow < 0 {
		fail("negative label window %d", r.Context.LabelWindow)
	}
	if r.Context.LabelWindow == 0 {
		cr.Context.LabelWindow = DefaultLabelWindow
	}

	cr.keywords = m.expandWords(r.Keywords, cr.insts)
	cr.ctxAny = m.expandWords(r.Context.Any, cr.insts)
	cr.ctxNone = m.expandWords(r.Context.None, cr.insts)
	cr.ctxLabels = m.expandWords(r.Context.Labels, cr.insts)
	for _, g := range r.Near.Groups {
		cr.near = append(cr.near, m.expandWords(g, cr.insts))
	}
	if len(r.Near.Groups) == 1 {
		fail("near needs at least two groups")
	}
	if len(r.Near.Groups) > 0 && r.Near.Window == 0 {
		cr.Near.Window = DefaultNearWindow
	}
	if r.Detector != "" && r.Detector != DetectorLookalikeDomain {
		fail("unknown detector %q", r.Detector)
	}
	if r.Detector == DetectorLookalikeDomain {
		for _, i := range cr.insts {
			for _, d := range m.institutions[i].domains {
				cr.domains = append(cr.domains, d)
				cr.domainInst = append(cr.domainInst, i)
			}
		}
		cr.checker = newDomainChecker(cr.domains)
	}
	for _, p := range m.expandWords(r.Exceptions.Phrases, cr.insts) {
		cr.excPhrase = append(cr.excPhrase, p.id)
	}
	for _, a := range r.Exceptions.Authors {
		cr.excAuthor = append(cr.excAuthor, accountKey(a))
	}
	for _, d := range r.Exceptions.Domains {
		cr.excDomain = append(cr.excDomain, normDomain(d))
	}
	if r.Pattern != "" {
		var alts []string
		for _, i := range cr.insts {
			for _, f := range m.institutions[i].forms {
				alts = append(alts, regexp.QuoteMeta(f))
			}
		}
		expansion := "(?:" + strings.Join(alts, "|") + ")"
		if len(alts) == 0 {
			expansion = `[^\x00-\x{10FFFF}]` // no institution: matches nothing
		}
		pat, err := compilePattern(strings.ReplaceAll(r.Pattern, institutionToken, expansion))
		if err != nil {
			fail("bad pattern: %v", err)
		}
		cr.pattern = pat
	}
	if len(cr.keywords) == 0 && r.Pattern == "" && r.Validator == "" && len(cr.near) == 0 && r.Detector == "" {
		fail("needs keywords, a pattern, a validator, near groups or a detector")
	}
	return cr, errors.Join(errs...)
}

// expandWords compiles rule words, replacing {institution} with every form
// of every institution the rule covers.
func (m *Matcher) expandWords(words []string, insts []int) []phraseRef {
	var refs []phraseRef
	seen := map[int]bool{} // "patient" and "patiënt" fold to one phrase
	add := func(w string, inst int, short bool) {
		if strings.TrimSpace(FoldString(w)) == "" {
			return
		}
		id := m.phrases.add(w)
		if !seen[id] {
			seen[id] = true
			refs = append(refs, phraseRef{id: id, word: w, inst: inst, short: short})
		}
	}
	for _, w := range words {
		if !strings.Contains(w, institutionToken) {
			add(w, -1, false)
			continue
		}
		for _, i := range insts {
			for _, f := range m.institutions[i].forms {
				add(strings.ReplaceAll(w, institutionToken, f), i, false)
			}
			// Short names stand for the institution in rule words too: a
			// rule only runs on a post whose institution is settled, and
			// then "het UZ" next to an alarm word is about it.
			for _, sn := range m.institutions[i].ShortNames {
				add(strings.ReplaceAll(w, institutionToken, sn.Name), i, true)
			}
		}
	}
	return refs
}

// institutionForms are the names an institution goes by: its name, aliases
// and, for handles and hashtags (#UMCUtrecht, @uzleuven), those written
// without spaces.
func institutionForms(in Institution) []string {
	var forms []string
	for _, n := range append([]string{in.Name}, in.Aliases...) {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		forms = append(forms, n)
		if compact := strings.Join(strings.Fields(n), ""); compact != n {
			forms = append(forms, compact)
		}
	}
	return slices.Compact(forms)
}

// accountKey normalises an account name or handle for comparison.
func accountKey(s string) string {
	return strings.TrimPrefix(strings.TrimSpace(FoldString(s)), "@")
}

func normDomain(d string) string {
	return strings.Trim(strings.ToLower(strings.TrimSpace(d)), ".")
}

// onDomain reports whether rawURL's host is one of domains or a subdomain.
func onDomain(rawURL string, domains []string) bool {
	if len(domains) == 0 {
		return false
	}
	host, ok := hostOf(rawURL)
	return ok && hostOnDomain(host, domains)
}

// hostOf returns the lower-case host of rawURL without a trailing dot, and
// false for an empty or unparsable URL or one without a host.
func hostOf(rawURL string) (string, bool) {
	if rawURL == "" {
		return "", false
	}
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), true
}

func hostOnDomain(host string, domains []string) bool {
	for _, d := range domains {
		if host == d || (len(host) > len(d) && strings.HasSuffix(host, d) && host[len(host)-len(d)-1] == '.') {
			return true
		}
	}
	return false
}

// isAccount reports whether the author or feed title names one of the
// accounts, either as a whole ("UMC Utrecht") or as a handle inside it
// ("UMC Utrecht (@umcutrecht@mastodon.nl)").
func isAccount(name string, accounts []string) bool {
	key := accountKey(name)
	if key == "" {
		return false
	}
	if slices.Contains(accounts, key) {
		return true
	}
	for _, tok := range strings.FieldsFunc(FoldString(name), func(r rune) bool {
		return r == ' ' || r == '(' || r == ')' || r == '[' || r == ']' || r == '<' || r == '>' || r == ',' || r == '|'
	}) {
		if !strings.HasPrefix(tok, "@") {
			continue
		}
		handle, _, _ := strings.Cut(tok[1:], "@")
		if handle != "" && slices.Contains(accounts, handle) {
			return true
		}
	}
	return false
}

// Rules returns the compiled rules sorted by id.
func (m *Matcher) Rules() []Rule {
	out := make([]Rule, len(m.rules))
	for i, r := range m.rules {
		out[i] = r.Rule.clone()
	}
	return out
}

func (m *Matcher) explain(r *compiledRule, fd Finding) string {
	tmpl := r.Explanation
	if tmpl == "" {
		tmpl = "{rule}: {words} in {field}"
	}
	words := "pattern match"
	if len(fd.Words) > 0 {
		quoted := make([]string, len(fd.Words))
		for i, w := range fd.Words {
			quoted[i] = strconv.Quote(w)
		}
		words = strings.Join(quoted, ", ")
	}
	var names []string
	for _, id := range fd.Institutions {
		for _, in := range m.institutions {
			if in.ID == id {
				names = append(names, in.Name)
			}
		}
	}
	var b strings.Builder
	for {
		before, rest, found := strings.Cut(tmpl, "{")
		b.WriteString(before)
		if !found {
			return b.String()
		}
		name, after, closed := strings.Cut(rest, "}")
		switch {
		case !closed:
			b.WriteString("{" + rest)
			return b.String()
		case name == "rule":
			b.WriteString(r.ID)
		case name == "words":
			b.WriteString(words)
		case name == "field":
			b.WriteString(fd.Field)
		case name == "institutions":
			b.WriteString(strings.Join(names, ", "))
		default:
			b.WriteString("{" + name + "}")
		}
		tmpl = after
	}
}

// TestExamples runs every rule's examples through this matcher: each
// examples.match must make the rule fire and no examples.no_match may. It
// reports every failing example as a *RuleError at the example's line.
func (m *Matcher) TestExamples() error {
	var errs []error
	for _, r := range m.rules {
		check := func(list string, examples []Example, want bool) {
			for i, ex := range examples {
				mn := &mention.Mention{Text: ex.Text, Title: ex.Title, Author: ex.Author, FeedTitle: ex.FeedTitle, URL: ex.URL}
				if ex.MediaAlt != "" {
					mn.Media = []mention.Media{{Alt: ex.MediaAlt}}
				}
				res := m.Match(mn)
				fired := slices.ContainsFunc(res.Findings, func(f Finding) bool { return f.Rule == r.ID })
				if fired == want {
					continue
				}
				verb := "did not fire"
				if !want {
					verb = "fired"
				}
				line := ex.Line
				if line == 0 {
					line = r.Line
				}
				errs = append(errs, &RuleError{File: r.File, Line: line, Rule: r.ID,
					Msg: fmt.Sprintf("examples.%s[%d] %s: %s", list, i, verb, ex)})
			}
		}
		check("match", r.Examples.Match, true)
		check("no_match", r.Examples.NoMatch, false)
	}
	return errors.Join(errs...)
}
