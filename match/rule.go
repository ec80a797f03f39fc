package match

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Rule is one detector, decoded from a rule file. Rules are data: they carry
// the guideline line they enforce and their own examples.
type Rule struct {
	// ID is "<category>.<name>", unique across the rule set.
	ID          string   `yaml:"id" json:"id"`
	Category    string   `yaml:"category" json:"category"`
	Severity    Severity `yaml:"severity" json:"severity"`
	Description string   `yaml:"description" json:"description"`
	Policy      Policy   `yaml:"policy" json:"policy"`
	// Institutions limits the rule to these institution ids; empty means
	// every institution.
	Institutions []string `yaml:"institutions" json:"institutions,omitempty"`
	// Fields the rule looks at: text, title, author, feed_title, url, links,
	// media_alt.
	Fields []string `yaml:"fields" json:"fields"`
	// Keywords are a word-bounded, case- and accent-insensitive prefilter: the
	// rule only runs on a field containing one of them. Without Pattern and
	// Validator, the keyword occurrences are the findings.
	Keywords []string `yaml:"keywords" json:"keywords,omitempty"`
	// Pattern is a Go regular expression run on the original field text.
	Pattern string `yaml:"pattern" json:"pattern,omitempty"`
	// Validator confirms numbers: bsn, be_nn or iban. Without Pattern the
	// validator finds the numbers itself.
	Validator  string     `yaml:"validator" json:"validator,omitempty"`
	Context    Context    `yaml:"context" json:"context"`
	Exceptions Exceptions `yaml:"exceptions" json:"exceptions"`
	// Sensitive marks evidence that is personal data.
	Sensitive  bool    `yaml:"sensitive" json:"sensitive"`
	Confidence float64 `yaml:"confidence" json:"confidence"`
	// Explanation is a one-line template; {rule}, {words}, {field} and
	// {institutions} are filled in per finding.
	Explanation string `yaml:"explanation" json:"explanation"`
	// RequiresInstitution lets the rule fire only on mentions that mention
	// one of its institutions. LoadRules sets it when the file does not say
	// otherwise.
	RequiresInstitution bool `yaml:"requires_institution" json:"requires_institution"`
	// Author is empty or "non_official": fire only when neither the author
	// nor the feed is an official account and the URL is not on an official
	// domain of the institution concerned.
	Author string `yaml:"author" json:"author,omitempty"`
	// Near requires every one of its word groups to occur within Window
	// words of each other, in any order: a claim worded many ways
	// ("de SEH gaat dicht", "sluiting van de spoedeisende hulp").
	Near Near `yaml:"near" json:"near,omitempty"`
	// NotQuestion drops matches in a sentence that ends with a question
	// mark: asking whether a rumour is true is not spreading it.
	NotQuestion bool `yaml:"not_question" json:"not_question,omitempty"`
	// NotQuoted drops matches inside quotation marks: a fact-check quotes
	// the claim it refutes ('UMC Utrecht verkoopt je data'), a believer
	// states it.
	NotQuoted bool `yaml:"not_quoted" json:"not_quoted,omitempty"`
	// Detector names a built-in detector that finds the candidates:
	// lookalike_domain.
	Detector string `yaml:"detector" json:"detector,omitempty"`
	// Claim and Rebuttal describe a known false narrative, for the
	// misinformation catalogue: what is claimed, and where the institution
	// answers it.
	Claim    string   `yaml:"claim" json:"claim,omitempty"`
	Rebuttal string   `yaml:"rebuttal" json:"rebuttal,omitempty"`
	Examples Examples `yaml:"examples" json:"examples"`

	// File and Line locate the rule's definition, for error messages.
	File string `yaml:"-" json:"file"`
	Line int    `yaml:"-" json:"line"`
}

