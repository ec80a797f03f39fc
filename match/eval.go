package match

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mediawatch/mediawatch/mention"
)

// fieldKinds is a set of the field kinds rules name, one bit each.
type fieldKinds uint8

const (
	kindText fieldKinds = 1 << iota
	kindTitle
	kindAuthor
	kindFeedTitle
	kindURL
	kindLinks
	kindMediaAlt
)

// sentences reports whether fields of the kind are running text. A short
// name ("Pellenberg", also a village) means the institution only in a
// sentence that says so; in a handle, a feed title or a URL it says
// nothing.
func (k fieldKinds) sentences() bool {
	return k&(kindText|kindTitle|kindMediaAlt) != 0
}

func fieldKindOf(name string) fieldKinds {
	switch name {
	case FieldText:
		return kindText
	case FieldTitle:
		return kindTitle
	case FieldAuthor:
		return kindAuthor
	case FieldFeedTitle:
		return kindFeedTitle
	case FieldURL:
		return kindURL
	case FieldLinks:
		return kindLinks
	case FieldMediaAlt:
		return kindMediaAlt
	}
	return 0
}

// field is one string of a mention being matched. Its buffers are reused
// from one mention to the next.
type field struct {
	kind  fieldKinds
	index int // of the link or medium, for links and media_alt
	order int
	text  string

	// folded.text is set when loading, its offset maps by offsets.
	folded     folded
	foldedFrom int        // offset of folded.text in the mention's buffer
	hits       phraseHits // sorted by phrase and position
	// present has a bit set for every phrase with a hit in the field, so
	// that looking up one of the many phrases that do not occur costs no
	// search.
	present  []uint64
	digits   int // ASCII digits in text, -1 until counted
	spaceRun int // longest run of white space in text, -1 until known
	// literalRules has a bit set for every rule one of whose pattern's
	// required literals occurs in the field; starts[startsOf[ri]:
	// startsOf[ri+1]] are the offsets, in order, where a prefix of rule
	// ri's pattern occurs. Both are computed on first use.
	literalRules []uint64
	starts       []int32
	startsOf     []int32
	patternsDone bool
}

// scanPatterns looks for the literals and prefixes of every pattern in
// the field, in one pass over its canonical form.
func (f *field) scanPatterns(st *matchState, m *Matcher) {
	ascii := isASCII(f.text)
	// ASCII text is its own folded form in canonical form too.
	canonical := f.folded.text
	if !ascii {
		st.canonical = appendCanonical(st.canonical[:0], f.text)
		st.canonicalAt = canonicalOffsets(st.canonicalAt[:0], f.text)
		canonical = scratchString(st.canonical)
	}
	f.literalRules = f.literalRules[:0]
	for range (len(m.rules) + 63) / 64 {
		f.literalRules = append(f.literalRules, 0)
	}
	st.literalHits = m.literals.scan(canonical, st.literalHits[:0])
	// Count the starts of each rule, then place them: hits come in order
	// of their end, so each rule's starts are nearly sorted already.
	f.startsOf = slices.Grow(f.startsOf[:0], len(m.rules)+1)[:len(m.rules)+1]
	clear(f.startsOf)
	for _, h := range st.literalHits {
		for _, ri := range m.literalRules[h.phrase] {
			f.literalRules[ri/64] |= 1 << (ri % 64)
		}
		for _, ri := range m.prefixRules[h.phrase] {
			f.startsOf[ri+1]++
		}
	}
	for ri := range m.rules {
		f.startsOf[ri+1] += f.startsOf[ri]
	}
	n := int(f.startsOf[len(m.rules)])
	f.starts = slices.Grow(f.starts[:0], max(n, 1))[:n]                 // never nil: nil means "unknown" to findAll
	st.startBuf = append(st.startBuf[:0], f.startsOf[:len(m.rules)]...) // next free slot per rule
	for _, h := range st.literalHits {
		at := h.start
		if !ascii {
			at = st.canonicalAt[at]
		}
		for _, ri := range m.prefixRules[h.phrase] {
			f.starts[st.startBuf[ri]] = at
			st.startBuf[ri]++
		}
	}
	for ri := range m.rules {
		if lo, hi := f.startsOf[ri], f.startsOf[ri+1]; hi-lo > 1 {
			insertionSort(f.starts[lo:hi])
		}
	}
	f.patternsDone = true
}

