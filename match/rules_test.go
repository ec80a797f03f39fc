package match

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// ruleErrors flattens a joined error into its *RuleError parts, as strings.
func ruleErrors(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("error %q is not a *RuleError", err)
			return
		}
		out = append(out, re.Error())
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestDefaultRulesExamples(t *testing.T) {
	m := defaultMatcher(t)
	if err := m.TestExamples(); err != nil {
		t.Fatalf("shipped rule examples fail:\n%v", err)
	}
}

func TestDefaultRuleSet(t *testing.T) {
	m := defaultMatcher(t)
	var ids []string
	for _, r := range m.Rules() {
		ids = append(ids, r.ID)
		if len(r.Examples.Match) < 3 || len(r.Examples.NoMatch) < 3 {
			t.Errorf("%s:%d: rule %s has %d match and %d no_match examples, want at least 3 each",
				r.File, r.Line, r.ID, len(r.Examples.Match), len(r.Examples.NoMatch))
		}
		if r.File == "" || r.Line == 0 {
			t.Errorf("rule %s has no location", r.ID)
		}
	}
	// The rules the rest of mediawatch and its documentation name; the
	// set grows, these stay.
	for _, want := range []string{
		"conduct.denigrating", "conduct.harassment", "conduct.recording",
		"logo_misuse.account_name", "logo_misuse.advertising", "logo_misuse.logo_image", "logo_misuse.speaks_on_behalf",
		"misinformation.alarm_claim",
		"patient_data.be_national_number", "patient_data.bsn", "patient_data.room_bed", "patient_data.screen_photo",
	} {
		if !slices.Contains(ids, want) {
			t.Errorf("shipped rules lack %s", want)
		}
	}
	if !slices.IsSorted(ids) {
		t.Errorf("Rules() not sorted by id: %q", ids)
	}
}

// TestPolicyQuotes checks that every shipped rule quotes a line of the
// guideline it names, verbatim.
func TestPolicyQuotes(t *testing.T) {
	const dir = "../../shared/policies"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("guidelines not available: %v", err)
	}
	rules, err := LoadRules(DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		data, err := os.ReadFile(dir + "/" + r.Policy.File)
		if err != nil {
			t.Errorf("%s:%d: rule %s: policy file: %v", r.File, r.Line, r.ID, err)
			continue
		}
		found := slices.ContainsFunc(strings.Split(string(data), "\n"), func(line string) bool {
			return strings.Contains(line, r.Policy.Quote)
		})
		if !found {
			t.Errorf("%s:%d: rule %s: quote %q is not a line of %s", r.File, r.Line, r.ID, r.Policy.Quote, r.Policy.File)
		}
	}
}

func TestLoadRulesErrors(t *testing.T) {
	rules, err := LoadRules(os.DirFS("testdata/badrules"), "*.yaml")
	got := ruleErrors(t, err)
	want := []string{
		`a_problems.yaml:7: rule conduct.bad_regex: bad pattern: error parsing regexp: missing closing ): ` + "`(unclosed`",
		`a_problems.yaml:15: rule conduct.unknown_key: unknown key "keyword"`,
		`a_problems.yaml:17: rule conduct.unknown_key: unknown key "context.windw"`,
		`a_problems.yaml:25: rule conduct.unknown_field: unknown field "body" (want one of text, title, author, feed_title, url, links, media_alt)`,
		`a_problems.yaml:30: rule conduct.bad_values: unknown category "gossip" (want one of patient_data, logo_misuse, misinformation, conduct)`,
		`a_problems.yaml:29: rule conduct.bad_values: id "conduct.bad_values" must start with its category "gossip"`,
		`a_problems.yaml:31: rule conduct.bad_values: unknown severity "urgent" (want info, low, medium, high or critical)`,
		`a_problems.yaml:34: rule conduct.bad_values: unknown validator "luhn" (want bsn, be_nn or iban)`,
		`a_problems.yaml:43: rule conduct.bad_types: cannot unmarshal !!str ` + "`high`" + ` into float64`,
		`b_duplicate.yaml:2: rule conduct.fine: duplicate id, first defined at a_problems.yaml:46`,
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if len(rules) != 1 || rules[0].ID != "conduct.fine" || rules[0].File != "a_problems.yaml" {
		t.Errorf("sound rules = %+v, want only conduct.fine from a_problems.yaml", rules)
	}
}

func TestLoadRulesFileErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "r.yaml:1: empty rule file: want a top-level rules: list"},
		{"syntax", "rules:\n  - id: a\n\t- id: b\n", "r.yaml:2: invalid YAML: found a tab character"},
		{"top key", "rulez: []\n", `r.yaml:1: unknown key "rulez" (want rules, or shared for anchors)`},
		{"not a list", "rules: {}\n", "r.yaml:1: rules must be a list"},
		{"not a mapping", "rules:\n  - just a string\n", "r.yaml:2: a rule must be a mapping"},
		{"missing everything", "rules:\n  - id: conduct.x\n", "r.yaml:2: rule conduct.x: unknown category"},
		{"no matcher", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, examples: {match: [x]}}\n",
			"r.yaml:2: rule conduct.x: needs keywords, a pattern, a validator, near groups or a detector"},
		{"one near group", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, near: {groups: [[a]]}, examples: {match: [x]}}\n",
			"r.yaml:2: rule conduct.x: near needs at least two groups"},
		{"empty near group", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, near: {groups: [[a], []]}, examples: {match: [x]}}\n",
			"r.yaml:2: rule conduct.x: near group 2 is empty"},
		{"unknown near key", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, near: {groups: [[a], [b]], windw: 3}, examples: {match: [x]}}\n",
			`r.yaml:2: rule conduct.x: unknown key "near.windw"`},
		{"unknown detector", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, detector: magic, examples: {match: [x]}}\n",
			`r.yaml:2: rule conduct.x: unknown detector "magic"`},
		{"empty pattern match", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, pattern: 'a*', examples: {match: [x]}}\n",
			"r.yaml:2: rule conduct.x: pattern matches the empty string"},
		{"explanation placeholder", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, keywords: [k], explanation: 'saw {evidence}', examples: {match: [x]}}\n",
			"r.yaml:2: rule conduct.x: unknown placeholder {evidence} in explanation"},
		{"example key", "rules:\n  - id: conduct.x\n    category: conduct\n    severity: low\n    description: d\n    policy: {file: f, quote: q}\n    keywords: [k]\n    examples:\n      match:\n        - {txt: hello}\n",
			`r.yaml:10: rule conduct.x: unknown key "example.txt"`},
		{"example shape", "rules:\n  - id: conduct.x\n    category: conduct\n    severity: low\n    description: d\n    policy: {file: f, quote: q}\n    keywords: [k]\n    examples:\n      match:\n        - [a, b]\n",
			"r.yaml:10: rule conduct.x: an example is a string or a map"},
		{"no examples", "rules:\n  - {id: conduct.x, category: conduct, severity: low, description: d, policy: {file: f, quote: q}, keywords: [k]}\n",
			"r.yaml:2: rule conduct.x: needs at least one examples.match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadRules(fstest.MapFS{"r.yaml": {Data: []byte(tt.data)}}, "*.yaml")
			got := ruleErrors(t, err)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tt.want) }) {
				t.Errorf("errors %q, want one starting with %q", got, tt.want)
			}
		})
	}
}

