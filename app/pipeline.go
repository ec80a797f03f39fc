package app

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// consumerMatch is the durable consumer through which every match process
// of a deployment shares the MENTIONS stream.
const consumerMatch = "match"

// indexConsumerInactive is how long the index consumer of a dashboard
// replica outlives the replica.
const indexConsumerInactive = 7 * 24 * time.Hour

// indexConsumer names the index consumer of a dashboard process without
// the match role: stable for one index on one host (a StatefulSet's pod
// keeps its name and volume), different for every replica.
func indexConsumer(indexPath string) string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(indexPath)
	if err != nil {
		abs = indexPath
	}
	sum := sha256.Sum256([]byte(host + "\x00" + abs))
	return "index-" + hex.EncodeToString(sum[:8])
}

// pipeline is the match stage: it pulls mentions from JetStream in batches,
// runs the matcher, writes each batch to the index, publishes the alerts and
// only then acknowledges the mentions. A crash anywhere before the ack
// means redelivery, and redelivered alerts are deduplicated by their id.
//
// The work is shared out so that the index, the slowest part, is never
// idle while the rest waits, and an alert never waits for a batch to fill:
//
//   - the collector (Run's own goroutine) pulls mentions, decodes and
//     matches each as it arrives, hands its alerts to a lane at once and
//     gathers the batch's index documents;
//   - the lanes publish alerts (story folding, then JetStream), one lane per
//     institution and category, so alerts that may fold into one story are
//     handled one after another in the order of their mentions, as a single
//     loop would, while the others go at the same time;
//   - each batch is indexed in one Bleve batch by a goroutine of its own,
//     up to indexAhead batches at once, while the collector gathers the
//     next;
//   - the finisher takes the batches in order once indexed, waits for each
//     mention's alerts to be stored and acknowledges it.
//
// CPU profiles carry the label stage=match, index or publish per goroutine.
type pipeline struct {
	consumer      jetstream.Consumer
	matcher       *atomic.Pointer[match.Matcher]
	index         *index.Index
	publisher     *alerts.Publisher
	stories       *alerts.Stories
	spikes        *volume
	logger        *slog.Logger
	batchSize     int
	flushInterval time.Duration
	snippetLength int
	indexAhead    int
	now           func() time.Time

	mentions     *prometheus.CounterVec
	findings     *prometheus.CounterVec
	lag          prometheus.Histogram
	alertLatency prometheus.Histogram
	malformed    prometheus.Counter
}

// matchAckWait is how long JetStream waits for a delivered mention's
// acknowledgement before it hands the mention out again. It is what a
// mention held by a process that was killed waits before another process
// (or the restarted one) takes it up, so it is short; a batch in hand for
// longer is kept by progress acknowledgements every progressEvery.
const (
	matchAckWait  = 30 * time.Second
	progressEvery = matchAckWait / 3
)

// indexAhead is how many batches are in Bleve at once. Bleve returns from a
// batch only once its segment is on disk; with two in hand one is analysed
// while the other is written, and both are written together.
const indexAhead = 2

// alertLanes is how many alerts are published at once. Alerts are spread
// over the lanes by institution and category: with two institutions and
// four categories every combination has a lane of its own.
const alertLanes = 8

// alertLatencyBuckets resolve the tens of milliseconds an alert should take
// and still show the seconds it takes when NATS is slow.
var alertLatencyBuckets = []float64{
	.001, .0025, .005, .0075, .01, .015, .02, .025, .03, .04, .05, .06, .075,
	.1, .15, .2, .3, .5, .75, 1, 2.5, 5, 10, 30, 60,
}

