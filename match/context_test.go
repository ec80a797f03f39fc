package match

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf8"
)

// contextSpanByWords is the definition contextSpan meets: the same bounds
// computed from the list of every word in the text.
func contextSpanByWords(text string, fs, fe, window, labelWindow int) (lo, hi, labelLo int, wordBefore bool) {
	words := appendWordSpans(nil, text)
	first := slices.IndexFunc(words, func(w [2]int) bool { return w[1] > fs })
	if first < 0 {
		first = len(words)
	}
	last := first - 1
	for last+1 < len(words) && words[last+1][0] < fe {
		last++
	}
	// A window reaching the first (last) word reaches the start (end) of
	// the text.
	lo, hi = 0, len(text)
	if n := len(words); n > 0 {
		if from := first - window; from > 0 {
			lo = min(fs, words[from][0])
		}
		if to := last + window; to < n-1 {
			hi = max(fe, words[to][1])
		}
	}
	labelLo = -1
	if first > 0 {
		labelLo = words[max(first-labelWindow, 0)][0]
	}
	return lo, hi, labelLo, first > 0
}

func runeBoundary(s string, i int) bool { return i == len(s) || utf8.RuneStart(s[i]) }

func checkContextSpan(t *testing.T, text string, fs, fe, window, labelWindow int) {
	t.Helper()
	lo, hi, labelLo, before := contextSpan(text, fs, fe, window, labelWindow)
	wlo, whi, wlabelLo, wbefore := contextSpanByWords(text, fs, fe, window, labelWindow)
	if !before {
		labelLo = -1
	}
	if lo != wlo || hi != whi || labelLo != wlabelLo || before != wbefore {
		t.Errorf("contextSpan(%q, %d, %d, %d, %d) = %d %d %d %v, want %d %d %d %v",
			text, fs, fe, window, labelWindow, lo, hi, labelLo, before, wlo, whi, wlabelLo, wbefore)
	}
}

func TestContextSpan(t *testing.T) {
	texts := []string{
		"", "bsn", "  ", "de patiënt op kamer 12, bsn 123456782 — zie foto!", "één twee  drie\tvier. vijf",
		"x", "...a...", "UMC-Utrecht e\u0301 \xff 📸 kamer12b", "a b c d e f g h i j k l m n o p q r s t u v w",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, text := range texts {
		text = FoldString(text) // spans fall on rune boundaries of folded text
		for range 300 {
			fs := rng.IntN(len(text) + 1)
			fe := fs + rng.IntN(len(text)-fs+1)
			if runeBoundary(text, fs) && runeBoundary(text, fe) {
				checkContextSpan(t, text, fs, fe, 1+rng.IntN(12), 1+rng.IntN(4))
			}
		}
	}
}

func FuzzContextSpan(f *testing.F) {
	f.Add("de patiënt op kamer 12, bsn 123456782", 20, 24, 3, 2)
	f.Add("a b", 1, 1, 1, 1)
	f.Fuzz(func(t *testing.T, text string, fs, fe, window, labelWindow int) {
		text = FoldString(text) // the function sees folded text only
		if fs < 0 || fe < fs || fe > len(text) || window < 1 || labelWindow < 1 || window > 50 || labelWindow > 50 ||
			!runeBoundary(text, fs) || !runeBoundary(text, fe) {
			return
		}
		checkContextSpan(t, text, fs, fe, window, labelWindow)
	})
}

// appendWordSpans appends the [start, end) offsets of every word (maximal
// run of letters and digits) in s: the whole list the reference needs.
func appendWordSpans(spans [][2]int, s string) [][2]int {
	start := -1
	for i := 0; i < len(s); {
		var word bool
		size := 1
		if c := s[i]; c < utf8.RuneSelf {
			word = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			word = isWordRune(r)
		}
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			spans = append(spans, [2]int{start, i})
			start = -1
		}
		i += size
	}
	if start >= 0 {
		spans = append(spans, [2]int{start, len(s)})
	}
	return spans
}
