package ingest

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// feedMetric reads one series of the scheduler's metrics: a counter's or
// gauge's value, a histogram's count. labels are the values of the feed
// and (for fetches) result labels.
func feedMetric(t testing.TB, s *Scheduler, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.metrics)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				t.Fatalf("%s has labels %v, asked for %v", name, m.GetLabel(), labels)
			}
			for i, l := range m.GetLabel() { // sorted by name: feed, result
				if l.GetValue() != labels[i] {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// scheduleGauges reads the interval, backoff and next-poll gauges of a feed.
func scheduleGauges(t testing.TB, s *Scheduler, feedID string) (interval, backoff, next float64) {
	return feedMetric(t, s, "mediawatch_feed_interval_seconds", feedID),
		feedMetric(t, s, "mediawatch_feed_backoff_seconds", feedID),
		feedMetric(t, s, "mediawatch_feed_next_poll_timestamp_seconds", feedID)
}

func TestSchedulerScheduleMetrics(t *testing.T) {
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", false)
	srv.set(func(fs *feedServer) { fs.status = http.StatusInternalServerError })
	clk := &clock{now: fixedNow}
	spec := FeedSpec{ID: "nieuws", URL: srv.URL, Source: "news", Interval: 5 * time.Minute}
	other := FeedSpec{ID: "default-interval", URL: srv.URL + "/other", Source: "news"}
	s, reg, _ := newScheduler(t, NewMemoryStore(), &recordingSink{}, clk.Now, spec, other)

	// Every configured feed has its series before its first poll.
	if interval, backoff, next := scheduleGauges(t, s, spec.ID); interval != 300 || backoff != 0 || next != 0 {
		t.Errorf("before any poll: interval %v, backoff %v, next poll %v; want 300, 0, 0", interval, backoff, next)
	}
	if interval, _, _ := scheduleGauges(t, s, other.ID); interval != DefaultInterval.Seconds() {
		t.Errorf("feed without an interval: gauge %v, want the default %v", interval, DefaultInterval.Seconds())
	}
	for _, name := range []string{"mediawatch_feed_interval_seconds", "mediawatch_feed_backoff_seconds", "mediawatch_feed_next_poll_timestamp_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 2 {
			t.Errorf("%s: %d series (%v), want one per configured feed", name, n, err)
		}
	}

	// A failed poll: the next one comes after the backoff (30s, jittered
	// by up to 20%) instead of the interval.
	if err := s.PollNow(t.Context(), spec.ID); err == nil {
		t.Fatal("want the 500")
	}
	st := s.Status()[1] // by ID: after default-interval
	if st.ID != spec.ID {
		t.Fatalf("status %+v, want feed %s", st, spec.ID)
	}
	_, backoff, next := scheduleGauges(t, s, spec.ID)
	if backoff < 24 || backoff > 30 {
		t.Errorf("after a failure: backoff %vs, want within [24, 30]", backoff)
	}
	if want := float64(st.NextPoll.UnixNano()) / 1e9; next != want || st.NextPoll.Sub(fixedNow).Seconds() != backoff {
		t.Errorf("after a failure: next poll %v, backoff %v; want %v (%s), the last attempt plus the backoff", next, backoff, want, st.NextPoll)
	}

	// A second failure doubles the backoff.
	clk.set(st.NextPoll)
	if err := s.PollNow(t.Context(), spec.ID); err == nil {
		t.Fatal("want the 500")
	}
	if _, backoff, _ := scheduleGauges(t, s, spec.ID); backoff < 48 || backoff > 60 {
		t.Errorf("after two failures: backoff %vs, want within [48, 60]", backoff)
	}

	// A good poll clears the backoff; the next poll is an interval away.
	srv.set(func(fs *feedServer) { fs.status = 0 })
	clk.set(fixedNow.Add(10 * time.Minute))
	if err := s.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	interval, backoff, next := scheduleGauges(t, s, spec.ID)
	if want := float64(fixedNow.Add(15 * time.Minute).Unix()); interval != 300 || backoff != 0 || next != want {
		t.Errorf("after a success: interval %v, backoff %v, next poll %v; want 300, 0, %v", interval, backoff, next, want)
	}

	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// A Retry-After longer than the backoff is the delay owed to the failure.
func TestSchedulerBackoffMetricHonoursRetryAfter(t *testing.T) {
	srv := newFeedServer(t, "feed.json", "application/feed+json", false)
	srv.set(func(fs *feedServer) { fs.status, fs.retryAfter = http.StatusTooManyRequests, "900" })
	clk := &clock{now: fixedNow}
	spec := FeedSpec{ID: "forum", URL: srv.URL, Source: "forum", Interval: time.Minute}
	s, _, _ := newScheduler(t, NewMemoryStore(), &recordingSink{}, clk.Now, spec)
	if err := s.PollNow(t.Context(), spec.ID); err == nil {
		t.Fatal("want an error for 429")
	}
	if _, backoff, next := scheduleGauges(t, s, spec.ID); backoff != 900 || next != float64(fixedNow.Add(15*time.Minute).Unix()) {
		t.Errorf("backoff %v, next poll %v; want 900 and the Retry-After's time", backoff, next)
	}
}

// The gauges start from the stored state after a restart: a feed that was
// backing off still is, and a feed never polled is due at once.
func TestSchedulerScheduleMetricsFromStoredState(t *testing.T) {
	store := NewMemoryStore()
	failing := FeedSpec{ID: "failing", URL: "https://example.org/failing", Source: "news", Interval: time.Hour}
	fresh := FeedSpec{ID: "fresh", URL: "https://example.org/fresh", Source: "news", Interval: time.Hour}
	if err := store.Save(t.Context(), FeedState{FeedID: failing.ID, URL: failing.URL, ConsecutiveFailures: 3,
		LastAttempt: fixedNow.Add(-time.Minute), NextPoll: fixedNow.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	s, err := NewScheduler(SchedulerOptions{
		Feeds: []FeedSpec{failing, fresh}, Fetcher: testFetcher(FetcherOptions{}), Store: store, Sink: &recordingSink{},
		Registerer: prometheus.NewRegistry(), Now: func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []FeedSpec{failing, fresh} {
		if err := s.ensureLoaded(t.Context(), s.byID[spec.ID]); err != nil {
			t.Fatal(err)
		}
	}
	if _, backoff, next := scheduleGauges(t, s, failing.ID); backoff != 120 || next != float64(fixedNow.Add(time.Minute).Unix()) {
		t.Errorf("failing feed after load: backoff %v, next poll %v; want 120 and the stored next poll", backoff, next)
	}
	if _, backoff, next := scheduleGauges(t, s, fresh.ID); backoff != 0 || next != float64(fixedNow.Unix()) {
		t.Errorf("fresh feed after load: backoff %v, next poll %v; want 0 and now", backoff, next)
	}
}

// A fetch's duration lands in the first bucket at or above it, and the
// histogram is cumulative, as a client_golang histogram would be.
func TestFetchDurationHistogram(t *testing.T) {
	m, err := newMetrics(nil, []FeedSpec{{ID: "nos", Interval: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{
		20 * time.Millisecond, 50 * time.Millisecond, // ≤ 0.05
		300 * time.Millisecond, // ≤ 0.5
		2 * time.Second,        // ≤ 2.5
		90 * time.Second,       // above every bound
	} {
		m.fetchTook("nos", d)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, mf := range families {
		if mf.GetName() == "mediawatch_feed_fetch_duration_seconds" {
			h = mf.GetMetric()[0].GetHistogram()
		}
	}
	if h == nil {
		t.Fatal("no fetch duration histogram")
	}
	want := map[float64]uint64{0.05: 2, 0.1: 2, 0.25: 2, 0.5: 3, 1: 3, 2.5: 4, 5: 4, 10: 4, 30: 4, 60: 4}
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() != want[b.GetUpperBound()] {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want[b.GetUpperBound()])
		}
	}
	if h.GetSampleCount() != 5 || h.GetSampleSum() < 92.369 || h.GetSampleSum() > 92.371 {
		t.Errorf("count %d sum %v, want 5 and 92.37", h.GetSampleCount(), h.GetSampleSum())
	}
}

// BenchmarkFeedMetrics measures what ten thousand feeds' metrics cost:
// the memory they hold (B/feed) and a scrape of them (per op).
func BenchmarkFeedMetrics(b *testing.B) {
	const feeds = 10000
	specs := make([]FeedSpec, feeds)
	for i := range specs {
		specs[i] = FeedSpec{ID: fmt.Sprintf("feed-%05d", i), Interval: 5 * time.Minute}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, specs)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range specs {
		m.fetched(s.ID, resultOK)
		m.fetchTook(s.ID, 120*time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := float64(after.HeapAlloc-before.HeapAlloc) / feeds
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(held, "held-B/feed")
}