type pipelineOptions struct {
	// consumer is the durable consumer's name: consumerMatch for the match
	// stage every match process shares, indexConsumer(...) for the index of
	// a dashboard process without the match role (one per replica: each
	// has an index of its own).
	consumer string
	matcher  *atomic.Pointer[match.Matcher]
	// index is nil in a match process without the web role: its alerts
	// are its output, the dashboards index for themselves.
	index *index.Index
	// publisher is nil in an index-only pipeline: it matches only to
	// index the findings and redact the text, and publishes nothing.
	publisher *alerts.Publisher
	// stories folds repeats of a story into one alert; nil: every alert
	// stands alone.
	stories *alerts.Stories
	// spikes watches mention volume; nil: no volume_spike alerts.
	spikes        *volume
	logger        *slog.Logger
	registerer    prometheus.Registerer
	batchSize     int
	flushInterval time.Duration
	snippetLength int
	institutions  []string
}

func newPipeline(ctx context.Context, conn *bus.Conn, opts pipelineOptions) (*pipeline, error) {
	cc := jetstream.ConsumerConfig{
		Durable:       cmp.Or(opts.consumer, consumerMatch),
		Description:   "Match stage: detection, indexing and alerting of every mention.",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       matchAckWait,
		MaxAckPending: 20000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: bus.SubjectMentions,
	}
	if opts.publisher == nil {
		cc.Description = "Search index of one dashboard process."
		// A replica gone for good leaves no consumer behind for ever; one
		// that comes back after that indexes the stream again from the
		// start (documents are replaced by id, so nothing doubles).
		cc.InactiveThreshold = indexConsumerInactive
	}
	consumer, err := conn.JS.CreateOrUpdateConsumer(ctx, bus.StreamMentions, cc)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", cc.Durable, bus.StreamMentions, err)
	}
	p := &pipeline{
		consumer:      consumer,
		matcher:       opts.matcher,
		index:         opts.index,
		publisher:     opts.publisher,
		stories:       opts.stories,
		spikes:        opts.spikes,
		logger:        opts.logger,
		batchSize:     max(opts.batchSize, 1),
		flushInterval: max(opts.flushInterval, 10*time.Millisecond),
		snippetLength: opts.snippetLength,
		indexAhead:    indexAhead,
		now:           time.Now,
		mentions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_mentions_total",
			Help: "Mentions processed by the match stage, by institution mentioned (\"none\" when no watched institution is).",
		}, []string{"institution"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_findings_total",
			Help: "Findings by category.",
		}, []string{"category"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediawatch_pipeline_lag_seconds",
			Help:    "Time from an item being fetched to its alerts being acknowledged by JetStream and its mention indexed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 11),
		}),
		alertLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediawatch_alert_latency_seconds",
			Help:    "Time from an item being fetched to the last of its alerts being acknowledged by JetStream, for items that raise alerts: how late the communications team hears of a post.",
			Buckets: alertLatencyBuckets,
		}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_mentions_malformed_total",
			Help: "Messages on the MENTIONS stream that could not be decoded and were discarded.",
		}),
	}
	for _, c := range []prometheus.Collector{p.mentions, p.findings, p.lag, p.alertLatency, p.malformed} {
		if err := opts.registerer.Register(c); err != nil {
			return nil, fmt.Errorf("pipeline: register metrics: %w", err)
		}
	}
	for _, inst := range append(slices.Clone(opts.institutions), "none") {
		p.mentions.WithLabelValues(inst)
	}
	for _, cat := range match.Categories {
		p.findings.WithLabelValues(cat)
	}
	return p, nil
}

