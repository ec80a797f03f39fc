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
	instPhrases  *phraseSet
	rulePhrases  *phraseSet
}

type compiledInstitution struct {
	Institution
	names    []int // phrase ids in instPhrases of name, aliases and handles
	forms    []string
	accounts []string // folded, without leading '@'
	domains  []string
}

// phraseRef is a rule word compiled to a phrase id. inst is the institution
// an expanded {institution} word stands for, or -1.
type phraseRef struct {
	id   int
	word string
	inst int
}

type compiledRule struct {
	Rule
	insts     []int
	fields    []string
	keywords  []phraseRef
	pattern   *regexp.Regexp
	ctxAny    []phraseRef
	ctxNone   []phraseRef
	ctxLabels []phraseRef
	excPhrase []int
	excAuthor []string
	excDomain []string
}

// Compile checks the rules against the institutions and builds a Matcher.
// Every problem is reported, joined; rule problems are *RuleError.
func Compile(rules []Rule, institutions []Institution) (*Matcher, error) {
	m := &Matcher{instPhrases: newPhraseSet(), rulePhrases: newPhraseSet()}
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
		for _, f := range ci.forms {
			ci.names = append(ci.names, m.instPhrases.add(f))
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
	return m, nil
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
		if !slices.Contains(ruleFields(), f) {
			fail("unknown field %q", f)
		}
	}
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
		re, err := regexp.Compile(strings.ReplaceAll(r.Pattern, institutionToken, expansion))
		if err != nil {
			fail("bad pattern: %v", err)
		}
		cr.pattern = re
	}
	if len(cr.keywords) == 0 && r.Pattern == "" && r.Validator == "" {
		fail("needs keywords, a pattern or a validator")
	}
	return cr, errors.Join(errs...)
}