// of returns the hits of one phrase in the field, in order of position.
func (f *field) of(phrase int) phraseHits {
	if f.present[phrase/64]&(1<<(phrase%64)) == 0 {
		return nil
	}
	return f.hits.of(phrase)
}

// within reports whether the phrase occurs inside the folded span [lo, hi).
func (f *field) within(phrase, lo, hi int) bool {
	if f.present[phrase/64]&(1<<(phrase%64)) == 0 {
		return false
	}
	return f.hits.within(phrase, lo, hi)
}

// insertionSort sorts a, which is nearly sorted: a start is out of order
// only behind the starts of shorter prefixes that end before its own.
func insertionSort(a []int32) {
	for i := 1; i < len(a); i++ {
		v := a[i]
		j := i
		for j > 0 && a[j-1] > v {
			a[j] = a[j-1]
			j--
		}
		a[j] = v
	}
}

// mayMatch reports whether rule r's pattern can match in the field at all.
func (f *field) mayMatch(st *matchState, m *Matcher, r *compiledRule) bool {
	if r.pattern == nil || r.pattern.literals == nil {
		return true
	}
	if !f.patternsDone {
		f.scanPatterns(st, m)
	}
	return f.literalRules[r.index/64]&(1<<(r.index%64)) != 0
}

// patternStarts returns where a match of rule r's pattern may start, or
// nil when the pattern has no prefixes to tell.
func (f *field) patternStarts(st *matchState, m *Matcher, r *compiledRule) []int32 {
	if r.pattern.prefixList == nil {
		return nil
	}
	if !f.patternsDone {
		f.scanPatterns(st, m)
	}
	return f.starts[f.startsOf[r.index]:f.startsOf[r.index+1]:f.startsOf[r.index+1]]
}

// name is the field as reported: text, links[2], media[0].alt.
func (f *field) name() string {
	switch f.kind {
	case kindText:
		return FieldText
	case kindTitle:
		return FieldTitle
	case kindAuthor:
		return FieldAuthor
	case kindFeedTitle:
		return FieldFeedTitle
	case kindURL:
		return FieldURL
	case kindLinks:
		return "links[" + strconv.Itoa(f.index) + "]"
	}
	return "media[" + strconv.Itoa(f.index) + "].alt"
}

// offsets returns the folded field with its offset maps, which it builds
// in st's buffers on first use.
func (f *field) offsets(st *matchState) *folded {
	if f.folded.origEnd == nil && !f.folded.identity {
		if isASCII(f.text) {
			f.folded.identity = true
			return &f.folded
		}
		from := len(st.ends)
		st.starts, st.ends = foldOffsets(st.starts, st.ends, f.text)
		f.folded.origStart, f.folded.origEnd = st.starts[from:len(st.starts):len(st.starts)], st.ends[from:len(st.ends):len(st.ends)]
	}
	return &f.folded
}

func (f *field) digitCount() int {
	if f.digits < 0 {
		f.digits = 0
		for i := 0; i < len(f.text); i++ {
			if isDigit(f.text[i]) {
				f.digits++
			}
		}
	}
	return f.digits
}

// scratchString returns the bytes of b as a string, without copying them
// as string(b) would: the folded text of a long post is hundreds of
// kilobytes. The string is good only until b is written to again, which
// for the buffers of a matchState is in the next Match: strings made this
// way must not outlive the call (findings point into the fields of the
// mention itself, never into the folded text).
func scratchString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// matchState is everything one Match call works with; it is recycled
// through the Matcher's pool so that a mention costs few allocations.
type matchState struct {
	mn     *mention.Mention
	fields []field

	// Folded text of every field, back to back, and its offset maps.
	text         []byte
	starts, ends []int32

	detected []bool // by institution
	// inFeedTitle marks institutions the feed's title names (by
	// institution), the last resort of detection.
	inFeedTitle []bool
	// official is the non_official check per institution: 0 not yet
	// known, 1 official, 2 not.
	official []int8
	// triggered and silenced are per rule: one of its keywords occurs in a
	// field it looks at; one of its exception phrases occurs anywhere.
	triggered []bool
	silenced  []bool
	touched   []int32 // rules whose flags are set
	run       []int32 // rules to run, in order

	found         []orderedFinding
	concernedBuf  []int
	unofficialBuf []int
	// Buffers for the pattern literals and prefixes.
	canonical   []byte
	canonicalAt []int32
	literalHits []hit
	// Scratch for grouping hits by phrase: a counter per phrase, all zero
	// between uses, and the buffer the hits are placed in.
	phraseCount []int32
	grouping    groupScratch
	startBuf    []int32
	reader      strings.Reader // for patterns

	// hostVerdicts outlive the mention (see checkHost).
	hostVerdicts map[hostKey]hostVerdict

	keysDone                bool
	authorKey, feedTitleKey string
	urlDone                 bool
	urlHost                 string
	urlOK                   bool
}