// clone returns r with its own copies of every slice, so a Matcher never
// shares mutable state with its caller.
func (r Rule) clone() Rule {
	r.Institutions = slices.Clone(r.Institutions)
	r.Fields = slices.Clone(r.Fields)
	r.Keywords = slices.Clone(r.Keywords)
	r.Context.Any = slices.Clone(r.Context.Any)
	r.Context.None = slices.Clone(r.Context.None)
	r.Context.Labels = slices.Clone(r.Context.Labels)
	r.Near.Groups = slices.Clone(r.Near.Groups)
	for i, g := range r.Near.Groups {
		r.Near.Groups[i] = slices.Clone(g)
	}
	r.Exceptions.Phrases = slices.Clone(r.Exceptions.Phrases)
	r.Exceptions.Authors = slices.Clone(r.Exceptions.Authors)
	r.Exceptions.Domains = slices.Clone(r.Exceptions.Domains)
	r.Examples.Match = slices.Clone(r.Examples.Match)
	r.Examples.NoMatch = slices.Clone(r.Examples.NoMatch)
	return r
}

// Near is a set of word groups that must all occur close together. A word
// ending in * also matches longer words that start with it (sluit* matches
// sluit, sluiten, sluiting).
type Near struct {
	Groups [][]string `yaml:"groups" json:"groups,omitempty"`
	// Window in words between the first and the last group's hit; 0 means
	// DefaultNearWindow.
	Window int `yaml:"window" json:"window,omitempty"`
}

// DefaultNearWindow is the span, in words, of a Near rule that sets none.
const DefaultNearWindow = 15

// DetectorLookalikeDomain finds host names that imitate an institution's
// official domains (see LookalikeDomain).
const DetectorLookalikeDomain = "lookalike_domain"

// Policy points at the guideline line a rule enforces.
type Policy struct {
	File  string `yaml:"file" json:"file"`
	Quote string `yaml:"quote" json:"quote"`
}

// Context constrains a match by the words around it.
type Context struct {
	// Any: at least one must occur within Window words of the match.
	Any []string `yaml:"any" json:"any,omitempty"`
	// None: none may occur within Window words of the match.
	None []string `yaml:"none" json:"none,omitempty"`
	// Window in words on either side; 0 means DefaultContextWindow.
	Window int `yaml:"window" json:"window,omitempty"`
	// Labels name what the match is ("bsn", "rijksregisternummer"). One of
	// them just before the match (within LabelWindow words) is the
	// strongest context there is: it satisfies Any and overrides None, so
	// "bsn 234567818, bleef maar bellen" is a BSN although "bellen" is a
	// None word.
	Labels []string `yaml:"labels" json:"labels,omitempty"`
	// LabelWindow in words before the match; 0 means DefaultLabelWindow.
	LabelWindow int `yaml:"label_window" json:"label_window,omitempty"`
}

// Exceptions silence a rule for a whole mention.
type Exceptions struct {
	// Phrases anywhere in the mention (a fact-check, a disclaimer).
	Phrases []string `yaml:"phrases" json:"phrases,omitempty"`
	// Authors whose posts (or feeds) never trigger the rule.
	Authors []string `yaml:"authors" json:"authors,omitempty"`
	// Domains (and their subdomains) of URLs that never trigger the rule.
	Domains []string `yaml:"domains" json:"domains,omitempty"`
}

// Examples are a rule's own test cases.
type Examples struct {
	Match   []Example `yaml:"match" json:"match,omitempty"`
	NoMatch []Example `yaml:"no_match" json:"no_match,omitempty"`
}

// Example is a small mention: in YAML either a plain string (the text) or a
// map with text, title, author, feed_title and url.
type Example struct {
	Text      string `yaml:"text" json:"text,omitempty"`
	Title     string `yaml:"title" json:"title,omitempty"`
	Author    string `yaml:"author" json:"author,omitempty"`
	FeedTitle string `yaml:"feed_title" json:"feed_title,omitempty"`
	URL       string `yaml:"url" json:"url,omitempty"`
	// MediaAlt is the alt text of one attached image.
	MediaAlt string `yaml:"media_alt" json:"media_alt,omitempty"`
	// Line of the example in its rule file.
	Line int `yaml:"-" json:"line,omitempty"`
}

