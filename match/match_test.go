package match

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mediawatch/mediawatch/mention"
)

type mentionCase struct {
	Name    string `yaml:"name"`
	Mention struct {
		Text      string   `yaml:"text"`
		Title     string   `yaml:"title"`
		Author    string   `yaml:"author"`
		FeedTitle string   `yaml:"feed_title"`
		URL       string   `yaml:"url"`
		Links     []string `yaml:"links"`
		MediaAlt  []string `yaml:"media_alt"`
	} `yaml:"mention"`
	Institutions []string `yaml:"institutions"`
	Rules        []string `yaml:"rules"`
}

func (c mentionCase) toMention() *mention.Mention {
	mn := &mention.Mention{
		Source: "test", Text: c.Mention.Text, Title: c.Mention.Title, Author: c.Mention.Author,
		FeedTitle: c.Mention.FeedTitle, URL: c.Mention.URL, Links: c.Mention.Links,
	}
	for _, alt := range c.Mention.MediaAlt {
		mn.Media = append(mn.Media, mention.Media{URL: "https://example.org/img.jpg", Alt: alt})
	}
	return mn
}

func loadMentionCases(tb testing.TB) []mentionCase {
	tb.Helper()
	data, err := os.ReadFile("testdata/mentions.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var cases []mentionCase
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		tb.Fatalf("testdata/mentions.yaml: %v", err)
	}
	return cases
}

func firedRules(res Result) []string {
	var ids []string
	for _, f := range res.Findings {
		ids = append(ids, f.Rule)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestMatchMentions(t *testing.T) {
	m := defaultMatcher(t)
	for _, c := range loadMentionCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			res := m.Match(c.toMention())
			if got := res.Institutions; !slices.Equal(got, c.Institutions) {
				t.Errorf("institutions = %q, want %q", got, c.Institutions)
			}
			if got := firedRules(res); !slices.Equal(got, c.Rules) {
				t.Errorf("rules = %q, want %q", got, c.Rules)
				for _, f := range res.Findings {
					t.Logf("  %s %s[%d:%d] %q: %s", f.Rule, f.Field, f.Start, f.End, f.Evidence, f.Explanation)
				}
			}
			checkInvariants(t, c.toMention(), res)
		})
	}
}

// fieldValue returns the original string a finding's Field names.
func fieldValue(mn *mention.Mention, name string) (string, bool) {
	switch name {
	case FieldText:
		return mn.Text, true
	case FieldTitle:
		return mn.Title, true
	case FieldAuthor:
		return mn.Author, true
	case FieldFeedTitle:
		return mn.FeedTitle, true
	case FieldURL:
		return mn.URL, true
	}
	for i, l := range mn.Links {
		if name == "links["+strconv.Itoa(i)+"]" {
			return l, true
		}
	}
	for i, md := range mn.Media {
		if name == "media["+strconv.Itoa(i)+"].alt" {
			return md.Alt, true
		}
	}
	return "", false
}

func fieldRank(mn *mention.Mention, name string) int {
	order := []string{FieldText, FieldTitle, FieldAuthor, FieldFeedTitle, FieldURL}
	if i := slices.Index(order, name); i >= 0 {
		return i
	}
	for i := range mn.Links {
		if name == "links["+strconv.Itoa(i)+"]" {
			return len(order) + i
		}
	}
	for i := range mn.Media {
		if name == "media["+strconv.Itoa(i)+"].alt" {
			return len(order) + len(mn.Links) + i
		}
	}
	return -1
}

// checkInvariants holds for every result: spans inside their field,
// evidence equal to the span, known rules and institutions, sorted order.
func checkInvariants(t *testing.T, mn *mention.Mention, res Result) {
	t.Helper()
	if !slices.IsSorted(res.Institutions) {
		t.Errorf("institutions not sorted: %q", res.Institutions)
	}
	for i, f := range res.Findings {
		s, ok := fieldValue(mn, f.Field)
		if !ok {
			t.Errorf("finding %d: unknown field %q", i, f.Field)
			continue
		}
		if f.Start < 0 || f.End > len(s) || f.Start >= f.End {
			t.Errorf("finding %d (%s): span [%d:%d] outside field %s of length %d", i, f.Rule, f.Start, f.End, f.Field, len(s))
			continue
		}
		if f.Evidence != s[f.Start:f.End] {
			t.Errorf("finding %d (%s): evidence %q != field[%d:%d] %q", i, f.Rule, f.Evidence, f.Start, f.End, s[f.Start:f.End])
		}
		if !f.Severity.Valid() || !slices.Contains(Categories, f.Category) || !strings.HasPrefix(f.Rule, f.Category+".") {
			t.Errorf("finding %d: bad category/severity/rule %q %q %q", i, f.Category, f.Severity, f.Rule)
		}
		if strings.ContainsAny(f.Explanation, "\n\r") || f.Explanation == "" {
			t.Errorf("finding %d: explanation %q is not one line", i, f.Explanation)
		}
		if f.Sensitive && strings.Contains(f.Explanation, f.Evidence) {
			t.Errorf("finding %d: explanation leaks sensitive evidence", i)
		}
		for _, id := range f.Institutions {
			if !slices.Contains(res.Institutions, id) {
				t.Errorf("finding %d: institution %q not among detected %q", i, id, res.Institutions)
			}
		}
		if i > 0 {
			p := res.Findings[i-1]
			pr, fr := fieldRank(mn, p.Field), fieldRank(mn, f.Field)
			if pr > fr || (pr == fr && (p.Start > f.Start || (p.Start == f.Start && (p.End > f.End || (p.End == f.End && p.Rule > f.Rule))))) {
				t.Errorf("findings %d and %d out of order: %s %s[%d:%d], %s %s[%d:%d]", i-1, i, p.Rule, p.Field, p.Start, p.End, f.Rule, f.Field, f.Start, f.End)
			}
		}
	}
}

