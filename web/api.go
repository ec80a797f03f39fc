package web

import (
	"time"

	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
)

// The JSON shapes of the API live here, apart from the types of the
// packages behind it, so that a refactoring there cannot rename a field
// that outside tools read.

type searchResponse struct {
	Total  uint64                  `json:"total"`
	TookMS float64                 `json:"took_ms"`
	Hits   []searchHit             `json:"hits"`
	Facets map[string][]facetCount `json:"facets"`
}

type searchHit struct {
	ID           string              `json:"id"`
	Score        float64             `json:"score"`
	Title        string              `json:"title"`
	URL          string              `json:"url"`
	Source       string              `json:"source"`
	Author       string              `json:"author"`
	FeedTitle    string              `json:"feed_title"`
	Published    time.Time           `json:"published"`
	Institutions []string            `json:"institutions"`
	Categories   []string            `json:"categories"`
	Severity     string              `json:"severity,omitempty"`
	Fragments    map[string][]string `json:"fragments"`
}

type facetCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

func toSearchResponse(r *index.Results) searchResponse {
	out := searchResponse{
		Total:  r.Total,
		TookMS: float64(r.Took.Microseconds()) / 1000,
		Hits:   make([]searchHit, 0, len(r.Hits)),
		Facets: map[string][]facetCount{},
	}
	for _, h := range r.Hits {
		out.Hits = append(out.Hits, searchHit{
			ID: h.ID, Score: h.Score, Title: h.Title, URL: h.URL, Source: h.Source, Author: h.Author,
			FeedTitle: h.FeedTitle, Published: h.Published, Institutions: nonNil(h.Institutions),
			Categories: nonNil(h.Categories), Severity: h.Severity, Fragments: h.Fragments,
		})
	}
	for name, counts := range r.Facets {
		fc := make([]facetCount, 0, len(counts))
		for _, c := range counts {
			fc = append(fc, facetCount{Term: c.Term, Count: c.Count})
		}
		out.Facets[name] = fc
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type feedJSON struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name,omitempty"`
	URL                 string    `json:"url"`
	Source              string    `json:"source"`
	IntervalSeconds     float64   `json:"interval_seconds"`
	Healthy             bool      `json:"healthy"`
	LastAttempt         time.Time `json:"last_attempt"`
	LastSuccess         time.Time `json:"last_success"`
	NextPoll            time.Time `json:"next_poll"`
	LastError           string    `json:"last_error,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	ItemsSeen           int64     `json:"items_seen"`
}

func toFeedJSON(fs []ingest.FeedStatus) []feedJSON {
	out := make([]feedJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, feedJSON{
			ID: f.ID, Name: f.Name, URL: f.URL, Source: f.Source, IntervalSeconds: f.Interval.Seconds(),
			Healthy: f.Healthy, LastAttempt: f.LastAttempt, LastSuccess: f.LastSuccess, NextPoll: f.NextPoll,
			LastError: f.LastError, ConsecutiveFailures: f.ConsecutiveFailures, ItemsSeen: f.ItemsSeen,
		})
	}
	return out
}
