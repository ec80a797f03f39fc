package match

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FoldString returns s lower-cased with accents removed and a few ligatures
// and typographic variants spelled out (ß→ss, æ→ae, ’→'), so that "Patiënt",
// "PATIENT" and "patient" compare equal. Keywords, context words and
// institution names are all compared in this form.
func FoldString(s string) string {
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			buf = append(buf, asciiLower[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		buf = foldRune(r, buf)
		i += size
	}
	return string(buf)
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
	// identity is set for ASCII text, which folds byte for byte: offsets
	// are the same on both sides and the maps are not built.
	identity bool
}

func fold(s string) folded {
	text := foldAppend(nil, s)
	starts, ends := foldOffsets(nil, nil, s)
	return folded{text: string(text), origStart: starts, origEnd: ends}
}

// foldAppend appends the folded form of s to text. It is FoldString without
// the allocation, for several fields sharing one buffer.
func foldAppend(text []byte, s string) []byte {
	text = slices.Grow(text, len(s))
	for i := 0; i < len(s); {
		// Eight ASCII bytes at a time: lower-case them in one word.
		for i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if w&highBits != 0 {
				break
			}
			text = binary.LittleEndian.AppendUint64(text, lowerASCII8(w))
			i += 8
		}
		if i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			text = append(text, asciiLower[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		text = foldRune(r, text)
		i += size
	}
	return text
}

// foldOffsets appends to starts and ends the original byte range of every
// byte foldAppend produces for s. Only the few fields where a rule finds
// something need them.
func foldOffsets(starts, ends []int32, s string) ([]int32, []int32) {
	base := len(ends)
	lastUnit := -1 // index in ends where the last emitting rune's bytes begin
	var buf [16]byte
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			// A run of ASCII: a byte each, filled in at once.
			j := asciiRunEnd(s, i)
			from := len(ends)
			starts, ends = slices.Grow(starts, j-i)[:from+j-i], slices.Grow(ends, j-i)[:from+j-i]
			for k := i; k < j; k++ {
				starts[from+k-i], ends[from+k-i] = int32(k), int32(k+1)
			}
			lastUnit = len(ends) - 1
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		n := len(foldRune(r, buf[:0]))
		if n == 0 {
			if lastUnit >= base {
				for j := lastUnit; j < len(ends); j++ {
					ends[j] = int32(i + size)
				}
			}
			i += size
			continue
		}
		lastUnit = len(ends)
		for range n {
			starts = append(starts, int32(i))
			ends = append(ends, int32(i+size))
		}
		i += size
	}
	return starts, ends
}

const highBits = 0x8080808080808080

// lowerASCII8 lower-cases the eight ASCII bytes of w: a byte gets 0x20
// added when it is at least 'A' and at most 'Z'. Adding 0x80-'A' (0x3f)
// sets a byte's high bit exactly when it is at least 'A', adding
// 0x80-'Z'-1 (0x25) exactly when it is above 'Z'; no byte carries into the
// next since every byte is below 0x80.
func lowerASCII8(w uint64) uint64 {
	const ones = 0x0101010101010101
	geA := w + 0x3f*ones
	gtZ := w + 0x25*ones
	upper := geA &^ gtZ & highBits
	return w | upper>>2
}

// asciiLower maps every ASCII byte to its lower-case form.
var asciiLower = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		t[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			t[c] += 'a' - 'A'
		}
	}
	return t
}()

// tabledRunes is where the precomputed folds end: Latin, combining marks,
// Greek, Cyrillic, Armenian and Hebrew, the letters posts mostly use.
const tabledRunes = 0x600

// runeFolds holds the folded form of every rune below tabledRunes, computed
// once by foldRuneSlow and never written again.
var runeFolds = func() (t [tabledRunes]string) {
	for r := range t {
		t[r] = string(foldRuneSlow(rune(r), nil))
	}
	return t
}()

// foldRune appends the folded form of r to dst. Invalid UTF-8 bytes come in
// as utf8.RuneError and fold to U+FFFD so offsets stay aligned.
func foldRune(r rune, dst []byte) []byte {
	if r < tabledRunes {
		if r < utf8.RuneSelf {
			return append(dst, asciiLower[r])
		}
		return append(dst, runeFolds[r]...)
	}
	if r >= 0x2000 && r < 0x2070 || r == '\uFEFF' || r == 'ẞ' {
		return foldRuneSlow(r, dst) // typographic punctuation and spaces
	}
	// Most other runes (emoji, CJK, symbols) have no decomposition and are
	// no combining mark: they fold to their lower case. Hangul syllables
	// decompose algorithmically, which Properties does not report.
	var tmp [utf8.UTFMax]byte
	n := utf8.EncodeRune(tmp[:], r)
	if (r < 0xAC00 || r > 0xD7A3) && norm.NFD.Properties(tmp[:n]).Decomposition() == nil && !unicode.Is(unicode.Mn, r) {
		return utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return foldRuneSlow(r, dst)
}

// foldRuneSlow is the definition of folding one rune; foldRune is its fast
// path.
func foldRuneSlow(r rune, dst []byte) []byte {
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

// wordBounded reports whether s[start:end] does not continue a word on either
// side. Edges of the phrase that are not word characters themselves (the '#'
// of "#ad") need no boundary.
func wordBounded(s string, start, end int) bool {
	// ASCII on both sides, the common case: a word byte is a word rune.
	if start > 0 && start < len(s) && s[start] < utf8.RuneSelf && s[start-1] < utf8.RuneSelf {
		if wordBytes[s[start]] && wordBytes[s[start-1]] {
			return false
		}
		start = 0 // settled
	}
	if end > 0 && end < len(s) && s[end] < utf8.RuneSelf && s[end-1] < utf8.RuneSelf {
		if wordBytes[s[end]] && wordBytes[s[end-1]] {
			return false
		}
		end = len(s) // settled
	}
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
	if f.identity {
		return start, end
	}
	return int(f.origStart[start]), int(f.origEnd[end-1])
}

// toFolded maps an original span to the smallest folded span covering it.
func (f *folded) toFolded(start, end int) (int, int) {
	if f.identity {
		start, end = min(max(start, 0), len(f.text)), min(max(end, 0), len(f.text))
		return start, max(start, end)
	}
	lo := searchInt32(f.origEnd, int32(start)+1) // first folded byte whose rune ends after start
	hi := searchInt32(f.origStart, int32(end))   // first folded byte whose rune starts at or after end
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// asciiRunEnd returns where the run of ASCII bytes starting at i ends,
// reading eight bytes at a time.
func asciiRunEnd(s string, i int) int {
	for i+8 <= len(s) && load64(s, i)&highBits == 0 {
		i += 8
	}
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	return i
}

func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// isASCII reports whether s is all ASCII, eight bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&highBits != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
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
