package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
)

// Publisher publishes alerts on the ALERTS stream and retries each one until
// JetStream acknowledges it, so an alert survives a NATS restart in the
// middle of a publish.
type Publisher struct {
	conn      *bus.Conn
	logger    *slog.Logger
	published *prometheus.CounterVec
	failures  prometheus.Counter
	latency   prometheus.Histogram
	// backlog counts the alerts inside Publish: handed to it and not yet
	// acknowledged by JetStream (nor given back with an error).
	backlog prometheus.Gauge
}

// NewPublisher registers the publisher's metrics on reg.
func NewPublisher(conn *bus.Conn, logger *slog.Logger, reg prometheus.Registerer) (*Publisher, error) {
	p := &Publisher{
		conn:   conn,
		logger: logger,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_alerts_published_total",
			Help: "Alerts acknowledged by JetStream, by institution, category and severity (duplicates of an already stored alert included).",
		}, []string{"institution", "category", "severity"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_alert_publish_failures_total",
			Help: "Failed attempts to publish an alert; each is retried until acknowledged.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediawatch_alert_publish_duration_seconds",
			Help:    "Time from the first publish attempt of an alert to its acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_alert_publish_backlog",
			Help: "Alerts handed to the publisher and not yet acknowledged by JetStream; it grows while NATS is unreachable.",
		}),
	}
	for _, c := range []prometheus.Collector{p.published, p.failures, p.latency, p.backlog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("alerts: register metrics: %w", err)
		}
	}
	return p, nil
}

// PreCreate sets the published counters of every known label combination to
// zero, so a dashboard shows 0 rather than no data.
func (p *Publisher) PreCreate(institutions []string) {
	for _, inst := range institutions {
		for _, cat := range match.Categories {
			for _, sev := range match.Severities {
				p.published.WithLabelValues(inst, cat, string(sev))
			}
		}
	}
}

// Publish sends one alert and returns once JetStream has stored it (or
// already had it: the id is the Nats-Msg-Id), or when ctx ends. The boolean
// reports whether the alert is new to the stream. It is safe for concurrent
// use; the alerts in the hands of Publish make up the backlog gauge.
func (p *Publisher) Publish(ctx context.Context, a *Alert) (bool, error) {
	p.backlog.Inc()
	defer p.backlog.Dec()
	data, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("alert %s: encode: %w", a.ID, err)
	}
	start := time.Now()
	ack, err := p.conn.PublishRetry(ctx, a.Subject(), a.MsgID(), data, func(err error) {
		p.failures.Inc()
		p.logger.Warn("alert publish failed, retrying", "alert", a.ID, "subject", a.Subject(), "err", err)
	})
	if err != nil {
		return false, err
	}
	p.latency.Observe(time.Since(start).Seconds())
	p.published.WithLabelValues(a.Institution, a.Category, string(a.Severity)).Inc()
	return !ack.Duplicate, nil
}
