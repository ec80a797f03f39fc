// Package web serves the dashboard, the JSON API, /metrics and the health
// endpoints. It reads the daemon's state through narrow interfaces; the
// only thing it changes is an alert's triage state, through Triage.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Searcher runs a search over the mentions index.
type Searcher interface {
	Search(ctx context.Context, q index.Query) (*index.Results, error)
}

// FeedStatuses reports the state of every feed.
type FeedStatuses interface {
	Status() []ingest.FeedStatus
}

// AlertView lists recent alerts.
type AlertView interface {
	List(n int) []alerts.Alert
	Get(id string) (alerts.Alert, bool)
}

// Check is one readiness check: nil means ready.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options wires the server to the daemon.
type Options struct {
	Searcher Searcher
	Feeds    FeedStatuses
	Alerts   AlertView
	// Checks decide /readyz: every one must pass.
	Checks   []Check
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	Version  string
	// Triage performs the triage actions; nil leaves alerts read-only.
	Triage Triage
	// Silences lists, creates and expires silences; nil: none can be made.
	Silences Silences
	// Revealer shows an alert's full evidence to users whose role allows
	// it (RevealRoles, read from RolesHeader); nil: evidence stays redacted.
	Revealer    Revealer
	RolesHeader string
	RevealRoles []string
	// UserHeader names the header an authenticating reverse proxy sets to
	// the user's name (X-Forwarded-User); empty accepts triage actions
	// from the daemon's own host only (see server.actor).
	UserHeader string
	// AtomFeeds are served on GET /feeds/alerts.atom, each to the holder
	// of its token (see atom.go).
	AtomFeeds []AtomFeed
	// ExternalURL is where people reach the dashboard
	// (https://mediawatch.example.org); the Atom feeds link each alert
	// there. Empty: they link to the posts only.
	ExternalURL string
}

// Handler returns the root handler.
func Handler(opts Options) http.Handler {
	s := &server{opts: opts, pages: template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/*.html"))}
	static, _ := fs.Sub(assets, "static")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.dashboard)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/search", s.search)
	mux.HandleFunc("GET /api/alerts", s.listAlerts)
	mux.HandleFunc("GET /api/alerts/{id}", s.getAlert)
	mux.HandleFunc("POST /api/alerts/{id}/reveal", s.reveal)
	mux.HandleFunc("POST /api/alerts/{id}/{action}", s.triageAction)
	mux.HandleFunc("GET /api/silences", s.listSilences)
	mux.HandleFunc("POST /api/silences", s.createSilence)
	mux.HandleFunc("DELETE /api/silences/{id}", s.expireSilence)
	mux.HandleFunc("GET /api/feeds", s.feeds)
	mux.Handle("GET /feeds/alerts.atom", newAtomFeeds(opts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	return securityHeaders(mux)
}

type server struct {
	opts  Options
	pages *template.Template
}

// securityHeaders sets the headers every response carries, error pages
// included: nothing from a feed may run in the dashboard.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *server) search(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := index.Query{
		Q:           v.Get("q"),
		Institution: v.Get("institution"),
		Category:    v.Get("category"),
		Source:      v.Get("source"),
		Author:      v.Get("author"),
	}
	var err error
	if q.From, err = intParam(v.Get("from"), 0); err != nil {
		writeError(w, http.StatusBadRequest, "from: "+err.Error())
		return
	}
	if q.Size, err = intParam(v.Get("size"), 20); err != nil {
		writeError(w, http.StatusBadRequest, "size: "+err.Error())
		return
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if raw := v.Get(name); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, name+": want an RFC 3339 time, e.g. 2026-11-23T10:00:00Z")
				return
			}
			*dst = t
		}
	}
	res, err := s.opts.Searcher.Search(r.Context(), q)
	if err != nil {
		if errors.Is(err, index.ErrBadQuery) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.opts.Logger.Error("search failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "search is unavailable")
		return
	}
	writeJSON(w, http.StatusOK, toSearchResponse(res))
}

func intParam(raw string, def int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, errors.New("want a non-negative whole number")
	}
	return n, nil
}

// listAlerts serves GET /api/alerts, newest first, filtered by status,
// institution, category, severity and since.
func (s *server) listAlerts(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r.URL.Query().Get("limit"), 100)
	if err != nil {
		writeError(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	f, err := parseAlertFilter(r, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n = min(n, 1000)
	out := []alertJSON{}
	for _, a := range s.opts.Alerts.List(maxListed) {
		if len(out) == n {
			break
		}
		st := triage.NewState(a.ID)
		if s.opts.Triage != nil {
			st = s.opts.Triage.Get(a.ID)
		}
		if f.keep(a, st.Status) {
			out = append(out, toAlertJSON(a, st, false))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}

// maxListed is how many recent alerts a filtered list looks through.
const maxListed = 100_000

func (s *server) getAlert(w http.ResponseWriter, r *http.Request) {
	a, ok := s.opts.Alerts.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "no such alert")
		return
	}
	st := triage.NewState(a.ID)
	if s.opts.Triage != nil {
		st = s.opts.Triage.Get(a.ID)
	}
	writeJSON(w, http.StatusOK, toAlertJSON(a, st, true))
}

func (s *server) feeds(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"feeds": toFeedJSON(s.opts.Feeds.Status())})
}

// readyz answers 200 when every check passes and 503 otherwise, with the
// detail per component and the state of the feeds. Failing feeds do not make
// the daemon unready (the internet being down is not the daemon's fault),
// but they are listed so an operator sees them.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	type component struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	type feedDetail struct {
		ID                  string `json:"id"`
		Healthy             bool   `json:"healthy"`
		ConsecutiveFailures int    `json:"consecutive_failures"`
		LastError           string `json:"last_error,omitempty"`
	}
	status := http.StatusOK
	var comps []component
	for _, c := range s.opts.Checks {
		comp := component{Name: c.Name, OK: true}
		if err := c.Fn(ctx); err != nil {
			comp.OK, comp.Error = false, err.Error()
			status = http.StatusServiceUnavailable
		}
		comps = append(comps, comp)
	}
	var feeds []feedDetail
	failing := 0
	for _, f := range s.opts.Feeds.Status() {
		if !f.Healthy {
			failing++
		}
		feeds = append(feeds, feedDetail{ID: f.ID, Healthy: f.Healthy, ConsecutiveFailures: f.ConsecutiveFailures, LastError: f.LastError})
	}
	writeJSON(w, status, map[string]any{
		"ready":         status == http.StatusOK,
		"components":    comps,
		"feeds_failing": failing,
		"feeds":         feeds,
	})
}

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{
		"Version": s.opts.Version,
		"Alerts":  s.opts.Alerts.List(100),
		"Feeds":   s.opts.Feeds.Status(),
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages.ExecuteTemplate(w, "dashboard.html", data); err != nil {
		s.opts.Logger.Error("render dashboard", "err", err)
	}
}
