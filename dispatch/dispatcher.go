package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/route"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Names on JetStream.
const (
	// Consumer is the durable consumer of the ALERTS stream the dispatcher
	// reads; an alert is acknowledged once every route it is on has
	// notified about it, so a crash loses no notification.
	Consumer = "notify"
	// BucketLog is the notification log: per receiver and group, what was
	// last sent and when, so that alerts redelivered after a restart are
	// not sent again.
	BucketLog = "mediawatch_notify_log"
)

// Deliver sends one group's notification to the named receiver: the alerts
// of the group (redacted, as every alert is) under a stable group key.
type Deliver func(ctx context.Context, receiver, groupKey string, list []alerts.Alert) error

// Options wire a Dispatcher.
type Options struct {
	JS      jetstream.JetStream
	Stream  string // the ALERTS stream
	Subject string // its subjects
	Root    *route.Route
	Deliver Deliver
	// Closed reports whether an alert is closed in triage; closed alerts
	// are not notified about again. Nil: none is.
	Closed func(alertID string) bool
	// Silenced reports whether a silence holds the alert's notifications
	// back. Nil: none does.
	Silenced func(a *alerts.Alert) bool
	// SendTimeout bounds one delivery; receivers retry within it.
	SendTimeout time.Duration
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Dispatcher routes alerts into groups and notifies receivers.
type Dispatcher struct {
	opts   Options
	cons   jetstream.Consumer
	log    jetstream.KeyValue
	groups *groups

	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	skipped  *prometheus.CounterVec
	open     prometheus.Gauge
	received prometheus.Counter
	muted    *prometheus.CounterVec
}

// msgRef is a stream message shared by the groups of every route its
// alert is on; it is acknowledged when the last of them has notified.
type msgRef struct {
	msg       jetstream.Msg
	remaining int
}

// New creates (or finds) the durable consumer and the notification log.
// Create it before alerts are published: a new consumer starts with the
// alerts that come after it, not with the stream's history.
func New(ctx context.Context, opts Options) (*Dispatcher, error) {
	if opts.Closed == nil {
		opts.Closed = func(string) bool { return false }
	}
	if opts.Silenced == nil {
		opts.Silenced = func(*alerts.Alert) bool { return false }
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 2 * time.Minute
	}
	// A message waits in its group for at most group_wait or
	// group_interval, plus the delivery: wait that long before the server
	// hands it out again.
	var longest time.Duration
	opts.Root.Walk(func(r *route.Route) { longest = max(longest, r.GroupWait, r.GroupInterval) })
	cons, err := opts.JS.CreateOrUpdateConsumer(ctx, opts.Stream, jetstream.ConsumerConfig{
		Durable:     Consumer,
		Description: "Alerts on their way to receivers; acknowledged once notified.",
		// One subject, as filter_subject: nats-server before 2.10 (Debian 12
		// ships 2.9) knows no filter_subjects.
		FilterSubject: opts.Subject,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       longest + 2*opts.SendTimeout,
		MaxAckPending: 100_000,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", Consumer, opts.Stream, err)
	}
	var repeat time.Duration
	opts.Root.Walk(func(r *route.Route) { repeat = max(repeat, r.RepeatInterval) })
	kv, err := opts.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketLog,
		Description: "What each receiver was last told about each group, and when.",
		TTL:         2 * repeat,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketLog, err)
	}
	d := &Dispatcher{
		opts: opts, cons: cons, log: kv, groups: newGroups(),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notify_groups_sent_total",
			Help: "Group notifications handed to receivers successfully, by receiver.",
		}, []string{"receiver"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notify_groups_failed_total",
			Help: "Group notifications a receiver failed to deliver; they are tried again after the group interval.",
		}, []string{"receiver"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notify_groups_skipped_total",
			Help: "Group notifications not sent because the notification log shows the same content was already sent.",
		}, []string{"receiver"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_notify_groups",
			Help: "Alert groups the dispatcher holds.",
		}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_notify_alerts_received_total",
			Help: "Alert messages the dispatcher read from the stream (redeliveries included).",
		}),
		muted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notify_alerts_muted_total",
			Help: "Alerts not notified on arrival, by reason: closed in triage, or silenced.",
		}, []string{"reason", "category"}),
	}
	for _, c := range []prometheus.Collector{d.sent, d.failed, d.skipped, d.open, d.received, d.muted} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("dispatch: register metrics: %w", err)
		}
	}
	opts.Root.Walk(func(r *route.Route) {
		d.sent.WithLabelValues(r.Receiver)
		d.failed.WithLabelValues(r.Receiver)
	})
	return d, nil
}