type orderedFinding struct {
	Finding
	order int
}

func (m *Matcher) getState() *matchState {
	if st, ok := m.scratch.Get().(*matchState); ok {
		return st
	}
	return &matchState{
		detected:    make([]bool, len(m.institutions)),
		inFeedTitle: make([]bool, len(m.institutions)),
		official:    make([]int8, len(m.institutions)),
		triggered:   make([]bool, len(m.rules)),
		silenced:    make([]bool, len(m.rules)),
		phraseCount: make([]int32, len(m.phrases.phrases)),
	}
}

// putState clears what refers to the mention and recycles the buffers.
func (m *Matcher) putState(st *matchState) {
	for i := range st.fields {
		f := &st.fields[i]
		clear(f.present)
		*f = field{hits: f.hits[:0], present: f.present, literalRules: f.literalRules[:0], starts: f.starts[:0], startsOf: f.startsOf[:0]}
	}
	st.fields = st.fields[:0]
	st.text, st.starts, st.ends = st.text[:0], st.starts[:0], st.ends[:0]
	clear(st.detected)
	clear(st.inFeedTitle)
	clear(st.official)
	for _, ri := range st.touched {
		st.triggered[ri], st.silenced[ri] = false, false
	}
	st.touched, st.run = st.touched[:0], st.run[:0]
	clear(st.found)
	st.found = st.found[:0]
	st.mn = nil
	st.keysDone, st.authorKey, st.feedTitleKey = false, "", ""
	st.urlDone, st.urlHost, st.urlOK = false, "", false
	m.scratch.Put(st)
}

// load splits the mention into fields, folds them and scans them once for
// every phrase of the matcher.
func (m *Matcher) load(st *matchState, mn *mention.Mention) {
	st.mn = mn
	add := func(kind fieldKinds, index int, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		if len(st.fields) < cap(st.fields) {
			st.fields = st.fields[:len(st.fields)+1]
		} else {
			st.fields = append(st.fields, field{})
		}
		f := &st.fields[len(st.fields)-1]
		f.kind, f.index, f.order, f.text, f.digits, f.spaceRun = kind, index, len(st.fields)-1, text, -1, -1
	}
	add(kindText, 0, mn.Text)
	add(kindTitle, 0, mn.Title)
	add(kindAuthor, 0, mn.Author)
	add(kindFeedTitle, 0, mn.FeedTitle)
	add(kindURL, 0, mn.URL)
	for i, l := range mn.Links {
		add(kindLinks, i, l)
	}
	for i, md := range mn.Media {
		add(kindMediaAlt, i, md.Alt)
	}

	// All fields are folded into one buffer and turned into one string.
	for i := range st.fields {
		f := &st.fields[i]
		f.foldedFrom = len(st.text)
		st.text = foldAppend(st.text, f.text)
	}
	all := scratchString(st.text)
	for i := range st.fields {
		f := &st.fields[i]
		end := len(all)
		if i+1 < len(st.fields) {
			end = st.fields[i+1].foldedFrom
		}
		f.folded = folded{text: all[f.foldedFrom:end]}
		f.hits = m.phrases.scan(f.folded.text, f.hits[:0])
		for _, h := range f.hits {
			m.noteHit(st, f, h)
		}
		f.hits = groupByPhrase(f.hits, st.phraseCount, &st.grouping)
		if words := (len(m.phrases.phrases) + 63) / 64; len(f.present) != words {
			f.present = make([]uint64, words)
		}
		for _, h := range f.hits {
			f.present[h.phrase/64] |= 1 << (h.phrase % 64)
		}
	}
}

