package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of mediawatch_feed_fetches_total.
const (
	resultOK           = "ok"
	resultNotModified  = "not_modified"
	resultHTTPError    = "http_error"
	resultNetworkError = "network_error"
	resultTooLarge     = "too_large"
	resultBlocked      = "blocked"
	resultParseError   = "parse_error"
)

var fetchResults = []string{resultOK, resultNotModified, resultHTTPError, resultNetworkError, resultTooLarge, resultBlocked, resultParseError}

type metrics struct {
	fetches       *prometheus.CounterVec
	fetchDuration *prometheus.HistogramVec
	lastSuccess   *prometheus.GaugeVec
	failures      *prometheus.GaugeVec
	ingested      *prometheus.CounterVec
	parsed        *prometheus.CounterVec
	interval      *prometheus.GaugeVec
	backoff       *prometheus.GaugeVec
	nextPoll      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, feeds []FeedSpec) (*metrics, error) {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_feed_fetches_total",
			Help: "Feed fetches by outcome.",
		}, []string{"feed", "result"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediawatch_feed_fetch_duration_seconds",
			Help:    "Time to fetch a feed, including reading the body.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"feed"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_feed_last_success_timestamp_seconds",
			Help: "Unix time of the last successful poll of a feed (0 if none yet).",
		}, []string{"feed"}),
		failures: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_feed_consecutive_failures",
			Help: "Polls of a feed that failed in a row.",
		}, []string{"feed"}),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_items_ingested_total",
			Help: "New items published as mentions.",
		}, []string{"feed"}),
		parsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_feed_items_parsed_total",
			Help: "Items found in fetched feeds, new or not.",
		}, []string{"feed"}),
		interval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_feed_interval_seconds",
			Help: "Configured time between polls of a feed while it succeeds.",
		}, []string{"feed"}),
		backoff: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_feed_backoff_seconds",
			Help: "Delay before the next poll of a feed chosen because its last poll failed (the backoff, or the server's Retry-After when longer; it replaces the interval); 0 when the last poll succeeded.",
		}, []string{"feed"}),
		nextPoll: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_feed_next_poll_timestamp_seconds",
			Help: "Unix time a feed is next due for a poll (0 until its state is loaded).",
		}, []string{"feed"}),
	}
	for _, f := range feeds {
		for _, r := range fetchResults {
			m.fetches.WithLabelValues(f.ID, r)
		}
		m.fetchDuration.WithLabelValues(f.ID)
		m.lastSuccess.WithLabelValues(f.ID)
		m.failures.WithLabelValues(f.ID)
		m.ingested.WithLabelValues(f.ID)
		m.parsed.WithLabelValues(f.ID)
		m.interval.WithLabelValues(f.ID).Set(f.Interval.Seconds())
		m.backoff.WithLabelValues(f.ID)
		m.nextPoll.WithLabelValues(f.ID)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.fetches, m.fetchDuration, m.lastSuccess, m.failures, m.ingested, m.parsed, m.interval, m.backoff, m.nextPoll} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}

// scheduled records when a feed is next due and how much of the wait is
// owed to failures.
func (m *metrics) scheduled(feedID string, next time.Time, backoff time.Duration) {
	m.backoff.WithLabelValues(feedID).Set(max(backoff, 0).Seconds())
	m.nextPoll.WithLabelValues(feedID).Set(unixSeconds(next))
}

// unixSeconds is t as a Unix timestamp with sub-second precision, 0 for the
// zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// fetchResult classifies a failed fetch for the result label.
func fetchResult(err error) string {
	var herr *HTTPError
	switch {
	case errors.Is(err, ErrPrivateAddress), errors.Is(err, errScheme):
		return resultBlocked
	case errors.Is(err, ErrBodyTooLarge):
		return resultTooLarge
	case errors.As(err, &herr):
		return resultHTTPError
	default:
		return resultNetworkError
	}
}
