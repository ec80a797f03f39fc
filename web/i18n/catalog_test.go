package i18n

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestCatalogParses(t *testing.T) {
	cat, err := parseCatalog(nlYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat) == 0 {
		t.Fatal("empty Dutch catalog")
	}
}

// TestCatalogVerbsMatchKeys reads nl.yaml on its own, without the loader's
// checks, so that each entry whose fmt verbs differ from its key's is named.
func TestCatalogVerbsMatchKeys(t *testing.T) {
	var raw map[string]string
	if err := yaml.Unmarshal([]byte(nlYAML), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		if kv, vv := verbs(key), verbs(raw[key]); !slices.Equal(kv, vv) {
			t.Errorf("nl.yaml %q: %q has verbs %v, the message %v", key, raw[key], vv, kv)
		}
	}
}

func TestCatalogTidy(t *testing.T) {
	for key, val := range Catalog(Dutch) {
		if strings.TrimSpace(val) != val || strings.TrimSpace(key) != key {
			t.Errorf("nl.yaml %q: stray space in %q", key, val)
		}
		if strings.Contains(val, "\n") {
			t.Errorf("nl.yaml %q: line break in %q", key, val)
		}
	}
}

// dashboardWords are the words every page of the triage dashboard needs.
// A Dutch reader must never meet them in English.
var dashboardWords = []string{
	"Alerts", "Queue", "Search", "Feeds", "Rules", "Silences", "Audit log",
	"Log in", "Log out",
	"Acknowledge", "Assign", "Resolve", "False positive", "Escalate", "Reveal evidence",
	"Severity", "Category", "Institution", "Source", "Author", "Status",
	"new", "acknowledged", "assigned", "resolved", "false positive", "escalated",
	"high", "medium", "low",
	"patient data", "logo and name misuse", "misinformation", "unprofessional conduct",
	"%d alert", "%d alerts",
	"never", "just now",
	"%d min ago", "%d h ago", "%d day ago", "%d days ago",
	"in %d min", "in %d h", "in %d day", "in %d days",
}

func TestCatalogSeeded(t *testing.T) {
	if missing := MissingIn(Dutch, dashboardWords); len(missing) > 0 {
		t.Errorf("nl.yaml lacks %q", missing)
	}
	// Spot checks of the wording the communications teams asked for.
	for en, nl := range map[string]string{
		"Alerts":          "Meldingen",
		"%d alert":        "%d melding",
		"%d alerts":       "%d meldingen",
		"Acknowledge":     "Bevestigen",
		"Resolve":         "Afhandelen",
		"resolved":        "opgelost",
		"Reveal evidence": "Bewijs tonen",
		"never":           "nooit",
	} {
		if got := Catalog(Dutch)[en]; got != nl {
			t.Errorf("%q is %q in Dutch, want %q", en, got, nl)
		}
	}
}

func TestParseCatalog(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		ok        bool
	}{
		{"good", `"%d alert": "%d melding"`, true},
		{"empty file", ``, true},
		{"reordered with indexes", `"%d of %s": "%[2]s: %[1]d"`, true},
		{"literal percent", `"100%% sure": "100%% zeker"`, true},
		{"verb of another kind", `"%d alert": "%s melding"`, false},
		{"verb missing", `"%d alert": "een melding"`, false},
		{"verb added", `"Alerts": "%d meldingen"`, false},
		{"verbs swapped", `"%d of %s": "%s van %d"`, false},
		{"dangling percent", `"Done": "Klaar %"`, false},
		{"empty translation", `"Alerts": ""`, false},
		{"null translation", `"Alerts":`, false},
		{"blank translation", `"Alerts": "  "`, false},
		{"nested", "Alerts:\n  one: Melding", false},
		{"list", "- Alerts", false},
		{"duplicate", "\"Alerts\": \"Meldingen\"\n\"Alerts\": \"Waarschuwingen\"", false},
		{"not yaml", "\"Alerts: [", false},
	} {
		_, err := parseCatalog(tc.src)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestVerbs(t *testing.T) {
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{"Alerts", nil},
		{"%d alert", []string{"1d"}},
		{"%d of %s", []string{"1d", "2s"}},
		{"%[2]s: %[1]d", []string{"1d", "2s"}},
		{"100%% sure", nil},
		{"%5.2f%%", []string{"1f"}},
		{"%-10s|%+v|%#x|% d|%08d", []string{"1s", "2v", "3x", "4d", "5d"}},
		{"%*d", []string{"1*", "2d"}},
		{"%.*f", []string{"1*", "2f"}},
		{"%[1]d and again %[1]d", []string{"1d", "1d"}},
		{"50%", []string{"1!"}},
		{"%é", []string{"1é"}},
	} {
		if got := verbs(tc.format); !slices.Equal(got, tc.want) {
			t.Errorf("verbs(%q) = %v, want %v", tc.format, got, tc.want)
		}
	}
}

func TestMissingIn(t *testing.T) {
	msgs := []string{"Not there", "Alerts", "Also not there", "Not there", "%d alert"}
	if got, want := MissingIn(Dutch, msgs), []string{"Also not there", "Not there"}; !slices.Equal(got, want) {
		t.Errorf("MissingIn(nl) = %q, want %q", got, want)
	}
	if got := MissingIn(English, msgs); len(got) != 0 {
		t.Errorf("MissingIn(en) = %q, want nothing", got)
	}
	// A misspelt language has no catalog: everything is missing, so a test
	// that asks about "dutch" fails instead of passing vacuously.
	if got, want := MissingIn("dutch", msgs), []string{"%d alert", "Alerts", "Also not there", "Not there"}; !slices.Equal(got, want) {
		t.Errorf("MissingIn(dutch) = %q, want %q", got, want)
	}
	if got := MissingIn(Dutch, nil); len(got) != 0 {
		t.Errorf("MissingIn(nl, nil) = %q", got)
	}
}

func TestCatalogIsACopy(t *testing.T) {
	c := Catalog(Dutch)
	c["Alerts"] = "Gewijzigd"
	delete(c, "Queue")
	if got := New(Dutch, nil).T("Alerts"); got != "Meldingen" {
		t.Errorf("changing a copy changed the catalog: %q", got)
	}
	if _, ok := Catalog(Dutch)["Queue"]; !ok {
		t.Error("deleting from a copy deleted from the catalog")
	}
	for _, lang := range []string{English, "fr"} {
		if c := Catalog(lang); c == nil || len(c) != 0 {
			t.Errorf("Catalog(%q) = %v, want an empty map", lang, c)
		}
	}
}
