// Package app wires the stages of mediawatch into one daemon: embedded or
// external NATS, ingest, match, index, alerts and the HTTP server. It is the
// embeddable form of `mediawatch run`: tests and the demo run the very same
// code in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/savedsearch"
	"github.com/mediawatch/mediawatch/silence"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configures an App.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// Registry receives every metric; nil means a fresh registry with the Go
	// and process collectors.
	Registry *prometheus.Registry
	// RulesPollInterval is how often the rule directories are checked for
	// changes; 0 means DefaultRulesPollInterval.
	RulesPollInterval time.Duration
}

// recentAlerts is how many alerts the dashboard holds in memory for its
// queue (about 2 KB each): a busy month of both hospitals. recentLookback
// is how far back the view reads at start-up: the queue's longest time
// range.
const (
	recentAlerts   = 20_000
	recentLookback = 30 * 24 * time.Hour
)

// App is one mediawatch daemon.
type App struct {
	cfg      *config.Config
	logger   *slog.Logger
	version  string
	registry *prometheus.Registry
	matcher  atomic.Pointer[match.Matcher]

	rulesPollInterval time.Duration
	// reloadMu serialises reloads: a SIGHUP and a file change arriving
	// together must not store their matchers out of order.
	reloadMu    sync.Mutex
	ruleMetrics *ruleMetrics

	// access is how the dashboard knows its users, from the config.
	access access

	ready    chan struct{}
	httpAddr string
	natsURL  string
	sched    *ingest.Scheduler
}

// New checks the configuration and compiles the rules; nothing is started
// yet.
func New(opts Options) (*App, error) {
	if opts.Config == nil {
		return nil, errors.New("app: no config")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registry
	if reg == nil {
		reg = NewRegistry(opts.Version)
	}
	a := &App{cfg: opts.Config, logger: logger, version: opts.Version, registry: reg, ready: make(chan struct{})}
	a.rulesPollInterval = opts.RulesPollInterval
	if a.rulesPollInterval <= 0 {
		a.rulesPollInterval = DefaultRulesPollInterval
	}
	m, err := LoadMatcher(opts.Config)
	if err != nil {
		return nil, err
	}
	if a.access, err = newAccess(opts.Config); err != nil {
		return nil, err
	}
	if a.ruleMetrics, err = newRuleMetrics(reg); err != nil {
		return nil, err
	}
	a.matcher.Store(m)
	a.ruleMetrics.succeeded(len(m.Rules()), time.Now())
	return a, nil
}

// NewRegistry returns a registry with the Go runtime and process collectors
// and mediawatch_build_info.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "mediawatch_build_info",
			Help:        "Always 1; the version label says which build runs.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	)
	return reg
}

// LoadMatcher loads the shipped rules and those of the configured
// directories, drops disabled ones and compiles them for the configured
// institutions. Every problem is reported at once.
func LoadMatcher(cfg *config.Config) (*match.Matcher, error) {
	rules, err := LoadRules(cfg)
	if err != nil {
		return nil, err
	}
	return match.Compile(rules, cfg.Institutions)
}

// Matcher returns the rules in force.
func (a *App) Matcher() *match.Matcher { return a.matcher.Load() }

// Registry returns the metrics registry.
func (a *App) Registry() *prometheus.Registry { return a.registry }

// Ready is closed once every stage runs; HTTPAddr, NATSURL and PollNow are
// valid from then on.
func (a *App) Ready() <-chan struct{} { return a.ready }

// HTTPAddr is the address the HTTP server listens on.
func (a *App) HTTPAddr() string { return a.httpAddr }

// NATSURL is the URL of the NATS server in use.
func (a *App) NATSURL() string { return a.natsURL }

// PollNow polls one feed at once, outside its schedule, and returns when its
// new items are on the MENTIONS stream. Valid once Ready is closed.
func (a *App) PollNow(ctx context.Context, feedID string) error {
	return a.sched.PollNow(ctx, feedID)
}

// FeedSpecs converts the configured feeds for ingest.
func FeedSpecs(feeds []config.Feed) []ingest.FeedSpec {
	specs := make([]ingest.FeedSpec, 0, len(feeds))
	for _, f := range feeds {
		specs = append(specs, ingest.FeedSpec{ID: f.ID, Name: f.Name, URL: f.URL, Source: f.Source, Interval: f.Interval.D()})
	}
	return specs
}

