package index

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	htmlhighlighter "github.com/blevesearch/bleve/v2/search/highlight/highlighter/html"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Query is a search over the index. Zero-valued filters do not filter.
type Query struct {
	// Q is in Bleve query-string syntax. Terms without a field search the
	// title and the text in both languages; the fields title, text,
	// institution, category, rule, source, author, severity, lang, feed_id,
	// url, published and fetched may be named. A quoted value of a keyword
	// field (all of those but title, text and the times) must equal the
	// whole value: author:"Jan de Vries", url:"https://example.org/a?b=1".
	// Empty matches every document.
	Q           string
	Institution string
	Category    string
	Source      string
	Author      string
	// URL keeps the mentions of exactly this address. It needs no quoting,
	// unlike url:"…" in Q, so callers holding a URL should prefer it.
	URL string
	// Since (inclusive) and Until (exclusive) bound the published time.
	Since, Until time.Time
	// From skips that many hits; Size is the page size (DefaultSize when
	// zero, at most MaxSize).
	From, Size int

	// Now and Zone place the FacetDay days: the last FacetDays calendar
	// days in Zone, ending with the day Now falls on. Zero Now is the
	// current time, nil Zone is UTC. Neither filters the hits.
	Now  time.Time
	Zone *time.Location
}

// Page size limits and bounds on what one query may ask for.
const (
	DefaultSize = 20
	MaxSize     = 200
	// MaxWindow bounds From+Size: deep pages cost memory on every search.
	MaxWindow = 10000
	// MaxQueryLen bounds the query string in bytes.
	MaxQueryLen = 4096
	// facetSize is the number of terms reported per term facet.
	facetSize = 50
	// FacetDays is the number of days FacetDay covers.
	FacetDays = 14
)

// Facet names in Results.Facets.
const (
	FacetInstitution = "institution"
	FacetCategory    = "category"
	FacetSource      = "source"
	FacetAuthor      = "author"
	// FacetDay counts hits per calendar day of their published time; its
	// terms are days as "2006-01-02" (see Query.Now and Query.Zone).
	FacetDay = "day"
)

// termFacets are the facets over a keyword field, with the field.
var termFacets = []struct{ name, field string }{
	{FacetInstitution, fieldInstitutions},
	{FacetCategory, fieldCategories},
	{FacetSource, fieldSource},
	{FacetAuthor, fieldAuthor},
}

// Results is one page of hits with the total and the facets over all hits.
type Results struct {
	Total uint64
	Took  time.Duration
	Hits  []Hit
	// Facets holds every facet name, with an empty list when no hit has a
	// term. FacetInstitution, FacetCategory, FacetSource and FacetAuthor
	// list the most frequent terms, most frequent first and then by term;
	// FacetDay lists the days with hits, newest first.
	Facets map[string][]FacetCount
}

// Hit is one matching document.
type Hit struct {
	ID                                    string
	Score                                 float64
	Title, URL, Source, Author, FeedTitle string
	Published                             time.Time
	Institutions, Categories              []string
	Severity                              string
	// Fragments holds highlighted excerpts under "title" and "text": HTML
	// with every character of the document escaped and matches wrapped in
	// <mark>, safe to put in a page as is.
	Fragments map[string][]string
}

// FacetCount is the number of hits that have a term.
type FacetCount struct {
	Term  string
	Count int
}

// queryFields maps the names a user types to the index fields they search.
var queryFields = map[string][]string{
	"":            {fieldTitleNL, fieldTitleEN, fieldTextNL, fieldTextEN},
	"_all":        {fieldTitleNL, fieldTitleEN, fieldTextNL, fieldTextEN},
	"title":       {fieldTitleNL, fieldTitleEN},
	"text":        {fieldTextNL, fieldTextEN},
	"institution": {fieldInstitutions},
	"category":    {fieldCategories},
	"rule":        {fieldRules},
}