// expandWords compiles rule words, replacing {institution} with every form
// of every institution the rule covers.
func (m *Matcher) expandWords(words []string, insts []int) []phraseRef {
	var refs []phraseRef
	seen := map[int]bool{} // "patient" and "patiënt" fold to one phrase
	add := func(w string, inst int) {
		if strings.TrimSpace(FoldString(w)) == "" {
			return
		}
		id := m.rulePhrases.add(w)
		if !seen[id] {
			seen[id] = true
			refs = append(refs, phraseRef{id: id, word: w, inst: inst})
		}
	}
	for _, w := range words {
		if !strings.Contains(w, institutionToken) {
			add(w, -1)
			continue
		}
		for _, i := range insts {
			for _, f := range m.institutions[i].forms {
				add(strings.ReplaceAll(w, institutionToken, f), i)
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
	if rawURL == "" || len(domains) == 0 {
		return false
	}
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Hostname() == "" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
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

// field is one string of a mention being matched, analysed lazily.
type field struct {
	name  string // as reported: text, links[2], media[0].alt
	kind  string // as named in rules: text, links, media_alt
	order int
	text  string

	folded   folded
	words    [][2]int // folded offsets of each word, computed on first use
	ruleHits map[int][]span
	scanned  bool
}

func (f *field) hits(p *phraseSet) map[int][]span {
	if !f.scanned {
		f.ruleHits = p.scan(f.folded.text)
		f.scanned = true
	}
	return f.ruleHits
}

func mentionFields(mn *mention.Mention) []*field {
	var fs []*field
	add := func(name, kind, text string) {
		if strings.TrimSpace(text) == "" {
			return
		}
		fs = append(fs, &field{name: name, kind: kind, order: len(fs), text: text, folded: fold(text)})
	}
	add(FieldText, FieldText, mn.Text)
	add(FieldTitle, FieldTitle, mn.Title)
	add(FieldAuthor, FieldAuthor, mn.Author)
	add(FieldFeedTitle, FieldFeedTitle, mn.FeedTitle)
	add(FieldURL, FieldURL, mn.URL)
	for i, l := range mn.Links {
		add("links["+strconv.Itoa(i)+"]", FieldLinks, l)
	}
	for i, md := range mn.Media {
		add("media["+strconv.Itoa(i)+"].alt", FieldMediaAlt, md.Alt)
	}
	return fs
}

// Rules returns the compiled rules sorted by id.
func (m *Matcher) Rules() []Rule {
	out := make([]Rule, len(m.rules))
	for i, r := range m.rules {
		out[i] = r.Rule.clone()
	}
	return out
}

// detect returns which institutions the mention mentions, indexed like
// m.institutions. The feed title does not count: for the search and tag
// feeds mediawatch polls it names the query, so every item would mention
// whatever was searched for.
func (m *Matcher) detect(fields []*field) []bool {
	found := make([]bool, len(m.institutions))
	for _, f := range fields {
		if f.kind == FieldFeedTitle {
			continue
		}
		hits := m.instPhrases.scan(f.folded.text)
		for i, in := range m.institutions {
			if found[i] {
				continue
			}
			for _, id := range in.names {
				if len(hits[id]) > 0 {
					found[i] = true
					break
				}
			}
			if !found[i] && (f.kind == FieldURL || f.kind == FieldLinks) && onDomain(f.text, in.domains) {
				found[i] = true
			}
		}
	}
	return found
}

// Match runs every rule over the mention.
func (m *Matcher) Match(mn *mention.Mention) Result {
	var res Result
	if mn == nil {
		return res
	}
	fields := mentionFields(mn)
	detected := m.detect(fields)
	for i, d := range detected {
		if d {
			res.Institutions = append(res.Institutions, m.institutions[i].ID)
		}
	}
	slices.Sort(res.Institutions)

	type ordered struct {
		Finding
		order int
	}
	var found []ordered
	for ri := range m.rules {
		r := &m.rules[ri]
		concerned := m.concerned(r, mn, fields, detected)
		if concerned == nil {
			continue
		}
		for _, f := range fields {
			if !slices.Contains(r.fields, f.kind) {
				continue
			}
			for _, fd := range m.matchField(r, f, concerned) {
				found = append(found, ordered{fd, f.order})
			}
		}
	}
	slices.SortStableFunc(found, func(a, b ordered) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.Start, b.Start),
			cmp.Compare(a.End, b.End), cmp.Compare(a.Rule, b.Rule))
	})
	for _, o := range found {
		res.Findings = append(res.Findings, o.Finding)
	}
	return res
}

// concerned decides whether rule r may fire on the mention at all and, if
// so, returns the institutions (indices, possibly empty but non-nil) its
// findings concern.
func (m *Matcher) concerned(r *compiledRule, mn *mention.Mention, fields []*field, detected []bool) []int {
	insts := []int{}
	for _, i := range r.insts {
		if detected[i] {
			insts = append(insts, i)
		}
	}
	if r.RequiresInstitution && len(insts) == 0 {
		return nil
	}
	for _, a := range r.excAuthor {
		if a != "" && (accountKey(mn.Author) == a || accountKey(mn.FeedTitle) == a) {
			return nil
		}
	}
	if onDomain(mn.URL, r.excDomain) {
		return nil
	}
	if len(r.excPhrase) > 0 {
		for _, f := range fields {
			hits := f.hits(m.rulePhrases)
			for _, id := range r.excPhrase {
				if len(hits[id]) > 0 {
					return nil
				}
			}
		}
	}
	if r.Author == AuthorNonOfficial {
		check := insts
		if len(check) == 0 {
			check = r.insts
		}
		var unofficial []int
		for _, i := range check {
			in := &m.institutions[i]
			official := isAccount(mn.Author, in.accounts) || isAccount(mn.FeedTitle, in.accounts) ||
				onDomain(mn.URL, in.domains) || onDomain(mn.FeedURL, in.domains)
			if !official {
				unofficial = append(unofficial, i)
			}
		}
		if len(unofficial) == 0 {
			return nil
		}
		if len(insts) > 0 {
			insts = unofficial
		}
	}
	return insts
}

// matchField returns the findings of rule r in one field.
func (m *Matcher) matchField(r *compiledRule, f *field, concerned []int) []Finding {
	var words []string
	var kwSpans []span
	if len(r.keywords) > 0 {
		hits := f.hits(m.rulePhrases)
		for _, kw := range r.keywords {
			if len(hits[kw.id]) == 0 || !concerns(concerned, kw.inst) {
				continue
			}
			words = append(words, kw.word)
			kwSpans = append(kwSpans, hits[kw.id]...)
		}
		if len(kwSpans) == 0 {
			return nil
		}
	}

	var candidates []span
	switch {
	case r.pattern != nil:
		for _, loc := range r.pattern.FindAllStringIndex(f.text, -1) {
			if loc[0] == loc[1] {
				continue
			}
			if r.Validator != "" && !validSpan(r.Validator, f.text, loc[0], loc[1]) {
				continue
			}
			candidates = append(candidates, span{loc[0], loc[1]})
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
			start, end := f.folded.toOrig(sp.start, sp.end)
			if start < end {
				candidates = append(candidates, span{start, end})
			}
			last = sp.end
		}
	}

	var out []Finding
	for _, c := range candidates {
		ctxWords, ok := m.checkContext(r, f, c, concerned)
		if !ok {
			continue
		}
		fired := slices.Concat(words, ctxWords)
		slices.Sort(fired)
		fired = slices.Compact(fired)
		fd := Finding{
			Category:   r.Category,
			Rule:       r.ID,
			Severity:   r.Severity,
			Confidence: r.Confidence,
			Field:      f.name,
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
		out = append(out, fd)
	}
	return out
}

// concerns reports whether a rule word standing for institution inst (-1:
// none) counts for a finding about the concerned institutions: the name of
// an institution the finding is not about is no evidence for it.
func concerns(concerned []int, inst int) bool {
	return inst < 0 || slices.Contains(concerned, inst)
}

// checkContext applies the rule's context words around the original span c
// and returns the context words that fired.
func (m *Matcher) checkContext(r *compiledRule, f *field, c span, concerned []int) ([]string, bool) {
	if len(r.ctxAny) == 0 && len(r.ctxNone) == 0 && len(r.ctxLabels) == 0 {
		return nil, true
	}
	fs, fe := f.folded.toFolded(c.start, c.end)
	if f.words == nil {
		f.words = wordSpans(f.folded.text)
	}
	words := f.words
	first := slices.IndexFunc(words, func(w [2]int) bool { return w[1] > fs })
	if first < 0 {
		first = len(words)
	}
	last := first - 1
	for last+1 < len(words) && words[last+1][0] < fe {
		last++
	}
	lo, hi := fs, fe
	if n := len(words); n > 0 {
		if from := max(first-r.Context.Window, 0); from < n {
			lo = min(lo, words[from][0])
		}
		if to := min(last+r.Context.Window, n-1); to >= 0 {
			hi = max(hi, words[to][1])
		}
	}
	hits := f.hits(m.rulePhrases)
	withinSpan := func(ref phraseRef, lo, hi int) bool {
		for _, h := range hits[ref.id] {
			if h.start >= lo && h.end <= hi {
				return true
			}
		}
		return false
	}
	within := func(ref phraseRef) bool { return withinSpan(ref, lo, hi) }
	var labels []string
	if len(r.ctxLabels) > 0 && first > 0 {
		labelLo := words[max(first-r.Context.LabelWindow, 0)][0]
		for _, ref := range r.ctxLabels {
			if concerns(concerned, ref.inst) && withinSpan(ref, labelLo, fs) {
				labels = append(labels, ref.word)
			}
		}
	}
	if len(labels) == 0 {
		for _, ref := range r.ctxNone {
			if within(ref) {
				return nil, false
			}
		}
	}
	fired := labels
	for _, ref := range r.ctxAny {
		if concerns(concerned, ref.inst) && within(ref) {
			fired = append(fired, ref.word)
		}
	}
	if len(r.ctxAny) == 0 && len(labels) == 0 {
		return nil, true
	}
	return fired, len(fired) > 0
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
