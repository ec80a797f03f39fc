package app_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/demo"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

// TestDemoCorpusDetection runs the shipped rules over the demo corpus and
// compares them with its human labels, written before the rules. It reports
// precision and recall per category and holds a floor under the figures
// that matter most: a leaked number is never missed, and no deliberate hard
// negative raises a patient_data alert.
func TestDemoCorpusDetection(t *testing.T) {
	matcher, err := app.LoadMatcher(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ feed, guid string }
	labels := map[key]demo.Expectation{}
	for _, e := range demo.Expectations() {
		labels[key{e.FeedID, e.GUID}] = e
	}
	type counts struct{ tp, fp, fn int }
	perCategory := map[string]*counts{}
	for _, c := range match.Categories {
		perCategory[c] = &counts{}
	}
	var hardNegativeHits, missedNumbers []string
	items := 0
	for _, it := range demoCorpus(t) {
		f, m := it.feed, it.mention
		items++
		label, labelled := labels[key{f.ID, m.GUID}]
		res := matcher.Match(&m)
		var predicted []string
		for _, fd := range res.Findings {
			if len(fd.Institutions) > 0 && !slices.Contains(predicted, fd.Category) {
				predicted = append(predicted, fd.Category)
			}
		}
		for _, c := range match.Categories {
			want := labelled && label.Category == c
			got := slices.Contains(predicted, c)
			switch {
			case want && got:
				perCategory[c].tp++
			case got:
				perCategory[c].fp++
				t.Logf("false positive %-14s %s/%s: %s", c, f.ID, m.GUID, firstLine(m.Title+" "+m.Text))
			case want:
				perCategory[c].fn++
				t.Logf("missed         %-14s %s/%s: %s", c, f.ID, m.GUID, label.Note)
			}
		}
		if labelled && label.Category == "" && slices.Contains(predicted, match.CategoryPatientData) {
			hardNegativeHits = append(hardNegativeHits, f.ID+"/"+m.GUID)
		}
		numbers := append(match.FindBSNs(m.Text), match.FindBelgianNNs(m.Text)...)
		if labelled && label.Category == match.CategoryPatientData && len(numbers) > 0 && !slices.Contains(predicted, match.CategoryPatientData) {
			missedNumbers = append(missedNumbers, f.ID+"/"+m.GUID)
		}
	}
	t.Logf("demo corpus: %d items, %d labelled", items, len(labels))
	for _, c := range match.Categories {
		n := perCategory[c]
		t.Logf("%-14s precision %s recall %s (tp %d, fp %d, fn %d)", c, ratio(n.tp, n.tp+n.fp), ratio(n.tp, n.tp+n.fn), n.tp, n.fp, n.fn)
	}
	if len(missedNumbers) > 0 {
		t.Errorf("leaked BSN or national numbers not detected in %v", missedNumbers)
	}
	if len(hardNegativeHits) > 0 {
		t.Errorf("hard negatives raised patient_data: %v", hardNegativeHits)
	}
}

type demoItem struct {
	feed    demo.Feed
	mention mention.Mention
}

// demoCorpus reads and normalises every item of the demo corpus, in feed
// order.
func demoCorpus(tb testing.TB) []demoItem {
	tb.Helper()
	var items []demoItem
	for _, f := range demo.Feeds() {
		body, err := os.ReadFile(filepath.Join("..", "demo", "feeds", filepath.FromSlash(f.Path)))
		if err != nil {
			tb.Fatal(err)
		}
		parsed, err := ingest.ParseFeed(body, "")
		if err != nil {
			tb.Fatalf("%s: %v", f.ID, err)
		}
		for _, m := range ingest.Normalise(ingest.FeedSpec{ID: f.ID, URL: "http://demo.invalid" + f.Path, Source: f.Source}, parsed, time.Now()) {
			items = append(items, demoItem{feed: f, mention: m})
		}
	}
	return items
}

func ratio(a, b int) string {
	if b == 0 {
		return "  n/a"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > 90 {
		return string(r[:90]) + "…"
	}
	return s
}