// Search runs q and returns one page of results. Errors caused by q wrap
// ErrBadQuery and quote it.
func (ix *Index) Search(ctx context.Context, q Query) (*Results, error) {
	req, err := buildRequest(q)
	if err != nil {
		return nil, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, ErrClosed
	}
	if err := ix.usable(); err != nil {
		return nil, err
	}
	res, err := ix.bleve.SearchInContext(ctx, req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("index %s: search %q: %w", ix.path, q.Q, ctxErr)
		}
		// The query passed validation, so either the index failed or
		// the query asked for something only the search can refuse
		// (too many expanded terms, too much fuzziness). An index that
		// still answers points at the query.
		if _, countErr := ix.bleve.DocCount(); countErr == nil {
			return nil, fmt.Errorf("query %q: %w: %w", q.Q, ErrBadQuery, err)
		}
		ix.metrics.observeError(opSearch)
		return nil, fmt.Errorf("index %s: search %q: %w", ix.path, q.Q, err)
	}
	return convertResults(res), nil
}

func buildRequest(q Query) (*bleve.SearchRequest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("query %q: %w: %s", q.Q, ErrBadQuery, fmt.Sprintf(format, args...))
	}
	size := q.Size
	switch {
	case size < 0:
		return nil, bad("negative size %d", size)
	case size == 0:
		size = DefaultSize
	case size > MaxSize:
		size = MaxSize
	}
	if q.From < 0 {
		return nil, bad("negative from %d", q.From)
	}
	if q.From+size > MaxWindow {
		return nil, bad("from %d + size %d is beyond %d hits", q.From, size, MaxWindow)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return nil, bad("until %s is not after since %s", q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	if len(q.Q) > MaxQueryLen {
		return nil, bad("longer than %d bytes", MaxQueryLen)
	}

	var main query.Query
	text := strings.TrimSpace(q.Q)
	if text == "" {
		main = bleve.NewMatchAllQuery()
	} else {
		parsed, err := parseQueryString(text)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w: %w", q.Q, ErrBadQuery, err)
		}
		main = parsed
	}

	var filters []query.Query
	for _, f := range []struct{ field, value string }{
		{fieldInstitutions, q.Institution},
		{fieldCategories, q.Category},
		{fieldSource, q.Source},
		{fieldAuthor, q.Author},
		{fieldURL, q.URL},
	} {
		if f.value != "" {
			tq := bleve.NewTermQuery(f.value)
			tq.SetField(f.field)
			filters = append(filters, tq)
		}
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		inclusive, exclusive := true, false
		dq := bleve.NewDateRangeInclusiveQuery(q.Since, q.Until, &inclusive, &exclusive)
		dq.SetField(fieldPublished)
		filters = append(filters, dq)
	}
	if len(filters) > 0 {
		// Filters narrow the hits without changing their scores.
		bq := bleve.NewBooleanQuery()
		bq.AddMust(main)
		bq.AddFilter(bleve.NewConjunctionQuery(filters...))
		main = bq
	}

	req := bleve.NewSearchRequestOptions(main, size, q.From, false)
	req.Fields = []string{
		fieldTitleNL, fieldTitleEN, fieldURL, fieldSource, fieldAuthor, fieldFeedTitle,
		fieldPublished, fieldInstitutions, fieldCategories, fieldSeverity,
	}
	req.Highlight = bleve.NewHighlightWithStyle(htmlhighlighter.Name)
	req.Highlight.Fields = []string{fieldTitleNL, fieldTitleEN, fieldTextNL, fieldTextEN}
	for _, f := range termFacets {
		req.AddFacet(f.name, bleve.NewFacetRequest(f.field, facetSize))
	}
	req.AddFacet(FacetDay, dayFacet(q.Now, q.Zone))
	// Ties are broken by date and then ID so pages are stable.
	if text == "" {
		req.SortBy([]string{"-" + fieldPublished, "_id"})
	} else {
		req.SortBy([]string{"-_score", "-" + fieldPublished, "_id"})
	}
	return req, nil
}

