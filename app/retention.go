package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/prometheus/client_golang/prometheus"
)

// retentionOf is how long cfg keeps mentions, alerts and what is stored
// about them: the max age of MENTIONS, ALERTS, TRIAGE and NOTIFICATIONS and
// the age at which index documents expire. A configuration built in code
// without one gets the default.
func retentionOf(cfg *config.Config) time.Duration {
	if cfg.Retention <= 0 {
		return config.DefaultRetention.D()
	}
	return cfg.Retention.D()
}

// storyWindowOf is the stories' window, cut to the retention: a story must
// not point at an alert longer than the alert is kept.
func storyWindowOf(cfg *config.Config) time.Duration {
	w := cfg.Alerts.StoryWindow.D()
	if w <= 0 {
		w = config.Default().Alerts.StoryWindow.D()
	}
	return min(w, retentionOf(cfg))
}

// expiryInterval is how often the index is swept for expired documents: a
// small part of the retention, at most an hour. A document outlives its
// mention by at most that long.
func expiryInterval(retention time.Duration) time.Duration {
	return min(max(retention/24, 50*time.Millisecond), time.Hour)
}

// indexExpiry deletes the index documents of mentions older than the
// retention, the way JetStream's max age drops them from the streams.
type indexExpiry struct {
	index     *index.Index
	retention time.Duration
	interval  time.Duration
	logger    *slog.Logger
	now       func() time.Time
	expired   prometheus.Counter
	failures  prometheus.Counter
}

func newIndexExpiry(ix *index.Index, retention time.Duration, logger *slog.Logger, reg prometheus.Registerer) (*indexExpiry, error) {
	e := &indexExpiry{
		index: ix, retention: retention, interval: expiryInterval(retention), logger: logger, now: time.Now,
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_index_expired_total",
			Help: "Index documents deleted because their mention is older than the retention.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_index_expiry_failures_total",
			Help: "Sweeps of the index for expired documents that failed; the next sweep tries again.",
		}),
	}
	for _, c := range []prometheus.Collector{e.expired, e.failures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("index expiry: register metrics: %w", err)
		}
	}
	return e, nil
}

// Run sweeps the index at once and then every interval until ctx ends. A
// failed sweep is logged and counted, and the next one tries again: the
// daemon keeps running.
func (e *indexExpiry) Run(ctx context.Context) error {
	t := time.NewTicker(e.interval)
	defer t.Stop()
	for {
		e.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweep deletes the documents fetched before now - retention.
func (e *indexExpiry) sweep(ctx context.Context) {
	cutoff := e.now().Add(-e.retention)
	n, err := e.index.DeleteBefore(ctx, cutoff)
	e.expired.Add(float64(n))
	if err != nil {
		if ctx.Err() != nil {
			return // stopping
		}
		e.failures.Inc()
		e.logger.Error("expiring old index documents failed; trying again later", "deleted", n, "cutoff", cutoff, "err", err)
		return
	}
	if n > 0 {
		e.logger.Info("expired old index documents", "deleted", n, "cutoff", cutoff, "retention", e.retention)
	}
}
