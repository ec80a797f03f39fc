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
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/lease"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/silence"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/mediawatch/mediawatch/web"
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
	// Roles are the parts this process runs; the zero Roles is all.
	Roles Roles
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
	roles  Roles

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
	a.roles = opts.Roles
	if a.roles.none() {
		a.roles = AllRoles()
	}
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
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
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
	if a.sched == nil {
		return fmt.Errorf("poll %s: this process does not have the ingest role", feedID)
	}
	return a.sched.PollNow(ctx, feedID)
}

// feedStatuses is the scheduler as the ops handler's feed health, or none
// (a nil *Scheduler must not become a non-nil interface).
func feedStatuses(s *ingest.Scheduler) web.FeedStatuses {
	if s == nil {
		return nil
	}
	return s
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

// Run starts the stages of the process's roles and blocks until ctx ends,
// then shuts down in this order (a stage the roles leave out is skipped),
// each step bounded:
//
//  1. HTTP server (stop taking requests; the open queue pages' event
//     streams end; other in-flight requests finish),
//  2. scheduler (no new polls; in-flight polls finish and publish), then
//     the lease manager (hands the feeds back to the other ingest
//     processes),
//  3. rule directory watcher (a reload in progress finishes),
//  4. pipeline (the batch in hand is indexed, alerted and acknowledged),
//     then the index expiry sweep and a rebuild of the index in progress
//     (taken up again at the next start),
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
	roles := a.roles
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}

	// Index first: it takes the data dir's lock, so a second daemon on the
	// same data dir stops here with a clear message. Only a process with
	// the web role has one: it serves search. A corrupt index is moved
	// aside and rebuilt from MENTIONS once NATS is up (below).
	var ix *index.Index
	if roles.Web {
		var err error
		ix, err = openIndex(cfg, log.With("component", "index"), a.registry)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := ix.Close(); cerr != nil {
				log.Error("close index", "err", cerr)
			}
			log.Info("index closed")
		}()
	}

	natsURL := cfg.NATS.URL
	if natsURL == "" {
		ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: cfg.NATS.Listen, StoreDir: NATSStoreDir(cfg), SyncInterval: cfg.NATS.SyncInterval.D(), Logger: log})
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
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: natsURL, Name: "mediawatch-" + roles.String(), Logger: log.With("component", "nats"), Registerer: a.registry})
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
	institutionIDs := make([]string, 0, len(cfg.Institutions))
	for _, inst := range cfg.Institutions {
		institutionIDs = append(institutionIDs, inst.ID)
	}

	// The triage and silence views: the dispatcher mutes closed and
	// silenced alerts, the dashboard shows and changes them.
	var triageStore *triage.Store
	var silences *silence.Store
	if roles.Match || roles.Web {
		if triageStore, err = triage.NewStore(conn.JS, log.With("component", "triage"), a.registry); err != nil {
			return err
		}
		if silences, err = silence.NewStore(ctx, conn.JS, log.With("component", "silence"), a.registry); err != nil {
			return err
		}
	}

	// The match stage: alerts and notifications; with the web role in the
	// same process it also fills the index, without it a dashboard process
	// indexes for itself.
	var pipe *pipeline
	var notifier *notifier
	if roles.Match {
		if notifier, err = newNotifier(ctx, conn, cfg, triageStore, silences, log.With("component", "notify"), a.registry); err != nil {
			return err
		}
		defer notifier.close(log)
		publisher, err := alerts.NewPublisher(conn, log.With("component", "alerts"), a.registry)
		if err != nil {
			return err
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
		if pipe, err = newPipeline(ctx, conn, pipelineOptions{
			consumer:      consumerMatch,
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
		}); err != nil {
			return err
		}
	} else if roles.Web {
		if pipe, err = newPipeline(ctx, conn, pipelineOptions{
			consumer:      indexConsumer(IndexPath(cfg)),
			matcher:       &a.matcher,
			index:         ix,
			logger:        log.With("component", "index"),
			registerer:    a.registry,
			batchSize:     cfg.Index.BatchSize,
			flushInterval: cfg.Index.FlushInterval.D(),
			institutions:  institutionIDs,
		}); err != nil {
			return err
		}
	}
	var expiry *indexExpiry
	var rebuild *indexRebuild
	if ix != nil {
		if expiry, err = newIndexExpiry(ix, retentionOf(cfg), log.With("component", "retention"), a.registry); err != nil {
			return err
		}
		if rebuild, err = startRebuild(ctx, conn.JS, ix, &a.matcher, cfg.Index.BatchSize, log.With("component", "index")); err != nil {
			return err
		}
	}

	// Ingest. On an external NATS, other ingest processes may share the
	// feeds: each polls only those it holds a lease on.
	var sched *ingest.Scheduler
	var leases *lease.Manager
	if roles.Ingest {
		store, err := newKVStateStore(ctx, conn.JS)
		if err != nil {
			return err
		}
		sink, err := newMentionSink(ctx, conn)
		if err != nil {
			return err
		}
		opts := ingest.SchedulerOptions{
			Feeds:       FeedSpecs(cfg.Feeds),
			Fetcher:     ingest.NewFetcher(FetcherOptions(cfg, a.version)),
			Store:       store,
			Sink:        sink,
			Logger:      log.With("component", "ingest"),
			Registerer:  a.registry,
			MaxBackoff:  cfg.Ingest.MaxBackoff.D(),
			Concurrency: cfg.Ingest.Concurrency,
		}
		if cfg.NATS.URL != "" {
			ids := make([]string, 0, len(cfg.Feeds))
			for _, f := range cfg.Feeds {
				ids = append(ids, f.ID)
			}
			leases, err = lease.New(ctx, lease.Options{JS: conn.JS, Period: cfg.Ingest.LeasePeriod.D(), Feeds: ids,
				Logger: log.With("component", "lease"), Registerer: a.registry})
			if err != nil {
				return err
			}
			opts.Gate = leases
		}
		if sched, err = ingest.NewScheduler(opts); err != nil {
			return err
		}
		a.sched = sched
	}

	checks := []web.Check{{Name: "nats", Fn: func(context.Context) error {
		if !conn.Connected() {
			return errors.New("not connected to " + natsURL)
		}
		return nil
	}}}
	if ix != nil {
		// Search only: a rebuilding or damaged index degrades the
		// dashboard, it does not take it out of service.
		checks = append(checks, web.Check{Name: "index", Degrades: true, Fn: func(context.Context) error { return ix.Healthy() }})
	}
	// liveCtx ends the queue pages' event streams when the HTTP server
	// shuts down; other requests finish as they are.
	liveCtx, stopLive := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLive()
	var recent *alerts.Recent
	var handler http.Handler
	if roles.Web {
		if recent, handler, err = a.dashboard(ctx, dashboardParts{
			conn: conn, index: ix, sched: sched, triage: triageStore, silences: silences, checks: checks, liveCtx: liveCtx,
		}); err != nil {
			return err
		}
	} else {
		handler = web.OpsHandler(web.Options{Checks: checks, Feeds: feedStatuses(sched), Gatherer: a.registry, Logger: log.With("component", "web"), Version: a.version})
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http: listen %s: %w", cfg.HTTP.Listen, err)
	}
	a.httpAddr = ln.Addr().String()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(stopLive)

	// Each stage gets its own context so they can be stopped one by one in
	// the documented order. A stage the roles do not include is nil and
	// neither started nor waited for.
	stageCtx := func() (context.Context, context.CancelFunc) { return context.WithCancel(context.WithoutCancel(ctx)) }
	schedCtx, stopSched := stageCtx()
	leaseCtx, stopLease := stageCtx()
	pipeCtx, stopPipe := stageCtx()
	followCtx, stopFollow := stageCtx()
	notifyCtx, stopNotify := stageCtx()
	watchCtx, stopWatch := stageCtx()
	expireCtx, stopExpire := stageCtx()
	rebuildCtx, stopRebuild := stageCtx()
	for _, stop := range []context.CancelFunc{stopNotify, stopExpire, stopRebuild, stopSched, stopLease, stopPipe, stopFollow, stopWatch} {
		defer stop()
	}

	stages := stageGroup{died: make(chan string, 8)}
	httpDone := stages.start("http", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	var followDone, triageDone, silenceDone, notifyDone, matchDone, expireDone, rebuildDone, ingestDone, leaseDone <-chan struct{}
	if recent != nil {
		followDone = stages.start("follow", func() error { return recent.Follow(followCtx, conn, min(recentLookback, cfg.Retention.D()), log) })
	}
	if triageStore != nil {
		triageDone = stages.start("triage", func() error { return triageStore.Follow(followCtx) })
		silenceDone = stages.start("silences", func() error { return silences.Follow(followCtx, nil) })
	}
	if notifier != nil {
		notifyDone = stages.start("notify", func() error { return notifier.dispatcher.Run(notifyCtx) })
	}
	if pipe != nil {
		matchDone = stages.start("match", func() error { return pipe.Run(pipeCtx, 30*time.Second) })
	}
	if expiry != nil {
		expireDone = stages.start("expire", func() error { return expiry.Run(expireCtx) })
	}
	if rebuild != nil {
		rebuildDone = stages.start("rebuild", func() error { return rebuild.run(rebuildCtx) })
	}
	if leases != nil {
		leaseDone = stages.start("lease", func() error { return leases.Run(leaseCtx) })
	}
	if sched != nil {
		ingestDone = stages.start("ingest", func() error { return sched.Run(schedCtx) })
	}
	watchDone := stages.start("rules", func() error {
		watchRuleDirs(watchCtx, cfg.Rules.Dirs, a.rulesPollInterval, func() {
			log.Info("rule files changed; reloading")
			// ReloadRules logs the outcome and every problem itself.
			_ = a.ReloadRules()
		})
		return nil
	})

	log.Info("mediawatch running", "version", a.version, "roles", roles.String(), "http", a.httpAddr, "nats", natsURL,
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
	wait(ingestDone)
	// The leases go back only once no poll is in flight: the others take
	// the feeds over at once.
	stopLease()
	wait(leaseDone)
	stopWatch()
	<-watchDone
	stopPipe()
	wait(matchDone)
	stopExpire()
	wait(expireDone)
	stopRebuild()
	wait(rebuildDone)
	stopNotify()
	wait(notifyDone)
	stopFollow()
	wait(followDone)
	wait(triageDone)
	wait(silenceDone)
	return stages.err()
}

// wait waits for a stage that was started; a nil channel is a stage the
// process's roles do not include.
func wait(done <-chan struct{}) {
	if done != nil {
		<-done
	}
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