// Run reads alerts and sends notifications until ctx ends. Alerts still
// waiting in a group then are not acknowledged: the next process gets them
// again, and the notification log keeps it from repeating what was sent.
func (d *Dispatcher) Run(ctx context.Context) error {
	msgs := make(chan jetstream.Msg, 256)
	cc, err := d.cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", Consumer, err)
	}
	defer cc.Stop()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.open.Set(float64(len(d.groups.byKey)))
		if next := d.groups.next(); !next.IsZero() {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			d.received.Inc()
			d.add(m)
		case <-timer.C:
			d.flush(ctx, time.Now())
		}
	}
}

func (d *Dispatcher) add(m jetstream.Msg) {
	var a alerts.Alert
	if err := json.Unmarshal(m.Data(), &a); err != nil || a.ID == "" {
		d.opts.Logger.Warn("undecodable alert; not notified", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	if reason := d.muteReason(&a); reason != "" {
		d.muted.WithLabelValues(reason, a.Category).Inc()
		_ = m.Ack()
		return
	}
	labels := route.LabelsOf(&a)
	routes := d.opts.Root.Resolve(labels)
	ref := &msgRef{msg: m, remaining: len(routes)}
	now := time.Now()
	for _, r := range routes {
		d.groups.add(r, r.GroupKey(labels), a, ref, now)
	}
}

// release acknowledges the messages whose every group has notified.
func (d *Dispatcher) release(tokens []any) {
	for _, t := range tokens {
		ref := t.(*msgRef)
		ref.remaining--
		if ref.remaining == 0 {
			if err := ref.msg.Ack(); err != nil {
				d.opts.Logger.Warn("alert notified but not acknowledged; it may be notified again", "subject", ref.msg.Subject(), "err", err)
			}
		}
	}
}

// mute reports whether an alert needs no notification: closed in triage or
// silenced.
func (d *Dispatcher) mute(a *alerts.Alert) bool {
	return d.muteReason(a) != ""
}

func (d *Dispatcher) muteReason(a *alerts.Alert) string {
	switch {
	case d.opts.Closed(a.ID):
		return "closed"
	case d.opts.Silenced(a):
		return "silenced"
	}
	return ""
}

func (d *Dispatcher) flush(ctx context.Context, now time.Time) {
	d.release(d.groups.remove(d.mute))
	for _, g := range d.groups.due(now) {
		list, versions := g.snapshot()
		receiver := g.route.Receiver
		logKey := logKey(receiver, g.key)
		content := strings.Join(versions, ",")
		if d.alreadySent(ctx, logKey, content, g.route.RepeatInterval, now) {
			d.skipped.WithLabelValues(receiver).Inc()
			d.release(g.notified(now))
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, d.opts.SendTimeout)
		err := d.opts.Deliver(sctx, receiver, g.key, list)
		cancel()
		if err != nil {
			d.failed.WithLabelValues(receiver).Inc()
			d.opts.Logger.Error("notification failed; trying again after the group interval", "receiver", receiver, "group", g.key, "alerts", len(list), "err", err)
			g.flushed = now // pending stays: retried after group_interval
			continue
		}
		d.sent.WithLabelValues(receiver).Inc()
		d.record(ctx, logKey, content, now)
		d.release(g.notified(now))
	}
}

// logEntry is what the notification log keeps per receiver and group.
type logEntry struct {
	Content string    `json:"content"`
	SentAt  time.Time `json:"sent_at"`
}

func logKey(receiver, groupKey string) string {
	h := sha256.Sum256([]byte(receiver + "\x00" + groupKey))
	return hex.EncodeToString(h[:16])
}

// alreadySent reports whether the receiver was told exactly this about the
// group within the repeat interval (before a restart, say).
func (d *Dispatcher) alreadySent(ctx context.Context, key, content string, repeat time.Duration, now time.Time) bool {
	entry, err := d.log.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false
	}
	if err != nil {
		d.opts.Logger.Warn("notification log unreadable; sending", "err", err)
		return false
	}
	var e logEntry
	if json.Unmarshal(entry.Value(), &e) != nil {
		return false
	}
	return e.Content == content && now.Sub(e.SentAt) < repeat
}

func (d *Dispatcher) record(ctx context.Context, key, content string, now time.Time) {
	data, _ := json.Marshal(logEntry{Content: content, SentAt: now})
	if _, err := d.log.Put(ctx, key, data); err != nil {
		d.opts.Logger.Warn("notification sent but not logged; a restart may send it again", "err", err)
	}
}