// noteHit records what a phrase hit means: an institution named (the feed
// title does not count: for the search and tag feeds mediawatch polls it
// names the query, so every item would mention whatever was searched for),
// a rule triggered, a rule silenced.
func (m *Matcher) noteHit(st *matchState, f *field, h hit) {
	use := &m.uses[h.phrase]
	for _, i := range use.names {
		if f.kind == kindFeedTitle {
			st.inFeedTitle[i] = true
		} else {
			st.detected[i] = true
		}
	}
	for _, ri := range use.keywordOf {
		if m.rules[ri].fieldSet&f.kind != 0 && !st.triggered[ri] {
			if !st.silenced[ri] {
				st.touched = append(st.touched, ri)
			}
			st.triggered[ri] = true
		}
	}
	for _, ri := range use.silences {
		if !st.silenced[ri] {
			if !st.triggered[ri] {
				st.touched = append(st.touched, ri)
			}
			st.silenced[ri] = true
		}
	}
}

// detectDomains marks the institutions whose domain a URL or link is on.
func (m *Matcher) detectDomains(st *matchState) {
	for i := range st.fields {
		f := &st.fields[i]
		if f.kind != kindURL && f.kind != kindLinks {
			continue
		}
		var host string
		var ok, parsed bool
		for ii, in := range m.institutions {
			if st.detected[ii] || len(in.domains) == 0 {
				continue
			}
			if !parsed {
				host, ok = hostOf(f.text)
				parsed = true
			}
			if ok && hostOnDomain(host, in.domains) {
				st.detected[ii] = true
			}
		}
	}
}

// detectShortNames marks institutions called by a short name ("het UMC")
// in a post that also has one of that name's With words (Utrecht, Uithof),
// unless the short name is part of another institution's name (Amsterdam
// UMC). With words count in every field, the feed's title and URL
// included: a post in r/Utrecht about "het UMC" means UMC Utrecht.
func (m *Matcher) detectShortNames(st *matchState) {
	for ii := range m.institutions {
		in := &m.institutions[ii]
		for k, id := range in.shortNames {
			if st.detected[ii] {
				break
			}
			if !st.anyHit(in.with[k]) {
				continue
			}
			for i := range st.fields {
				f := &st.fields[i]
				if f.kind == kindFeedTitle {
					continue
				}
				for _, h := range f.of(id) {
					if !insideAny(f, in.otherNames, h) {
						st.detected[ii] = true
					}
				}
			}
		}
	}
}

// anyHit reports whether one of the phrases occurs in any field.
func (st *matchState) anyHit(ids []int) bool {
	for i := range st.fields {
		for _, id := range ids {
			if len(st.fields[i].of(id)) > 0 {
				return true
			}
		}
	}
	return false
}

// insideAny reports whether hit h lies inside an occurrence of one of the
// phrases ids.
func insideAny(f *field, ids []int, h hit) bool {
	for _, id := range ids {
		for _, o := range f.of(id) {
			if o.start <= h.start && h.end <= o.end {
				return true
			}
		}
	}
	return false
}

// detectFromFeedTitle is the last resort: a post that names no institution
// itself, from a feed whose title names exactly one (a tag feed #uzleuven,
// a search for "UMC Utrecht"), is about that one. A search for both names
// says nothing about which one a post is about.
func (m *Matcher) detectFromFeedTitle(st *matchState) {
	if slices.Contains(st.detected, true) {
		return
	}
	only := -1
	for i, named := range st.inFeedTitle {
		if named {
			if only >= 0 {
				return
			}
			only = i
		}
	}
	if only >= 0 {
		st.detected[only] = true
	}
}

