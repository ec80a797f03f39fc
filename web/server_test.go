package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/prometheus/client_golang/prometheus"
)

// feedTable is a fixed list of feed states, as the scheduler reports them.
type feedTable []ingest.FeedStatus

func (f feedTable) Status() []ingest.FeedStatus { return f }

type fixture struct {
	srv    *httptest.Server
	recent *alerts.Recent
}

func newFixture(t *testing.T, checks ...Check) *fixture {
	t.Helper()
	ix, err := index.Open(t.TempDir()+"/index", index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	published := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	err = ix.Index(context.Background(), []index.Doc{
		{ID: "m1", Source: "news", Title: "UMC Utrecht opent nieuwe polikliniek", Text: "Het ziekenhuis opent een polikliniek voor kinderen.", Lang: "nl", Published: published, Institutions: []string{"umc-utrecht"}},
		{ID: "m2", Source: "forum", Title: "<script>alert(1)</script> gratis", Text: "Spam over UZ Leuven", Lang: "nl", Published: published, Institutions: []string{"uz-leuven"}, Categories: []string{"logo_misuse"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	recent := alerts.NewRecent(10)
	recent.Add(alerts.Alert{
		ID: "a1", Institution: "uz-leuven", Category: "logo_misuse", Severity: "low", Rules: []string{"logo_misuse.advertising"},
		Mention: alerts.MentionRef{ID: "m2", URL: "javascript:alert(document.cookie)", Source: "forum", Title: "<script>alert(1)</script> gratis", Author: `<img src=x onerror=alert(2)>`},
		Snippet: `<b onmouseover=alert(3)>klik</b>`, DetectedAt: published,
	})
	feeds := feedTable{
		{ID: "gnews-umc-utrecht-nl", URL: "https://news.google.com/rss/search?q=UMC", Source: "news", Interval: 10 * time.Minute, Healthy: true, ItemsSeen: 12},
		{ID: "mastodon-uzleuven", URL: "https://mastodon.social/tags/uzleuven.rss", Source: "mastodon", Interval: 15 * time.Minute, ConsecutiveFailures: 4, LastError: "dial tcp: lookup mastodon.social: no such host"},
	}
	h := Handler(Options{
		Searcher: ix, Feeds: feeds, Alerts: recent, Checks: checks,
		Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Version: "test",
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, recent: recent}
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/api/search?q=polikliniek", "/api/search?q=%22unclosed", "/api/alerts/nope", "/no/such/page", "/readyz", "/metrics", "/static/style.css"} {
		resp, _ := f.get(t, path)
		for header, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"X-Frame-Options":        "DENY",
		} {
			if got := resp.Header.Get(header); got != want {
				t.Errorf("%s (%d): %s = %q, want %q", path, resp.StatusCode, header, got, want)
			}
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy = %q", path, csp)
		}
	}
}

func TestDashboardEscapesFeedContent(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, bad := range []string{"<script>alert(1)", "<img src=x", "<b onmouseover", `href="javascript:`} {
		if strings.Contains(body, bad) {
			t.Errorf("dashboard contains %q unescaped", bad)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt; gratis") {
		t.Errorf("dashboard should show the hostile title as text")
	}
	_, body = f.get(t, "/feeds")
	if !strings.Contains(body, "mastodon-uzleuven") || !strings.Contains(body, "no such host") {
		t.Errorf("the feeds page should list the failing feed with its error")
	}
}

func TestSearch(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/api/search?q=polikliniek")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var res searchResponse
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || len(res.Hits) != 1 || res.Hits[0].ID != "m1" {
		t.Fatalf("results = %+v", res)
	}
	if !strings.Contains(body, `"fragments"`) || !strings.Contains(body, "<mark>") && !strings.Contains(body, `\u003cmark\u003e`) {
		t.Errorf("want highlighted fragments: %s", body)
	}

	_, body = f.get(t, "/api/search?institution=uz-leuven")
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || res.Hits[0].ID != "m2" {
		t.Errorf("filter by institution: %s", body)
	}

	for _, bad := range []string{"/api/search?q=%22unclosed", "/api/search?size=-1", "/api/search?since=yesterday"} {
		resp, body := f.get(t, bad)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: status %d, body %s; want 400 with an error", bad, resp.StatusCode, body)
		}
	}
}

func TestAlertsAPI(t *testing.T) {
	f := newFixture(t)
	resp, body := f.get(t, "/api/alerts/a1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"institution": "uz-leuven"`) {
		t.Errorf("get a1: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.get(t, "/api/alerts/missing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing alert: status %d, want 404", resp.StatusCode)
	}
	_, body = f.get(t, "/api/alerts?limit=5")
	var list struct{ Alerts []alerts.Alert }
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Alerts) != 1 {
		t.Errorf("list: %v %s", err, body)
	}
}

func TestReadiness(t *testing.T) {
	ok := Check{Name: "index", Fn: func(context.Context) error { return nil }}
	down := Check{Name: "nats", Fn: func(context.Context) error { return errors.New("not connected to nats://127.0.0.1:4222") }}

	// Failing feeds are reported but do not make the daemon unready.
	f := newFixture(t, ok)
	resp, body := f.get(t, "/readyz")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ready: status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Ready        bool `json:"ready"`
		FeedsFailing int  `json:"feeds_failing"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Ready || got.FeedsFailing != 1 {
		t.Errorf("readyz = %s", body)
	}

	f = newFixture(t, ok, down)
	resp, body = f.get(t, "/readyz")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "not connected") {
		t.Errorf("nats down: status %d, body %s", resp.StatusCode, body)
	}
	if resp, _ := f.get(t, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: status %d, want 200 while unready", resp.StatusCode)
	}

	// An index being rebuilt takes search away, not the dashboard: the
	// process stays ready, degraded, and search says why.
	rebuilding := Check{Name: "index", Degrades: true, Fn: func(context.Context) error {
		return fmt.Errorf("index /data/index: 12 of 240 mentions so far: %w", index.ErrRebuilding)
	}}
	f = newFixture(t, rebuilding)
	resp, body = f.get(t, "/readyz")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"degraded": true`) || !strings.Contains(body, "12 of 240") {
		t.Errorf("index rebuilding: status %d, body %s; want 200, degraded, the progress", resp.StatusCode, body)
	}
	if got := searchUnavailable(fmt.Errorf("search: %w", index.ErrRebuilding)); !strings.Contains(got, "being rebuilt") {
		t.Errorf("search while rebuilding says %q", got)
	}
	if got := searchUnavailable(fmt.Errorf("search: %w", index.ErrCorrupt)); !strings.Contains(got, "mediawatch reindex") {
		t.Errorf("search on a damaged index says %q", got)
	}
}

func TestFeedsAPI(t *testing.T) {
	f := newFixture(t)
	_, body := f.get(t, "/api/feeds")
	for _, want := range []string{`"id": "mastodon-uzleuven"`, `"consecutive_failures": 4`, `"healthy": false`, `"items_seen": 12`} {
		if !strings.Contains(body, want) {
			t.Errorf("/api/feeds lacks %s:\n%s", want, body)
		}
	}
}
