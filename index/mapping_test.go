package index

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// The -zen filter does what the regular expression it replaces did, on
// words, edges, cases and bytes of every kind.
func TestPluralZenIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`(?i)\Bzen\b`)
	cases := []string{
		"", "zen", "Zen boeddhisme", "ziekenhuizen", "ZIEKENHUIZEN", "de huizen, reizen en wijzen.",
		"zenzen", "xzenzen", "azen_", "a_zen", "9zen", "Azen9", "éZEN", "kazen\u00e9", "kaZEn!", "zenuw",
		"ziekenhuizen\nhuizen", "…zen…", "bzenb zen bzen",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("zZeEnN a_9.é\n")
	for range 5000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		in := []byte(c)
		want := string(re.ReplaceAll([]byte(c), []byte("sen")))
		if got := string(pluralZen{}.Filter(in)); got != want {
			t.Errorf("%q: got %q, want %q", c, got, want)
		}
		if string(in) != c {
			t.Errorf("%q: the input was changed to %q", c, in)
		}
	}
}

func BenchmarkPluralZen(b *testing.B) {
	text := []byte("De ziekenhuizen in de regio zagen de wachttijden dalen, zei de woordvoerder van het huis. ")
	for range 4 {
		text = append(text, text...)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		pluralZen{}.Filter(text)
	}
}
