package match

import (
	"os"
	"slices"
	"testing"

	"github.com/mediawatch/mediawatch/mention"
)

// TestRuleSemantics runs one small rule per feature of the rule format
// (testdata/semantics/rules.yaml) and checks the findings in detail.
func TestRuleSemantics(t *testing.T) {
	rules, err := LoadRules(os.DirFS("testdata/semantics"), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Compile(rules, DefaultInstitutions())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		rule, field, evidence string
		institutions          []string
		explanation           string
	}
	tests := []struct {
		name    string
		mention mention.Mention
		want    []want
	}{
		{
			name:    "institution token in a pattern",
			mention: mention.Mention{Text: "Wij zijn fans van het Wilhelmina Kinderziekenhuis!"},
			want:    []want{{rule: "logo_misuse.fan_page", field: "text", evidence: "fans van het Wilhelmina Kinderziekenhuis", institutions: []string{"umc-utrecht"}}},
		},
		{
			name:    "rule limited to another institution",
			mention: mention.Mention{Text: "ruzie in het UMC Utrecht"},
			want:    []want{{rule: "conduct.excepted", field: "text", evidence: "ruzie", institutions: []string{"umc-utrecht"}}},
		},
		{
			name:    "finding concerns only the rule's institutions",
			mention: mention.Mention{Text: "ruzie tussen UMC Utrecht en UZ Leuven"},
			want: []want{
				{rule: "conduct.excepted", field: "text", evidence: "ruzie", institutions: []string{"umc-utrecht", "uz-leuven"}},
				{rule: "conduct.leuven_only", field: "text", evidence: "ruzie", institutions: []string{"uz-leuven"}},
			},
		},
		{
			name:    "no institution needed",
			mention: mention.Mention{Title: "Chemtrails boven Leuven"},
			want:    []want{{rule: "misinformation.anywhere", field: "title", evidence: "Chemtrails"}},
		},
		{
			name:    "excepted author and domain",
			mention: mention.Mention{Author: "@NieuwsBot", URL: "https://www.nieuws.example/a", Text: "ruzie in UZ Leuven"},
			want:    []want{{rule: "conduct.leuven_only", field: "text", evidence: "ruzie", institutions: []string{"uz-leuven"}}},
		},
		{
			name: "links only, numbered",
			mention: mention.Mention{Text: "zie UZ Leuven", Links: []string{"https://example.org/a", "https://example.org/ruzie-op-de-poli"},
				Media: []mention.Media{{Alt: "x"}}},
			want: []want{{rule: "conduct.in_links", field: "links[1]", evidence: "ruzie", institutions: []string{"uz-leuven"},
				explanation: `conduct.in_links saw "ruzie" in links[1] about UZ Leuven`}},
		},
		{
			name:    "a label before the match overrides a none word",
			mention: mention.Mention{Text: "UZ Leuven: patiëntnummer 12345, bleef maar bellen"},
			want:    []want{{rule: "patient_data.labelled", field: "text", evidence: "12345", institutions: []string{"uz-leuven"}, explanation: "patient_data.labelled: \"patiëntnummer\" in text"}},
		},
		{
			name:    "a label after the match or too far before it is no label",
			mention: mention.Mention{Text: "UZ Leuven: 12345 is mijn patiëntnummer, bleef maar bellen. Patiëntnummer van UZ Leuven: dat is nu 54321"},
			want:    nil,
		},
		{
			name:    "near groups in any order, evidence from first to last word",
			mention: mention.Mention{Text: "Gerucht of niet: sluiting van de SEH in UZ Leuven"},
			want:    []want{{rule: "misinformation.near_claim", field: "text", evidence: "sluiting van de SEH", institutions: []string{"uz-leuven"}}},
		},
		{
			name:    "near groups too far apart",
			mention: mention.Mention{Text: "In UZ Leuven is de SEH gewoon open, alleen de kantine gaat vroeg dicht"},
			want:    nil,
		},
		{
			name:    "overlapping keywords give the longest",
			mention: mention.Mention{Text: "UZ Leuven", Media: []mention.Media{{Alt: "Stiekem opgenomen"}, {Alt: "opgenomen"}}},
			want: []want{
				{rule: "conduct.overlap", field: "media[0].alt", evidence: "Stiekem opgenomen", institutions: []string{"uz-leuven"}},
				{rule: "conduct.overlap", field: "media[1].alt", evidence: "opgenomen", institutions: []string{"uz-leuven"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := m.Match(&tt.mention)
			checkInvariants(t, &tt.mention, res)
			var got []want
			for _, f := range res.Findings {
				w := want{rule: f.Rule, field: f.Field, evidence: f.Evidence, institutions: f.Institutions}
				if tt.want != nil && len(got) < len(tt.want) && tt.want[len(got)].explanation != "" {
					w.explanation = f.Explanation
				}
				got = append(got, w)
			}
			if !slices.EqualFunc(got, tt.want, func(a, b want) bool {
				return a.rule == b.rule && a.field == b.field && a.evidence == b.evidence &&
					slices.Equal(a.institutions, b.institutions) && a.explanation == b.explanation
			}) {
				t.Errorf("findings\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if err := m.TestExamples(); err != nil {
		t.Errorf("examples: %v", err)
	}
}

// TestCompileWithoutInstitutions: a rule set compiles with no institutions
// configured, and the institution token then matches nothing.
func TestCompileWithoutInstitutions(t *testing.T) {
	rules, err := LoadRules(os.DirFS("testdata/semantics"), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules = slices.DeleteFunc(rules, func(r Rule) bool { return len(r.Institutions) > 0 })
	m, err := Compile(rules, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := m.Match(&mention.Mention{Text: "fans van het UMC Utrecht, chemtrails"})
	if got := firedRules(res); !slices.Equal(got, []string{"misinformation.anywhere"}) {
		t.Errorf("rules = %q, want only misinformation.anywhere", got)
	}
}
