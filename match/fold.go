package match

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FoldString returns s lower-cased with accents removed and a few ligatures
// and typographic variants spelled out (ß→ss, æ→ae, ’→'), so that "Patiënt",
// "PATIENT" and "patient" compare equal. Keywords, context words and
// institution names are all compared in this form.
func FoldString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var buf [16]byte
	for _, r := range s {
		b.Write(foldRune(r, buf[:0]))
	}
	return b.String()
}

// folded is a field in folded form together with the way back: every byte of
// text knows the byte range of the original rune it came from, so a match
// found in the folded text can be reported as a span of the original.
type folded struct {
	text string
	// origStart[i] and origEnd[i] are the original byte range of the rune
	// that produced folded byte i. Combining marks that fold to nothing are
	// attached to the preceding rune's range so spans never split a letter
	// from its accent.
	origStart []int32
	origEnd   []int32
}

func fold(s string) folded {
	var b strings.Builder
	b.Grow(len(s))
	starts := make([]int32, 0, len(s))
	ends := make([]int32, 0, len(s))
	lastUnit := -1 // folded offset where the last emitting rune's bytes begin
	var buf [16]byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		out := foldRune(r, buf[:0])
		if len(out) == 0 {
			if lastUnit >= 0 {
				for j := lastUnit; j < len(ends); j++ {
					ends[j] = int32(i + size)
				}
			}
			i += size
			continue
		}
		lastUnit = b.Len()
		b.Write(out)
		for range out {
			starts = append(starts, int32(i))
			ends = append(ends, int32(i+size))
		}
		i += size
	}
	return folded{text: b.String(), origStart: starts, origEnd: ends}
}

// foldRune appends the folded form of r to dst. Invalid UTF-8 bytes come in
// as utf8.RuneError and fold to U+FFFD so offsets stay aligned.
func foldRune(r rune, dst []byte) []byte {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return append(dst, byte(r))
	}
	switch r {
	case 'ß', 'ẞ':
		return append(dst, "ss"...)
	case 'æ', 'Æ':
		return append(dst, "ae"...)
	case 'œ', 'Œ':
		return append(dst, "oe"...)
	case 'ø', 'Ø':
		return append(dst, 'o')
	case 'ł', 'Ł':
		return append(dst, 'l')
	case 'đ', 'Đ':
		return append(dst, 'd')
	case 'ı':
		return append(dst, 'i')
	case 'ĳ', 'Ĳ':
		return append(dst, "ij"...)
	case '\u2018', '\u2019', '\u201B', '\u2032', '`', '´':
		return append(dst, '\'')
	case '\u201C', '\u201D', '\u201E':
		return append(dst, '"')
	case '\u00A0', '\u2007', '\u202F':
		return append(dst, ' ')
	case '\u00AD', '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF':
		return dst // invisible: soft hyphen, zero-width characters
	}
	if unicode.Is(unicode.Mn, r) {
		return dst
	}
	var tmp [utf8.UTFMax]byte
	n := utf8.EncodeRune(tmp[:], r)
	for _, d := range norm.NFD.String(string(tmp[:n])) {
		if unicode.Is(unicode.Mn, d) {
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(d))
	}
	return dst
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordSpans returns the [start, end) offsets of every word (maximal run of
// letters and digits) in s, for context windows.
func wordSpans(s string) [][2]int {
	spans := [][2]int{}
	start := -1
	for i, r := range s {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			spans = append(spans, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		spans = append(spans, [2]int{start, len(s)})
	}
	return spans
}

// wordBounded reports whether s[start:end] does not continue a word on either
// side. Edges of the phrase that are not word characters themselves (the '#'
// of "#ad") need no boundary.
func wordBounded(s string, start, end int) bool {
	if start > 0 {
		first, _ := utf8.DecodeRuneInString(s[start:])
		prev, _ := utf8.DecodeLastRuneInString(s[:start])
		if isWordRune(first) && isWordRune(prev) {
			return false
		}
	}
	if end < len(s) {
		last, _ := utf8.DecodeLastRuneInString(s[:end])
		next, _ := utf8.DecodeRuneInString(s[end:])
		if isWordRune(last) && isWordRune(next) {
			return false
		}
	}
	return true
}

// toOrig maps a folded span back to the original string.
func (f *folded) toOrig(start, end int) (int, int) {
	if start >= end || end > len(f.text) {
		return 0, 0
	}
	return int(f.origStart[start]), int(f.origEnd[end-1])
}

// toFolded maps an original span to the smallest folded span covering it.
func (f *folded) toFolded(start, end int) (int, int) {
	lo := searchInt32(f.origEnd, int32(start)+1) // first folded byte whose rune ends after start
	hi := searchInt32(f.origStart, int32(end))   // first folded byte whose rune starts at or after end
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// searchInt32 returns the first index i with a[i] >= v in the non-decreasing a.
func searchInt32(a []int32, v int32) int {
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