func TestLoadRulesPatterns(t *testing.T) {
	fsys := fstest.MapFS{"a.yaml": {Data: []byte("rules: []\n")}}
	if _, err := LoadRules(fsys, "nothing/*.yaml"); err == nil || !strings.Contains(err.Error(), `"nothing/*.yaml" matches no files`) {
		t.Errorf("missing files: err = %v", err)
	}
	if _, err := LoadRules(fsys, "[bad"); err == nil || !strings.Contains(err.Error(), `"[bad"`) {
		t.Errorf("bad pattern: err = %v", err)
	}
	if rules, err := LoadRules(fsys, "*.yaml", "a.yaml"); err != nil || len(rules) != 0 {
		t.Errorf("overlapping patterns: %v %v", rules, err)
	}
}

func TestTestExamplesFailures(t *testing.T) {
	rules, err := LoadRules(os.DirFS("testdata/failing"), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Compile(rules, DefaultInstitutions())
	if err != nil {
		t.Fatal(err)
	}
	got := ruleErrors(t, m.TestExamples())
	want := []string{
		`failing.yaml:12: rule conduct.shouting: examples.match[1] did not fire: text="In UZ Leuven schreeuwen ze op de gang"`,
		`failing.yaml:15: rule conduct.shouting: examples.no_match[1] fired: text="Mijn collega in UZ Leuven kan echt schreeuwen"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n got %q\nwant %q", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	rules, err := LoadRules(os.DirFS("testdata/failing"), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	r.Institutions = []string{"umc-utrecht", "az-groeninge"}
	bad := r
	bad.ID, bad.Pattern = "conduct.other", "(x"
	_, err = Compile([]Rule{r, bad, rules[0]}, append(DefaultInstitutions(), Institution{ID: "uz-leuven", Name: "again"}, Institution{Name: "No id"}))
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	for _, want := range []string{
		`failing.yaml:2: rule conduct.shouting: unknown institution "az-groeninge"`,
		`failing.yaml:2: rule conduct.other: bad pattern`,
		`failing.yaml:2: rule conduct.shouting: duplicate id`,
		`institution uz-leuven: duplicate id`,
		`institution "No id": missing id`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Compile error %q lacks %q", msg, want)
		}
	}
}

func FuzzLoadRules(f *testing.F) {
	// Small seeds keep each run, and the minimising of new inputs, fast;
	// the shipped rule files are covered by the tests above.
	f.Add([]byte(`rules:
  - id: patient_data.x
    category: patient_data
    severity: critical
    description: d
    policy: {file: f, quote: q}
    pattern: '(?i)bsn\s*\d{9}'
    validator: bsn
    sensitive: true
    context: {any: [patiënt, "{institution}"], none: [tel], window: 4}
    exceptions: {phrases: [factcheck], authors: ["@x"], domains: [x.nl]}
    examples:
      match: ["patiënt UMC Utrecht bsn 111222333", {title: "UZ Leuven", text: "bsn 123456782 patiënt"}]
      no_match: [{author: a, feed_title: b, url: "https://x.nl", media_alt: c}]
`))
	for _, name := range []string{"testdata/badrules/a_problems.yaml", "testdata/failing/failing.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rules:\n  - {id: a.b, examples: {match: [{text: 1}, [x]]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := LoadRules(fstest.MapFS{"f.yaml": {Data: data}}, "*.yaml")
		if err != nil {
			ruleErrors(t, err)
		}
		m, err := Compile(rules, DefaultInstitutions())
		if err != nil {
			return
		}
		_ = m.TestExamples()
	})
}
