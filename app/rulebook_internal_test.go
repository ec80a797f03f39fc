package app

import (
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/web"
)

// The rules page shows the rules in force, with the guideline line each
// enforces and where it is from; a reload shows at once.
func TestRuleBookRules(t *testing.T) {
	m, err := LoadMatcher(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[match.Matcher]
	current.Store(m)
	book := ruleBook{matcher: current.Load}
	rules := book.Rules()
	if len(rules) != len(m.Rules()) || !slices.IsSortedFunc(rules, func(a, b web.RuleInfo) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatalf("%d rules, want the matcher's %d sorted by id", len(rules), len(m.Rules()))
	}
	i := slices.IndexFunc(rules, func(r web.RuleInfo) bool { return r.ID == "logo_misuse.speaks_on_behalf" })
	if i < 0 {
		t.Fatal("logo_misuse.speaks_on_behalf not listed")
	}
	r := rules[i]
	if r.Category != match.CategoryLogoMisuse || r.Severity != "medium" || r.Description == "" || len(r.Keywords) == 0 ||
		r.Guideline != "Zo geef je aan dat je niet namens het UMC Utrecht — umc-utrecht-richtlijnen-social-media.txt" {
		t.Errorf("rule info %+v", r)
	}

	var only []match.Rule
	for _, rule := range m.Rules() {
		if rule.ID == "patient_data.bsn" {
			rule.Institutions = []string{"umc-utrecht"}
			only = append(only, rule)
		}
	}
	reloaded, err := match.Compile(only, config.Default().Institutions)
	if err != nil {
		t.Fatal(err)
	}
	current.Store(reloaded)
	if rules := book.Rules(); len(rules) != 1 || rules[0].ID != "patient_data.bsn" || !slices.Equal(rules[0].Institutes, []string{"umc-utrecht"}) {
		t.Errorf("after a reload: %+v", rules)
	}
}

// A pasted text is matched like a post, with the evidence as written (the
// person testing pasted it), in the same order every time.
func TestRuleBookTest(t *testing.T) {
	m, err := LoadMatcher(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	book := ruleBook{matcher: func() *match.Matcher { return m }}
	got := book.Test(leakyPost.Title, leakyPost.Text)
	var bsnText, bsnTitle, logo bool
	for _, f := range got {
		switch {
		case f.Rule == "patient_data.bsn" && f.Field == "text":
			bsnText = f.Evidence == leakyBSN && f.Category == match.CategoryPatientData && f.Severity == "critical" &&
				slices.Contains(f.Institutions, "umc-utrecht") && f.Explanation != ""
		case f.Rule == "patient_data.bsn" && f.Field == "title":
			bsnTitle = f.Evidence == leakyBSN
		case f.Rule == "logo_misuse.speaks_on_behalf":
			logo = f.Evidence == "Namens het UMC Utrecht"
		}
	}
	if !bsnText || !bsnTitle {
		t.Errorf("findings %+v: want the BSN in title and text", got)
	}
	// The test mention has no author, so it is not an official account.
	if !logo {
		t.Errorf("findings %+v: want the claim to speak for the hospital", got)
	}
	for range 3 {
		if again := book.Test(leakyPost.Title, leakyPost.Text); !slices.EqualFunc(again, got, func(a, b web.TestFinding) bool {
			return a.Rule == b.Rule && a.Field == b.Field && a.Evidence == b.Evidence
		}) {
			t.Fatalf("a second test gave %+v, first %+v", again, got)
		}
	}
	if got := book.Test("", ""); len(got) != 0 {
		t.Errorf("an empty text found %+v", got)
	}
}
