package app

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/savedsearch"
	"github.com/mediawatch/mediawatch/silence"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

// dashboardParts are what the dashboard is built from.
type dashboardParts struct {
	conn     *bus.Conn
	index    *index.Index
	sched    *ingest.Scheduler // nil without the ingest role
	triage   *triage.Store
	silences *silence.Store
	checks   []web.Check
	liveCtx  context.Context
}

// dashboard builds the web role's handler and the recent alerts view it
// reads (which Run follows).
func (a *App) dashboard(ctx context.Context, p dashboardParts) (*alerts.Recent, http.Handler, error) {
	cfg, log := a.cfg, a.logger
	auditLog, err := audit.Open(ctx, p.conn.JS)
	if err != nil {
		return nil, nil, err
	}
	sessions, err := auth.NewSessions(ctx, p.conn.JS, cfg.HTTP.SessionLifetime.D())
	if err != nil {
		return nil, nil, err
	}
	saved, err := savedsearch.Open(ctx, p.conn.JS)
	if err != nil {
		return nil, nil, err
	}
	oidc, err := newOIDC(ctx, cfg.HTTP.OIDC)
	if err != nil {
		return nil, nil, err
	}
	// Feed health: the scheduler's own in an ingest process, otherwise the
	// state every ingest process keeps in the feeds bucket.
	var feeds web.FeedStatuses = p.sched
	if p.sched == nil {
		view, err := newFeedView(ctx, p.conn.JS, cfg.Feeds)
		if err != nil {
			return nil, nil, err
		}
		go view.follow(p.liveCtx, log)
		feeds = view
	}
	// The queue pages work on the recent alerts: the last 30 days (the
	// queue's longest time range) or the retention if shorter, at most
	// recentAlerts of them.
	recent := alerts.NewRecent(recentAlerts)
	reveal := &revealer{js: p.conn.JS, matcher: a.Matcher, audit: auditLog}
	opts := web.Options{
		Searcher:    p.index,
		Feeds:       feeds,
		Alerts:      recent,
		Checks:      p.checks,
		Gatherer:    a.registry,
		Registerer:  a.registry,
		Logger:      log.With("component", "web"),
		Version:     a.version,
		Triage:      p.triage,
		Silences:    p.silences,
		Revealer:    reveal,
		RevealRoles: cfg.HTTP.RevealRoles,
		Posts:       reveal,
		Rules:       ruleBook{matcher: a.Matcher},
		Live: &live{js: p.conn.JS, logger: log.With("component", "live"), done: p.liveCtx,
			seen: func() (uint64, uint64) { return recent.Seq(), p.triage.Applied() }},
		Audit:          auditLog,
		SavedSearches:  saved,
		Sessions:       sessions,
		LoginLimiter:   a.access.limiter,
		UserHeader:     cfg.HTTP.UserHeader,
		RolesHeader:    cfg.HTTP.RolesHeader,
		TrustedProxies: a.access.trustedProxies,
		TimeZone:       a.access.timeZone,
		UserZones:      a.access.userZones,
		ExternalURL:    cfg.HTTP.ExternalURL,
		AtomFeeds:      atomFeeds(cfg),
	}
	// Only set ways to log in go into the interfaces: a nil pointer in an
	// interface is not nil, and would turn off the dashboard's local mode.
	if a.access.users != nil {
		opts.Users = a.access.users
	}
	if oidc != nil {
		opts.OIDC = oidc
	}
	return recent, web.Handler(opts), nil
}

func atomFeeds(cfg *config.Config) []web.AtomFeed {
	feeds := make([]web.AtomFeed, 0, len(cfg.HTTP.AtomFeeds))
	for _, f := range cfg.HTTP.AtomFeeds {
		feeds = append(feeds, web.AtomFeed{Name: f.Name, Token: f.Token(), Institutions: f.Institution,
			Categories: f.Category, Severities: f.Severity, Statuses: f.Status})
	}
	return feeds
}

// feedView is feed health for a dashboard process without the ingest role:
// the configured feeds with the state the ingest processes keep in the
// feeds bucket, followed as it changes.
type feedView struct {
	kv    jetstream.KeyValue
	specs []ingest.FeedSpec

	mu     sync.RWMutex
	states map[string]ingest.FeedState
}

func newFeedView(ctx context.Context, js jetstream.JetStream, feeds []config.Feed) (*feedView, error) {
	kv, err := js.KeyValue(ctx, bus.BucketFeeds)
	if err != nil {
		return nil, err
	}
	return &feedView{kv: kv, specs: FeedSpecs(feeds), states: map[string]ingest.FeedState{}}, nil
}

// follow keeps the view up to date until ctx ends.
func (v *feedView) follow(ctx context.Context, log interface{ Warn(string, ...any) }) {
	w, err := v.kv.WatchAll(ctx)
	if err != nil {
		log.Warn("following feed state failed", "err", err)
		return
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st ingest.FeedState
			if json.Unmarshal(e.Value(), &st) != nil {
				continue
			}
			v.mu.Lock()
			v.states[e.Key()] = st
			v.mu.Unlock()
		}
	}
}

// Status is every configured feed's health, in configuration order.
func (v *feedView) Status() []ingest.FeedStatus {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]ingest.FeedStatus, 0, len(v.specs))
	for _, spec := range v.specs {
		out = append(out, ingest.StatusOf(spec, v.states[spec.ID]))
	}
	return out
}