// UnmarshalYAML accepts the string shorthand.
func (e *Example) UnmarshalYAML(n *yaml.Node) error {
	e.Line = n.Line
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Decode(&e.Text)
	case yaml.MappingNode:
	default:
		return fmt.Errorf("line %d: an example is a string or a map with text, title, author, feed_title, url and media_alt", n.Line)
	}
	type plain Example
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	p.Line = n.Line
	*e = Example(p)
	return nil
}

func (e Example) String() string {
	var parts []string
	for _, kv := range [][2]string{{"text", e.Text}, {"title", e.Title}, {"author", e.Author}, {"feed_title", e.FeedTitle}, {"url", e.URL}, {"media_alt", e.MediaAlt}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+strconv.Quote(kv[1]))
		}
	}
	return strings.Join(parts, " ")
}

// DefaultContextWindow is the context window, in words, of rules that set
// none.
const DefaultContextWindow = 10

// DefaultLabelWindow is how many words before a match a label may stand.
const DefaultLabelWindow = 3

const defaultConfidence = 0.8

// AuthorNonOfficial is the only value Rule.Author takes besides empty.
const AuthorNonOfficial = "non_official"

// Field names a rule may list.
const (
	FieldText      = "text"
	FieldTitle     = "title"
	FieldAuthor    = "author"
	FieldFeedTitle = "feed_title"
	FieldURL       = "url"
	FieldLinks     = "links"
	FieldMediaAlt  = "media_alt"
)

// ruleFields is the order in which fields are reported.
func ruleFields() []string {
	return []string{FieldText, FieldTitle, FieldAuthor, FieldFeedTitle, FieldURL, FieldLinks, FieldMediaAlt}
}

func defaultFields() []string { return []string{FieldText, FieldTitle, FieldMediaAlt} }

// institutionToken in keywords, patterns and context words stands for every
// name, alias and handle of the rule's institutions.
const institutionToken = "{institution}"

var explanationPlaceholder = regexp.MustCompile(`\{[a-z_]*\}`)

// RuleError is one problem with one rule (or with a rule file when Rule is
// empty), located by file and line.
type RuleError struct {
	File string
	Line int
	Rule string
	Msg  string
}

func (e *RuleError) Error() string {
	if e.Rule == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: rule %s: %s", e.File, e.Line, e.Rule, e.Msg)
}

//go:embed rules/*.yaml
var shippedRules embed.FS

// DefaultRules returns the rule set shipped with mediawatch; load it with
// LoadRules(DefaultRules(), "*.yaml").
func DefaultRules() fs.FS {
	// fs.Sub fails only for an invalid path name, and "rules" is valid.
	sub, _ := fs.Sub(shippedRules, "rules")
	return sub
}

// LoadRules reads the rule files matching the glob patterns (default
// "*.yaml") from fsys, in sorted order, and checks every rule. It returns
// the rules that are sound together with every problem found, joined: a
// rule file with three mistakes reports three *RuleError. Examples are
// checked for shape here and run by Matcher.TestExamples, since whether they
// fire depends on the institutions configured.
func LoadRules(fsys fs.FS, patterns ...string) ([]Rule, error) {
	if len(patterns) == 0 {
		patterns = []string{"*.yaml"}
	}
	var errs []error
	var files []string
	for _, p := range patterns {
		matches, err := fs.Glob(fsys, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule file pattern %q: %w", p, err))
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, fmt.Errorf("rule file pattern %q matches no files", p))
		}
		files = append(files, matches...)
	}
	slices.Sort(files)
	files = slices.Compact(files)

	var rules []Rule
	seen := map[string]Rule{}
	for _, file := range files {
		data, err := fs.ReadFile(fsys, file)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule file %s: %w", file, err))
			continue
		}
		fileRules, fileErrs := parseRuleFileSafely(file, data)
		errs = append(errs, fileErrs...)
		for _, r := range fileRules {
			if first, dup := seen[r.ID]; dup {
				errs = append(errs, &RuleError{File: r.File, Line: r.Line, Rule: r.ID,
					Msg: fmt.Sprintf("duplicate id, first defined at %s:%d", first.File, first.Line)})
				continue
			}
			seen[r.ID] = r
			rules = append(rules, r)
		}
	}
	return rules, errors.Join(errs...)
}

