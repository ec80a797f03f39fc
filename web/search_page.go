package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/index"
)

// SavedSearch is a search a user keeps: a name and the search page's query
// string.
type SavedSearch struct {
	Name  string `json:"name"`
	Query string `json:"query"`
}

// ErrTooManySaved is what a SavedSearches store answers when a user has
// saved as many searches as it keeps.
var ErrTooManySaved = errors.New("too many saved searches")

// SavedSearches keeps each user's saved searches.
type SavedSearches interface {
	List(ctx context.Context, user string) ([]SavedSearch, error)
	Save(ctx context.Context, user string, s SavedSearch) error
	Delete(ctx context.Context, user, name string) error
}

// searchFacets are the facets the search page shows, in order.
var searchFacets = []struct{ Name, Label, Param string }{
	{index.FacetInstitution, "Institution", "institution"},
	{index.FacetCategory, "Category", "category"},
	{index.FacetSource, "Source", "source"},
	{index.FacetAuthor, "Author", "author"},
	{index.FacetDay, "Day", "day"},
}

type searchPageData struct {
	Q, Institution, Category, Source, Author, From, To string
	Results                                            *index.Results
	Hits                                               []searchPageHit
	Facets                                             []searchPageFacet
	Error                                              string
	Saved                                              []SavedSearch
	Query                                              string
	Page, Pages                                        int
	Searched                                           bool
}

type searchPageHit struct {
	index.Hit
	URL       string
	TitleHTML template.HTML
	TextHTML  []template.HTML
}

type searchPageFacet struct {
	Name, Label, Param string
	Values             []facetValue
}

const searchPageSize = 20

// searchPage serves GET /search: Bleve's query string over every mention,
// with highlighted fragments, facets and a date range.
func (s *server) searchPage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	d := searchPageData{
		Q: v.Get("q"), Institution: v.Get("institution"), Category: v.Get("category"), Source: v.Get("source"),
		Author: v.Get("author"), From: v.Get("from"), To: v.Get("to"), Query: r.URL.RawQuery,
	}
	if s.opts.SavedSearches != nil {
		saved, err := s.opts.SavedSearches.List(r.Context(), identityOf(r).User)
		if err != nil {
			s.opts.Logger.Warn("saved searches", "err", err)
		}
		d.Saved = saved
	}
	d.Page, _ = strconv.Atoi(v.Get("page"))
	d.Page = max(d.Page, 1)
	q := index.Query{Q: d.Q, Institution: d.Institution, Category: d.Category, Source: d.Source, Author: d.Author,
		From: (d.Page - 1) * searchPageSize, Size: searchPageSize}
	loc := s.printer(r).Location()
	q.Zone = loc // days of the day facet are the user's days
	for _, b := range []struct {
		raw  string
		dst  *time.Time
		next bool
	}{{d.From, &q.Since, false}, {d.To, &q.Until, true}} {
		if b.raw == "" {
			continue
		}
		day, err := time.ParseInLocation("2006-01-02", b.raw, loc)
		if err != nil {
			d.Error = "Dates are written as 2026-12-07."
			continue
		}
		if b.next { // "to" includes the whole day
			day = day.AddDate(0, 0, 1)
		}
		*b.dst = day
	}
	status := http.StatusOK
	if s.opts.Searcher != nil && d.Error == "" && (len(v) > 0) {
		d.Searched = true
		res, err := s.opts.Searcher.Search(r.Context(), q)
		switch {
		case errors.Is(err, index.ErrBadQuery):
			status, d.Error = http.StatusBadRequest, "The search could not be read: "+strings.TrimPrefix(err.Error(), "index: ")
		case errors.Is(err, index.ErrRebuilding):
			status, d.Error = http.StatusServiceUnavailable, "Search is unavailable while the index is being rebuilt; alerts keep coming. Try again in a few minutes."
		case err != nil:
			s.opts.Logger.Error("search failed", "err", err)
			status, d.Error = http.StatusServiceUnavailable, "Search is unavailable right now."
		default:
			d.Results = res
			d.Pages = max(1, int((res.Total+searchPageSize-1)/searchPageSize))
			for _, h := range res.Hits {
				d.Hits = append(d.Hits, toPageHit(h))
			}
			for _, f := range searchFacets {
				pf := searchPageFacet{Name: f.Name, Label: f.Label, Param: f.Param}
				for _, c := range res.Facets[f.Name] {
					pf.Values = append(pf.Values, facetValue{Value: c.Term, Count: c.Count})
				}
				if len(pf.Values) > 0 {
					d.Facets = append(d.Facets, pf)
				}
			}
		}
	}
	s.render(w, r, status, "search.html", "Search", d)
}

// toPageHit marks the index's fragments safe: the index escapes every
// character of the document and adds only <mark> (see index.Hit).
func toPageHit(h index.Hit) searchPageHit {
	out := searchPageHit{Hit: h, URL: safeURL(h.URL)}
	if f := h.Fragments["title"]; len(f) > 0 {
		out.TitleHTML = template.HTML(f[0]) //nolint:gosec // escaped by the index
	}
	for _, f := range h.Fragments["text"] {
		out.TextHTML = append(out.TextHTML, template.HTML(f)) //nolint:gosec // escaped by the index
	}
	return out
}

// maxSavedName bounds a saved search's name.
const maxSavedName = 80

// saveSearch serves POST /search/saved.
func (s *server) saveSearch(w http.ResponseWriter, r *http.Request) {
	if s.opts.SavedSearches == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Saved searches are not available.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	query := r.PostForm.Get("query")
	if _, err := url.ParseQuery(query); err != nil || name == "" || len([]rune(name)) > maxSavedName {
		s.failure(w, r, http.StatusBadRequest, "Give the search a name (up to 80 characters).")
		return
	}
	if err := s.opts.SavedSearches.Save(r.Context(), identityOf(r).User, SavedSearch{Name: name, Query: query}); err != nil {
		if errors.Is(err, ErrTooManySaved) {
			s.failure(w, r, http.StatusConflict, "You have saved as many searches as can be kept. Delete one first.")
			return
		}
		s.opts.Logger.Error("save search", "err", err)
		s.failure(w, r, http.StatusServiceUnavailable, "The search could not be saved. Try again.")
		return
	}
	http.Redirect(w, r, "/search?"+query, http.StatusSeeOther)
}

// deleteSavedSearch serves POST /search/saved/delete.
func (s *server) deleteSavedSearch(w http.ResponseWriter, r *http.Request) {
	if s.opts.SavedSearches == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Saved searches are not available.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if err := s.opts.SavedSearches.Delete(r.Context(), identityOf(r).User, r.PostForm.Get("name")); err != nil {
		s.opts.Logger.Error("delete saved search", "err", err)
		s.failure(w, r, http.StatusServiceUnavailable, "The search could not be deleted. Try again.")
		return
	}
	http.Redirect(w, r, "/search", http.StatusSeeOther)
}
