package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	// The day facet tests need Europe/Amsterdam on machines without a
	// zone database too.
	_ "time/tzdata"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
)

// wantIDs returns, in sorted order, the IDs of docs for which keep is true:
// the expected answer computed from the test data, not from the index.
func wantIDs(docs []Doc, keep func(Doc) bool) []string {
	var ids []string
	for _, d := range docs {
		if keep(d) {
			ids = append(ids, d.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func searchIDs(t *testing.T, ix *Index, q Query) []string {
	t.Helper()
	if q.Size == 0 {
		q.Size = MaxSize
	}
	res, err := ix.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	if res.Total != uint64(len(res.Hits)) {
		t.Fatalf("Search(%+v): total %d but %d hits on a page of %d", q, res.Total, len(res.Hits), q.Size)
	}
	ids := hitIDs(res)
	slices.Sort(ids)
	return ids
}

func containsWord(s, word string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	}) {
		if w == word {
			return true
		}
	}
	return false
}

func TestStemming(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	tests := []struct {
		query string
		// mustFind are words whose posts the query must find although the
		// query word itself is not in them.
		mustFind []string
	}{
		{"ziekenhuizen", []string{"ziekenhuis"}},
		{"ziekenhuis", []string{"ziekenhuizen"}},
		{"patiënten", []string{"patiënt"}},
		{"hospitals", []string{"hospital"}},
		{"hospital", []string{"hospitals"}},
		{"nurse", []string{"nurses"}},
		{"rumours", []string{"rumour"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := searchIDs(t, ix, Query{Q: tt.query})
			for _, word := range tt.mustFind {
				want := wantIDs(docs, func(d Doc) bool {
					return containsWord(d.Title+" "+d.Text, word) && !containsWord(d.Title+" "+d.Text, tt.query)
				})
				if len(want) == 0 {
					t.Fatalf("test data has no post with %q but not %q", word, tt.query)
				}
				for _, id := range want {
					if !slices.Contains(got, id) {
						t.Errorf("query %q: %s (has %q) not found; got %v", tt.query, id, word, got)
					}
				}
			}
		})
	}
}

func TestPhraseQuery(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	hasPhrase := func(d Doc) bool {
		return strings.Contains(strings.ToLower(d.Title+" "+d.Text), "spoedeisende hulp")
	}
	want := wantIDs(docs, hasPhrase)
	if got := searchIDs(t, ix, Query{Q: `"spoedeisende hulp"`}); !slices.Equal(got, want) {
		t.Errorf("phrase: got %v, want %v", got, want)
	}
	// Without quotes the words may stand apart: a post with both words
	// but not the phrase must be found, so the phrase test above proves
	// something.
	apart := wantIDs(docs, func(d Doc) bool {
		s := strings.ToLower(d.Title + " " + d.Text)
		return !hasPhrase(d) && strings.Contains(s, "spoedeisend") && containsWord(s, "hulp")
	})
	if len(apart) == 0 {
		t.Fatal("test data has no post with the words apart")
	}
	got := searchIDs(t, ix, Query{Q: `+spoedeisende +hulp`})
	for _, id := range apart {
		if !slices.Contains(got, id) {
			t.Errorf("words: %s not found; got %v", id, got)
		}
	}
	if got := searchIDs(t, ix, Query{Q: `title:"spoedeisende hulp"`}); !slices.Equal(got, wantIDs(docs, func(d Doc) bool {
		return strings.Contains(strings.ToLower(d.Title), "spoedeisende hulp")
	})) {
		t.Errorf("phrase in title: got %v", got)
	}
}

func TestFilters(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	since := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2025, 2, 10, 10, 10, 0, 0, time.UTC) // exactly m26's time: excluded
	tests := []struct {
		name string
		q    Query
		keep func(Doc) bool
	}{
		{"all", Query{}, func(Doc) bool { return true }},
		{"institution", Query{Institution: "uz-leuven"}, func(d Doc) bool { return slices.Contains(d.Institutions, "uz-leuven") }},
		{"category", Query{Category: "patient_data"}, func(d Doc) bool { return slices.Contains(d.Categories, "patient_data") }},
		{"source", Query{Source: "reddit"}, func(d Doc) bool { return d.Source == "reddit" }},
		{"author", Query{Author: "u/dutchdoc"}, func(d Doc) bool { return d.Author == "u/dutchdoc" }},
		{"since", Query{Since: since}, func(d Doc) bool { return !d.Published.Before(since) }},
		{"until", Query{Until: until}, func(d Doc) bool { return d.Published.Before(until) }},
		{"range", Query{Since: since, Until: until}, func(d Doc) bool {
			return !d.Published.Before(since) && d.Published.Before(until)
		}},
		{"combined", Query{Q: "Utrecht", Institution: "umc-utrecht", Source: "news"}, func(d Doc) bool {
			return slices.Contains(d.Institutions, "umc-utrecht") && d.Source == "news" &&
				containsWord(d.Title+" "+d.Text, "utrecht")
		}},
		{"institution in query string", Query{Q: "institution:uz-leuven"}, func(d Doc) bool {
			return slices.Contains(d.Institutions, "uz-leuven")
		}},
		{"category and severity in query string", Query{Q: "+category:conduct +severity:high"}, func(d Doc) bool {
			return slices.Contains(d.Categories, "conduct") && d.Severity == "high"
		}},
		{"negation", Query{Q: "-source:news", Institution: "umc-utrecht"}, func(d Doc) bool {
			return d.Source != "news" && slices.Contains(d.Institutions, "umc-utrecht")
		}},
		{"unknown institution", Query{Institution: "uz-gent"}, func(Doc) bool { return false }},
		{"quoted author in query string", Query{Q: `author:"u/dutchdoc"`}, func(d Doc) bool { return d.Author == "u/dutchdoc" }},
		{"author with a space", Query{Author: "BBC News"}, func(d Doc) bool { return d.Author == "BBC News" }},
		{"url", Query{URL: "https://nos.nl/artikel/1001"}, func(d Doc) bool { return d.URL == "https://nos.nl/artikel/1001" }},
		{"url in query string", Query{Q: `url:"https://nos.nl/artikel/1001"`}, func(d Doc) bool {
			return d.URL == "https://nos.nl/artikel/1001"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := wantIDs(docs, tt.keep)
			if got := searchIDs(t, ix, tt.q); !slices.Equal(got, want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
		})
	}
}

func TestFacets(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	// The test mentions run to 2025-02-20; the day facet then covers
	// 2025-02-07 to 2025-02-20.
	now := time.Date(2025, 2, 20, 12, 0, 0, 0, time.UTC)
	firstDay := time.Date(2025, 2, 7, 0, 0, 0, 0, time.UTC)
	afterLastDay := time.Date(2025, 2, 21, 0, 0, 0, 0, time.UTC)
	for _, q := range []Query{{Now: now}, {Institution: "umc-utrecht", Now: now}} {
		res, err := ix.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]int{FacetInstitution: {}, FacetCategory: {}, FacetSource: {}, FacetAuthor: {}}
		days := map[string]int{}
		for _, d := range docs {
			if q.Institution != "" && !slices.Contains(d.Institutions, q.Institution) {
				continue
			}
			for _, v := range d.Institutions {
				want[FacetInstitution][v]++
			}
			for _, v := range d.Categories {
				want[FacetCategory][v]++
			}
			want[FacetSource][d.Source]++
			if d.Author != "" {
				want[FacetAuthor][d.Author]++
			}
			if !d.Published.Before(firstDay) && d.Published.Before(afterLastDay) {
				days[d.Published.UTC().Format(time.DateOnly)]++
			}
		}
		if len(want[FacetAuthor]) < 2 || len(days) < 2 {
			t.Fatalf("test data too thin: authors %v, days %v", want[FacetAuthor], days)
		}
		for name, counts := range want {
			got := res.Facets[name]
			if len(got) != len(counts) {
				t.Errorf("%+v facet %s: %v, want %v", q, name, got, counts)
				continue
			}
			for i, fc := range got {
				if counts[fc.Term] != fc.Count {
					t.Errorf("%+v facet %s term %s: %d, want %d", q, name, fc.Term, fc.Count, counts[fc.Term])
				}
				if i > 0 && (got[i-1].Count < fc.Count || got[i-1].Count == fc.Count && got[i-1].Term > fc.Term) {
					t.Errorf("%+v facet %s not ordered: %v", q, name, got)
				}
			}
		}
		var wantDays []FacetCount
		for day, n := range days {
			wantDays = append(wantDays, FacetCount{day, n})
		}
		slices.SortFunc(wantDays, func(a, b FacetCount) int { return strings.Compare(b.Term, a.Term) })
		if got := res.Facets[FacetDay]; !slices.Equal(got, wantDays) {
			t.Errorf("%+v facet %s: %v, want %v", q, FacetDay, got, wantDays)
		}
		if len(res.Facets) != len(want)+1 {
			t.Errorf("%+v: facets %v, want exactly %d", q, res.Facets, len(want)+1)
		}
	}
}

// openIndexWith opens a fresh index in a temporary directory holding docs.
func openIndexWith(t *testing.T, docs []Doc) *Index {
	t.Helper()
	ix, err := Open(filepath.Join(t.TempDir(), "idx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	if err := ix.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestAuthorFacet(t *testing.T) {
	published := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	doc := func(id, author, institution string) Doc {
		return Doc{ID: id, Source: "forum", Author: author, Institutions: []string{institution},
			Text: "Lang gewacht op de spoedeisende hulp.", Lang: "nl", Published: published}
	}
	ix := openIndexWith(t, []Doc{
		doc("a01", "Jan de Vries", "umc-utrecht"),
		doc("a02", "Jan de Vries", "umc-utrecht"),
		doc("a03", "Jan de Vries", "uz-leuven"),
		// Authors are kept as written: case and diacritics tell
		// accounts apart.
		doc("a04", "jan de vries", "uz-leuven"),
		doc("a05", "Zoë Ørsted-Janssens", "umc-utrecht"),
		doc("a06", "Zoë Ørsted-Janssens", "uz-leuven"),
		doc("a07", "Zoe Orsted-Janssens", "umc-utrecht"),
		doc("a08", "José Müller", "umc-utrecht"),
		doc("a09", "José Müller", "uz-leuven"),
		doc("a10", "Anne-Marie van 't Hof", "umc-utrecht"),
		doc("a11", "@anna@mastodon.nl", "umc-utrecht"),
		doc("a12", "", "umc-utrecht"),
	})
	tests := []struct {
		name string
		q    Query
		ids  []string
		want []FacetCount
	}{
		{"all", Query{}, nil, []FacetCount{
			{"Jan de Vries", 3},
			{"José Müller", 2},
			{"Zoë Ørsted-Janssens", 2},
			{"@anna@mastodon.nl", 1},
			{"Anne-Marie van 't Hof", 1},
			{"Zoe Orsted-Janssens", 1},
			{"jan de vries", 1},
		}},
		{"institution filter", Query{Institution: "uz-leuven"}, []string{"a03", "a04", "a06", "a09"}, []FacetCount{
			{"Jan de Vries", 1},
			{"José Müller", 1},
			{"Zoë Ørsted-Janssens", 1},
			{"jan de vries", 1},
		}},
		{"author filter with diacritics", Query{Author: "Zoë Ørsted-Janssens"}, []string{"a05", "a06"},
			[]FacetCount{{"Zoë Ørsted-Janssens", 2}}},
		{"author filter with a space", Query{Author: "Jan de Vries"}, []string{"a01", "a02", "a03"},
			[]FacetCount{{"Jan de Vries", 3}}},
		{"quoted author in query string", Query{Q: `author:"José Müller"`}, []string{"a08", "a09"},
			[]FacetCount{{"José Müller", 2}}},
		{"quoted author with apostrophe", Query{Q: `author:"Anne-Marie van 't Hof"`}, []string{"a10"},
			[]FacetCount{{"Anne-Marie van 't Hof", 1}}},
		{"excluded author", Query{Q: `-author:"Jan de Vries"`, Institution: "uz-leuven"}, []string{"a04", "a06", "a09"},
			[]FacetCount{{"José Müller", 1}, {"Zoë Ørsted-Janssens", 1}, {"jan de vries", 1}}},
		// One word of a name is not the name.
		{"part of a name", Query{Q: "author:Vries"}, []string{}, []FacetCount{}},
		{"no hits", Query{Author: "Piet"}, []string{}, []FacetCount{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ix.Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Facets[FacetAuthor]; !slices.Equal(got, tt.want) {
				t.Errorf("author facet:\n got %v\nwant %v", got, tt.want)
			}
			if tt.ids != nil {
				if got := searchIDs(t, ix, tt.q); !slices.Equal(got, tt.ids) {
					t.Errorf("hits %v, want %v", got, tt.ids)
				}
			}
		})
	}
}

func TestDayFacet(t *testing.T) {
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Amsterdam moves from UTC+1 to UTC+2 at 2026-03-29T01:00Z, so the
	// Amsterdam day 2026-03-29 runs from 03-28T23:00Z to 03-29T22:00Z (23
	// hours), and back at 2026-10-25T01:00Z, so 2026-10-25 runs from
	// 10-24T22:00Z to 10-25T23:00Z (25 hours). The comments give the
	// Amsterdam time.
	docs := []Doc{
		{ID: "d01", Source: "news", Published: at("2026-03-16T22:59:00Z")},     // 03-16 23:59
		{ID: "d02", Source: "news", Published: at("2026-03-16T23:00:00Z")},     // 03-17 00:00
		{ID: "d03", Source: "news", Published: at("2026-03-17T00:00:00Z")},     // 03-17 01:00
		{ID: "d04", Source: "news", Published: at("2026-03-22T12:00:00Z")},     // 03-22 13:00
		{ID: "d05", Source: "news", Published: at("2026-03-28T22:59:59Z")},     // 03-28 23:59:59
		{ID: "d06", Source: "mastodon", Published: at("2026-03-28T23:00:00Z")}, // 03-29 00:00
		{ID: "d07", Source: "mastodon", Published: at("2026-03-28T23:30:00Z")}, // 03-29 00:30
		{ID: "d08", Source: "news", Published: at("2026-03-29T01:30:00Z")},     // 03-29 03:30 summer time
		{ID: "d09", Source: "news", Published: at("2026-03-29T21:59:59Z")},     // 03-29 23:59:59
		{ID: "d10", Source: "mastodon", Published: at("2026-03-29T22:00:00Z")}, // 03-30 00:00
		{ID: "d11", Source: "news", Published: at("2026-03-30T09:00:00Z")},     // 03-30 11:00
		{ID: "d12", Source: "news", Published: at("2026-03-30T22:30:00Z")},     // 03-31 00:30
		{ID: "d13", Source: "news", Published: at("2025-12-01T12:00:00Z")},
		// No published time: counted nowhere.
		{ID: "d14", Source: "news"},
		{ID: "e01", Source: "news", Published: at("2026-10-24T21:59:00Z")}, // 10-24 23:59 summer time
		{ID: "e02", Source: "news", Published: at("2026-10-24T22:00:00Z")}, // 10-25 00:00
		{ID: "e03", Source: "news", Published: at("2026-10-25T22:30:00Z")}, // 10-25 23:30 winter time
		{ID: "e04", Source: "news", Published: at("2026-10-25T23:00:00Z")}, // 10-26 00:00
	}
	ix := openIndexWith(t, docs)
	spring := at("2026-03-30T10:00:00Z")
	// 00:30 on 03-30 in Amsterdam, still 03-29 in UTC.
	springMidnight := time.Date(2026, 3, 30, 0, 30, 0, 0, ams)
	autumn := at("2026-10-26T12:00:00Z")
	tests := []struct {
		name string
		q    Query
		want []FacetCount
	}{
		{"UTC", Query{Now: spring}, []FacetCount{
			{"2026-03-30", 2}, // d11, d12: a post later on the day of Now still counts
			{"2026-03-29", 3}, // d08, d09, d10
			{"2026-03-28", 3}, // d05, d06, d07
			{"2026-03-22", 1},
			{"2026-03-17", 1}, // d03; d01 and d02 are on 03-16, one day too early
		}},
		{"Amsterdam", Query{Now: spring, Zone: ams}, []FacetCount{
			{"2026-03-30", 2}, // d10, d11
			{"2026-03-29", 4}, // d06 to d09
			{"2026-03-28", 1}, // d05
			{"2026-03-22", 1},
			{"2026-03-17", 2}, // d02, d03
		}},
		{"Amsterdam just after midnight", Query{Now: springMidnight, Zone: ams}, []FacetCount{
			{"2026-03-30", 2},
			{"2026-03-29", 4},
			{"2026-03-28", 1},
			{"2026-03-22", 1},
			{"2026-03-17", 2},
		}},
		{"UTC at the same instant", Query{Now: springMidnight}, []FacetCount{
			{"2026-03-29", 3},
			{"2026-03-28", 3},
			{"2026-03-22", 1},
			{"2026-03-17", 1},
			{"2026-03-16", 2}, // d01, d02
		}},
		{"Amsterdam with a filter", Query{Now: spring, Zone: ams, Source: "mastodon"}, []FacetCount{
			{"2026-03-30", 1}, // d10
			{"2026-03-29", 2}, // d06, d07
		}},
		{"Amsterdam with a query string", Query{Q: "source:mastodon", Now: spring, Zone: ams}, []FacetCount{
			{"2026-03-30", 1},
			{"2026-03-29", 2},
		}},
		{"Amsterdam autumn", Query{Now: autumn, Zone: ams}, []FacetCount{
			{"2026-10-26", 1}, // e04
			{"2026-10-25", 2}, // e02, e03
			{"2026-10-24", 1}, // e01
		}},
		{"UTC autumn", Query{Now: autumn}, []FacetCount{
			{"2026-10-25", 2}, // e03, e04
			{"2026-10-24", 2}, // e01, e02
		}},
		{"nothing in the last days", Query{Now: at("2027-06-01T12:00:00Z"), Zone: ams}, []FacetCount{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ix.Search(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Facets[FacetDay]; !slices.Equal(got, tt.want) {
				t.Errorf("day facet:\n got %v\nwant %v", got, tt.want)
			}
			// Now and Zone place the days; they do not filter the hits.
			plain := tt.q
			plain.Now, plain.Zone = time.Time{}, nil
			if got := searchIDs(t, ix, tt.q); !slices.Equal(got, searchIDs(t, ix, plain)) {
				t.Errorf("Now and Zone changed the hits: %v", got)
			}
		})
	}

	t.Run("zero Now is the current time", func(t *testing.T) {
		published := time.Now().Add(-time.Hour)
		ix := openIndexWith(t, []Doc{{ID: "now", Source: "news", Published: published}})
		res, err := ix.Search(context.Background(), Query{})
		if err != nil {
			t.Fatal(err)
		}
		want := []FacetCount{{published.UTC().Format(time.DateOnly), 1}}
		if got := res.Facets[FacetDay]; !slices.Equal(got, want) {
			t.Errorf("day facet %v, want %v", got, want)
		}
	})
}

// TestDayRanges checks the ranges behind the day facet where days are not
// 24 hours long: they must be consecutive dates ending on the day of Now,
// each starting at the first instant of its date in the zone, each ending
// where the next starts.
func TestDayRanges(t *testing.T) {
	zone := func(name string) *time.Location {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}
	tests := []struct {
		name string
		now  time.Time
		zone *time.Location
		last string
		// odd holds the days that are not 24 hours long.
		odd map[string]time.Duration
	}{
		{"UTC", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), nil, "2026-03-01", nil},
		{"Amsterdam spring", time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC), zone("Europe/Amsterdam"), "2026-03-30",
			map[string]time.Duration{"2026-03-29": 23 * time.Hour}},
		{"Amsterdam autumn", time.Date(2026, 10, 25, 22, 59, 0, 0, time.UTC), zone("Europe/Amsterdam"), "2026-10-25",
			map[string]time.Duration{"2026-10-25": 25 * time.Hour}},
		{"Amsterdam, Now given in UTC after local midnight", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC),
			zone("Europe/Amsterdam"), "2027-01-01", nil},
		// Chile starts summer time by skipping from 00:00 to 01:00: the
		// day 2026-09-06 starts at 01:00.
		{"Santiago, midnight skipped", time.Date(2026, 9, 10, 12, 0, 0, 0, time.UTC), zone("America/Santiago"), "2026-09-10",
			map[string]time.Duration{"2026-09-06": 23 * time.Hour}},
		// Cuba ends summer time by going back from 01:00 to 00:00: the
		// day 2026-11-01 starts at the first of its two midnights.
		{"Havana, midnight twice", time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC), zone("America/Havana"), "2026-11-03",
			map[string]time.Duration{"2026-11-01": 25 * time.Hour}},
		{"Kolkata, half hour offset", time.Date(2026, 3, 1, 18, 45, 0, 0, time.UTC), zone("Asia/Kolkata"), "2026-03-02", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := dayFacet(tt.now, tt.zone)
			loc := tt.zone
			if loc == nil {
				loc = time.UTC
			}
			if len(fr.DateTimeRanges) != FacetDays || fr.Size < FacetDays || fr.Field != fieldPublished {
				t.Fatalf("%d ranges, size %d, field %s", len(fr.DateTimeRanges), fr.Size, fr.Field)
			}
			last, _ := time.Parse(time.DateOnly, tt.last)
			for i, r := range fr.DateTimeRanges {
				want := last.AddDate(0, 0, i-FacetDays+1).Format(time.DateOnly)
				if r.Name != want {
					t.Errorf("range %d is %s, want %s", i, r.Name, want)
				}
				if got := r.Start.In(loc).Format(time.DateOnly); got != r.Name {
					t.Errorf("%s starts on %s (%s)", r.Name, got, r.Start.In(loc))
				}
				if got := r.Start.Add(-time.Nanosecond).In(loc).Format(time.DateOnly); got == r.Name {
					t.Errorf("%s starts after its first instant: %s", r.Name, r.Start.In(loc))
				}
				if i+1 < len(fr.DateTimeRanges) && !r.End.Equal(fr.DateTimeRanges[i+1].Start) {
					t.Errorf("%s ends at %s, next starts at %s", r.Name, r.End, fr.DateTimeRanges[i+1].Start)
				}
				if got := r.End.Add(-time.Nanosecond).In(loc).Format(time.DateOnly); got != r.Name {
					t.Errorf("%s ends after its last instant: %s", r.Name, r.End.In(loc))
				}
				length := cmp.Or(tt.odd[r.Name], 24*time.Hour)
				if got := r.End.Sub(r.Start); got != length {
					t.Errorf("%s lasts %s, want %s", r.Name, got, length)
				}
			}
		})
	}
}