// FetcherOptions converts the ingest configuration for the fetcher.
func FetcherOptions(cfg *config.Config, version string) ingest.FetcherOptions {
	ua := cfg.Ingest.UserAgent
	if ua == "" {
		ua = "mediawatch/" + version + " (+https://github.com/mediawatch/mediawatch)"
	}
	return ingest.FetcherOptions{
		UserAgent:          ua,
		Timeout:            cfg.Ingest.Timeout.D(),
		MaxBodyBytes:       cfg.Ingest.MaxBodyBytes,
		MaxRetryAfter:      cfg.Ingest.MaxRetryAfter.D(),
		PerHostConcurrency: cfg.Ingest.PerHostConcurrency,
		AllowPrivate:       cfg.AllowedPrivateNetworks(),
	}
}

// Run starts every stage and blocks until ctx ends, then shuts down in this
// order, each step bounded:
//
//  1. HTTP server (stop taking requests; the open queue pages' event
//     streams end; other in-flight requests finish),
//  2. scheduler (no new polls; in-flight polls finish and publish),
//  3. rule directory watcher (a reload in progress finishes),
//  4. pipeline (the batch in hand is indexed, alerted and acknowledged),
//     then the index expiry sweep,
//  5. dispatcher (alerts still waiting in a group stay unacknowledged for
//     the next process), then the receivers' digests deliver what they hold,
//  6. the views following the streams (recent alerts, triage, silences),
//  7. publisher flush (everything published is on the server),
//  8. NATS connection, then the embedded server,
//  9. index.
//
// Upstream stages stop first so nothing downstream is cut off mid-item.
func (a *App) Run(ctx context.Context) error {
	cfg := a.cfg
	log := a.logger
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}

	// Index first: it takes the data dir's lock, so a second daemon on the
	// same data dir stops here with a clear message.
	ix, err := index.Open(IndexPath(cfg), index.Options{Logger: log.With("component", "index"), Registerer: a.registry})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := ix.Close(); cerr != nil {
			log.Error("close index", "err", cerr)
		}
		log.Info("index closed")
	}()

	natsURL := cfg.NATS.URL
	var ns *server.Server
	if natsURL == "" {
		ns, err = bus.StartEmbedded(bus.ServerOptions{Listen: cfg.NATS.Listen, StoreDir: NATSStoreDir(cfg), SyncInterval: cfg.NATS.SyncInterval.D(), Logger: log})
		if err != nil {
			return err
		}
		defer func() {
			ns.Shutdown()
			ns.WaitForShutdown()
			log.Info("embedded nats stopped")
		}()
		natsURL = ns.ClientURL()
	}
	a.natsURL = natsURL
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: natsURL, Name: "mediawatch", Logger: log.With("component", "nats"), Registerer: a.registry})
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(flushCtx)
		log.Info("nats connection closed")
	}()
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{MentionsMaxAge: retentionOf(cfg), AlertsMaxAge: retentionOf(cfg)}); err != nil {
		return err
	}
	if err := triage.EnsureStream(ctx, conn.JS, retentionOf(cfg), 1); err != nil {
		return err
	}
	triageStore, err := triage.NewStore(conn.JS, log.With("component", "triage"), a.registry)
	if err != nil {
		return err
	}
	silences, err := silence.NewStore(ctx, conn.JS, log.With("component", "silence"), a.registry)
	if err != nil {
		return err
	}
	auditLog, err := audit.Open(ctx, conn.JS)
	if err != nil {
		return err
	}
	sessions, err := auth.NewSessions(ctx, conn.JS, cfg.HTTP.SessionLifetime.D())
	if err != nil {
		return err
	}
	saved, err := savedsearch.Open(ctx, conn.JS)
	if err != nil {
		return err
	}
	notifier, err := newNotifier(ctx, conn, cfg, triageStore, silences, log.With("component", "notify"), a.registry)
	if err != nil {
		return err
	}
	defer notifier.close(log)

	publisher, err := alerts.NewPublisher(conn, log.With("component", "alerts"), a.registry)
	if err != nil {
		return err
	}
	institutionIDs := make([]string, 0, len(cfg.Institutions))
	for _, inst := range cfg.Institutions {
		institutionIDs = append(institutionIDs, inst.ID)
	}
	publisher.PreCreate(institutionIDs)

	stories, err := alerts.NewStories(ctx, conn.JS, storyWindowOf(cfg))
	if err != nil {
		return err
	}
	vol, err := newVolume(ctx, conn, cfg.Alerts.VolumeSpike)
	if err != nil {
		return err
	}
	pipe, err := newPipeline(ctx, conn, pipelineOptions{
		matcher:       &a.matcher,
		index:         ix,
		publisher:     publisher,
		stories:       stories,
		spikes:        vol,
		logger:        log.With("component", "match"),
		registerer:    a.registry,
		batchSize:     cfg.Index.BatchSize,
		flushInterval: cfg.Index.FlushInterval.D(),
		snippetLength: cfg.Alerts.SnippetLength,
		institutions:  institutionIDs,
	})
	if err != nil {
		return err
	}
	expiry, err := newIndexExpiry(ix, retentionOf(cfg), log.With("component", "retention"), a.registry)
	if err != nil {
		return err
	}

	store, err := newKVStateStore(ctx, conn.JS)
	if err != nil {
		return err
	}
	sched, err := ingest.NewScheduler(ingest.SchedulerOptions{
		Feeds:       FeedSpecs(cfg.Feeds),
		Fetcher:     ingest.NewFetcher(FetcherOptions(cfg, a.version)),
		Store:       store,
		Sink:        mentionSink{conn: conn},
		Logger:      log.With("component", "ingest"),
		Registerer:  a.registry,
		MaxBackoff:  cfg.Ingest.MaxBackoff.D(),
		Concurrency: cfg.Ingest.Concurrency,
	})
	if err != nil {
		return err
	}

	oidc, err := newOIDC(ctx, cfg.HTTP.OIDC)
	if err != nil {
		return err
	}

	a.sched = sched
	// The queue pages work on the recent alerts: the last 30 days (the
	// queue's longest time range) or the retention if shorter, at most
	// recentAlerts of them.
	recent := alerts.NewRecent(recentAlerts)
	reveal := &revealer{js: conn.JS, matcher: a.Matcher, audit: auditLog}
	// liveCtx ends the queue pages' event streams when the HTTP server
	// shuts down; other requests finish as they are.
	liveCtx, stopLive := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLive()
	webOpts := web.Options{
		Searcher: ix,
		Feeds:    sched,
		Alerts:   recent,
		Checks: []web.Check{
			{Name: "nats", Fn: func(context.Context) error {
				if !conn.Connected() {
					return errors.New("not connected to " + natsURL)
				}
				return nil
			}},
			{Name: "index", Fn: func(context.Context) error { return ix.Healthy() }},
		},
		Gatherer:    a.registry,
		Logger:      log.With("component", "web"),
		Version:     a.version,
		Triage:      triageStore,
		Silences:    silences,
		Revealer:    reveal,
		RevealRoles: cfg.HTTP.RevealRoles,
		Posts:       reveal,
		Rules:       ruleBook{matcher: a.Matcher},
		Live: &live{js: conn.JS, logger: log.With("component", "live"), done: liveCtx,
			seen: func() (uint64, uint64) { return recent.Seq(), triageStore.Applied() }},
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
		AtomFeeds: func() []web.AtomFeed {
			feeds := make([]web.AtomFeed, 0, len(cfg.HTTP.AtomFeeds))
			for _, f := range cfg.HTTP.AtomFeeds {
				feeds = append(feeds, web.AtomFeed{Name: f.Name, Token: f.Token(), Institutions: f.Institution,
					Categories: f.Category, Severities: f.Severity, Statuses: f.Status})
			}
			return feeds
		}(),
	}
	// Only set ways to log in go into the interfaces: a nil pointer in an
	// interface is not nil, and would turn off the dashboard's local mode.
	if a.access.users != nil {
		webOpts.Users = a.access.users
	}
	if oidc != nil {
		webOpts.OIDC = oidc
	}
	handler := web.Handler(webOpts)
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", cfg.HTTP.Listen, err)
	}
	a.httpAddr = ln.Addr().String()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(stopLive)

	// Each stage gets its own context so they can be stopped one by one in
	// the documented order.
	stageCtx := func() (context.Context, context.CancelFunc) { return context.WithCancel(context.WithoutCancel(ctx)) }
	schedCtx, stopSched := stageCtx()
	pipeCtx, stopPipe := stageCtx()
	followCtx, stopFollow := stageCtx()
	notifyCtx, stopNotify := stageCtx()
	defer stopNotify()
	watchCtx, stopWatch := stageCtx()
	expireCtx, stopExpire := stageCtx()
	defer stopExpire()
	defer stopSched()
	defer stopPipe()
	defer stopFollow()
	defer stopWatch()

	stages := stageGroup{died: make(chan string, 5)}
	httpDone := stages.start("http", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	followDone := stages.start("follow", func() error { return recent.Follow(followCtx, conn, min(recentLookback, cfg.Retention.D()), log) })
	triageDone := stages.start("triage", func() error { return triageStore.Follow(followCtx) })
	silenceDone := stages.start("silences", func() error { return silences.Follow(followCtx, nil) })
	notifyDone := stages.start("notify", func() error { return notifier.dispatcher.Run(notifyCtx) })
	matchDone := stages.start("match", func() error { return pipe.Run(pipeCtx, 30*time.Second) })
	expireDone := stages.start("expire", func() error { return expiry.Run(expireCtx) })
	ingestDone := stages.start("ingest", func() error { return sched.Run(schedCtx) })
	watchDone := stages.start("rules", func() error {
		watchRuleDirs(watchCtx, cfg.Rules.Dirs, a.rulesPollInterval, func() {
			log.Info("rule files changed; reloading")
			// ReloadRules logs the outcome and every problem itself.
			_ = a.ReloadRules()
		})
		return nil
	})

	log.Info("mediawatch running", "version", a.version, "http", a.httpAddr, "nats", natsURL,
		"feeds", len(cfg.Feeds), "rules", len(a.Matcher().Rules()), "data_dir", cfg.DataDir)
	close(a.ready)

	select {
	case <-ctx.Done():
	case name := <-stages.died:
		log.Error("a stage stopped unexpectedly; shutting down", "stage", name)
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		stages.fail("http shutdown", err)
	}
	<-httpDone
	stopSched()
	<-ingestDone
	stopWatch()
	<-watchDone
	stopPipe()
	<-matchDone
	stopExpire()
	<-expireDone
	stopNotify()
	<-notifyDone
	stopFollow()
	<-followDone
	<-triageDone
	<-silenceDone
	return stages.err()
}

