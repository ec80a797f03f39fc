package match

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// naiveHits is the definition the automaton must meet: every word-bounded
// occurrence of every phrase in the folded text, by strings.Index.
func naiveHits(phrases []string, text string) []hit {
	return naivePrefixHits(phrases, nil, text)
}

// naivePrefixHits is naiveHits where prefix[id] marks a phrase written with
// a trailing *: bounded on the left only, its hit runs to the word's end.
func naivePrefixHits(phrases []string, prefix []bool, text string) []hit {
	var out []hit
	for id, ph := range phrases {
		if ph == "" {
			continue
		}
		for at := 0; at+len(ph) <= len(text); {
			i := strings.Index(text[at:], ph)
			if i < 0 {
				break
			}
			start := at + i
			switch {
			case id < len(prefix) && prefix[id]:
				if wordBounded(text, start, start) {
					out = append(out, hit{phrase: int32(id), start: int32(start), end: int32(wordEndAfter(text, start+len(ph)))})
				}
			case wordBounded(text, start, start+len(ph)):
				out = append(out, hit{phrase: int32(id), start: int32(start), end: int32(start + len(ph))})
			}
			at = start + 1
		}
	}
	sortHits(out)
	return out
}

func sortHits(h []hit) {
	slices.SortFunc(h, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.phrase, b.phrase), cmp.Compare(a.start, b.start))
	})
}

func buildPhraseSet(phrases ...string) *phraseSet {
	p := newPhraseSet()
	for _, ph := range phrases {
		p.add(ph)
	}
	p.build()
	return p
}

// scanSorted folds text, scans it and returns the hits with their phrases.
func scanSorted(p *phraseSet, text string) (string, []hit) {
	folded := FoldString(text)
	hits := p.scan(folded, nil)
	sortHits(hits)
	return folded, hits
}

func TestPhraseSetPrefix(t *testing.T) {
	p := newPhraseSet()
	sluit := p.add("sluit*")
	exact := p.add("sluit")
	clos := p.add("Clos*")
	p.build()
	folded, hits := scanSorted(p, "Sluiting! De SEH sluit, ze sluiten; afsluiten telt niet. Closing, closed.")
	var got []string
	for _, h := range hits {
		got = append(got, fmt.Sprintf("%d:%s", h.phrase, folded[h.start:h.end]))
	}
	want := []string{
		fmt.Sprintf("%d:sluiting", sluit), fmt.Sprintf("%d:sluit", sluit), fmt.Sprintf("%d:sluiten", sluit),
		fmt.Sprintf("%d:sluit", exact),
		fmt.Sprintf("%d:closing", clos), fmt.Sprintf("%d:closed", clos),
	}
	if !slices.Equal(got, want) {
		t.Errorf("hits = %q, want %q", got, want)
	}
	if want := naivePrefixHits(p.phrases, p.prefix, folded); !slices.Equal(hits, want) {
		t.Errorf("scan = %v, naive %v", hits, want)
	}
}

func TestPhraseSetScan(t *testing.T) {
	phrases := []string{"kamer", "tweede kamer", "Kamer van Koophandel", "ic", "bed", "#ad", "a", "aa", "umc utrecht",
		"umcutrecht", "patiënt", "patiënten", "collega", "zie foto", "📸", "o'", "-nummer", "ß", "he", "she", "hers", "his"}
	tests := []struct {
		text string
		want []string // phrases found, in order of phrase id then position
	}{
		{"De Tweede Kamer en de kamer", []string{"kamer", "kamer", "tweede kamer"}},
		{"Kamer van Koophandel", []string{"kamer", "kamer van koophandel"}},
		{"op de IC vannacht, clinic", []string{"ic"}},
		{"bedden bed bed.", []string{"bed", "bed"}},
		{"#ad x#ad #adres", []string{"#ad", "#ad"}},
		{"a aa aaa", []string{"a", "aa"}},
		{"UMC Utrecht, #UMCUtrecht en umcutrecht_nieuws", []string{"umc utrecht", "umcutrecht", "umcutrecht"}},
		{"PATIËNTEN en patiënt", []string{"patiënt", "patiënten"}},
		{"collega's", []string{"collega"}},
		{"zie foto📸!", []string{"zie foto", "📸"}},
		{"Straße Strasse", nil},
		{"o'neill bsn-nummer", []string{"o'", "-nummer"}},
		{"ushers she his", []string{"she", "his"}},
		{"", nil},
		{"é\u0301\u0301 \xff kamer\xffkamer", []string{"kamer", "kamer"}},
	}
	p := buildPhraseSet(phrases...)
	for _, tt := range tests {
		folded, got := scanSorted(p, tt.text)
		if want := naiveHits(p.phrases, folded); !slices.Equal(got, want) {
			t.Errorf("scan(%q) = %v, naive %v", tt.text, got, want)
		}
		var names []string
		for _, h := range got {
			names = append(names, p.phrases[h.phrase])
			if folded[h.start:h.end] != p.phrases[h.phrase] {
				t.Errorf("scan(%q): hit %v is %q", tt.text, h, folded[h.start:h.end])
			}
		}
		var want []string
		for _, w := range tt.want {
			want = append(want, FoldString(w))
		}
		if !slices.Equal(names, want) {
			t.Errorf("scan(%q) found %q, want %q", tt.text, names, want)
		}
	}
}

