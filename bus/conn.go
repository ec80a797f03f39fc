package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Stream and bucket names. They are part of the contract with outside tools
// (press-office subscribers, the nats CLI) and never change.
const (
	StreamMentions = "MENTIONS"
	StreamAlerts   = "ALERTS"
	// SubjectMentions and SubjectAlerts are the wildcard subjects the
	// streams capture: mediawatch.mentions.<source> and
	// mediawatch.alerts.<institution>.<category>.<severity>.
	SubjectMentions = "mediawatch.mentions.>"
	SubjectAlerts   = "mediawatch.alerts.>"
	// BucketFeeds is the key-value bucket holding per-feed poll state.
	BucketFeeds = "mediawatch_feeds"
)

// Conn is a NATS connection with its JetStream context.
type Conn struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// ConnectOptions configures Connect.
type ConnectOptions struct {
	URL        string
	Name       string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Connect dials NATS and keeps the connection for the life of the process:
// reconnects never give up (the library default stops after about two
// minutes, after which every publish would fail until a restart), and
// publishes made while disconnected are buffered by the client up to its
// reconnect buffer; the publisher retries anything beyond that.
func Connect(ctx context.Context, opts ConnectOptions) (*Conn, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	connected := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mediawatch_nats_connected",
		Help: "1 while the NATS client connection is up, 0 while it is reconnecting or closed.",
	})
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mediawatch_nats_reconnects_total",
		Help: "Times the NATS client connection came back after being lost.",
	})
	if opts.Registerer != nil {
		var registered []prometheus.Collector
		for _, c := range []prometheus.Collector{connected, reconnects} {
			if err := opts.Registerer.Register(c); err != nil {
				unregister(opts.Registerer, registered)
				return nil, fmt.Errorf("nats: register metrics: %w", err)
			}
			registered = append(registered, c)
		}
	}
	// A failed connect leaves nothing registered, so that it can be tried
	// again on the same registry.
	fail := func(err error) (*Conn, error) {
		if opts.Registerer != nil {
			unregister(opts.Registerer, []prometheus.Collector{connected, reconnects})
		}
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = "mediawatch"
	}
	nc, err := nats.Connect(opts.URL,
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.ReconnectBufSize(64<<20),
		nats.RetryOnFailedConnect(false),
		nats.ConnectHandler(func(*nats.Conn) { connected.Set(1) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			connected.Set(0)
			// A nil error is our own Close at shutdown, not an outage.
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			connected.Set(1)
			reconnects.Inc()
			logger.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) { connected.Set(0) }),
		// Asynchronous errors (a slow consumer, a write on a broken
		// connection) go to the log instead of the library's stderr.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				logger.Warn("nats error", "subject", sub.Subject, "err", err)
				return
			}
			logger.Warn("nats error", "err", err)
		}),
	)
	if err != nil {
		return fail(fmt.Errorf("nats: connect %s: %w", opts.URL, err))
	}
	connected.Set(1)
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fail(fmt.Errorf("nats: jetstream: %w", err))
	}
	return &Conn{NC: nc, JS: js}, nil
}

func unregister(reg prometheus.Registerer, cs []prometheus.Collector) {
	for _, c := range cs {
		reg.Unregister(c)
	}
}

// Connected reports whether the connection is currently up.
func (c *Conn) Connected() bool { return c.NC.IsConnected() }

// Close flushes pending publishes (bounded by ctx) and closes the
// connection.
func (c *Conn) Close(ctx context.Context) {
	// A failed flush loses nothing that matters: every publish that counts
	// waited for its JetStream acknowledgement before this point.
	_ = c.NC.FlushWithContext(ctx)
	c.NC.Close()
}

// StreamOptions sets the retention of the streams.
type StreamOptions struct {
	// MentionsMaxAge bounds how long mentions are kept; the index can be
	// rebuilt from the stream as far back as this goes.
	MentionsMaxAge time.Duration
	AlertsMaxAge   time.Duration
	// Replicas is 1 on the embedded server, up to 3 on a cluster.
	Replicas int
}

// EnsureStreams declares the MENTIONS and ALERTS streams and the feed state
// bucket, creating or updating them so that every process of a deployment
// converges on the same definition.
func (c *Conn) EnsureStreams(ctx context.Context, opts StreamOptions) error {
	replicas := max(opts.Replicas, 1)
	streams := []jetstream.StreamConfig{
		{
			Name:        StreamMentions,
			Description: "Normalised feed items, one message per item; the source of truth the index is rebuilt from.",
			Subjects:    []string{SubjectMentions},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      opts.MentionsMaxAge,
			// Ingest deduplicates across restarts with its persisted seen
			// set; the window covers a retry after a lost acknowledgement.
			Duplicates: dedupWindow(time.Hour, opts.MentionsMaxAge),
			Replicas:   replicas,
			// A poll's new items are stored in one atomic batch where the
			// server can (nats-server 2.12 and later; older ones ignore
			// the setting): with sync always the batch costs one fsync,
			// not one per item. See PublishBatch.
			AllowAtomicPublish: true,
		},
		{
			Name:        StreamAlerts,
			Description: "Alerts for the communications team, redacted.",
			Subjects:    []string{SubjectAlerts},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      opts.AlertsMaxAge,
			// An alert id is deterministic, so a mention re-processed after a
			// crash within a day publishes nothing new.
			Duplicates: dedupWindow(24*time.Hour, opts.AlertsMaxAge),
			Replicas:   replicas,
		},
	}
	for _, cfg := range streams {
		if _, err := c.JS.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("nats: stream %s: %w", cfg.Name, err)
		}
	}
	if _, err := c.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketFeeds,
		Description: "Per-feed poll state: validators, failures, next poll, recently seen items.",
		Storage:     jetstream.FileStorage,
		History:     1,
		Replicas:    replicas,
	}); err != nil {
		return fmt.Errorf("nats: kv bucket %s: %w", BucketFeeds, err)
	}
	return nil
}

