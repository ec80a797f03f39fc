package i18n

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	// The zones must load on machines without /usr/share/zoneinfo, as the
	// dashboard's binary must.
	_ "time/tzdata"
)

// negotiateCases are headers real browsers send, plus the ways a header or
// cookie goes wrong. FuzzNegotiate starts from them too.
var negotiateCases = []struct {
	name, accept, cookie, want string
}{
	{"chrome in flanders", "nl-BE,nl;q=0.9,en-US;q=0.8,en;q=0.7", "", Dutch},
	{"chrome in the netherlands", "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", "", Dutch},
	{"firefox dutch", "nl,en-US;q=0.7,en;q=0.3", "", Dutch},
	{"edge dutch", "nl,en;q=0.9,en-GB;q=0.8,en-US;q=0.7", "", Dutch},
	{"safari dutch", "nl-NL", "", Dutch},
	{"region only in the tag", "nl-BE", "", Dutch},
	{"case does not matter", "NL-be", "", Dutch},
	{"frisian falls through to dutch", "fy-NL,nl;q=0.9,en;q=0.8", "", Dutch},
	{"chrome british", "en-GB,en;q=0.9", "", English},
	{"chrome american with dutch second", "en-US,en;q=0.9,nl;q=0.8", "", English},
	{"walloon who lists dutch", "fr-BE,fr;q=0.9,nl;q=0.5", "", Dutch},
	{"walloon who prefers english to dutch", "fr-BE,fr;q=0.9,en;q=0.8,nl;q=0.7", "", English},
	{"french only", "fr-FR,fr;q=0.9", "", English},
	{"german", "de-DE", "", English},
	{"german with dutch", "de-DE,de;q=0.9,nl;q=0.8", "", Dutch},
	{"weights, not order", "en;q=0.5,nl", "", Dutch},
	{"dutch refused with q=0", "nl;q=0,en", "", English},
	{"wildcard", "*", "", English},
	{"bad entry skipped", "nl-BE,;;;,!!", "", Dutch},
	{"bad weight skipped", "en;q=banana,nl;q=0.5", "", Dutch},
	{"garbage", "garbage ;;; %%% \x00\xff", "", English},
	{"empty", "", "", English},
	{"spaces", "  ,  , ", "", English},
	{"past the entry bound", strings.Repeat("de,", maxAcceptEntries) + "nl", "", English},
	{"junk counts toward the bound", strings.Repeat("!!,", maxAcceptEntries) + "nl", "", English},
	{"just inside the bound", strings.Repeat("!!,", maxAcceptEntries-1) + "nl", "", Dutch},
	{"cookie without header", "", "nl", Dutch},
	{"cookie overrides header", "en-GB,en;q=0.9", "nl", Dutch},
	{"cookie overrides header the other way", "nl-BE,nl;q=0.9", "en", English},
	{"cookie case forgiven", "en-GB", " NL ", Dutch},
	{"unsupported cookie ignored", "en-GB,en;q=0.9", "fr", English},
	{"unsupported cookie falls back to header", "nl-BE,nl;q=0.9", "fr", Dutch},
	{"regional cookie is not ours", "en-GB", "nl-BE", English},
	{"hostile cookie ignored", "nl-BE", "<script>alert(1)</script>", Dutch},
}

func TestNegotiate(t *testing.T) {
	for _, tc := range negotiateCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Negotiate(tc.accept, tc.cookie); got != tc.want {
				t.Errorf("Negotiate(%q, %q) = %q, want %q", tc.accept, tc.cookie, got, tc.want)
			}
		})
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, tc := range negotiateCases {
		f.Add(tc.accept, tc.cookie)
	}
	f.Fuzz(func(t *testing.T, accept, cookie string) {
		got := Negotiate(accept, cookie)
		if !slices.Contains(Languages(), got) {
			t.Fatalf("Negotiate(%q, %q) = %q, not a supported language", accept, cookie, got)
		}
	})
}