// quoteQuery makes s one phrase of Bleve's query-string syntax, as the
// dashboard quotes a URL.
func quoteQuery(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestURLSearch(t *testing.T) {
	urls := map[string]string{
		"u01": "https://example.org/a?b=1",
		"u02": "https://example.org/a?b=12",
		"u03": "https://example.org/a",
		"u04": "https://example.org/a?b=1#top",
		"u05": "http://example.org/a?b=1",
		"u06": "https://example.org/A?b=1",
		"u07": "https://example.org/a?b=1&c=2",
		"u08": `https://example.org/q?s="x"&t=\y`,
		"u09": "https://example.org/a b",
	}
	var docs []Doc
	for id, u := range urls {
		// The address is in the text too, so a match there would show.
		docs = append(docs, Doc{ID: id, Source: "forum", URL: u, Institutions: []string{"umc-utrecht"},
			Text: "Zie " + u + " voor het verhaal.", Lang: "nl"})
	}
	ix := openIndexWith(t, docs)
	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"query string", Query{Q: `url:"https://example.org/a?b=1"`}, []string{"u01"}},
		{"field", Query{URL: "https://example.org/a?b=1"}, []string{"u01"}},
		{"query string, no query", Query{Q: `url:"https://example.org/a"`}, []string{"u03"}},
		{"field, no query", Query{URL: "https://example.org/a"}, []string{"u03"}},
		{"query string, quotes and backslash", Query{Q: "url:" + quoteQuery(urls["u08"])}, []string{"u08"}},
		{"field, quotes and backslash", Query{URL: urls["u08"]}, []string{"u08"}},
		{"query string, space", Query{Q: "url:" + quoteQuery(urls["u09"])}, []string{"u09"}},
		{"field, space", Query{URL: urls["u09"]}, []string{"u09"}},
		{"field with another filter", Query{URL: urls["u07"], Institution: "umc-utrecht"}, []string{"u07"}},
		{"field and query string", Query{Q: "verhaal", URL: urls["u05"]}, []string{"u05"}},
		{"field with a filter that excludes it", Query{URL: urls["u01"], Institution: "uz-leuven"}, []string{}},
		{"unknown address", Query{URL: "https://example.org/b"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := searchIDs(t, ix, tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestOlderMapping opens an index created before author had doc values and
// url was indexed: it must still open and search, with the author facet
// right, and say in the log that a rebuild would help.
func TestOlderMapping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	m, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	m.DefaultMapping.Properties[fieldAuthor].Fields[0].DocValues = false
	m.DefaultMapping.Properties[fieldURL].Fields[0] = &mapping.FieldMapping{Type: "text", Store: true}
	bi, err := bleve.NewUsing(dir, m, scorch.Name, scorch.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs := loadDocs(t)
	batch := bi.NewBatch()
	for i := range docs {
		if err := batch.Index(docs[i].ID, bleveDoc(&docs[i])); err != nil {
			t.Fatal(err)
		}
	}
	if err := bi.Batch(batch); err != nil {
		t.Fatal(err)
	}
	if err := bi.Close(); err != nil {
		t.Fatal(err)
	}

	var log strings.Builder
	ix, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if !strings.Contains(log.String(), "mediawatch reindex") || !strings.Contains(log.String(), "fields=\"[url author]\"") {
		t.Errorf("log does not name the outdated fields: %s", log.String())
	}
	res, err := ix.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	authors := map[string]int{}
	for _, d := range docs {
		authors[d.Author]++
	}
	if got := res.Facets[FacetAuthor]; len(got) != len(authors) || got[0].Count != authors[got[0].Term] {
		t.Errorf("author facet %v, want %v", got, authors)
	}
	// Not found until the rebuild, but not an error either.
	for _, q := range []Query{{Q: `url:"https://nos.nl/artikel/1001"`}, {URL: "https://nos.nl/artikel/1001"}} {
		if got := searchIDs(t, ix, q); len(got) != 0 {
			t.Errorf("%+v: %v", q, got)
		}
	}

	// An index created with the current mapping draws no warning.
	fresh, _, freshDir := openTestIndex(t)
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	fresh, err = Open(freshDir, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if strings.Contains(log.String(), "older mapping") {
		t.Errorf("current mapping reported as older: %s", log.String())
	}
}

func TestHighlightEscapes(t *testing.T) {
	ix, _, _ := openTestIndex(t)
	res, err := ix.Search(context.Background(), Query{Q: "nieuws markup"})
	if err != nil {
		t.Fatal(err)
	}
	var hostile *Hit
	for i := range res.Hits {
		if strings.Contains(res.Hits[i].Title, "<script>") {
			hostile = &res.Hits[i]
		}
	}
	if hostile == nil {
		t.Fatalf("post with <script> in the title not found: %v", hitIDs(res))
	}
	title := strings.Join(hostile.Fragments["title"], " ")
	text := strings.Join(hostile.Fragments["text"], " ")
	for _, tc := range []struct{ field, got, want string }{
		{"title", title, "<mark>nieuws</mark>"},
		{"title", title, "&lt;script&gt;"},
		{"text", text, "<mark>markup</mark>"},
		{"text", text, "&lt;b&gt;"},
		{"text", text, "&amp;"},
	} {
		if !strings.Contains(tc.got, tc.want) {
			t.Errorf("%s fragment %q lacks %q", tc.field, tc.got, tc.want)
		}
	}
	for _, raw := range []string{"<script>", "<b>"} {
		if strings.Contains(title+text, raw) {
			t.Errorf("fragments contain raw %q: %q / %q", raw, title, text)
		}
	}

	// Every fragment of an ordinary search is marked and escaped too.
	res, err = ix.Search(context.Background(), Query{Q: "ziekenhuis hospital"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 {
		t.Fatal("no hits")
	}
	for _, h := range res.Hits {
		marked := false
		for field, fs := range h.Fragments {
			if field != "title" && field != "text" {
				t.Errorf("%s: unexpected fragment field %q", h.ID, field)
			}
			for _, f := range fs {
				marked = marked || strings.Contains(f, "<mark>")
			}
		}
		if !marked {
			t.Errorf("%s: no marked fragment in %v", h.ID, h.Fragments)
		}
	}
}

func TestHitFields(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	byID := map[string]Doc{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	res, err := ix.Search(context.Background(), Query{Size: MaxSize})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != len(docs) {
		t.Fatalf("%d hits, want %d", len(res.Hits), len(docs))
	}
	for i, h := range res.Hits {
		d := byID[h.ID]
		got := fmt.Sprintf("%q %q %q %q %q %v %v %q %s", h.Title, h.URL, h.Source, h.Author, h.FeedTitle,
			h.Institutions, h.Categories, h.Severity, h.Published.UTC().Format(time.RFC3339))
		want := fmt.Sprintf("%q %q %q %q %q %v %v %q %s", d.Title, d.URL, d.Source, d.Author, d.FeedTitle,
			d.Institutions, d.Categories, d.Severity, d.Published.UTC().Format(time.RFC3339))
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", h.ID, got, want)
		}
		// Without a query string the newest come first.
		if i > 0 && h.Published.After(res.Hits[i-1].Published) {
			t.Errorf("hit %d (%s) newer than hit %d", i, h.ID, i-1)
		}
	}
}

func TestPaging(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	var seen []string
	for from := 0; from < len(docs); from += 7 {
		res, err := ix.Search(context.Background(), Query{Q: "utrecht leuven", From: from, Size: 7})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, hitIDs(res)...)
	}
	all, err := ix.Search(context.Background(), Query{Q: "utrecht leuven", Size: MaxSize})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, hitIDs(all)) {
		t.Errorf("pages %v\n!= one page %v", seen, hitIDs(all))
	}

	res, err := ix.Search(context.Background(), Query{Size: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 3 || res.Total != uint64(len(docs)) {
		t.Errorf("size 3: %d hits of %d, want 3 of %d", len(res.Hits), res.Total, len(docs))
	}
	res, err = ix.Search(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != min(DefaultSize, len(docs)) {
		t.Errorf("default size: %d hits", len(res.Hits))
	}
}

func TestBadQuery(t *testing.T) {
	ix, _, _ := openTestIndex(t)
	tests := []Query{
		{Q: `title:"unclosed`},
		{Q: `ziekenhuis^x`},
		{Q: `title:`},
		{Q: `/[a-/`},
		{Q: `published:>"not a date"`},
		{Q: `ziekenhuis~9`},
		{Q: strings.Repeat("a", MaxQueryLen+1)},
		{Size: -1},
		{From: -1},
		{From: MaxWindow},
		{Since: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, q := range tests {
		_, err := ix.Search(context.Background(), q)
		if !errors.Is(err, ErrBadQuery) {
			t.Errorf("Search(%.60q from %d size %d) = %v, want ErrBadQuery", q.Q, q.From, q.Size, err)
			continue
		}
		if q.Q != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", q.Q)) {
			t.Errorf("error %q does not name the query", err)
		}
	}
}

func TestSearchCancelled(t *testing.T) {
	ix, _, _ := openTestIndex(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ix.Search(ctx, Query{Q: "ziekenhuis"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Search = %v, want context.Canceled", err)
	}
}

func FuzzSearch(f *testing.F) {
	for _, seed := range []string{
		"", "ziekenhuis", `"spoedeisende hulp"`, "title:foo", "+a -b", "/[a-/", "a~2", "published:>2025-01-01",
		"institution:uz-leuven", `author:"Jan de Vries"`, `url:"https://example.org/a?b=1"`, `-url:""`, `text:"<script>"`, "((((", `\`, "*", "?", "a:b:c", "^3", "-", `"`, "😀~", "5",
	} {
		f.Add(seed)
	}
	dir := filepath.Join(f.TempDir(), "idx")
	ix, err := Open(dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Index(context.Background(), loadDocs(f)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		res, err := ix.Search(context.Background(), Query{Q: q, Size: 5})
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("Search(%q) = %v, want nil or ErrBadQuery", q, err)
			}
			return
		}
		if uint64(len(res.Hits)) > res.Total || len(res.Hits) > 5 {
			t.Fatalf("Search(%q): %d hits of %d", q, len(res.Hits), res.Total)
		}
	})
}

func FuzzIndexDoc(f *testing.F) {
	f.Add("Het ziekenhuis", "De patiënt <b>lag</b> op kamer 12", "nl", "umc-utrecht")
	f.Add("", "", "", "")
	f.Add("\xff\xfe", "zen zen zen", "EN-gb", "a b")
	dir := filepath.Join(f.TempDir(), "idx")
	ix, err := Open(dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer ix.Close()
	f.Fuzz(func(t *testing.T, title, text, lang, institution string) {
		d := Doc{ID: "fuzz", Title: title, Text: text, Lang: lang, Institutions: []string{institution}}
		if err := ix.Index(context.Background(), []Doc{d}); err != nil {
			t.Fatalf("Index: %v", err)
		}
		if _, err := ix.Search(context.Background(), Query{Q: "id:fuzz"}); err != nil {
			t.Fatalf("Search: %v", err)
		}
	})
}
