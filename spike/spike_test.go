package spike

import (
	"fmt"
	"testing"
	"time"
)

var today = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

// history adds perHour mentions of the institution in the window ending at
// the hour of today, on each of the previous days.
func history(d *Detector, inst string, perHour int) {
	for day := 1; day <= 7; day++ {
		at := today.Add(-time.Duration(day) * 24 * time.Hour).Add(-30 * time.Minute)
		d.Add(Key{Institution: inst}, at, perHour)
	}
}

// burst observes n mentions spread over the half hour before today's hour,
// returning every spike reported.
func burst(d *Detector, n int, inst, category, source string, title func(i int) string) []Spike {
	var out []Spike
	for i := range n {
		at := today.Add(-30 * time.Minute).Add(time.Duration(i) * 30 * time.Minute / time.Duration(n))
		out = append(out, d.Observe(Mention{At: at, Institutions: []string{inst}, Categories: []string{category}, Source: source, Title: title(i)})...)
	}
	return out
}

func TestSpikeAgainstTheSameHourOnEarlierDays(t *testing.T) {
	d := New(Options{})
	history(d, "uz-leuven", 5)
	history(d, "umc-utrecht", 25)
	titles := func(i int) string {
		return []string{"Gasthuisberg ontruimd na brandalarm", "Brandalarm in Gasthuisberg: patiënten geëvacueerd", "Ontruiming Gasthuisberg"}[i%3]
	}

	if got := burst(d, 12, "uz-leuven", "misinformation", "mastodon", titles); len(got) != 0 {
		t.Errorf("12 mentions against a baseline of 5: %+v, want no spike (below the minimum count)", got)
	}
	got := burst(d, 30, "uz-leuven", "misinformation", "mastodon", titles)
	if len(got) == 0 {
		t.Fatal("42 mentions in an hour against a baseline of 5: no spike")
	}
	s := got[0]
	if s.Key != (Key{Institution: "uz-leuven"}) || s.Baseline != 5 || s.Count < 20 || s.Window != time.Hour {
		t.Errorf("spike = %+v", s)
	}
	if len(s.TopSources) != 1 || s.TopSources[0].Value != "mastodon" {
		t.Errorf("top sources = %+v", s.TopSources)
	}
	if len(s.TopTerms) == 0 || s.TopTerms[0].Value != "gasthuisberg" {
		t.Errorf("top terms = %+v, want gasthuisberg first", s.TopTerms)
	}
	var category bool
	for _, sp := range got {
		category = category || sp.Key == Key{Institution: "uz-leuven", Category: "misinformation"}
	}
	if !category {
		t.Errorf("no spike for the category: %+v", got)
	}

	// A busy hospital's busy hour is no spike.
	if got := burst(d, 40, "umc-utrecht", "", "reddit", func(i int) string { return fmt.Sprint("post ", i) }); len(got) != 0 {
		t.Errorf("40 mentions against a baseline of 25: %+v, want no spike", got)
	}
}

func TestSpikeCooldown(t *testing.T) {
	d := New(Options{Cooldown: 2 * time.Hour, MinCount: 10})
	title := func(int) string { return "x" }
	if got := burst(d, 30, "uz-leuven", "", "news", title); len(got) == 0 {
		t.Fatal("no first spike")
	}
	// More of the same within the cooldown says nothing new.
	for i := range 30 {
		at := today.Add(time.Duration(i) * time.Minute)
		if got := d.Observe(Mention{At: at, Institutions: []string{"uz-leuven"}, Source: "news"}); len(got) != 0 {
			t.Fatalf("spike during the cooldown at %v: %+v", at, got)
		}
	}
	// After it, a volume still far above the baseline is reported again.
	var again []Spike
	for i := range 40 {
		at := today.Add(2 * time.Hour).Add(time.Duration(i) * time.Minute)
		again = append(again, d.Observe(Mention{At: at, Institutions: []string{"uz-leuven"}, Source: "news"})...)
	}
	if len(again) == 0 {
		t.Error("no spike after the cooldown")
	}
}

func TestPruneKeepsWhatTheBaselineNeeds(t *testing.T) {
	d := New(Options{})
	history(d, "uz-leuven", 5)
	d.Add(Key{Institution: "uz-leuven"}, today.Add(-30*24*time.Hour), 99)
	d.Prune(today)
	if n := d.count(Key{Institution: "uz-leuven"}, today.Add(-31*24*time.Hour), today); n != 35 {
		t.Errorf("after pruning, %d mentions counted, want the 35 of the baseline week", n)
	}
}

func TestStoreKeysRoundTrip(t *testing.T) {
	for _, k := range []Key{{Institution: "uz-leuven"}, {Institution: "umc-utrecht", Category: "patient_data"}} {
		got, at, ok := parseStoreKey(storeKey(k, today.Unix()/3600))
		if !ok || got != k || !at.Equal(today) {
			t.Errorf("round trip of %+v: %+v %v %v", k, got, at, ok)
		}
	}
}
