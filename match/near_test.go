package match

import (
	"strings"
	"testing"
)

func TestInQuestion(t *testing.T) {
	for _, tc := range []struct {
		text, at string
		want     bool
	}{
		{"Klopt het dat de SEH sluit? Ik hoor het overal.", "sluit", true},
		{"De SEH sluit. Klopt dat?", "sluit", false},
		{"De SEH sluit echt?!", "sluit", true},
		{"De SEH sluit!? Echt waar", "sluit", true},
		{"De SEH sluit\nwie weet meer?", "sluit", false},
		{"De SEH sluit", "sluit", false},
		{"Wist je dat je dossier bij het UMC doorverkocht wordt? Echt.", "doorverkocht", false},
		{"Did you know they sell your data?", "sell", false},
	} {
		end := strings.Index(tc.text, tc.at) + len(tc.at)
		if got := inQuestion(tc.text, end); got != tc.want {
			t.Errorf("inQuestion(%q after %q) = %v, want %v", tc.text, tc.at, got, tc.want)
		}
	}
}

func TestInQuotes(t *testing.T) {
	for _, tc := range []struct {
		text, at string
		want     bool
	}{
		{"Ik zie het overal: 'UMC Utrecht verkoopt je data aan Big Pharma'. Onzin.", "verkoopt", true},
		{`Het gerucht "UZ Leuven weigert patiënten" klopt niet`, "weigert", true},
		{"Kop: „WKZ test op kinderen” — nee dus", "test", true},
		{"De auto's van het UMC Utrecht verkopen ze aan farmaceuten", "verkopen", false},
		{"'s Nachts verkoopt het UMC je data", "verkoopt", false},
		{"UMC Utrecht verkoopt je data, zegt 'mijn nichtje'", "verkoopt", false},
		{"'UMC Utrecht verkoopt\nje data'", "verkoopt", false},
	} {
		i := strings.Index(tc.text, tc.at)
		if got := inQuotes(tc.text, i, i+len(tc.at)); got != tc.want {
			t.Errorf("inQuotes(%q around %q) = %v, want %v", tc.text, tc.at, got, tc.want)
		}
	}
}

func TestWordStarts(t *testing.T) {
	got := wordStarts("de seh, gaat  dicht")
	want := []int{0, 3, 8, 14}
	if len(got) != len(want) {
		t.Fatalf("wordStarts = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("wordStarts = %v, want %v", got, want)
		}
	}
}

func TestHasDottedWord(t *testing.T) {
	for text, want := range map[string]bool{
		"zie umcutrecht-betalen.nl nu":     true,
		"Einde. Volgende zin. En nog één.": false,
		"xn--umcutrcht-l0h.nl":             true,
		"uzlеuven.be (Cyrillic e)":         true,
		"":                                 false,
		".nl":                              false,
	} {
		if got := hasDottedWord(text); got != want {
			t.Errorf("hasDottedWord(%q) = %v, want %v", text, got, want)
		}
	}
}