func TestPhraseSetEmpty(t *testing.T) {
	p := buildPhraseSet()
	if hits := p.scan("anything at all", nil); len(hits) != 0 {
		t.Errorf("empty set found %v", hits)
	}
	p = buildPhraseSet("  ", "\u00ad")
	if hits := p.scan("a b", nil); len(hits) != 0 {
		t.Errorf("blank phrases found %v", hits)
	}
}

// TestPhraseSetDefaultRules scans the rule examples with the shipped
// phrase set, thousands of phrases against real sentences.
func TestPhraseSetDefaultRules(t *testing.T) {
	m := defaultMatcher(t)
	for _, r := range m.Rules() {
		for _, ex := range slices.Concat(r.Examples.Match, r.Examples.NoMatch) {
			for _, text := range []string{ex.Text, ex.Title, ex.Author, ex.MediaAlt} {
				folded, got := scanSorted(m.phrases, text)
				if want := naivePrefixHits(m.phrases.phrases, m.phrases.prefix, folded); !slices.Equal(got, want) {
					t.Errorf("scan(%q) = %v, naive %v", text, got, want)
				}
			}
		}
	}
}

func FuzzPhraseSet(f *testing.F) {
	f.Add("kamer|tweede kamer|ic|#ad|a|aa", "De Tweede Kamer, op de IC #ad aaa")
	f.Add("he|she|his|hers", "ushers")
	f.Add("é|e\u0301|ß|ss", "Straße e\u0301 É")
	f.Add("x y|y|-z", "x  y x y-z\xffy")
	f.Add("sluit*|sluit|clos*|é", "Sluiting sluit, closing é*")
	f.Fuzz(func(t *testing.T, list, text string) {
		phrases := strings.Split(list, "|")
		if len(phrases) > 50 {
			phrases = phrases[:50]
		}
		p := buildPhraseSet(phrases...)
		folded, got := scanSorted(p, text)
		if want := naivePrefixHits(p.phrases, p.prefix, folded); !slices.Equal(got, want) {
			t.Errorf("phrases %q (prefix %v) in %q: scan %v, naive %v", p.phrases, p.prefix, folded, got, want)
		}
	})
}

// TestGroupByPhrase checks the counting sort against a stable sort by
// phrase, and that it leaves its counters at zero for the next field.
func TestGroupByPhrase(t *testing.T) {
	phrases := []string{"kamer", "kamer 12", "bed", "op", "12", "c4", "de"}
	set := newPhraseSet()
	for _, ph := range phrases {
		set.add(ph)
	}
	set.build()
	count := make([]int32, len(phrases))
	var scratch groupScratch
	for _, text := range []string{
		"kamer 12 op c4, bed 3 op de ic, kamer 12 op de c4 en bed 12 op c4",
		"op op op de de kamer",
		"12",
		"",
	} {
		hits := set.scan(text, nil)
		want := slices.Clone(hits)
		slices.SortStableFunc(want, func(a, b hit) int { return cmp.Compare(a.phrase, b.phrase) })
		got := groupByPhrase(slices.Clone(hits), count, &scratch)
		if !slices.Equal(got, want) {
			t.Errorf("%q: grouped %v, want %v", text, got, want)
		}
		for i := 1; i < len(got); i++ {
			if prev, h := got[i-1], got[i]; prev.phrase == h.phrase && prev.start >= h.start {
				t.Errorf("%q: hits of phrase %d out of order: %v", text, h.phrase, got)
			}
		}
		if slices.ContainsFunc(count, func(n int32) bool { return n != 0 }) {
			t.Fatalf("%q: counters left at %v", text, count)
		}
	}
}
