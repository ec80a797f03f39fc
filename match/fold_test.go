package match

import (
	"strings"
	"testing"
	"unicode"
)

func TestFoldString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Patiënt", "patient"},
		{"PATIËNTEN", "patienten"},
		{"Prinses Máxima Centrum", "prinses maxima centrum"},
		{"Straße", "strasse"},
		{"e\u0301e\u0301n", "een"}, // decomposed accents
		{"Collega’s", "collega's"},
		{"Æsculaap", "aesculaap"},
		{"ﬁle", "ﬁle"}, // compatibility ligatures are left alone
		{"UZ\u00a0Leuven", "uz leuven"},
		{"soft\u00adhyphen", "softhyphen"},
		{"\xffUMC", "\ufffdumc"},
	}
	for _, tt := range tests {
		if got := FoldString(tt.in); got != tt.want {
			t.Errorf("FoldString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestFoldOffsets checks that a phrase found in the folded text maps back to
// the whole original spelling, accents and all.
func TestFoldOffsets(t *testing.T) {
	tests := []struct {
		text, phrase, want string
	}{
		{"Die PATIËNT lag daar", "patient", "PATIËNT"},
		{"de patie\u0308nt", "patient", "patie\u0308nt"},
		{"Großes Straße", "strasse", "Straße"},
		{"Wilhelmína Kinderziekenhuis", "wilhelmina kinderziekenhuis", "Wilhelmína Kinderziekenhuis"},
		{"x\u00adyz bed", "bed", "bed"},
	}
	for _, tt := range tests {
		f := fold(tt.text)
		i := strings.Index(f.text, tt.phrase)
		if i < 0 {
			t.Errorf("%q not in folded %q", tt.phrase, f.text)
			continue
		}
		start, end := f.toOrig(i, i+len(tt.phrase))
		if got := tt.text[start:end]; got != tt.want {
			t.Errorf("fold(%q): %q maps back to %q, want %q", tt.text, tt.phrase, got, tt.want)
		}
		fs, fe := f.toFolded(start, end)
		if fs != i || fe != i+len(tt.phrase) {
			t.Errorf("fold(%q): toFolded(%d, %d) = %d, %d, want %d, %d", tt.text, start, end, fs, fe, i, i+len(tt.phrase))
		}
	}
}

func TestWordBounded(t *testing.T) {
	tests := []struct {
		text, phrase string
		want         bool
	}{
		{"op de ic vannacht", "ic", true},
		{"de clinic", "ic", false},
		{"#ad", "#ad", true},
		{"x#ad", "#ad", true},
		{"#adres", "#ad", false},
		{"collega's", "collega", true},
		{"patiënten", "patiënt", false},
		{"umcutrecht_nieuws", "umcutrecht", true},
		{"umcutrecht2024", "umcutrecht", false},
	}
	for _, tt := range tests {
		i := strings.Index(tt.text, tt.phrase)
		if got := wordBounded(tt.text, i, i+len(tt.phrase)); got != tt.want {
			t.Errorf("wordBounded(%q, %q) = %v, want %v", tt.text, tt.phrase, got, tt.want)
		}
	}
}

// TestFoldRuneFastPath checks the tables and shortcuts of foldRune against
// the definition for every rune.
func TestFoldRuneFastPath(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue // surrogates are not runes of UTF-8 text
		}
		fast, slow := foldRune(r, nil), foldRuneSlow(r, nil)
		if string(fast) != string(slow) {
			t.Errorf("foldRune(%U) = %q, want %q", r, fast, slow)
		}
	}
}

func TestLowerASCII8(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		for pos := 0; pos < 8; pos++ {
			w := uint64(0x4142435a5b606162) // "ABCZ[`ab", reversed
			w &^= 0xff << (8 * pos)
			w |= uint64(c) << (8 * pos)
			got := lowerASCII8(w)
			for i := 0; i < 8; i++ {
				in, out := byte(w>>(8*i)), byte(got>>(8*i))
				if out != asciiLower[in] {
					t.Fatalf("lowerASCII8(%#x) byte %d: %q → %q, want %q", w, i, in, out, asciiLower[in])
				}
			}
		}
	}
	long := "Het UMC Utrecht, PATIËNT op KAMER 12 — Straße \xff ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`{|}~ 0123456789"
	if got, want := string(foldAppend(nil, long)), FoldString(long); got != want {
		t.Errorf("foldAppend = %q, want %q", got, want)
	}
}
