// Package bench measures the daemon end to end: a loopback server serves
// synthetic feeds of realistic Dutch and English posts, the real daemon
// (app.App with its embedded NATS server, in a temporary data dir) polls,
// parses, matches, indexes and alerts on them, and the same items' index
// documents are then indexed by Bleve alone, in the same process, for
// comparison. `mediawatch bench` prints the Result; docs/performance.md
// explains every figure.
package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Defaults of Options.
const (
	DefaultFeeds = 200
	DefaultItems = 20000
	// DefaultInterval is the feeds' poll interval, except with a rate and
	// no duration (a latency run), where it is RateInterval.
	DefaultInterval = 5 * time.Minute
	RateInterval    = time.Second
	// DefaultTimeout bounds a run that does not finish.
	DefaultTimeout = 15 * time.Minute
)

// Options configures Run.
type Options struct {
	// Feeds and Items: Items posts in total, spread round-robin over
	// Feeds feeds.
	Feeds, Items int
	// Rate paces the posts: post n is released n/Rate seconds after the
	// start. Zero releases every post at once (a throughput run), or,
	// with a Duration, Items evenly over the Duration.
	Rate float64
	// Duration, when set, runs the daemon this long whatever happens and
	// counts the polls done against those due (a scale run); without it
	// the run ends once every post is through.
	Duration time.Duration
	// Interval is every feed's poll interval (see DefaultInterval).
	Interval time.Duration
	// Config is the daemon's configuration (config.Default() when nil);
	// the run replaces its data dir, NATS and HTTP addresses and feeds.
	Config *config.Config
	// SyncInterval, when not nil, replaces nats.sync_interval.
	SyncInterval *time.Duration
	// Logger receives the daemon's log; nil discards it.
	Logger *slog.Logger
	// Timeout bounds the whole run (DefaultTimeout when zero).
	Timeout time.Duration
	// Seed makes a different corpus; the same seed gives the same posts.
	Seed uint64
	// CPUProfile, when not nil, receives the CPU profile of the daemon's
	// run (gzipped pprof), the one the stage shares are counted from.
	CPUProfile io.Writer
	// HeapProfile, when not nil, receives a heap profile taken when the
	// run ends, before the daemon stops.
	HeapProfile io.Writer
}