var yamlLine = regexp.MustCompile(`line (\d+):? ?`)

// lineOf pulls the line number out of a yaml error message.
func lineOf(msg string, fallback int) int {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n
		}
	}
	return fallback
}

// parseRuleFileSafely turns a panic in the YAML decoder, which hostile
// input must never cause but a third-party parser cannot promise, into an
// error for that file.
func parseRuleFileSafely(file string, data []byte) (rules []Rule, errs []error) {
	defer func() {
		if p := recover(); p != nil {
			rules, errs = nil, []error{&RuleError{File: file, Line: 1, Msg: fmt.Sprintf("YAML decoder failed: %v", p)}}
		}
	}()
	return parseRuleFile(file, data)
}

func parseRuleFile(file string, data []byte) ([]Rule, []error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return nil, []error{&RuleError{File: file, Line: lineOf(msg, 1), Msg: "invalid YAML: " + yamlLine.ReplaceAllString(msg, "")}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, []error{&RuleError{File: file, Line: 1, Msg: "empty rule file: want a top-level rules: list"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, []error{&RuleError{File: file, Line: root.Line, Msg: "want a mapping with a rules: list at the top"}}
	}
	var errs []error
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "shared" {
			// Room for YAML anchors that several rules refer to
			// (exceptions: *debunk); the rules themselves say what they use.
			continue
		}
		if k.Value != "rules" {
			errs = append(errs, &RuleError{File: file, Line: k.Line, Msg: fmt.Sprintf("unknown key %q (want rules, or shared for anchors)", k.Value)})
			continue
		}
		list = v
	}
	if list == nil {
		return nil, append(errs, &RuleError{File: file, Line: root.Line, Msg: "missing rules: list"})
	}
	if list.Kind != yaml.SequenceNode {
		return nil, append(errs, &RuleError{File: file, Line: list.Line, Msg: "rules must be a list"})
	}
	var rules []Rule
	for _, n := range list.Content {
		r, ruleErrs := parseRule(file, n)
		errs = append(errs, ruleErrs...)
		if len(ruleErrs) == 0 {
			rules = append(rules, r)
		}
	}
	return rules, errs
}

// ruleKeys lists the keys allowed in each mapping of a rule; nested maps are
// named by their path.
func ruleKeys(where string) []string {
	switch where {
	case "":
		return []string{"id", "category", "severity", "description", "policy", "institutions", "fields",
			"keywords", "pattern", "validator", "context", "exceptions", "sensitive", "confidence",
			"explanation", "requires_institution", "author", "examples", "near", "not_question", "not_quoted", "detector",
			"claim", "rebuttal"}
	case "near":
		return []string{"groups", "window"}
	case "policy":
		return []string{"file", "quote"}
	case "context":
		return []string{"any", "none", "window", "labels", "label_window"}
	case "exceptions":
		return []string{"phrases", "authors", "domains"}
	case "examples":
		return []string{"match", "no_match"}
	case "example":
		return []string{"text", "title", "author", "feed_title", "url", "media_alt"}
	}
	return nil
}

// checkKeys reports unknown keys in the rule mapping n and its nested maps,
// each with its own line, so a typo like "keyword:" is caught rather than
// silently ignored.
func checkKeys(n *yaml.Node, where string, report func(line int, msg string)) {
	if n.Kind != yaml.MappingNode {
		return // type problems are reported by decoding
	}
	allowed := ruleKeys(where)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			name := k.Value
			if where != "" {
				name = where + "." + k.Value
			}
			report(k.Line, fmt.Sprintf("unknown key %q", name))
			continue
		}
		switch {
		case where == "" && (k.Value == "policy" || k.Value == "context" || k.Value == "exceptions" || k.Value == "examples" || k.Value == "near"):
			checkKeys(v, k.Value, report)
		case where == "examples" && v.Kind == yaml.SequenceNode:
			for _, item := range v.Content {
				checkKeys(item, "example", report)
			}
		}
	}
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var ruleIDPattern = regexp.MustCompile(`^[a-z][a-z_]*\.[a-z0-9][a-z0-9_]*$`)

