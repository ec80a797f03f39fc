package notify

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the delivery metrics of every receiver, labelled by receiver
// name and type. One Metrics is shared by all receivers.
type Metrics struct {
	sent     *prometheus.CounterVec
	failed   *prometheus.CounterVec
	retries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered). Registering twice on the same registry, as a configuration
// reload does, reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"receiver", "type"}
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notifications_sent_total",
			Help: "Notifications delivered, by receiver and receiver type.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notifications_failed_total",
			Help: "Notifications given up on after their retries or at a permanent error, by receiver and receiver type.",
		}, labels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_notification_retries_total",
			Help: "Delivery attempts repeated after a recoverable error, by receiver and receiver type.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediawatch_notification_duration_seconds",
			Help:    "Time to deliver a notification or give up on it, retries included, by receiver and receiver type.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, labels),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.sent, err = register(reg, m.sent); err != nil {
		return nil, err
	}
	if m.failed, err = register(reg, m.failed); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c on reg, or returns the collector of the same
// description already registered there.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("notify: register metrics: %w", err)
}

// preCreate makes the series of a receiver exist at zero, so a dashboard
// shows 0 rather than no data.
func (m *Metrics) preCreate(name, typ string) {
	m.sent.WithLabelValues(name, typ)
	m.failed.WithLabelValues(name, typ)
	m.retries.WithLabelValues(name, typ)
	m.duration.WithLabelValues(name, typ)
}
