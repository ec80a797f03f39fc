package ingest

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scheduleGauges reads the interval, backoff and next-poll gauges of a feed.
func scheduleGauges(s *Scheduler, feedID string) (interval, backoff, next float64) {
	return testutil.ToFloat64(s.metrics.interval.WithLabelValues(feedID)),
		testutil.ToFloat64(s.metrics.backoff.WithLabelValues(feedID)),
		testutil.ToFloat64(s.metrics.nextPoll.WithLabelValues(feedID))
}

func TestSchedulerScheduleMetrics(t *testing.T) {
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", false)
	srv.set(func(fs *feedServer) { fs.status = http.StatusInternalServerError })
	clk := &clock{now: fixedNow}
	spec := FeedSpec{ID: "nieuws", URL: srv.URL, Source: "news", Interval: 5 * time.Minute}
	other := FeedSpec{ID: "default-interval", URL: srv.URL + "/other", Source: "news"}
	s, reg, _ := newScheduler(t, NewMemoryStore(), &recordingSink{}, clk.Now, spec, other)

	// Every configured feed has its series before its first poll.
	if interval, backoff, next := scheduleGauges(s, spec.ID); interval != 300 || backoff != 0 || next != 0 {
		t.Errorf("before any poll: interval %v, backoff %v, next poll %v; want 300, 0, 0", interval, backoff, next)
	}
	if interval, _, _ := scheduleGauges(s, other.ID); interval != DefaultInterval.Seconds() {
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
	_, backoff, next := scheduleGauges(s, spec.ID)
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
	if _, backoff, _ := scheduleGauges(s, spec.ID); backoff < 48 || backoff > 60 {
		t.Errorf("after two failures: backoff %vs, want within [48, 60]", backoff)
	}

	// A good poll clears the backoff; the next poll is an interval away.
	srv.set(func(fs *feedServer) { fs.status = 0 })
	clk.set(fixedNow.Add(10 * time.Minute))
	if err := s.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	interval, backoff, next := scheduleGauges(s, spec.ID)
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
	if _, backoff, next := scheduleGauges(s, spec.ID); backoff != 900 || next != float64(fixedNow.Add(15*time.Minute).Unix()) {
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
	if _, backoff, next := scheduleGauges(s, failing.ID); backoff != 120 || next != float64(fixedNow.Add(time.Minute).Unix()) {
		t.Errorf("failing feed after load: backoff %v, next poll %v; want 120 and the stored next poll", backoff, next)
	}
	if _, backoff, next := scheduleGauges(s, fresh.ID); backoff != 0 || next != float64(fixedNow.Unix()) {
		t.Errorf("fresh feed after load: backoff %v, next poll %v; want 0 and now", backoff, next)
	}
}