// dayFacet asks for the hits per calendar day in zone over the FacetDays
// days that end with the day of now. Each day is its own range between two
// local midnights, so a day across a daylight saving change is 23 or 25
// hours long and a post at 00:30 in Amsterdam counts on that Amsterdam
// day, not on the UTC day before. Every boundary is computed once and
// shared by the two days it separates: no post falls between two days or
// into both.
func dayFacet(now time.Time, zone *time.Location) *bleve.FacetRequest {
	if now.IsZero() {
		now = time.Now()
	}
	if zone == nil {
		zone = time.UTC
	}
	y, m, d := now.In(zone).Date()
	first := d - FacetDays + 1
	// bounds[i] starts day i, oldest first; time.Date normalises day
	// numbers before the 1st into the month before.
	var bounds [FacetDays + 1]time.Time
	for i := range bounds {
		bounds[i] = startOfDay(y, m, first+i, zone)
	}
	// Bleve reports the Size largest ranges; all days fit.
	fr := bleve.NewFacetRequest(fieldPublished, FacetDays)
	for i := range FacetDays {
		fr.AddDateTimeRange(dateName(y, m, first+i), bounds[i], bounds[i+1])
	}
	return fr
}

// dateName is the date y-m-d, normalised, as "2006-01-02".
func dateName(y int, m time.Month, d int) string {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// startOfDay is the first instant of the date y-m-d in zone. That is
// midnight, except where the clock jumps from 23:59:59 to 01:00 (Chile,
// Cuba and Lebanon start summer time so): there time.Date reads the missing
// midnight with the new offset and lands an hour early, on the day before,
// and the day really starts at the jump. Where midnight comes twice (Cuba
// ends summer time by going back from 01:00 to 00:00) time.Date gives the
// first, which is right.
func startOfDay(y int, m time.Month, d int, zone *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, zone)
	if t.Format(time.DateOnly) < dateName(y, m, d) {
		if _, jump := t.ZoneBounds(); !jump.IsZero() {
			return jump
		}
	}
	return t
}