func TestLanguagesAndZones(t *testing.T) {
	if got := Languages(); !slices.Equal(got, []string{English, Dutch}) {
		t.Errorf("Languages() = %v", got)
	}
	// Callers get their own slices.
	Languages()[0] = "xx"
	Zones()[0] = "Mars/Olympus"
	if Languages()[0] != English || Zones()[0] != "Europe/Amsterdam" {
		t.Error("changing a returned slice changed the next result")
	}
	if got := Zones(); !slices.Equal(got, []string{"Europe/Amsterdam", "Europe/Brussels"}) {
		t.Errorf("Zones() = %v", got)
	}
	for _, z := range Zones() {
		if _, err := time.LoadLocation(z); err != nil {
			t.Errorf("zone %s: %v", z, err)
		}
	}
}

func TestNew(t *testing.T) {
	ams := mustZone(t, "Europe/Amsterdam")
	for _, tc := range []struct {
		lang string
		loc  *time.Location
		want string
		zone *time.Location
	}{
		{English, ams, English, ams},
		{Dutch, ams, Dutch, ams},
		{"NL", nil, Dutch, time.UTC},
		{"de", nil, English, time.UTC},
		{"", nil, English, time.UTC},
		{"nl-BE", ams, English, ams}, // not a supported value; Negotiate maps it
	} {
		p := New(tc.lang, tc.loc)
		if p.Lang() != tc.want || p.Location() != tc.zone {
			t.Errorf("New(%q, %v): lang %q, zone %v; want %q, %v", tc.lang, tc.loc, p.Lang(), p.Location(), tc.want, tc.zone)
		}
	}
}

func TestT(t *testing.T) {
	en, nl := New(English, nil), New(Dutch, nil)
	for _, tc := range []struct {
		p    *Printer
		msg  string
		args []any
		want string
	}{
		{en, "Alerts", nil, "Alerts"},
		{nl, "Alerts", nil, "Meldingen"},
		{nl, "Reveal evidence", nil, "Bewijs tonen"},
		{nl, "Acknowledge", nil, "Bevestigen"},
		{nl, "false positive", nil, "vals alarm"},
		{nl, "Not in the catalog", nil, "Not in the catalog"},
		{nl, "", nil, ""},
		{nl, "Signed in as %s", []any{"anna"}, "Ingelogd als anna"},
		{en, "Signed in as %s", []any{"anna"}, "Signed in as anna"},
		{nl, "Page %d of %d", []any{2, 7}, "Pagina 2 van 7"},
		{nl, "Missing with %d arg", []any{3}, "Missing with 3 arg"},
		{en, "100% sure", nil, "100% sure"}, // no args: not a format
	} {
		if got := tc.p.T(tc.msg, tc.args...); got != tc.want {
			t.Errorf("%s: T(%q, %v) = %q, want %q", tc.p.Lang(), tc.msg, tc.args, got, tc.want)
		}
	}
}