func TestFindingDetails(t *testing.T) {
	m := defaultMatcher(t)
	text := "Die gestoorde patiënt op bed 4 van de IC, bsn 123456782, heeft geklaagd in het UMC Utrecht"
	res := m.Match(&mention.Mention{Text: text})
	var bsn *Finding
	for i := range res.Findings {
		if res.Findings[i].Rule == "patient_data.bsn" {
			bsn = &res.Findings[i]
		}
	}
	if bsn == nil {
		t.Fatalf("no patient_data.bsn finding in %+v", res.Findings)
	}
	want := Finding{
		Category: CategoryPatientData, Rule: "patient_data.bsn", Severity: SeverityCritical, Confidence: 0.95,
		Field: "text", Start: strings.Index(text, "123456782"), End: strings.Index(text, "123456782") + 9,
		Evidence: "123456782", Words: []string{"bsn", "ic", "patiënt"}, Sensitive: true,
		Institutions: []string{"umc-utrecht"},
		Explanation:  `patient_data.bsn: a number passing the BSN 11-check next to "bsn", "ic", "patiënt" in text`,
	}
	got, _ := json.Marshal(bsn)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Errorf("finding\n got %s\nwant %s", got, exp)
	}
	if r := bsn.RedactedEvidence(); r != "******782" {
		t.Errorf("RedactedEvidence = %q, want ******782", r)
	}
}

func TestMatchDeterministicAndConcurrent(t *testing.T) {
	m := defaultMatcher(t)
	cases := loadMentionCases(t)
	want := make([]string, len(cases))
	for i, c := range cases {
		b, _ := json.Marshal(m.Match(c.toMention()))
		want[i] = string(b)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for i, c := range cases {
				b, _ := json.Marshal(m.Match(c.toMention()))
				if string(b) != want[i] {
					t.Errorf("%s: result differs between runs:\n%s\n%s", c.Name, b, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func TestMatchExamplesInvariants(t *testing.T) {
	m := defaultMatcher(t)
	for _, r := range m.Rules() {
		for _, ex := range slices.Concat(r.Examples.Match, r.Examples.NoMatch) {
			mn := &mention.Mention{Text: ex.Text, Title: ex.Title, Author: ex.Author, FeedTitle: ex.FeedTitle, URL: ex.URL}
			if ex.MediaAlt != "" {
				mn.Media = []mention.Media{{Alt: ex.MediaAlt}}
			}
			checkInvariants(t, mn, m.Match(mn))
		}
	}
}

func TestMatchNil(t *testing.T) {
	m := defaultMatcher(t)
	if res := m.Match(nil); len(res.Findings) != 0 || len(res.Institutions) != 0 {
		t.Errorf("Match(nil) = %+v, want empty", res)
	}
}

func FuzzMatch(f *testing.F) {
	for _, c := range loadMentionCases(f) {
		f.Add(c.Mention.Text, c.Mention.Title, c.Mention.Author)
	}
	f.Add("BSN 1112.22.333 patiënt UMC Utrecht kamer 3 op C4\u0301ß", "UZ Leuven 85.07.30-033.28", "@umcutrecht")
	f.Add("\xff\xfeUMC Utrecht e\u0301\u0301 bed 12 IC", "", "")
	m := defaultMatcher(f)
	f.Fuzz(func(t *testing.T, text, title, author string) {
		mn := &mention.Mention{Text: text, Title: title, Author: author, FeedTitle: title, URL: "https://example.org/" + author,
			Links: []string{title}, Media: []mention.Media{{Alt: text}}}
		res := m.Match(mn)
		checkInvariants(t, mn, res)
		for _, f := range res.Findings {
			s, _ := fieldValue(mn, f.Field)
			_ = Redact(s, f.Field, res.Findings)
			_ = f.RedactedEvidence()
		}
	})
}