// stageGroup runs the long-lived stages of a daemon, each in its own
// goroutine, and collects their errors. A stage that returns an error on its
// own is reported on died: a half-running daemon that looks alive is worse
// than a restart by the supervisor.
type stageGroup struct {
	mu   sync.Mutex
	errs error
	died chan string // buffered: a stage never blocks on reporting
}

func (g *stageGroup) start(name string, run func() error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := run(); err != nil {
			g.fail(name, err)
			select {
			case g.died <- name:
			default:
			}
		}
	}()
	return done
}

func (g *stageGroup) fail(stage string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.errs = errors.Join(g.errs, fmt.Errorf("%s: %w", stage, err))
}

func (g *stageGroup) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.errs
}

// inDir makes the rule errors of a user rule directory name the file by its
// path on disk rather than its name inside the directory.
func inDir(dir string, err error) error {
	for _, e := range SplitErrors(err) {
		var re *match.RuleError
		if errors.As(e, &re) {
			re.File = filepath.Join(dir, re.File)
		}
	}
	return err
}

// IndexPath is the index directory of cfg.
func IndexPath(cfg *config.Config) string {
	if cfg.Index.Path != "" {
		return cfg.Index.Path
	}
	return filepath.Join(cfg.DataDir, "index")
}

// NATSStoreDir is the embedded server's JetStream directory of cfg.
func NATSStoreDir(cfg *config.Config) string {
	if cfg.NATS.StoreDir != "" {
		return cfg.NATS.StoreDir
	}
	return filepath.Join(cfg.DataDir, "nats")
}