func TestN(t *testing.T) {
	en, nl := New(English, nil), New(Dutch, nil)
	for _, tc := range []struct {
		n      int
		en, nl string
	}{
		{0, "0 alerts", "0 meldingen"},
		{1, "1 alert", "1 melding"},
		{2, "2 alerts", "2 meldingen"},
		{-1, "-1 alert", "-1 melding"},
		{1000, "1000 alerts", "1000 meldingen"},
	} {
		if got := en.N("%d alert", "%d alerts", tc.n); got != tc.en {
			t.Errorf("en N(%d) = %q, want %q", tc.n, got, tc.en)
		}
		if got := nl.N("%d alert", "%d alerts", tc.n); got != tc.nl {
			t.Errorf("nl N(%d) = %q, want %q", tc.n, got, tc.nl)
		}
	}
	// A pair missing from the catalog still counts in English.
	if got := nl.N("%d widget", "%d widgets", 3); got != "3 widgets" {
		t.Errorf("missing plural = %q", got)
	}
}

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestTimeAcrossDST(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// In 2026 summer time starts on 29 March and ends on 25 October, both
	// at 01:00 UTC; Amsterdam and Brussels switch together.
	cases := []struct {
		at             string
		enTime, nlTime string
		enDate, nlDate string
		clock          string
	}{
		{"2026-12-07T09:02:00Z", "7 Dec 2026, 10:02", "7 dec. 2026 10:02", "7 Dec 2026", "7 dec. 2026", "10:02"},
		// The evening before the spring change: already the 29th locally.
		{"2026-03-28T23:30:00Z", "29 Mar 2026, 00:30", "29 mrt. 2026 00:30", "29 Mar 2026", "29 mrt. 2026", "00:30"},
		// The last minute of winter time, then the clock jumps 02:00 -> 03:00.
		{"2026-03-29T00:59:00Z", "29 Mar 2026, 01:59", "29 mrt. 2026 01:59", "29 Mar 2026", "29 mrt. 2026", "01:59"},
		{"2026-03-29T01:00:00Z", "29 Mar 2026, 03:00", "29 mrt. 2026 03:00", "29 Mar 2026", "29 mrt. 2026", "03:00"},
		// Summer: two hours ahead, so 22:30 UTC is past midnight.
		{"2026-10-24T22:30:00Z", "25 Oct 2026, 00:30", "25 okt. 2026 00:30", "25 Oct 2026", "25 okt. 2026", "00:30"},
		// The autumn change: 02:30 happens twice, an hour apart.
		{"2026-10-25T00:30:00Z", "25 Oct 2026, 02:30", "25 okt. 2026 02:30", "25 Oct 2026", "25 okt. 2026", "02:30"},
		{"2026-10-25T01:30:00Z", "25 Oct 2026, 02:30", "25 okt. 2026 02:30", "25 Oct 2026", "25 okt. 2026", "02:30"},
		{"2026-10-25T02:00:00Z", "25 Oct 2026, 03:00", "25 okt. 2026 03:00", "25 Oct 2026", "25 okt. 2026", "03:00"},
		// New Year's Eve in UTC is New Year's Day locally.
		{"2026-12-31T23:30:00Z", "1 Jan 2027, 00:30", "1 jan. 2027 00:30", "1 Jan 2027", "1 jan. 2027", "00:30"},
	}
	for _, zone := range Zones() {
		loc := mustZone(t, zone)
		en, nl := New(English, loc), New(Dutch, loc)
		for _, tc := range cases {
			at := utc(tc.at)
			// Instants in other zones are the same instants.
			for _, in := range []time.Time{at, at.In(time.FixedZone("X", -7*3600))} {
				check := func(what, got, want string) {
					t.Helper()
					if got != want {
						t.Errorf("%s %s %s: %q, want %q", zone, tc.at, what, got, want)
					}
				}
				check("en Time", en.Time(in), tc.enTime)
				check("nl Time", nl.Time(in), tc.nlTime)
				check("en Date", en.Date(in), tc.enDate)
				check("nl Date", nl.Date(in), tc.nlDate)
				check("en Clock", en.Clock(in), tc.clock)
				check("nl Clock", nl.Clock(in), tc.clock)
			}
		}
	}
	// Without a zone the printer shows UTC.
	if got := New(English, nil).Time(utc("2026-03-29T01:00:00Z")); got != "29 Mar 2026, 01:00" {
		t.Errorf("UTC Time = %q", got)
	}
}

