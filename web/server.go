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
	"net/netip"
	"strconv"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/auth"
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
	// Degrades marks a check whose failure takes away a feature but not
	// the process: /readyz still answers 200, with "degraded": true and
	// the component not ok. The search index is one: while it is rebuilt
	// the dashboard must stay in its load balancer, alerting goes on.
	Degrades bool
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
	// Registerer receives the dashboard's own metrics (requests, logins,
	// live streams); nil registers nothing.
	Registerer prometheus.Registerer
	// Triage performs the triage actions; nil leaves alerts read-only.
	Triage Triage
	// Silences lists, creates and expires silences; nil: none can be made.
	Silences Silences
	// Revealer shows an alert's full evidence to users with one of
	// RevealRoles; nil: evidence stays redacted.
	Revealer    Revealer
	RevealRoles []string
	// Posts reads an alert's post for its page, redacted; Rules lists
	// the rules and tests a text against them (rules page).
	Posts Posts
	Rules RuleBook
	// Live streams new alerts and triage changes to open queue pages.
	Live Live
	// Audit is the append-only log of who did what; nil records nothing.
	Audit AuditLog
	// SavedSearches keeps each user's saved searches; nil: none.
	SavedSearches SavedSearches

	// Sessions keeps logins; Users (local accounts) and OIDC are the ways
	// to log in, LoginLimiter slows down guessing.
	Sessions     SessionStore
	Users        Authenticator
	OIDC         OIDCLogin
	LoginLimiter *auth.Limiter
	// UserHeader names the header an authenticating reverse proxy sets to
	// the user's name (X-Forwarded-User), RolesHeader the one with their
	// roles; both are believed only from TrustedProxies.
	UserHeader     string
	RolesHeader    string
	TrustedProxies []netip.Prefix
	// TimeZone is the zone dates are shown in unless the user picks one
	// with the switch or has one in UserZones (by lower-case name).
	TimeZone  *time.Location
	UserZones map[string]*time.Location
	// AtomFeeds are served on GET /feeds/alerts.atom, each to the holder
	// of its token (see atom.go).
	AtomFeeds []AtomFeed
	// ExternalURL is where people reach the dashboard
	// (https://mediawatch.example.org); the Atom feeds link each alert
	// there. Empty: they link to the posts only.
	ExternalURL string
}

