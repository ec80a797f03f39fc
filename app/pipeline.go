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
	"slices"
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
// runs the matcher, writes the batch to the index, publishes the alerts and
// only then acknowledges the mentions. A crash anywhere before the ack
// means redelivery, and redelivered alerts are deduplicated by their id.
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
	now           func() time.Time

	mentions  *prometheus.CounterVec
	findings  *prometheus.CounterVec
	lag       prometheus.Histogram
	malformed prometheus.Counter
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
		AckWait:       2 * time.Minute,
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
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_mentions_malformed_total",
			Help: "Messages on the MENTIONS stream that could not be decoded and were discarded.",
		}),
	}
	for _, c := range []prometheus.Collector{p.mentions, p.findings, p.lag, p.malformed} {
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

// Run pulls and processes batches until ctx ends. The batch in hand when ctx
// ends is finished (bounded by drainTimeout) so shutdown does not leave work
// half done; what was not acknowledged is redelivered on the next start.
func (p *pipeline) Run(ctx context.Context, drainTimeout time.Duration) error {
	for ctx.Err() == nil {
		batch, err := p.consumer.Fetch(p.batchSize, jetstream.FetchMaxWait(p.flushInterval))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.logger.Warn("fetch from MENTIONS failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for msg := range batch.Messages() {
			msgs = append(msgs, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			p.logger.Debug("fetch batch ended early", "err", err)
		}
		if len(msgs) == 0 {
			continue
		}
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		p.process(drainCtx, msgs)
		cancel()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

type processed struct {
	msg     jetstream.Msg
	mention mention.Mention
	alerts  []alerts.Alert
}

// process handles one batch: match every mention, index the batch in one
// Bleve batch, publish the alerts, then acknowledge.
func (p *pipeline) process(ctx context.Context, msgs []jetstream.Msg) {
	matcher := p.matcher.Load()
	now := p.now()
	items := make([]processed, 0, len(msgs))
	docs := make([]index.Doc, 0, len(msgs))
	var volumeAlerts []alerts.Alert
	for _, msg := range msgs {
		var m mention.Mention
		if err := json.Unmarshal(msg.Data(), &m); err != nil || m.ID == "" {
			p.malformed.Inc()
			p.logger.Error("discarding undecodable mention", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			continue
		}
		res := matcher.Match(&m)
		if p.publisher == nil {
			// Index only: the match processes count and alert.
			docs = append(docs, Doc(&m, res))
			items = append(items, processed{msg: msg, mention: m})
			continue
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
			volumeAlerts = append(volumeAlerts, p.spikes.observe(&m, res, now)...)
		}
		docs = append(docs, Doc(&m, res))
		built := alerts.Build(&m, res, now, alerts.BuildOptions{SnippetLength: p.snippetLength})
		if meta, err := msg.Metadata(); err == nil {
			for i := range built {
				built[i].Mention.Seq = meta.Sequence.Stream
			}
		}
		items = append(items, processed{msg: msg, mention: m, alerts: built})
	}
	// The index is a view that can be rebuilt from the stream: a failing
	// index degrades search, never alerting.
	if p.index != nil {
		if err := p.index.Index(ctx, docs); err != nil {
			p.logger.Error("index batch failed; search is degraded until reindex", "docs", len(docs), "err", err)
		}
	}
	if p.publisher == nil {
		for _, it := range items {
			if err := it.msg.Ack(); err != nil {
				p.logger.Warn("ack mention failed; it will be indexed again", "mention", it.mention.ID, "err", err)
			}
		}
		return
	}
	for _, it := range items {
		for i := range it.alerts {
			a := &it.alerts[i]
			if p.stories != nil {
				// Folding is idempotent per mention, so a redelivered
				// mention does not count as a repeat.
				if _, err := p.stories.Fold(ctx, a); err != nil {
					p.logger.Error("story lookup failed; mention will be redelivered", "alert", a.ID, "mention", it.mention.ID, "err", err)
					return
				}
			}
			fresh, err := p.publisher.Publish(ctx, a)
			if err != nil {
				// Left unacknowledged: redelivered after AckWait or restart.
				p.logger.Error("alert not published; mention will be redelivered", "alert", a.ID, "mention", it.mention.ID, "err", err)
				return
			}
			if fresh {
				p.logger.Info("alert", "alert", a.ID, "count", a.Count, "institution", a.Institution, "category", a.Category,
					"severity", a.Severity, "rules", a.Rules, "source", a.Mention.Source, "url", a.Mention.URL)
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
		p.spikes.publish(ctx, p.publisher, volumeAlerts, p.logger)
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