func TestDutchMonths(t *testing.T) {
	want := []string{"jan.", "feb.", "mrt.", "apr.", "mei", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.", "dec."}
	nl := New(Dutch, nil)
	for m := time.January; m <= time.December; m++ {
		got := nl.Date(time.Date(2026, m, 15, 12, 0, 0, 0, time.UTC))
		if w := "15 " + want[m-1] + " 2026"; got != w {
			t.Errorf("%s: %q, want %q", m, got, w)
		}
	}
}

func TestZeroTime(t *testing.T) {
	for _, p := range []*Printer{New(English, nil), New(Dutch, nil)} {
		var zero time.Time
		if p.Time(zero) != "—" || p.Date(zero) != "—" || p.Clock(zero) != "—" {
			t.Errorf("%s: zero time shown as %q, %q, %q", p.Lang(), p.Time(zero), p.Date(zero), p.Clock(zero))
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 10, 25, 12, 0, 0, 0, time.UTC)
	en, nl := New(English, nil), New(Dutch, nil)
	for _, tc := range []struct {
		before time.Duration // how long before now; negative for the future
		en, nl string
	}{
		{0, "just now", "zojuist"},
		{59 * time.Second, "just now", "zojuist"},
		{-59 * time.Second, "just now", "zojuist"},
		{time.Minute, "1 min ago", "1 min geleden"},
		{5*time.Minute + 59*time.Second, "5 min ago", "5 min geleden"},
		{time.Hour - time.Nanosecond, "59 min ago", "59 min geleden"},
		{time.Hour, "1 h ago", "1 uur geleden"},
		{3 * time.Hour, "3 h ago", "3 uur geleden"},
		{24*time.Hour - time.Nanosecond, "23 h ago", "23 uur geleden"},
		{24 * time.Hour, "1 day ago", "1 dag geleden"},
		{48*time.Hour - time.Nanosecond, "1 day ago", "1 dag geleden"},
		{48 * time.Hour, "2 days ago", "2 dagen geleden"},
		{400 * 24 * time.Hour, "400 days ago", "400 dagen geleden"},
		{-time.Minute, "in 1 min", "over 1 min"},
		{-5 * time.Minute, "in 5 min", "over 5 min"},
		{-3 * time.Hour, "in 3 h", "over 3 uur"},
		{-24 * time.Hour, "in 1 day", "over 1 dag"},
		{-72 * time.Hour, "in 3 days", "over 3 dagen"},
	} {
		at := now.Add(-tc.before)
		if got := en.Ago(at, now); got != tc.en {
			t.Errorf("en Ago(now-%v) = %q, want %q", tc.before, got, tc.en)
		}
		if got := nl.Ago(at, now); got != tc.nl {
			t.Errorf("nl Ago(now-%v) = %q, want %q", tc.before, got, tc.nl)
		}
	}
	if en.Ago(time.Time{}, now) != "never" || nl.Ago(time.Time{}, now) != "nooit" {
		t.Error("zero time is not never")
	}
	// Beyond what a Duration holds, Sub saturates; the result still reads
	// as far past or far future rather than "just now".
	ancient := time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)
	distant := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := en.Ago(ancient, now); !strings.HasSuffix(got, " days ago") {
		t.Errorf("ancient: %q", got)
	}
	if got := nl.Ago(distant, now); !strings.HasPrefix(got, "over ") || !strings.HasSuffix(got, " dagen") {
		t.Errorf("distant: %q", got)
	}
}

func TestNumber(t *testing.T) {
	en, nl := New(English, nil), New(Dutch, nil)
	for _, tc := range []struct {
		n      int64
		en, nl string
	}{
		{0, "0", "0"},
		{7, "7", "7"},
		{999, "999", "999"},
		{1000, "1,000", "1.000"},
		{12345, "12,345", "12.345"},
		{123456, "123,456", "123.456"},
		{1234567, "1,234,567", "1.234.567"},
		{-1, "-1", "-1"},
		{-999, "-999", "-999"},
		{-1000, "-1,000", "-1.000"},
		{-123456, "-123,456", "-123.456"},
		{math.MaxInt64, "9,223,372,036,854,775,807", "9.223.372.036.854.775.807"},
		{math.MinInt64, "-9,223,372,036,854,775,808", "-9.223.372.036.854.775.808"},
	} {
		if got := en.Number(tc.n); got != tc.en {
			t.Errorf("en Number(%d) = %q, want %q", tc.n, got, tc.en)
		}
		if got := nl.Number(tc.n); got != tc.nl {
			t.Errorf("nl Number(%d) = %q, want %q", tc.n, got, tc.nl)
		}
	}
}

// TestConcurrentPrinters runs printers from many goroutines at once, as
// request handlers do, for the race detector to look at the shared catalog
// and matcher.
func TestConcurrentPrinters(t *testing.T) {
	loc := mustZone(t, "Europe/Brussels")
	now := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				lang := Negotiate("nl-BE,nl;q=0.9,en;q=0.8", "")
				if i%2 == 0 {
					lang = Negotiate("en-GB", "")
				}
				p := New(lang, loc)
				_ = p.T("Alerts") + p.N("%d alert", "%d alerts", i) + p.Time(now) + p.Ago(now, now) + p.Number(int64(i))
			}
		})
	}
	wg.Wait()
}