// Match runs every rule over the mention.
func (m *Matcher) Match(mn *mention.Mention) Result {
	var res Result
	if mn == nil {
		return res
	}
	st := m.getState()
	defer m.putState(st)
	m.load(st, mn)
	m.detectDomains(st)
	m.detectShortNames(st)
	m.detectFromFeedTitle(st)
	for i, d := range st.detected {
		if d {
			res.Institutions = append(res.Institutions, m.institutions[i].ID)
		}
	}
	slices.Sort(res.Institutions)

	// Only rules a keyword triggered and rules without keywords can fire.
	for _, ri := range st.touched {
		if st.triggered[ri] && !st.silenced[ri] {
			st.run = append(st.run, ri)
		}
	}
	for _, ri := range m.unkeyed {
		if !st.silenced[ri] {
			st.run = append(st.run, ri)
		}
	}
	slices.Sort(st.run)
	for _, ri := range st.run {
		r := &m.rules[ri]
		if r.RequiresInstitution && !slices.ContainsFunc(r.insts, func(i int) bool { return st.detected[i] }) {
			continue
		}
		// Whom the rule concerns is cheap to settle and often no one (a
		// post by the institution itself): before looking for the
		// literals of its pattern, which scans the fields.
		concerned := m.concerned(st, r)
		if concerned == nil || !m.mayMatchAnyField(st, r) {
			continue
		}
		for i := range st.fields {
			f := &st.fields[i]
			if r.fieldSet&f.kind == 0 {
				continue
			}
			st.found = m.matchField(st, st.found, r, f, concerned)
		}
	}
	slices.SortStableFunc(st.found, func(a, b orderedFinding) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.Start, b.Start),
			cmp.Compare(a.End, b.End), cmp.Compare(a.Rule, b.Rule))
	})
	if len(st.found) > 0 {
		res.Findings = make([]Finding, len(st.found))
		for i, o := range st.found {
			res.Findings[i] = o.Finding
			// A domain imitating an institution's is about that
			// institution, whether the post names it or not.
			if o.Rule != "" && m.rules[m.ruleIndex(o.Rule)].Detector == DetectorLookalikeDomain {
				for _, id := range o.Institutions {
					if !slices.Contains(res.Institutions, id) {
						res.Institutions = append(res.Institutions, id)
					}
				}
			}
		}
		slices.Sort(res.Institutions)
	}
	return res
}

func (st *matchState) accountKeys() (author, feedTitle string) {
	if !st.keysDone {
		st.authorKey, st.feedTitleKey = accountKey(st.mn.Author), accountKey(st.mn.FeedTitle)
		st.keysDone = true
	}
	return st.authorKey, st.feedTitleKey
}

func (st *matchState) onDomain(domains []string) bool {
	if len(domains) == 0 {
		return false
	}
	if !st.urlDone {
		st.urlHost, st.urlOK = hostOf(st.mn.URL)
		st.urlDone = true
	}
	return st.urlOK && hostOnDomain(st.urlHost, domains)
}

// isOfficial reports whether the mention comes from an official account or
// domain of institution i.
func (m *Matcher) isOfficial(st *matchState, i int) bool {
	if st.official[i] == 0 {
		in := &m.institutions[i]
		mn := st.mn
		st.official[i] = 2
		if isAccount(mn.Author, in.accounts) || isAccount(mn.FeedTitle, in.accounts) ||
			st.onDomain(in.domains) || onDomain(mn.FeedURL, in.domains) {
			st.official[i] = 1
		}
	}
	return st.official[i] == 1
}

// mayMatchAnyField reports whether the pattern of rule r can match in one
// of the fields it looks at; rules without a pattern may.
func (m *Matcher) mayMatchAnyField(st *matchState, r *compiledRule) bool {
	if r.pattern == nil || r.pattern.literals == nil {
		return true
	}
	for i := range st.fields {
		if f := &st.fields[i]; r.fieldSet&f.kind != 0 && f.mayMatch(st, m, r) {
			return true
		}
	}
	return false
}

// concerned decides whether rule r may fire on the mention at all and, if
// so, returns the institutions (indices, possibly empty but non-nil) its
// findings concern. Exception phrases were applied while scanning. The
// slice is st's and good until the next call.
func (m *Matcher) concerned(st *matchState, r *compiledRule) []int {
	n := 0
	for _, i := range r.insts {
		if st.detected[i] {
			n++
		}
	}
	if r.RequiresInstitution && n == 0 {
		return nil
	}
	if len(r.excAuthor) > 0 {
		author, feedTitle := st.accountKeys()
		for _, a := range r.excAuthor {
			if a != "" && (author == a || feedTitle == a) {
				return nil
			}
		}
	}
	if st.onDomain(r.excDomain) {
		return nil
	}
	insts := st.concernedBuf[:0]
	if insts == nil {
		insts = make([]int, 0, len(m.institutions)) // non-nil even when empty
	}
	defer func() { st.concernedBuf = insts[:0] }()
	for _, i := range r.insts {
		if st.detected[i] {
			insts = append(insts, i)
		}
	}
	if r.Author == AuthorNonOfficial {
		check := insts
		if len(check) == 0 {
			check = r.insts
		}
		unofficial := st.unofficialBuf[:0]
		for _, i := range check {
			if !m.isOfficial(st, i) {
				unofficial = append(unofficial, i)
			}
		}
		st.unofficialBuf = unofficial
		if len(unofficial) == 0 {
			return nil
		}
		if len(insts) > 0 {
			insts = append(insts[:0], unofficial...)
		}
	}
	return insts
}