// parseQueryString parses Bleve query-string syntax and points every
// clause at index fields (see queryFields).
func parseQueryString(s string) (q query.Query, err error) {
	defer func() {
		if r := recover(); r != nil {
			q, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	q, err = bleve.NewQueryStringQuery(s).Parse()
	if err != nil {
		return nil, err
	}
	q = expandFields(q)
	if v, ok := q.(query.ValidatableQuery); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// expandFields rewrites the tree in place, keeping the parser's own
// boolean nodes (they carry query-string semantics that cannot be rebuilt
// from outside).
func expandFields(q query.Query) query.Query {
	switch q := q.(type) {
	case *query.BooleanQuery:
		if q.Must != nil {
			q.Must = expandFields(q.Must)
		}
		if q.Should != nil {
			q.Should = expandFields(q.Should)
		}
		if q.MustNot != nil {
			q.MustNot = expandFields(q.MustNot)
		}
		return q
	case *query.ConjunctionQuery:
		for i := range q.Conjuncts {
			q.Conjuncts[i] = expandFields(q.Conjuncts[i])
		}
		return q
	case *query.DisjunctionQuery:
		for i := range q.Disjuncts {
			q.Disjuncts[i] = expandFields(q.Disjuncts[i])
		}
		return q
	case query.FieldableQuery:
		fields, ok := queryFields[q.Field()]
		if !ok {
			return exactKeyword(q)
		}
		if len(fields) == 1 {
			q.SetField(fields[0])
			return exactKeyword(q)
		}
		alternatives := make([]query.Query, 0, len(fields))
		for _, f := range fields {
			c := cloneWithField(q, f)
			if c == nil {
				// A clause type this package does not know cannot be
				// copied; searching it in one field beats dropping it.
				q.SetField(fields[0])
				return q
			}
			alternatives = append(alternatives, c)
		}
		return query.NewDisjunctionQuery(alternatives)
	}
	return q
}

// exactKeyword turns a quoted value of a keyword field into a term query.
// Bleve answers a phrase from the positions of its terms, and keyword
// fields keep none (they would only cost space: each value is one term),
// so author:"Jan de Vries" would otherwise never match. The keyword
// analyzer leaves a value as it is, so the term is the quoted text.
func exactKeyword(q query.FieldableQuery) query.Query {
	pq, ok := q.(*query.MatchPhraseQuery)
	if !ok || !isKeywordField(pq.Field()) {
		return q
	}
	tq := query.NewTermQuery(pq.MatchPhrase)
	tq.SetField(pq.Field())
	if pq.BoostVal != nil {
		tq.SetBoost(pq.BoostVal.Value())
	}
	return tq
}

// cloneWithField copies a clause of one of the types the query-string
// parser produces and sets its field; nil for any other type.
func cloneWithField(q query.FieldableQuery, field string) query.FieldableQuery {
	var c query.FieldableQuery
	switch q := q.(type) {
	case *query.MatchQuery:
		v := *q
		c = &v
	case *query.MatchPhraseQuery:
		v := *q
		c = &v
	case *query.FuzzyQuery:
		v := *q
		c = &v
	case *query.RegexpQuery:
		v := *q
		c = &v
	case *query.WildcardQuery:
		v := *q
		c = &v
	case *query.PrefixQuery:
		v := *q
		c = &v
	case *query.TermQuery:
		v := *q
		c = &v
	case *query.NumericRangeQuery:
		v := *q
		c = &v
	case *query.DateRangeQuery:
		v := *q
		c = &v
	default:
		return nil
	}
	c.SetField(field)
	return c
}

func convertResults(res *bleve.SearchResult) *Results {
	out := &Results{
		Total:  res.Total,
		Took:   res.Took,
		Hits:   make([]Hit, 0, len(res.Hits)),
		Facets: make(map[string][]FacetCount, len(termFacets)+1),
	}
	for _, dm := range res.Hits {
		out.Hits = append(out.Hits, convertHit(dm))
	}
	for _, f := range termFacets {
		counts := []FacetCount{}
		if fr := res.Facets[f.name]; fr != nil && fr.Terms != nil {
			for _, t := range fr.Terms.Terms() {
				counts = append(counts, FacetCount{Term: t.Term, Count: t.Count})
			}
		}
		slices.SortFunc(counts, func(a, b FacetCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Term, b.Term))
		})
		out.Facets[f.name] = counts
	}
	days := []FacetCount{}
	if fr := res.Facets[FacetDay]; fr != nil {
		for _, r := range fr.DateRanges {
			if r.Count > 0 {
				days = append(days, FacetCount{Term: r.Name, Count: r.Count})
			}
		}
	}
	// Bleve orders ranges by count; a day list reads by date. Days in
	// "2006-01-02" sort as strings in date order.
	slices.SortFunc(days, func(a, b FacetCount) int { return strings.Compare(b.Term, a.Term) })
	out.Facets[FacetDay] = days
	return out
}

func convertHit(dm *search.DocumentMatch) Hit {
	h := Hit{
		ID:           dm.ID,
		Score:        dm.Score,
		Title:        cmp.Or(storedString(dm, fieldTitleNL), storedString(dm, fieldTitleEN)),
		URL:          storedString(dm, fieldURL),
		Source:       storedString(dm, fieldSource),
		Author:       storedString(dm, fieldAuthor),
		FeedTitle:    storedString(dm, fieldFeedTitle),
		Institutions: storedStrings(dm, fieldInstitutions),
		Categories:   storedStrings(dm, fieldCategories),
		Severity:     storedString(dm, fieldSeverity),
	}
	if s := storedString(dm, fieldPublished); s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			h.Published = t
		}
	}
	fragments := map[string][]string{}
	for name, pair := range map[string][2]string{
		"title": {fieldTitleNL, fieldTitleEN},
		"text":  {fieldTextNL, fieldTextEN},
	} {
		if f := bestFragments(dm.Fragments[pair[0]], dm.Fragments[pair[1]]); len(f) > 0 {
			fragments[name] = f
		}
	}
	if len(fragments) > 0 {
		h.Fragments = fragments
	}
	return h
}

// bestFragments picks between the Dutch and English highlighting of the
// same stored text (a post of unclear language is indexed in both): the one
// with more marked terms, Dutch on a tie.
func bestFragments(nl, en []string) []string {
	count := func(fs []string) int {
		n := 0
		for _, f := range fs {
			n += strings.Count(f, "<mark>")
		}
		return n
	}
	if count(en) > count(nl) {
		return en
	}
	if len(nl) == 0 {
		return en
	}
	return nl
}

func storedString(dm *search.DocumentMatch, field string) string {
	switch v := dm.Fields[field].(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

func storedStrings(dm *search.DocumentMatch, field string) []string {
	switch v := dm.Fields[field].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