// Run pulls and processes batches until ctx ends. The batches in hand when
// ctx ends are finished (each bounded by drainTimeout) so shutdown does not
// leave work half done; what was not acknowledged is redelivered on the
// next start.
func (p *pipeline) Run(ctx context.Context, drainTimeout time.Duration) error {
	var lanes *lanes
	if p.publisher != nil {
		lanes = p.startLanes()
	}
	// One batch waits while others are indexed: enough for the index never
	// to wait for the collector, little enough to bound what is in hand.
	batches := make(chan *batch, 1)
	inOrder := make(chan *batch, p.indexAhead)
	finished := make(chan struct{})
	go func() {
		defer close(inOrder)
		slots := make(chan struct{}, p.indexAhead)
		for b := range batches {
			slots <- struct{}{}
			b.indexed = make(chan struct{})
			go func() {
				defer func() { <-slots }()
				p.indexBatch(b)
				close(b.indexed)
			}()
			inOrder <- b
		}
	}()
	go func() {
		defer close(finished)
		for b := range inOrder {
			<-b.indexed
			p.finish(b)
		}
	}()
	pprof.SetGoroutineLabels(labelMatch)
	defer pprof.SetGoroutineLabels(ctx)
	for ctx.Err() == nil {
		if b := p.collect(ctx, drainTimeout, lanes); b != nil {
			go b.keepInProgress(progressEvery, p.logger)
			batches <- b
		}
	}
	close(batches)
	<-finished
	lanes.stop()
	return nil
}

// Contexts that carry only the stage label, for pprof.SetGoroutineLabels:
// the stage's goroutines are labelled, and nothing else is (the contexts
// handed down must not carry labels for pprof.Do to restore elsewhere).
var (
	labelMatch   = pprof.WithLabels(context.Background(), pprof.Labels("stage", "match"))
	labelIndex   = pprof.WithLabels(context.Background(), pprof.Labels("stage", "index"))
	labelPublish = pprof.WithLabels(context.Background(), pprof.Labels("stage", "publish"))
)

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// batch is what one fetch brought: the mentions in stream order and their
// index documents.
type batch struct {
	// ctx bounds the batch's publishing, indexing and acknowledgements:
	// it outlives the pipeline's context by the drain timeout.
	ctx    context.Context
	cancel context.CancelFunc
	items  []*item
	docs   []index.Doc
	// indexed is closed once the documents are in the index.
	indexed chan struct{}
}

// item is one decoded mention of a batch.
type item struct {
	msg     jetstream.Msg
	mention mention.Mention
	res     match.Result
	alerts  []alerts.Alert
	// done is closed once every alert of the mention has been stored or
	// given up on (failed is then set); nil when it has no alerts.
	done      chan struct{}
	remaining atomic.Int32
	failed    atomic.Bool
}

// collect pulls one batch, at most batchSize mentions over at most
// flushInterval, matching each as it arrives and handing its alerts to the
// lanes straight away. It returns nil when nothing usable came.
func (p *pipeline) collect(ctx context.Context, drainTimeout time.Duration, lanes *lanes) *batch {
	fetched, err := p.consumer.Fetch(p.batchSize, jetstream.FetchMaxWait(p.flushInterval))
	if err != nil {
		if ctx.Err() == nil {
			p.logger.Warn("fetch from MENTIONS failed", "err", err)
			sleep(ctx, time.Second)
		}
		return nil
	}
	var b *batch
	var matcher *match.Matcher
	for msg := range fetched.Messages() {
		if b == nil {
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
			b = &batch{ctx: bctx, cancel: cancel, items: make([]*item, 0, p.batchSize), docs: make([]index.Doc, 0, p.batchSize)}
			matcher = p.matcher.Load()
		}
		p.take(b, matcher, msg, lanes)
	}
	if err := fetched.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		p.logger.Debug("fetch batch ended early", "err", err)
	}
	if b != nil && len(b.items) == 0 {
		b.cancel()
		return nil
	}
	return b
}

