package match

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// nearSpans finds the places in field f where every group of rule r occurs
// within r.Near.Window words of each other, in any order. Each returned
// span (folded offsets) runs from the first to the last word used; the
// words are the rule words that made it.
func nearSpans(r *compiledRule, f *field, concerned []int) (spans []span, words [][]string) {
	groups := make([][]hit, len(r.near))
	for gi, g := range r.near {
		for _, ref := range g {
			if !concerns(concerned, ref.inst) {
				continue
			}
			groups[gi] = append(groups[gi], f.of(ref.id)...)
		}
		if len(groups[gi]) == 0 {
			return nil, nil
		}
	}
	starts := wordStarts(f.folded.text)
	wordAt := func(off int32) int {
		i, _ := slices.BinarySearch(starts, int(off)+1)
		return i - 1
	}
	// Every hit of the first group anchors a try; the nearest hit of each
	// other group, counted in words, joins it.
	anchors := slices.Clone(groups[0])
	slices.SortFunc(anchors, func(a, b hit) int { return int(a.start - b.start) })
	last := -1
	for _, a := range anchors {
		if int(a.start) < last {
			continue
		}
		aw := wordAt(a.start)
		lo, hi := int(a.start), int(a.end)
		loW, hiW := aw, wordAt(a.end-1)
		used := []int32{a.phrase}
		ok := true
		for _, g := range groups[1:] {
			best, bestDist := hit{}, -1
			for _, h := range g {
				w := wordAt(h.start)
				d := max(w-aw, aw-w)
				if bestDist < 0 || d < bestDist {
					best, bestDist = h, d
				}
			}
			if bestDist > r.Near.Window {
				ok = false
				break
			}
			lo, hi = min(lo, int(best.start)), max(hi, int(best.end))
			loW, hiW = min(loW, wordAt(best.start)), max(hiW, wordAt(best.end-1))
			used = append(used, best.phrase)
		}
		if !ok || hiW-loW > r.Near.Window {
			continue
		}
		spans = append(spans, span{lo, hi})
		var ws []string
		for _, g := range r.near {
			for _, ref := range g {
				if slices.Contains(used, int32(ref.id)) && !slices.Contains(ws, ref.word) {
					ws = append(ws, ref.word)
				}
			}
		}
		words = append(words, ws)
		last = hi
	}
	return spans, words
}

// wordStarts returns the offsets where words start in a folded text.
func wordStarts(text string) []int {
	var starts []int
	inWord := false
	for i, r := range text {
		w := isWordRune(r)
		if w && !inWord {
			starts = append(starts, i)
		}
		inWord = w
	}
	return starts
}

// inQuestion reports whether the sentence that goes on after text[:end]
// ends with a question mark. "Wist je dat ...?" and "Did you know ...?"
// are claims dressed as questions and do not count.
func inQuestion(text string, end int) bool {
	start := strings.LastIndexAny(text[:end], ".!?\n") + 1
	opening := strings.ToLower(strings.TrimSpace(text[start:end]))
	for _, claim := range []string{"wist je dat", "wist u dat", "wisten jullie dat", "did you know", "saviez-vous que", "savais-tu que"} {
		if strings.HasPrefix(opening, claim) {
			return false
		}
	}
	for i := end; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch r {
		case '?', '？':
			return true
		case '.', '!', '\n', '…':
			// "?!" and "!?" still ask.
			rest := strings.TrimLeft(text[i+size:], "!.")
			return r == '!' && strings.HasPrefix(rest, "?")
		}
		i += size
	}
	return false
}

// closingQuote returns the closing mark of an opening quotation mark people
// type.
func closingQuote(r rune) (rune, bool) {
	switch r {
	case '"', '\'':
		return r, true
	case '“', '„':
		return '”', true
	case '‘', '‚':
		return '’', true
	case '«':
		return '»', true
	case '‹':
		return '›', true
	}
	return 0, false
}

// inQuotes reports whether text[start:end] stands inside a quotation on its
// line: an opening mark before it that starts a word (not the apostrophe of
// "auto's") and the matching closing mark after it that ends one.
func inQuotes(text string, start, end int) bool {
	lineStart := strings.LastIndexByte(text[:start], '\n') + 1
	lineEnd := len(text)
	if i := strings.IndexByte(text[end:], '\n'); i >= 0 {
		lineEnd = end + i
	}
	for i := start - 1; i >= lineStart; {
		r, size := utf8.DecodeLastRuneInString(text[lineStart : i+1])
		i -= size
		closing, ok := closingQuote(r)
		if !ok {
			continue
		}
		if i >= lineStart {
			if prev, _ := utf8.DecodeLastRuneInString(text[lineStart : i+1]); isWordRune(prev) {
				continue // an apostrophe inside a word
			}
		}
		if j := strings.IndexRune(text[end:lineEnd], closing); j >= 0 {
			after := end + j + utf8.RuneLen(closing)
			if next, _ := utf8.DecodeRuneInString(text[after:]); after == len(text) || !isWordRune(next) {
				return true
			}
		}
		return false
	}
	return false
}
