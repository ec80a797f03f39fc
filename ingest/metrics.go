package ingest

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
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

// fetchDurationBuckets are the upper bounds of
// mediawatch_feed_fetch_duration_seconds.
var fetchDurationBuckets = [...]float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// metrics are the per-feed ingest metrics. Every feed has every series
// from the start (at zero), so rate() sees a feed's first fetch.
//
// The values live in one small struct per feed and are turned into
// metrics at scrape time, instead of a client_golang vector per family: a
// vector keeps an object with its label pairs for each of a feed's 19
// series, some 6 KB a feed, 60 MB for ten thousand feeds; feedSeries is
// under 300 bytes.
type metrics struct {
	feeds []*feedSeries // in the order the scheduler keeps them: by ID
	byID  map[string]*feedSeries

	fetches, fetchDuration, lastSuccess, failures, ingested, parsed,
	interval, backoff, nextPoll *prometheus.Desc
}

// feedSeries are one feed's values. Floats are kept as their bits.
type feedSeries struct {
	id       string
	interval float64

	fetches [len(fetchResults)]atomic.Uint64
	// durations counts fetches per bucket (not cumulative); the last
	// counts those above every bound.
	durations   [len(fetchDurationBuckets) + 1]atomic.Uint64
	durationSum atomic.Uint64
	lastSuccess atomic.Uint64
	failures    atomic.Uint64
	ingested    atomic.Uint64
	parsed      atomic.Uint64
	backoff     atomic.Uint64
	nextPoll    atomic.Uint64
}

// fetchResults are the results in the order of feedSeries.fetches.
var fetchResults = [...]string{resultOK, resultNotModified, resultHTTPError, resultNetworkError, resultTooLarge, resultBlocked, resultParseError}

func newMetrics(reg prometheus.Registerer, feeds []FeedSpec) (*metrics, error) {
	feed := []string{"feed"}
	m := &metrics{
		byID:          make(map[string]*feedSeries, len(feeds)),
		fetches:       prometheus.NewDesc("mediawatch_feed_fetches_total", "Feed fetches by outcome.", []string{"feed", "result"}, nil),
		fetchDuration: prometheus.NewDesc("mediawatch_feed_fetch_duration_seconds", "Time to fetch a feed, including reading the body.", feed, nil),
		lastSuccess:   prometheus.NewDesc("mediawatch_feed_last_success_timestamp_seconds", "Unix time of the last successful poll of a feed (0 if none yet).", feed, nil),
		failures:      prometheus.NewDesc("mediawatch_feed_consecutive_failures", "Polls of a feed that failed in a row.", feed, nil),
		ingested:      prometheus.NewDesc("mediawatch_items_ingested_total", "New items published as mentions.", feed, nil),
		parsed:        prometheus.NewDesc("mediawatch_feed_items_parsed_total", "Items found in fetched feeds, new or not.", feed, nil),
		interval:      prometheus.NewDesc("mediawatch_feed_interval_seconds", "Configured time between polls of a feed while it succeeds.", feed, nil),
		backoff: prometheus.NewDesc("mediawatch_feed_backoff_seconds",
			"Delay before the next poll of a feed chosen because its last poll failed (the backoff, or the server's Retry-After when longer; it replaces the interval); 0 when the last poll succeeded.", feed, nil),
		nextPoll: prometheus.NewDesc("mediawatch_feed_next_poll_timestamp_seconds", "Unix time a feed is next due for a poll (0 until its state is loaded).", feed, nil),
	}
	for _, f := range feeds {
		fs := &feedSeries{id: f.ID, interval: f.Interval.Seconds()}
		m.feeds = append(m.feeds, fs)
		m.byID[f.ID] = fs
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.fetches, m.fetchDuration, m.lastSuccess, m.failures, m.ingested, m.parsed, m.interval, m.backoff, m.nextPoll} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, f := range m.feeds {
		for i, r := range fetchResults {
			ch <- prometheus.MustNewConstMetric(m.fetches, prometheus.CounterValue, float64(f.fetches[i].Load()), f.id, r)
		}
		// The metric keeps the map until it is written: one per feed.
		buckets := make(map[float64]uint64, len(fetchDurationBuckets))
		var cumulative uint64
		for i, le := range fetchDurationBuckets {
			cumulative += f.durations[i].Load()
			buckets[le] = cumulative
		}
		count := cumulative + f.durations[len(fetchDurationBuckets)].Load()
		ch <- prometheus.MustNewConstHistogram(m.fetchDuration, count, loadFloat(&f.durationSum), buckets, f.id)
		ch <- prometheus.MustNewConstMetric(m.lastSuccess, prometheus.GaugeValue, loadFloat(&f.lastSuccess), f.id)
		ch <- prometheus.MustNewConstMetric(m.failures, prometheus.GaugeValue, float64(f.failures.Load()), f.id)
		ch <- prometheus.MustNewConstMetric(m.ingested, prometheus.CounterValue, float64(f.ingested.Load()), f.id)
		ch <- prometheus.MustNewConstMetric(m.parsed, prometheus.CounterValue, float64(f.parsed.Load()), f.id)
		ch <- prometheus.MustNewConstMetric(m.interval, prometheus.GaugeValue, f.interval, f.id)
		ch <- prometheus.MustNewConstMetric(m.backoff, prometheus.GaugeValue, loadFloat(&f.backoff), f.id)
		ch <- prometheus.MustNewConstMetric(m.nextPoll, prometheus.GaugeValue, loadFloat(&f.nextPoll), f.id)
	}
}

// The scheduler's feeds are fixed, so every id below is known; an unknown
// one is a programming error and would panic on the nil series.

// fetched counts a fetch of feed id by its result.
func (m *metrics) fetched(id, result string) {
	f := m.byID[id]
	for i, r := range fetchResults {
		if r == result {
			f.fetches[i].Add(1)
			return
		}
	}
}

// fetchTook records how long a fetch of feed id took.
func (m *metrics) fetchTook(id string, took time.Duration) {
	f := m.byID[id]
	secs := took.Seconds()
	bucket := len(fetchDurationBuckets)
	for i, le := range fetchDurationBuckets {
		if secs <= le {
			bucket = i
			break
		}
	}
	f.durations[bucket].Add(1)
	addFloat(&f.durationSum, secs)
}

func (m *metrics) itemsParsed(id string, n int) { m.byID[id].parsed.Add(uint64(n)) }

func (m *metrics) itemIngested(id string) { m.byID[id].ingested.Add(1) }

// health records a feed's consecutive failures and, when known, its last
// success.
func (m *metrics) health(id string, failures int, lastSuccess time.Time) {
	f := m.byID[id]
	f.failures.Store(uint64(max(failures, 0)))
	if !lastSuccess.IsZero() {
		storeFloat(&f.lastSuccess, unixSeconds(lastSuccess))
	}
}

// scheduled records when a feed is next due and how much of the wait is
// owed to failures.
func (m *metrics) scheduled(id string, next time.Time, backoff time.Duration) {
	f := m.byID[id]
	storeFloat(&f.backoff, max(backoff, 0).Seconds())
	storeFloat(&f.nextPoll, unixSeconds(next))
}

func loadFloat(u *atomic.Uint64) float64 { return math.Float64frombits(u.Load()) }

func storeFloat(u *atomic.Uint64, v float64) { u.Store(math.Float64bits(v)) }

func addFloat(u *atomic.Uint64, v float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
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
