package match

import (
	"strings"
	"testing"
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