func parseRule(file string, n *yaml.Node) (Rule, []error) {
	r := Rule{File: file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		return r, []error{&RuleError{File: file, Line: n.Line, Msg: "a rule must be a mapping"}}
	}
	if id := mappingValue(n, "id"); id != nil && id.Kind == yaml.ScalarNode {
		r.ID = id.Value
	}
	var errs []error
	report := func(line int, msg string) {
		errs = append(errs, &RuleError{File: file, Line: line, Rule: r.ID, Msg: msg})
	}
	lineOfKey := func(key string) int {
		if v := mappingValue(n, key); v != nil {
			return v.Line
		}
		return n.Line
	}
	checkKeys(n, "", report)
	if err := n.Decode(&r); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				report(lineOf(msg, n.Line), strings.TrimSpace(yamlLine.ReplaceAllString(msg, "")))
			}
		} else {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			report(lineOf(msg, n.Line), yamlLine.ReplaceAllString(msg, ""))
		}
		return r, errs
	}
	r.File, r.Line = file, n.Line

	if mappingValue(n, "requires_institution") == nil {
		r.RequiresInstitution = true
	}
	if mappingValue(n, "confidence") == nil {
		r.Confidence = defaultConfidence
	}
	if len(r.Fields) == 0 {
		r.Fields = defaultFields()
	}
	if r.Context.Window == 0 {
		r.Context.Window = DefaultContextWindow
	}
	if r.Context.LabelWindow == 0 {
		r.Context.LabelWindow = DefaultLabelWindow
	}
	if len(r.Near.Groups) > 0 && r.Near.Window == 0 {
		r.Near.Window = DefaultNearWindow
	}

	switch {
	case r.ID == "":
		report(n.Line, "missing id")
	case !ruleIDPattern.MatchString(r.ID):
		report(lineOfKey("id"), fmt.Sprintf("id %q must be <category>.<name> in lower case", r.ID))
	case r.Category != "" && !strings.HasPrefix(r.ID, r.Category+"."):
		report(lineOfKey("id"), fmt.Sprintf("id %q must start with its category %q", r.ID, r.Category))
	}
	if !slices.Contains(Categories, r.Category) {
		report(lineOfKey("category"), fmt.Sprintf("unknown category %q (want one of %s)", r.Category, strings.Join(Categories, ", ")))
	}
	if !r.Severity.Valid() {
		report(lineOfKey("severity"), fmt.Sprintf("unknown severity %q (want info, low, medium, high or critical)", r.Severity))
	}
	if strings.TrimSpace(r.Description) == "" {
		report(n.Line, "missing description")
	}
	if strings.TrimSpace(r.Policy.File) == "" || strings.TrimSpace(r.Policy.Quote) == "" {
		report(lineOfKey("policy"), "policy needs the guideline file and the quoted line the rule enforces")
	}
	for _, f := range r.Fields {
		if !slices.Contains(ruleFields(), f) {
			report(lineOfKey("fields"), fmt.Sprintf("unknown field %q (want one of %s)", f, strings.Join(ruleFields(), ", ")))
		}
	}
	for _, id := range r.Institutions {
		if strings.TrimSpace(id) == "" {
			report(lineOfKey("institutions"), "empty institution id")
		}
	}
	checkWords := func(key string, words []string) {
		for _, w := range words {
			if strings.TrimSpace(FoldString(strings.ReplaceAll(w, institutionToken, "x"))) == "" {
				report(lineOfKey(key), fmt.Sprintf("empty word in %s", key))
			}
		}
	}
	checkWords("keywords", r.Keywords)
	checkWords("context", r.Context.Any)
	checkWords("context", r.Context.None)
	checkWords("exceptions", r.Exceptions.Phrases)
	checkWords("exceptions", r.Exceptions.Authors)
	checkWords("exceptions", r.Exceptions.Domains)
	if r.Pattern != "" {
		re, err := regexp.Compile(strings.ReplaceAll(r.Pattern, institutionToken, "(?:x)"))
		switch {
		case err != nil:
			report(lineOfKey("pattern"), fmt.Sprintf("bad pattern: %v", err))
		case re.MatchString(""):
			report(lineOfKey("pattern"), "pattern matches the empty string")
		}
	}
	if r.Validator != "" && validatorFinder(r.Validator) == nil {
		report(lineOfKey("validator"), fmt.Sprintf("unknown validator %q (want bsn, be_nn or iban)", r.Validator))
	}
	for i, g := range r.Near.Groups {
		if len(g) == 0 {
			report(lineOfKey("near"), fmt.Sprintf("near group %d is empty", i+1))
		}
		checkWords("near", g)
	}
	if len(r.Near.Groups) == 1 {
		report(lineOfKey("near"), "near needs at least two groups (one group is just keywords)")
	}
	if r.Near.Window < 0 {
		report(lineOfKey("near"), fmt.Sprintf("negative near window %d", r.Near.Window))
	}
	if r.Detector != "" && r.Detector != DetectorLookalikeDomain {
		report(lineOfKey("detector"), fmt.Sprintf("unknown detector %q (want %s)", r.Detector, DetectorLookalikeDomain))
	}
	if len(r.Keywords) == 0 && r.Pattern == "" && r.Validator == "" && len(r.Near.Groups) == 0 && r.Detector == "" {
		report(n.Line, "needs keywords, a pattern, a validator, near groups or a detector")
	}
	if r.Context.LabelWindow < 0 {
		report(lineOfKey("context"), fmt.Sprintf("negative label window %d", r.Context.LabelWindow))
	}
	if r.Context.Window < 0 {
		report(lineOfKey("context"), fmt.Sprintf("negative context window %d", r.Context.Window))
	}
	if r.Confidence <= 0 || r.Confidence > 1 {
		report(lineOfKey("confidence"), fmt.Sprintf("confidence %v out of range (0, 1]", r.Confidence))
	}
	if strings.ContainsAny(r.Explanation, "\r\n") {
		report(lineOfKey("explanation"), "explanation must be one line")
	}
	for _, ph := range explanationPlaceholder.FindAllString(r.Explanation, -1) {
		if !slices.Contains([]string{"{rule}", "{words}", "{field}", "{institutions}"}, ph) {
			report(lineOfKey("explanation"), fmt.Sprintf("unknown placeholder %s in explanation (want {rule}, {words}, {field} or {institutions})", ph))
		}
	}
	if r.Author != "" && r.Author != AuthorNonOfficial {
		report(lineOfKey("author"), fmt.Sprintf("unknown author condition %q (want %s)", r.Author, AuthorNonOfficial))
	}
	if len(r.Examples.Match) == 0 {
		report(lineOfKey("examples"), "needs at least one examples.match")
	}
	for _, ex := range slices.Concat(r.Examples.Match, r.Examples.NoMatch) {
		if ex.Text == "" && ex.Title == "" && ex.Author == "" && ex.FeedTitle == "" && ex.URL == "" && ex.MediaAlt == "" {
			report(ex.Line, "empty example")
		}
	}
	return r, errs
}
