package index

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
	for _, q := range []Query{{}, {Institution: "umc-utrecht"}} {
		res, err := ix.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]int{FacetInstitution: {}, FacetCategory: {}, FacetSource: {}}
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
		"institution:uz-leuven", `text:"<script>"`, "((((", `\`, "*", "?", "a:b:c", "^3", "-", `"`, "😀~", "5",
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