// take decodes and matches one mention, adds it to the batch and sends its
// alerts on their way.
func (p *pipeline) take(b *batch, matcher *match.Matcher, msg jetstream.Msg, lanes *lanes) {
	it := &item{msg: msg}
	m := &it.mention
	if err := json.Unmarshal(msg.Data(), m); err != nil || m.ID == "" {
		p.malformed.Inc()
		p.logger.Error("discarding undecodable mention", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	res := matcher.Match(m)
	b.items = append(b.items, it)
	b.docs = append(b.docs, Doc(m, res))
	if p.publisher == nil {
		// Index only: the match processes count and alert.
		return
	}
	if len(res.Institutions) == 0 {
		p.mentions.WithLabelValues("none").Inc()
	}
	for _, inst := range res.Institutions {
		p.mentions.WithLabelValues(inst).Inc()
	}
	for _, f := range res.Findings {
		p.findings.WithLabelValues(f.Category).Inc()
	}
	if p.spikes != nil {
		it.res = res
	}
	built := alerts.Build(m, res, p.now(), alerts.BuildOptions{SnippetLength: p.snippetLength})
	if len(built) == 0 {
		return
	}
	if meta, err := msg.Metadata(); err == nil {
		for i := range built {
			built[i].Mention.Seq = meta.Sequence.Stream
		}
	}
	it.alerts = built
	it.done = make(chan struct{})
	it.remaining.Store(int32(len(built)))
	for i := range built {
		lanes.submit(alertJob{ctx: b.ctx, item: it, alert: i})
	}
}

// indexBatch writes a batch's documents to the index in one Bleve batch.
// The index is a view that can be rebuilt from the stream: a failing index
// degrades search, never alerting.
func (p *pipeline) indexBatch(b *batch) {
	if p.index == nil {
		return
	}
	pprof.SetGoroutineLabels(labelIndex)
	if err := p.index.Index(b.ctx, b.docs); err != nil {
		p.logger.Error("index batch failed; search is degraded until reindex", "docs", len(b.docs), "err", err)
	}
	b.docs = nil
}

// keepInProgress tells JetStream every period that the batch's
// mentions are still being worked on, until the batch is finished (its
// context ends), so a batch slow in the index is not delivered again while
// it is in hand.
func (b *batch) keepInProgress(every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		for _, it := range b.items {
			if err := it.msg.InProgress(); err != nil {
				logger.Debug("progress acknowledgement failed", "mention", it.mention.ID, "err", err)
			}
		}
	}
}

// finish waits for the alerts of each mention of an indexed batch and
// acknowledges it, then publishes the volume spikes the batch completes.
func (p *pipeline) finish(b *batch) {
	defer b.cancel()
	pprof.SetGoroutineLabels(labelPublish)
	if p.publisher == nil {
		for _, it := range b.items {
			if err := it.msg.Ack(); err != nil {
				p.logger.Warn("ack mention failed; it will be indexed again", "mention", it.mention.ID, "err", err)
			}
		}
		return
	}
	for _, it := range b.items {
		if it.done != nil {
			// Every alert ends, stored or given up on when the batch's
			// context does.
			<-it.done
			if it.failed.Load() {
				// Left unacknowledged: redelivered after AckWait or
				// restart.
				continue
			}
		}
		if err := it.msg.Ack(); err != nil {
			p.logger.Warn("ack mention failed; it will be redelivered and deduplicated", "mention", it.mention.ID, "err", err)
		}
		if !it.mention.Fetched.IsZero() {
			p.lag.Observe(p.now().Sub(it.mention.Fetched).Seconds())
		}
	}
	if p.spikes != nil {
		now := p.now()
		var volumeAlerts []alerts.Alert
		for _, it := range b.items {
			volumeAlerts = append(volumeAlerts, p.spikes.observe(&it.mention, it.res, now)...)
		}
		p.spikes.publish(b.ctx, p.publisher, volumeAlerts, p.logger)
	}
}

// alertJob is one alert of a mention, to be stored.
type alertJob struct {
	ctx   context.Context
	item  *item
	alert int
}

// lanes publish alerts, one goroutine per lane. Every alert of one
// institution and category goes through the same lane, in the order the
// collector submits them: a story (which never spans institutions or
// categories) is folded by one goroutine at a time, in mention order.
type lanes struct {
	queues []chan alertJob
	byKey  map[string]int // institution and category → lane; collector only
	wg     sync.WaitGroup
}

func (p *pipeline) startLanes() *lanes {
	l := &lanes{byKey: make(map[string]int)}
	for range alertLanes {
		q := make(chan alertJob, 1024)
		l.queues = append(l.queues, q)
		l.wg.Go(func() {
			pprof.SetGoroutineLabels(labelPublish)
			for job := range q {
				p.publishAlert(job)
			}
		})
	}
	return l
}

// submit queues an alert on its lane, waiting while the lane is full.
func (l *lanes) submit(job alertJob) {
	a := &job.item.alerts[job.alert]
	key := a.Institution + "\x00" + a.Category
	lane, ok := l.byKey[key]
	if !ok {
		lane = len(l.byKey) % len(l.queues)
		l.byKey[key] = lane
	}
	l.queues[lane] <- job
}

// stop lets the lanes finish what they hold and waits for them.
func (l *lanes) stop() {
	if l == nil {
		return
	}
	for _, q := range l.queues {
		close(q)
	}
	l.wg.Wait()
}

// publishAlert folds one alert into its story and stores it, then counts it
// off its mention.
func (p *pipeline) publishAlert(job alertJob) {
	it, a := job.item, &job.item.alerts[job.alert]
	defer func() {
		if it.remaining.Add(-1) > 0 {
			return
		}
		if !it.failed.Load() && !it.mention.Fetched.IsZero() {
			p.alertLatency.Observe(p.now().Sub(it.mention.Fetched).Seconds())
		}
		close(it.done)
	}()
	if p.stories != nil {
		// Folding is idempotent per mention, so a redelivered mention does
		// not count as a repeat.
		if _, err := p.stories.Fold(job.ctx, a); err != nil {
			p.logger.Error("story lookup failed; mention will be redelivered", "alert", a.ID, "mention", it.mention.ID, "err", err)
			it.failed.Store(true)
			return
		}
	}
	fresh, err := p.publisher.Publish(job.ctx, a)
	if err != nil {
		p.logger.Error("alert not published; mention will be redelivered", "alert", a.ID, "mention", it.mention.ID, "err", err)
		it.failed.Store(true)
		return
	}
	if fresh {
		p.logger.Info("alert", "alert", a.ID, "count", a.Count, "institution", a.Institution, "category", a.Category,
			"severity", a.Severity, "rules", a.Rules, "source", a.Mention.Source, "url", a.Mention.URL)
	}
}

// Doc turns a matched mention into the index document. Personal data is
// masked before it reaches the index: the index is searchable by every
// dashboard user, the full text stays in the MENTIONS stream.
func Doc(m *mention.Mention, res match.Result) index.Doc {
	cats := make([]string, 0, 4)
	rules := make([]string, 0, len(res.Findings))
	var severity match.Severity
	for _, f := range res.Findings {
		if !slices.Contains(cats, f.Category) {
			cats = append(cats, f.Category)
		}
		if !slices.Contains(rules, f.Rule) {
			rules = append(rules, f.Rule)
		}
		if f.Severity.Rank() > severity.Rank() {
			severity = f.Severity
		}
	}
	slices.Sort(cats)
	slices.Sort(rules)
	return index.Doc{
		ID:           m.ID,
		Source:       m.Source,
		FeedID:       m.FeedID,
		FeedTitle:    match.Redact(m.FeedTitle, "feed_title", res.Findings),
		URL:          m.URL,
		Author:       match.Redact(m.Author, "author", res.Findings),
		Title:        match.Redact(m.Title, "title", res.Findings),
		Text:         match.Redact(m.Text, "text", res.Findings),
		Lang:         m.Lang,
		Published:    m.Published,
		Fetched:      m.Fetched,
		Institutions: res.Institutions,
		Categories:   cats,
		Rules:        rules,
		Severity:     string(severity),
	}
}