// matchField appends the findings of rule r in one field to out.
func (m *Matcher) matchField(st *matchState, out []orderedFinding, r *compiledRule, f *field, concerned []int) []orderedFinding {
	if r.Detector == DetectorLookalikeDomain {
		return m.lookalikeField(st, out, r, f)
	}
	var words []string
	var kwSpans []span
	var nearWords [][]string
	if len(r.keywords) > 0 {
		for _, kw := range r.keywords {
			hits := f.of(kw.id)
			if len(hits) == 0 || !concerns(concerned, kw.inst) || kw.short && !f.kind.sentences() {
				continue
			}
			words = append(words, kw.word)
			for _, h := range hits {
				kwSpans = append(kwSpans, span{int(h.start), int(h.end)})
			}
		}
		if len(kwSpans) == 0 {
			return out
		}
	}
	if r.Validator != "" && f.digitCount() < r.minDigits {
		return out // no number of the validator's kind fits
	}
	if !f.mayMatch(st, m, r) {
		return out
	}

	var candidates []span
	switch {
	case len(r.near) > 0:
		spans, ws := nearSpans(r, f, concerned)
		for i, sp := range spans {
			if start, end := f.offsets(st).toOrig(sp.start, sp.end); start < end {
				candidates = append(candidates, span{start, end})
				nearWords = append(nearWords, ws[i])
			}
		}
	case r.pattern != nil:
		for _, loc := range r.pattern.find(f.text, &f.spaceRun, &st.reader, f.patternStarts(st, m, r), nil) {
			if loc.start == loc.end {
				continue
			}
			if r.Validator != "" && !validSpan(r.Validator, f.text, loc.start, loc.end) {
				continue
			}
			candidates = append(candidates, loc)
		}
	case r.Validator != "":
		for _, sp := range validatorFinder(r.Validator)(f.text) {
			candidates = append(candidates, span{sp[0], sp[1]})
		}
	default:
		// The keywords are the evidence: the longest of overlapping
		// occurrences ("stiekem opgenomen" over "opgenomen") wins.
		slices.SortFunc(kwSpans, func(a, b span) int {
			return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(b.end, a.end))
		})
		last := -1
		for _, sp := range kwSpans {
			if sp.start < last {
				continue
			}
			start, end := f.offsets(st).toOrig(sp.start, sp.end)
			if start < end {
				candidates = append(candidates, span{start, end})
			}
			last = sp.end
		}
	}

	for ci, c := range candidates {
		if r.NotQuestion && inQuestion(f.text, c.end) || r.NotQuoted && inQuotes(f.text, c.start, c.end) {
			continue
		}
		ctxWords, ok := m.checkContext(st, r, f, c, concerned)
		if !ok {
			continue
		}
		fired := slices.Concat(words, ctxWords)
		if nearWords != nil {
			fired = append(fired, nearWords[ci]...)
		}
		slices.Sort(fired)
		fired = slices.Compact(fired)
		fd := Finding{
			Category:   r.Category,
			Rule:       r.ID,
			Severity:   r.Severity,
			Confidence: r.Confidence,
			Field:      f.name(),
			Start:      c.start,
			End:        c.end,
			Evidence:   f.text[c.start:c.end],
			Words:      fired,
			Sensitive:  r.Sensitive,
		}
		for _, i := range concerned {
			fd.Institutions = append(fd.Institutions, m.institutions[i].ID)
		}
		fd.Explanation = m.explain(r, fd)
		out = append(out, orderedFinding{fd, f.order})
	}
	return out
}

// ruleIndex returns the index of the rule with the given id in m.rules,
// which is sorted by id.
func (m *Matcher) ruleIndex(id string) int {
	i, _ := slices.BinarySearchFunc(m.rules, id, func(r compiledRule, id string) int { return strings.Compare(r.ID, id) })
	return i
}

