package match_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

// corpusPost is one labelled post of testdata/corpus: what `mediawatch
// scan` reads, and the label.
type corpusPost struct {
	mention.Post
	Label struct {
		Institutions []string `json:"institutions"`
		Categories   []string `json:"categories"`
		HardNegative bool     `json:"hard_negative"`
		Kind         string   `json:"kind"`
		Note         string   `json:"note"`
	} `json:"label"`
}

// The corpus has parts. Development parts (dev*.jsonl) are what the rules
// are tuned against: dev.jsonl, written with the first held-out part;
// dev2-*.jsonl, written later where the rules generalised worst; dev3.jsonl
// and dev4.jsonl, two sets labelled before the rules saw them, measured once
// as held-out parts and tuned against afterwards. Held-out parts
// (heldout*.jsonl) are labelled by someone who never read the rules and are
// only ever measured: the test prints their figures but not their mistakes,
// so that nobody tunes the rules to them by reading the failures.
func corpusParts(t *testing.T) (dev, heldout []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, f := range files { // sorted by Glob
		part := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		switch {
		case strings.HasPrefix(part, "heldout"):
			heldout = append(heldout, part)
		case strings.HasPrefix(part, "dev"):
			dev = append(dev, part)
		default:
			t.Fatalf("%s: a corpus part is dev* or heldout*", f)
		}
	}
	return dev, heldout
}

func loadCorpus(t *testing.T, part string) []corpusPost {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "corpus", part+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var posts []corpusPost
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		raw, err := r.ReadBytes('\n')
		if len(strings.TrimSpace(string(raw))) > 0 {
			var p corpusPost
			if jerr := json.Unmarshal(raw, &p); jerr != nil {
				t.Fatalf("%s.jsonl:%d: %v", part, line, jerr)
			}
			posts = append(posts, p)
		}
		if err != nil {
			break
		}
	}
	return posts
}

type score struct{ tp, fp, fn int }

func (s score) precision() float64 { return ratio(s.tp, s.tp+s.fp) }
func (s score) recall() float64    { return ratio(s.tp, s.tp+s.fn) }
func (s score) f1() float64 {
	p, r := s.precision(), s.recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

type evaluation struct {
	posts, hardNegatives, hardNegativeHits int
	institutionsRight                      int
	byCategory                             map[string]*score
	mistakes                               []string
}

// evaluate runs the matcher over posts. A category counts as predicted when
// a finding of it concerns a watched institution: exactly when the daemon
// would raise an alert.
func evaluate(m *match.Matcher, posts []corpusPost) evaluation {
	ev := evaluation{byCategory: map[string]*score{}}
	for _, c := range match.Categories {
		ev.byCategory[c] = &score{}
	}
	for _, p := range posts {
		ev.posts++
		res := m.Match(p.Mention())
		var predicted []string
		rulesOf := map[string][]string{}
		for _, f := range res.Findings {
			if len(f.Institutions) == 0 {
				continue
			}
			if !slices.Contains(predicted, f.Category) {
				predicted = append(predicted, f.Category)
			}
			if !slices.Contains(rulesOf[f.Category], f.Rule) {
				rulesOf[f.Category] = append(rulesOf[f.Category], f.Rule)
			}
		}
		if slices.Equal(res.Institutions, sorted(p.Label.Institutions)) {
			ev.institutionsRight++
		} else {
			ev.mistakes = append(ev.mistakes, fmt.Sprintf("institutions %-14s %s: got %v, labelled %v (%s)", "", p.ID, res.Institutions, p.Label.Institutions, p.Label.Note))
		}
		if p.Label.HardNegative {
			ev.hardNegatives++
			if len(predicted) > 0 {
				ev.hardNegativeHits++
			}
		}
		for _, c := range match.Categories {
			want, got := slices.Contains(p.Label.Categories, c), slices.Contains(predicted, c)
			s := ev.byCategory[c]
			switch {
			case want && got:
				s.tp++
			case got:
				s.fp++
				ev.mistakes = append(ev.mistakes, fmt.Sprintf("false positive %-14s %s [%s] by %v: %s", c, p.ID, p.Label.Kind, rulesOf[c], clip(p.Title+" "+p.Text)))
			case want:
				s.fn++
				ev.mistakes = append(ev.mistakes, fmt.Sprintf("missed         %-14s %s [%s]: %s", c, p.ID, p.Label.Kind, p.Label.Note))
			}
		}
	}
	return ev
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 100 {
		return string(r[:100]) + "…"
	}
	return s
}

// Floors under the development corpus. Patient data is held to the
// strictest standard: a missed leak is the one mistake a privacy officer
// cannot forgive, and a false alarm there pages the privacy officer.
var floors = map[string]struct{ precision, recall, f1 float64 }{
	match.CategoryPatientData:    {precision: 0.97, recall: 0.95},
	match.CategoryLogoMisuse:     {f1: 0.85},
	match.CategoryMisinformation: {f1: 0.85},
	match.CategoryConduct:        {f1: 0.85},
}

// TestCorpus measures precision, recall and F1 per category on the
// labelled corpus and fails when the development parts fall below the
// floors. Run with -v for the figures, and the mistakes on the development
// parts.
//
// The held-out parts have no floor: they say how the rules do on posts
// nobody tuned them to, which is lower, and a floor there would be the
// first thing to invite tuning to them.
func TestCorpus(t *testing.T) {
	rules, err := match.LoadRules(match.DefaultRules(), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := match.Compile(rules, config.Default().Institutions)
	if err != nil {
		t.Fatal(err)
	}
	devParts, heldoutParts := corpusParts(t)
	var dev []corpusPost
	for _, part := range devParts {
		posts := loadCorpus(t, part)
		dev = append(dev, posts...)
		report(t, part, evaluate(m, posts))
	}
	ev := evaluate(m, dev)
	report(t, "development", ev)
	for _, mistake := range ev.mistakes {
		t.Log(mistake)
	}
	for _, part := range heldoutParts {
		report(t, part+" (held out)", evaluate(m, loadCorpus(t, part)))
	}
	for _, c := range match.Categories {
		s, floor := ev.byCategory[c], floors[c]
		if s.precision() < floor.precision || s.recall() < floor.recall || s.f1() < floor.f1 {
			t.Errorf("%s below its floor: precision %.3f (≥ %.2f), recall %.3f (≥ %.2f), F1 %.3f (≥ %.2f)",
				c, s.precision(), floor.precision, s.recall(), floor.recall, s.f1(), floor.f1)
		}
	}
}

func report(t *testing.T, part string, ev evaluation) {
	t.Helper()
	t.Logf("%s: %d posts, %d hard negatives (%d flagged), institutions right on %d", part, ev.posts, ev.hardNegatives, ev.hardNegativeHits, ev.institutionsRight)
	for _, c := range match.Categories {
		s := ev.byCategory[c]
		t.Logf("  %-14s P %.3f  R %.3f  F1 %.3f  (tp %d fp %d fn %d)", c, s.precision(), s.recall(), s.f1(), s.tp, s.fp, s.fn)
	}
}