// Handler returns the root handler. Every response passes, in this order:
// the security headers (CSP with a fresh nonce), net/http's cross-origin
// protection (no state-changing request from another site), and the
// identification of the user; each route then checks the permission it
// needs.
func Handler(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	if opts.UserHeader != "" && opts.TrustedProxies == nil {
		// As the configuration's default: a proxy on the same host.
		opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if opts.LoginLimiter == nil {
		opts.LoginLimiter = auth.NewLimiter(5, 15*time.Minute)
	}
	s := &server{opts: opts, pages: parsePages(), metrics: newWebMetrics(opts.Registerer, opts.Logger)}
	static, _ := fs.Sub(assets, "static")
	view, triage, admin := auth.PermView, auth.PermTriage, auth.PermAdmin
	mux := newRouteMux()

	// Pages.
	mux.HandleFunc("GET /{$}", s.needs(view, s.queuePage))
	mux.HandleFunc("POST /alerts/ack", s.needs(triage, s.bulkAck))
	mux.HandleFunc("GET /alerts/{id}", s.needs(view, s.alertPage))
	mux.HandleFunc("POST /alerts/{id}/act", s.needs(triage, s.alertAction))
	mux.HandleFunc("POST /alerts/{id}/reveal", s.needsReveal(s.revealPage))
	mux.HandleFunc("GET /search", s.needs(view, s.searchPage))
	mux.HandleFunc("POST /search/saved", s.needs(view, s.saveSearch))
	mux.HandleFunc("POST /search/saved/delete", s.needs(view, s.deleteSavedSearch))
	mux.HandleFunc("GET /feeds", s.needs(view, s.feedsPage))
	mux.HandleFunc("GET /rules", s.needs(view, s.rulesPage))
	mux.HandleFunc("POST /rules/test", s.needs(view, s.rulesTest))
	mux.HandleFunc("GET /silences", s.needs(admin, s.silencesPage))
	mux.HandleFunc("POST /silences", s.needs(admin, s.silenceCreateForm))
	mux.HandleFunc("POST /silences/{id}/expire", s.needs(admin, s.silenceExpireForm))
	mux.HandleFunc("GET /audit", s.needs(admin, s.auditPage))
	mux.HandleFunc("GET /events", s.needs(view, s.events))
	mux.HandleFunc("POST /preferences", s.preferences)
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticCache(http.FileServerFS(static))))

	// Login.
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /auth/oidc/login", s.oidcBegin)
	mux.HandleFunc("GET /auth/oidc/callback", s.oidcCallback)

	// JSON API.
	mux.HandleFunc("GET /api/search", s.needs(view, s.search))
	mux.HandleFunc("GET /api/alerts", s.needs(view, s.listAlerts))
	mux.HandleFunc("GET /api/alerts/{id}", s.needs(view, s.getAlert))
	mux.HandleFunc("POST /api/alerts/{id}/reveal", s.needsReveal(s.reveal))
	mux.HandleFunc("POST /api/alerts/{id}/{action}", s.needs(triage, s.triageAction))
	mux.HandleFunc("GET /api/silences", s.needs(view, s.listSilences))
	mux.HandleFunc("POST /api/silences", s.needs(admin, s.createSilence))
	mux.HandleFunc("DELETE /api/silences/{id}", s.needs(admin, s.expireSilence))
	mux.HandleFunc("GET /api/feeds", s.needs(view, s.feeds))

	// Machines: the Atom feed has its own tokens; health and metrics are
	// for the orchestrator and Prometheus.
	mux.Handle("GET /feeds/alerts.atom", newAtomFeeds(opts))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))

	// Unknown paths get the error page (with the same headers) rather
	// than the mux's plain text.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.failure(w, r, http.StatusNotFound, "There is no such page.")
			return
		}
		mux.ServeHTTP(w, r)
	})
	s.metrics.preCreate(mux.patterns)
	return s.metrics.instrument(mux, securityHeaders(http.NewCrossOriginProtection().Handler(s.identify(root))))
}

// staticCache lets browsers keep the stylesheet and script for an hour.
func staticCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

type server struct {
	opts    Options
	pages   map[string]*template.Template
	metrics *webMetrics
}

// searchUnavailable says why search cannot answer, in words for the user:
// being rebuilt (it comes back by itself) or damaged (an operator must act).
func searchUnavailable(err error) string {
	switch {
	case errors.Is(err, index.ErrRebuilding):
		return "search is unavailable while the index is being rebuilt; alerts keep coming"
	case errors.Is(err, index.ErrCorrupt):
		return "search is unavailable: the index is damaged; an operator must run mediawatch reindex"
	}
	return "search is unavailable"
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
		writeError(w, http.StatusServiceUnavailable, searchUnavailable(err))
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
	degraded := false
	var comps []component
	for _, c := range s.opts.Checks {
		comp := component{Name: c.Name, OK: true}
		if err := c.Fn(ctx); err != nil {
			comp.OK, comp.Error = false, err.Error()
			if c.Degrades {
				degraded = true
			} else {
				status = http.StatusServiceUnavailable
			}
		}
		comps = append(comps, comp)
	}
	var feeds []feedDetail
	failing := 0
	var statuses []ingest.FeedStatus
	if s.opts.Feeds != nil {
		statuses = s.opts.Feeds.Status()
	}
	for _, f := range statuses {
		if !f.Healthy {
			failing++
		}
		feeds = append(feeds, feedDetail{ID: f.ID, Healthy: f.Healthy, ConsecutiveFailures: f.ConsecutiveFailures, LastError: f.LastError})
	}
	writeJSON(w, status, map[string]any{
		"ready":         status == http.StatusOK,
		"degraded":      degraded,
		"components":    comps,
		"feeds_failing": failing,
		"feeds":         feeds,
	})
}