// Result is what `mediawatch bench` prints. Times are wall-clock unless
// named CPU.
type Result struct {
	// Mode is throughput (every post at once), rate (posts paced by
	// Rate) or scale (a run of a fixed Duration counting polls).
	Mode  string `json:"mode"`
	Feeds int    `json:"feeds"`
	// Items is how many posts went through the daemon. ItemsSkipped were
	// released and left their feed's window before a poll saw them (a
	// sign that polling fell behind; 0 in a sound run).
	Items           int     `json:"items"`
	ItemsSkipped    int     `json:"items_skipped"`
	DurationSeconds float64 `json:"duration_seconds"`
	// ItemsPerSecond is end to end: from the first feed request to the
	// moment every item is matched, indexed, alerted and acknowledged.
	ItemsPerSecond float64 `json:"items_per_second"`
	// IngestItemsPerSecond is how fast the items reached MENTIONS: from
	// the first feed request to the last item stored on the stream.
	IngestItemsPerSecond float64 `json:"ingest_items_per_second"`
	// BleveAloneItemsPerSecond indexes the same items' documents into a
	// fresh index with the same mapping and batch size, nothing else.
	BleveAloneItemsPerSecond float64 `json:"bleve_alone_items_per_second"`
	// BleveAloneRuns are the runs it is made of: before the daemon and
	// after (only after in a scale run).
	BleveAloneRuns []float64 `json:"bleve_alone_runs_items_per_second"`
	Ratio          float64   `json:"ratio"`
	// CPU time per item, of the whole process over the daemon's run and of
	// Bleve alone. Their quotient is the ratio a machine short of CPU
	// (rather than waiting on its disk) would see.
	CPUMSPerItem           float64 `json:"cpu_ms_per_item"`
	BleveAloneCPUMSPerItem float64 `json:"bleve_alone_cpu_ms_per_item"`
	CPUBoundRatio          float64 `json:"cpu_bound_ratio"`
	// Latencies are from an item's fetch to the last of its alerts
	// acknowledged by JetStream, over the items that raised alerts
	// (mediawatch_alert_latency_seconds, interpolated in its buckets).
	P50LatencyMS     float64 `json:"p50_latency_ms"`
	P99LatencyMS     float64 `json:"p99_latency_ms"`
	LatencyWithin50  float64 `json:"latency_within_50ms_share"`
	AlertingItems    int     `json:"alerting_items"`
	Alerts           int     `json:"alerts_stored"`
	InstitutionShare float64 `json:"institution_items_share"`
	AlertingShare    float64 `json:"alerting_items_share"`
	MeanItemBytes    int     `json:"mean_item_text_bytes"`
	// PeakRSSBytes is VmHWM over the daemon's run (the feed server and
	// its corpus included), reset before the daemon starts.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// The peaks of its parts, sampled every 100ms: anonymous memory (the
	// Go heap and stacks, mostly), file pages (Bleve's segments are mapped
	// into memory) and the Go heap's objects, live and not yet collected.
	PeakRSSAnonBytes int64 `json:"peak_rss_anon_bytes"`
	PeakRSSFileBytes int64 `json:"peak_rss_file_bytes"`
	PeakHeapBytes    int64 `json:"peak_heap_bytes"`
	// CPUSeconds is the process's CPU time during the daemon's run;
	// CPUShare splits it by stage (see stageShares).
	CPUSeconds float64            `json:"cpu_seconds"`
	CPUShare   map[string]float64 `json:"cpu_share"`
	// CPUShareError says why there are no shares: the profiler was taken
	// (go test -cpuprofile) or the profile could not be read.
	CPUShareError string `json:"cpu_share_error,omitempty"`

	BatchSize        int     `json:"batch_size"`
	FlushIntervalMS  float64 `json:"flush_interval_ms"`
	NATSSyncInterval string  `json:"nats_sync_interval"`
	Rate             float64 `json:"rate,omitempty"`
	IntervalSeconds  float64 `json:"poll_interval_seconds"`
	Polls            *Polls  `json:"polls,omitempty"`

	GoVersion  string `json:"go_version"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	// MemoryLimitBytes is the Go runtime's soft memory limit (GOMEMLIMIT);
	// 0 when none is set.
	MemoryLimitBytes int64 `json:"memory_limit_bytes"`
}

// Polls are the scale run's poll accounting: a poll is due an interval
// after the feed's last one (the first at the start); one still undone a
// grace period (a tenth of the interval) before the end is missed. The
// delays are how late the polls after the first came.
type Polls struct {
	Done   int `json:"done"`
	Due    int `json:"due"`
	Missed int `json:"missed"`
	// FirstRoundSeconds is how long it took to poll every feed once: all
	// are due at the start. The delays are of every later poll.
	FirstRoundSeconds float64 `json:"first_round_seconds"`
	DelayP50Seconds   float64 `json:"delay_p50_seconds"`
	DelayP99Seconds   float64 `json:"delay_p99_seconds"`
	DelayMaxSeconds   float64 `json:"delay_max_seconds"`
	Responses200      int64   `json:"responses_200"`
	Responses304      int64   `json:"responses_304"`
}

var errNoFeeds = errors.New("bench: want at least one feed and one item")

// Run runs one measurement.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Feeds <= 0 || opts.Items <= 0 {
		return nil, errNoFeeds
	}
	timeout := cmp.Or(opts.Timeout, DefaultTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout+opts.Duration)
	defer cancel()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	if opts.SyncInterval != nil {
		cfg.NATS.SyncInterval = config.Duration(*opts.SyncInterval)
	}
	mode := "throughput"
	switch {
	case opts.Duration > 0:
		mode = "scale"
	case opts.Rate > 0:
		mode = "rate"
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = DefaultInterval
		if mode == "rate" {
			interval = RateInterval
		}
	}
	rate := opts.Rate
	if mode == "scale" && rate <= 0 {
		rate = float64(opts.Items) / opts.Duration.Seconds()
	}
	window := 0
	if rate > 0 {
		// Twice what a poll should find, and no fewer than a feed
		// usually lists.
		window = max(20, int(math.Ceil(2*rate*interval.Seconds()/float64(opts.Feeds))))
	}

	srv, err := startFeedServer(feedServerOptions{feeds: opts.Feeds, items: opts.Items, rate: rate, window: window, interval: interval,
		cache: mode != "scale"})
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.close(sctx)
	}()

	dir, err := os.MkdirTemp("", "mediawatch-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.NATS.URL = ""
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.StoreDir = ""
	cfg.Index.Path = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	// Private addresses are refused unless allowed, as in production.
	cfg.Ingest.AllowPrivateNetworks = []string{"127.0.0.0/8"}
	cfg.Feeds = nil
	specs := make([]ingest.FeedSpec, 0, len(srv.feeds))
	for _, f := range srv.feeds {
		cfg.Feeds = append(cfg.Feeds, config.Feed{ID: f.id, Name: f.name, URL: f.url, Source: f.source, Interval: config.Duration(interval)})
		specs = append(specs, ingest.FeedSpec{ID: f.id, Name: f.name, URL: f.url, Source: f.source, Interval: interval})
	}

	reg := app.NewRegistry("bench")
	a, err := app.New(app.Options{Config: cfg, Logger: logger, Version: "bench", Registry: reg})
	if err != nil {
		return nil, err
	}
	gen, err := newGenerator(ctx, a.Matcher(), cfg.Institutions, opts.Seed, srv.base)
	if err != nil {
		return nil, err
	}
	// A scale run makes its posts when they are asked for, so the corpus
	// does not count towards the daemon's memory.
	srv.use(gen, mode != "scale")

	res := &Result{
		Mode: mode, Feeds: opts.Feeds, BatchSize: cfg.Index.BatchSize,
		FlushIntervalMS:  float64(cfg.Index.FlushInterval.D()) / float64(time.Millisecond),
		NATSSyncInterval: cfg.NATS.SyncInterval.D().String(), Rate: opts.Rate, IntervalSeconds: interval.Seconds(),
		GoVersion: runtime.Version(), Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		res.MemoryLimitBytes = limit
	}
	if mode == "scale" {
		res.Rate = round(rate, 2)
	}

	// Bleve alone on the same items' documents, before the daemon runs
	// (when every post is known up front) and after it: a machine busier
	// in one phase than in the other then weighs on both figures.
	aloneDir := filepath.Join(dir, "bleve-alone")
	var alone []aloneRun
	if mode != "scale" {
		r, _, err := measureBleveAlone(ctx, srv, specs, srv.base, aloneDir+"-before", cfg.Index.BatchSize, srv.postsOf)
		if err != nil {
			return nil, err
		}
		alone = append(alone, r)
	}
	end, processed, err := runDaemon(ctx, a, reg, srv, opts, res)
	if err != nil {
		return nil, err
	}
	res.Items = processed
	r, stats, err := measureBleveAlone(ctx, srv, specs, end, aloneDir, cfg.Index.BatchSize, func(f *feedInfo) int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.seen
	})
	if err != nil {
		return nil, err
	}
	alone = append(alone, r)
	res.InstitutionShare, res.AlertingShare, res.MeanItemBytes = stats.institutionShare, stats.alertingShare, stats.meanBytes

	var docs int
	var elapsed, cpu time.Duration
	for _, r := range alone {
		docs += r.docs
		elapsed += r.elapsed
		cpu += r.cpu
		res.BleveAloneRuns = append(res.BleveAloneRuns, round(float64(r.docs)/r.elapsed.Seconds(), 1))
	}
	if elapsed > 0 && docs > 0 {
		res.BleveAloneItemsPerSecond = round(float64(docs)/elapsed.Seconds(), 1)
		res.BleveAloneCPUMSPerItem = round(float64(cpu.Microseconds())/1000/float64(docs), 3)
	}
	if res.BleveAloneItemsPerSecond > 0 {
		res.Ratio = round(res.ItemsPerSecond/res.BleveAloneItemsPerSecond, 3)
	}
	if res.Items > 0 {
		res.CPUMSPerItem = round(res.CPUSeconds*1000/float64(res.Items), 3)
	}
	if res.CPUMSPerItem > 0 {
		res.CPUBoundRatio = round(res.BleveAloneCPUMSPerItem/res.CPUMSPerItem, 3)
	}
	return res, nil
}

// aloneRun is one Bleve alone measurement.
type aloneRun struct {
	docs         int
	elapsed, cpu time.Duration
}

// measureBleveAlone builds the documents of count(f) posts of every feed
// and indexes them into a fresh index at path.
func measureBleveAlone(ctx context.Context, srv *feedServer, specs []ingest.FeedSpec, at time.Time, path string, batchSize int, count func(*feedInfo) int) (aloneRun, corpusStats, error) {
	docs, stats, err := documents(ctx, srv, specs, at, count)
	if err != nil {
		return aloneRun{}, stats, err
	}
	runtime.GC()
	r, err := bleveAlone(ctx, path, docs, batchSize)
	if err != nil {
		return aloneRun{}, stats, err
	}
	if err := os.RemoveAll(path); err != nil {
		return aloneRun{}, stats, err
	}
	return r, stats, nil
}

// runDaemon runs the daemon against the feed server until every post is
// through (or, in a scale run, for the duration), and fills in the
// daemon's figures. It returns when the daemon has stopped, with the time
// the run ended and how many items went through.
func runDaemon(ctx context.Context, a *app.App, reg *prometheus.Registry, srv *feedServer, opts Options, res *Result) (time.Time, int, error) {
	start := time.Now()
	srv.begin(start)
	if res.Mode == "throughput" {
		srv.prerender(start)
	}
	debug.FreeOSMemory()
	resetPeakRSS()
	sampling := make(chan struct{})
	sampled := make(chan memPeaks, 1)
	go func() { sampled <- sampleMemory(sampling, 100*time.Millisecond) }()
	var prof bytes.Buffer
	res.CPUShare = normalise(nil)
	profiling := true
	if err := pprof.StartCPUProfile(&prof); err != nil {
		profiling, res.CPUShareError = false, err.Error()
	}
	cpu0 := cpuTime()

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	fail := func(err error) (time.Time, int, error) {
		close(sampling)
		if profiling {
			pprof.StopCPUProfile()
		}
		stop()
		if rerr := <-done; rerr != nil {
			err = errors.Join(err, rerr)
		}
		return time.Time{}, 0, err
	}
	select {
	case <-a.Ready():
	case err := <-done:
		close(sampling)
		if profiling {
			pprof.StopCPUProfile()
		}
		return time.Time{}, 0, fmt.Errorf("bench: daemon stopped before it was ready: %w", err)
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: a.NATSURL(), Name: "mediawatch-bench"})
	if err != nil {
		return fail(err)
	}
	defer conn.Close(context.Background())

	// Every post the feeds served, once each feed has served its last.
	want := func() (int, bool) {
		n, _, complete := srv.servable()
		return n, complete
	}
	if res.Mode == "scale" {
		// Posts released since a feed's last poll wait for its next one:
		// what counts is what the daemon has taken in by the end.
		if err := sleepCtx(ctx, time.Until(start.Add(opts.Duration))); err != nil {
			return fail(err)
		}
		n, err := streamMsgs(ctx, conn, bus.StreamMentions)
		if err != nil {
			return fail(err)
		}
		want = func() (int, bool) { return n, true }
	}
	end, got, err := waitThrough(ctx, conn, want)
	if err != nil {
		return fail(err)
	}
	_, res.ItemsSkipped, _ = srv.servable()
	if profiling {
		pprof.StopCPUProfile()
	}
	res.CPUSeconds = round((cpuTime() - cpu0).Seconds(), 2)

	first := time.Unix(0, srv.first.Load())
	if srv.first.Load() == 0 || first.After(end) {
		first = start
	}
	wall := end.Sub(first)
	res.DurationSeconds = round(wall.Seconds(), 3)
	if wall > 0 {
		res.ItemsPerSecond = round(float64(got)/wall.Seconds(), 1)
	}
	if res.Mode == "scale" {
		st := srv.pollStats(end, srv.interval/10)
		res.Polls = &Polls{
			Done: st.done, Due: st.due, Missed: st.missed, FirstRoundSeconds: round(st.firstRound.Seconds(), 3),
			DelayP50Seconds: round(quantileDur(st.delays, 0.5).Seconds(), 3),
			DelayP99Seconds: round(quantileDur(st.delays, 0.99).Seconds(), 3),
			DelayMaxSeconds: round(quantileDur(st.delays, 1).Seconds(), 3),
			Responses200:    srv.served.Load(), Responses304: srv.notMod.Load(),
		}
	}
	if info, err := streamInfo(ctx, conn, bus.StreamAlerts); err == nil {
		res.Alerts = int(info.State.Msgs)
	}
	if info, err := streamInfo(ctx, conn, bus.StreamMentions); err == nil {
		if d := info.State.LastTime.Sub(first); d > 0 {
			res.IngestItemsPerSecond = round(float64(info.State.Msgs)/d.Seconds(), 1)
		}
	}
	if err := latencies(reg, res); err != nil {
		return fail(err)
	}
	if profiling {
		if shares, err := stageShares(prof.Bytes()); err != nil {
			res.CPUShareError = err.Error()
		} else {
			res.CPUShare = normalise(shares)
		}
		if opts.CPUProfile != nil {
			if _, err := opts.CPUProfile.Write(prof.Bytes()); err != nil {
				return fail(fmt.Errorf("bench: cpu profile: %w", err))
			}
		}
	}
	if opts.HeapProfile != nil {
		if err := pprof.Lookup("heap").WriteTo(opts.HeapProfile, 0); err != nil {
			return fail(fmt.Errorf("bench: heap profile: %w", err))
		}
	}

	stop()
	if err := <-done; err != nil {
		close(sampling)
		return time.Time{}, 0, fmt.Errorf("bench: daemon: %w", err)
	}
	res.PeakRSSBytes = peakRSS()
	close(sampling)
	peaks := <-sampled
	res.PeakRSSAnonBytes, res.PeakRSSFileBytes, res.PeakHeapBytes = peaks.anon, peaks.file, peaks.heap
	return end, got, nil
}

// stallTimeout ends a run in which nothing moves: no mention stored, none
// acknowledged.
const stallTimeout = 2 * time.Minute

// waitThrough waits until want says every post is out and served, that
// many mentions are on the stream and the match stage has acknowledged
// every one. It returns when it saw that and how many items went through.
func waitThrough(ctx context.Context, conn *bus.Conn, want func() (int, bool)) (time.Time, int, error) {
	consumer, err := conn.JS.Consumer(ctx, bus.StreamMentions, "match")
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("bench: match consumer: %w", err)
	}
	// Often enough to time a run of seconds to a percent, seldom enough
	// not to load the server it watches.
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last [2]uint64
	moved := time.Now()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, 0, stalled(conn, consumer, want, ctx.Err())
		case <-tick.C:
		}
		n, err := streamMsgs(ctx, conn, bus.StreamMentions)
		if err != nil {
			continue
		}
		info, err := consumer.Info(ctx)
		if err != nil {
			continue
		}
		if now := [2]uint64{uint64(n), info.AckFloor.Stream}; now != last {
			last, moved = now, time.Now()
		} else if time.Since(moved) > stallTimeout {
			return time.Time{}, 0, stalled(conn, consumer, want, fmt.Errorf("nothing moved for %s", stallTimeout))
		}
		w, complete := want()
		if complete && n >= w && info.NumPending == 0 && info.NumAckPending == 0 {
			return time.Now(), n, nil
		}
	}
}

// stalled describes a run that did not finish.
func stalled(conn *bus.Conn, consumer jetstream.Consumer, want func() (int, bool), cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, _ := streamMsgs(ctx, conn, bus.StreamMentions)
	w, complete := want()
	msg := fmt.Sprintf("%d of %d items on MENTIONS", n, w)
	if !complete {
		msg += ", not every feed polled for its last posts"
	}
	if info, err := consumer.Info(ctx); err == nil {
		msg += fmt.Sprintf(", %d not yet delivered to the match stage, %d not acknowledged", info.NumPending, info.NumAckPending)
	}
	return fmt.Errorf("bench: the run did not finish (%s): %w", msg, cause)
}

func streamMsgs(ctx context.Context, conn *bus.Conn, name string) (int, error) {
	info, err := streamInfo(ctx, conn, name)
	if err != nil {
		return 0, err
	}
	return int(info.State.Msgs), nil
}

func streamInfo(ctx context.Context, conn *bus.Conn, name string) (*jetstream.StreamInfo, error) {
	s, err := conn.JS.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// latencies reads mediawatch_alert_latency_seconds from the daemon's
// registry.
func latencies(reg prometheus.Gatherer, res *Result) error {
	families, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range families {
		if mf.GetName() != "mediawatch_alert_latency_seconds" || len(mf.GetMetric()) == 0 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		res.AlertingItems = int(h.GetSampleCount())
		res.P50LatencyMS = round(histogramQuantile(h, 0.5)*1000, 2)
		res.P99LatencyMS = round(histogramQuantile(h, 0.99)*1000, 2)
		if n := h.GetSampleCount(); n > 0 {
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() == 0.05 {
					res.LatencyWithin50 = round(float64(b.GetCumulativeCount())/float64(n), 4)
				}
			}
		}
		return nil
	}
	return errors.New("bench: the daemon exposes no mediawatch_alert_latency_seconds")
}

// histogramQuantile interpolates linearly within the bucket the quantile
// falls in, as Prometheus' histogram_quantile does; a quantile beyond the
// last bucket is that bucket's bound.
func histogramQuantile(h *dto.Histogram, q float64) float64 {
	n := float64(h.GetSampleCount())
	if n == 0 {
		return 0
	}
	rank := q * n
	lower, below := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, count := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if count >= rank {
			if count == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(count-below)
		}
		lower, below = upper, count
	}
	return lower
}

type corpusStats struct {
	institutionShare, alertingShare float64
	meanBytes                       int
}

// documents builds the index documents of every post the daemon was
// served the way the daemon does (the feed parsed and normalised, the
// mention matched, the document redacted), one feed document per feed
// listing all its posts.
func documents(ctx context.Context, srv *feedServer, specs []ingest.FeedSpec, at time.Time, countOf func(*feedInfo) int) ([]index.Doc, corpusStats, error) {
	var docs []index.Doc
	var st corpusStats
	var institutions, alerting, size int
	for i, f := range srv.feeds {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		count := countOf(f)
		if count == 0 {
			continue
		}
		items := make([][]byte, 0, count)
		for k := count - 1; k >= 0; k-- {
			items = append(items, renderItem(f, srv.post(srv.postNumber(f, k))))
		}
		parsed, err := ingest.ParseFeed(renderFeed(f, items), contentTypes[f.format])
		if err != nil {
			return nil, st, fmt.Errorf("bench: feed %s: %w", f.id, err)
		}
		for _, m := range ingest.Normalise(specs[i], parsed, at) {
			m := roundTrip(m)
			r := srv.gen.matcher.Match(&m)
			if len(r.Institutions) > 0 {
				institutions++
			}
			if len(alerts.Build(&m, r, at, alerts.BuildOptions{})) > 0 {
				alerting++
			}
			size += len(m.Text)
			docs = append(docs, app.Doc(&m, r))
		}
	}
	if n := len(docs); n > 0 {
		st.institutionShare = round(float64(institutions)/float64(n), 4)
		st.alertingShare = round(float64(alerting)/float64(n), 4)
		st.meanBytes = size / n
	}
	return docs, st, nil
}

// roundTrip gives a mention the times it has after the trip through the
// stream (UTC, no monotonic reading).
func roundTrip(m mention.Mention) mention.Mention {
	m.Published = m.Published.UTC().Round(0)
	m.Fetched = m.Fetched.UTC().Round(0)
	return m
}

// bleveAlone indexes docs into a fresh index in batches of batchSize, one
// after another, and measures from the first batch to the last one's
// return (Bleve returns once the batch is on disk), as the daemon's run is
// measured up to the last acknowledgement.
func bleveAlone(ctx context.Context, path string, docs []index.Doc, batchSize int) (aloneRun, error) {
	ix, err := index.Open(path, index.Options{})
	if err != nil {
		return aloneRun{}, err
	}
	defer ix.Close()
	batchSize = max(batchSize, 1)
	start, cpu0 := time.Now(), cpuTime()
	for chunk := range slices.Chunk(docs, batchSize) {
		if err := ix.Index(ctx, chunk); err != nil {
			return aloneRun{}, fmt.Errorf("bench: bleve alone: %w", err)
		}
	}
	return aloneRun{docs: len(docs), elapsed: time.Since(start), cpu: cpuTime() - cpu0}, nil
}

// normalise turns CPU seconds by stage into shares that add up to one,
// with every stage present.
func normalise(secs map[string]float64) map[string]float64 {
	var total float64
	for _, v := range secs {
		total += v
	}
	out := make(map[string]float64, len(stages))
	for _, st := range stages {
		out[st] = 0
	}
	for k, v := range secs {
		if total > 0 {
			out[k] = round(v/total, 4)
		}
	}
	return out
}

func quantileDur(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS starts VmHWM again from the current RSS (Linux 4.0 and
// later); elsewhere the peak covers the whole process.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() int64 { return procStatus()["VmHWM"] }

// procStatus reads the sizes in /proc/self/status, in bytes.
func procStatus() map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return out
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(rest, " kB") {
			continue
		}
		if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(rest, " kB")), 10, 64); err == nil {
			out[name] = kb << 10
		}
	}
	return out
}

type memPeaks struct{ anon, file, heap int64 }

// sampleMemory records the peaks of the process's anonymous and file
// pages and of the Go heap until stop is closed.
func sampleMemory(stop <-chan struct{}, every time.Duration) memPeaks {
	var p memPeaks
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st := procStatus()
		p.anon = max(p.anon, st["RssAnon"])
		p.file = max(p.file, st["RssFile"])
		metrics.Read(heap)
		if heap[0].Value.Kind() == metrics.KindUint64 {
			p.heap = max(p.heap, int64(heap[0].Value.Uint64()))
		}
		select {
		case <-stop:
			return p
		case <-t.C:
		}
	}
}