// dedupWindow is want, shortened to maxAge when the stream keeps messages
// for less time than that (JetStream refuses a longer window).
func dedupWindow(want, maxAge time.Duration) time.Duration {
	if maxAge > 0 && maxAge < want {
		return maxAge
	}
	return want
}

// PublishRetry publishes data on subject with the Nats-Msg-Id header set to
// msgID and retries until JetStream acknowledges it or ctx ends. Because the
// id is set, a retry of a message that was in fact stored is acknowledged as
// a duplicate and not stored twice. onRetry, if not nil, is called before
// each retry with the error that caused it.
func (c *Conn) PublishRetry(ctx context.Context, subject, msgID string, data []byte, onRetry func(error)) (*jetstream.PubAck, error) {
	const (
		firstWait = 100 * time.Millisecond
		maxWait   = 5 * time.Second
		// Each attempt has its own deadline: an attempt made while the
		// connection is down would otherwise wait for the caller's whole
		// deadline before the next try.
		attemptTimeout = 5 * time.Second
	)
	wait := firstWait
	for {
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
		attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ack, err := c.JS.PublishMsg(attemptCtx, msg)
		cancel()
		if err == nil {
			return ack, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("publish %s (id %s): %w", subject, msgID, errors.Join(ctx.Err(), err))
		}
		if onRetry != nil {
			onRetry(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("publish %s (id %s): %w", subject, msgID, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		wait = min(wait*2, maxWait)
	}
}

// Headers of JetStream's atomic batch publish.
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// MaxBatch is the most messages PublishBatch takes at once: the server's
// own limit of an atomic batch is 1,000, and a smaller batch holds the
// stream's writes for less time.
const MaxBatch = 100

// AtomicBatches reports whether stream takes atomic batch publishes: it
// must allow them (EnsureStreams sets that on MENTIONS), and the server
// must know the setting, which nats-server 2.12 and later do; older ones
// drop it from the stream's configuration.
func (c *Conn) AtomicBatches(ctx context.Context, stream string) (bool, error) {
	s, err := c.JS.Stream(ctx, stream)
	if err != nil {
		return false, fmt.Errorf("nats: stream %s: %w", stream, err)
	}
	return s.CachedInfo().Config.AllowAtomicPublish, nil
}

// PublishBatch stores msgs, at most MaxBatch of them, in one atomic batch
// on a stream that takes them (AtomicBatches): every message or none. Each
// message must carry its Nats-Msg-Id; a batch holding a message the stream
// already has is refused whole (JetStream's "batch contains duplicate
// message id"), so after an error the caller publishes the messages one by
// one, which deduplicates each. On nats-server 2.15 and later a batch
// written with sync always costs one fsync instead of one per message.
func (c *Conn) PublishBatch(ctx context.Context, msgs []*nats.Msg) error {
	switch {
	case len(msgs) == 0:
		return nil
	case len(msgs) > MaxBatch:
		return fmt.Errorf("nats: batch of %d messages, at most %d", len(msgs), MaxBatch)
	}
	id := nats.NewInbox()[len(nats.InboxPrefix):]
	for i, m := range msgs {
		if m.Header == nil {
			m.Header = nats.Header{}
		}
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			// Staged by the server; only the commit is answered.
			if err := c.NC.PublishMsg(m); err != nil {
				return fmt.Errorf("nats: batch %s message %d (%s): %w", id, i+1, m.Subject, err)
			}
			continue
		}
		m.Header.Set(headerBatchCommit, "1")
		resp, err := c.NC.RequestMsgWithContext(ctx, m)
		if err != nil {
			return fmt.Errorf("nats: batch %s of %d messages: %w", id, len(msgs), err)
		}
		var ack batchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return fmt.Errorf("nats: batch %s: acknowledgement %q: %w", id, resp.Data, err)
		}
		switch {
		case ack.Error != nil:
			return fmt.Errorf("nats: batch %s of %d messages: %w", id, len(msgs), ack.Error)
		case ack.Batch != id || ack.Count != len(msgs):
			return fmt.Errorf("nats: batch %s: acknowledged batch %q with %d of %d messages", id, ack.Batch, ack.Count, len(msgs))
		}
	}
	return nil
}

// batchAck is JetStream's answer to a batch's commit.
type batchAck struct {
	Batch string              `json:"batch"`
	Count int                 `json:"count"`
	Error *jetstream.APIError `json:"error"`
}