// lookalikeField reports the host names in the field that imitate an
// official domain. The finding concerns the institution imitated, named in
// the post or not, unless the post comes from that institution itself (a
// warning about a phishing domain).
func (m *Matcher) lookalikeField(st *matchState, out []orderedFinding, r *compiledRule, f *field) []orderedFinding {
	if !hasDottedWord(f.text) {
		return out // no host name without a dot inside a word
	}
	for _, hs := range FindHosts(f.text) {
		host := f.text[hs[0]:hs[1]]
		v, ok := st.checkHost(r, host)
		if !ok {
			continue
		}
		k := slices.Index(r.domains, v.Official)
		if k < 0 {
			continue
		}
		ii := r.domainInst[k]
		if m.isOfficial(st, ii) {
			continue
		}
		fd := Finding{
			Category:     r.Category,
			Rule:         r.ID,
			Severity:     r.Severity,
			Confidence:   r.Confidence,
			Field:        f.name(),
			Start:        hs[0],
			End:          hs[1],
			Evidence:     host,
			Words:        []string{v.Reason + " of " + v.Official},
			Sensitive:    r.Sensitive,
			Institutions: []string{m.institutions[ii].ID},
		}
		fd.Explanation = m.explain(r, fd)
		out = append(out, orderedFinding{fd, f.order})
	}
	return out
}

// hostKey and hostVerdict memoise lookalike_domain verdicts.
type hostKey struct {
	rule int
	host string
}

type hostVerdict struct {
	v  DomainVerdict
	ok bool
}

// maxHostVerdicts bounds the verdicts a matchState keeps.
const maxHostVerdicts = 512

// checkHost is r.checker.check(host), remembered: posts of one feed link to
// the same few hosts, and parsing a host name is the costly part of the
// check. The verdict depends on the host and the rule alone, so it stays
// good as the state is recycled from one mention to the next.
func (st *matchState) checkHost(r *compiledRule, host string) (DomainVerdict, bool) {
	key := hostKey{r.index, host}
	if hv, ok := st.hostVerdicts[key]; ok {
		return hv.v, hv.ok
	}
	v, ok := r.checker.check(host)
	if st.hostVerdicts == nil || len(st.hostVerdicts) >= maxHostVerdicts {
		st.hostVerdicts = make(map[hostKey]hostVerdict)
	}
	// Not the post's text, which the state outlives.
	key.host = strings.Clone(host)
	kept := v
	kept.Host = strings.Clone(v.Host)
	st.hostVerdicts[key] = hostVerdict{kept, ok}
	return v, ok
}

// hasDottedWord reports whether s has a dot between two letters or digits,
// as every host name does and running text mostly does not ("end. Next").
// It is the cheap test before looking for host names.
func hasDottedWord(s string) bool {
	for i := 0; ; i++ {
		k := strings.IndexByte(s[i:], '.')
		if k < 0 {
			return false
		}
		i += k
		if i > 0 && i+1 < len(s) && (isWordByte(s[i-1]) || s[i-1] >= 0x80) && (isWordByte(s[i+1]) || s[i+1] >= 0x80) {
			return true
		}
	}
}

// span is a [start, end) byte range.
type span struct{ start, end int }

// concerns reports whether a rule word standing for institution inst (-1:
// none) counts for a finding about the concerned institutions: the name of
// an institution the finding is not about is no evidence for it.
func concerns(concerned []int, inst int) bool {
	return inst < 0 || slices.Contains(concerned, inst)
}

// checkContext applies the rule's context words around the original span c
// and returns the context words that fired.
func (m *Matcher) checkContext(st *matchState, r *compiledRule, f *field, c span, concerned []int) ([]string, bool) {
	if len(r.ctxAny) == 0 && len(r.ctxNone) == 0 && len(r.ctxLabels) == 0 {
		return nil, true
	}
	fs, fe := f.offsets(st).toFolded(c.start, c.end)
	lo, hi, labelLo, wordBefore := contextSpan(f.folded.text, fs, fe, r.Context.Window, r.Context.LabelWindow)
	var labels []string
	if len(r.ctxLabels) > 0 && wordBefore {
		for _, ref := range r.ctxLabels {
			if concerns(concerned, ref.inst) && f.within(ref.id, labelLo, fs) {
				labels = append(labels, ref.word)
			}
		}
	}
	if len(labels) == 0 {
		for _, ref := range r.ctxNone {
			if f.within(ref.id, lo, hi) {
				return nil, false
			}
		}
	}
	fired := labels
	for _, ref := range r.ctxAny {
		if concerns(concerned, ref.inst) && f.within(ref.id, lo, hi) {
			fired = append(fired, ref.word)
		}
	}
	if len(r.ctxAny) == 0 && len(labels) == 0 {
		return nil, true
	}
	return fired, len(fired) > 0
}
