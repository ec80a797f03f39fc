package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mediawatch/mediawatch/mention"
)

// feedServer serves a feed document that tests can replace, optionally with
// ETag support, and records the requests it gets.
type feedServer struct {
	*httptest.Server
	mu          sync.Mutex
	body        []byte
	contentType string
	etags       bool
	status      int    // when non-zero, answer with this status instead
	retryAfter  string // with status
	requests    int
	ifNoneMatch []string
}

func newFeedServer(t *testing.T, file, contentType string, etags bool) *feedServer {
	t.Helper()
	fs := &feedServer{body: readTestdata(t, file), contentType: contentType, etags: etags}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.requests++
	fs.ifNoneMatch = append(fs.ifNoneMatch, r.Header.Get("If-None-Match"))
	if fs.status != 0 {
		if fs.retryAfter != "" {
			w.Header().Set("Retry-After", fs.retryAfter)
		}
		w.WriteHeader(fs.status)
		return
	}
	if fs.etags {
		etag := fmt.Sprintf(`"%d-%x"`, len(fs.body), fs.body[len(fs.body)/2])
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
	}
	w.Header().Set("Content-Type", fs.contentType)
	_, _ = w.Write(fs.body)
}

func (fs *feedServer) set(f func(fs *feedServer)) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f(fs)
}

func (fs *feedServer) requestCount() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.requests
}

// recordingSink keeps what it is given; failOn makes the publish of the
// given (1-based) call fail.
type recordingSink struct {
	mu        sync.Mutex
	calls     int
	failOn    map[int]bool
	published []mention.Mention
}

func (s *recordingSink) PublishMention(ctx context.Context, m mention.Mention) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failOn[s.calls] {
		return errors.New("broker unavailable")
	}
	s.published = append(s.published, m)
	return nil
}

func (s *recordingSink) titles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.published {
		out = append(out, m.Title)
	}
	return out
}

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.published {
		out = append(out, m.ID)
	}
	return out
}

// clock is a settable time source for the Now hook.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newScheduler(t *testing.T, store StateStore, sink Sink, now func() time.Time, feeds ...FeedSpec) (*Scheduler, *prometheus.Registry, *bytes.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	s, err := NewScheduler(SchedulerOptions{
		Feeds:      feeds,
		Fetcher:    testFetcher(FetcherOptions{}),
		Store:      store,
		Sink:       sink,
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
		Now:        now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, reg, &logs
}

var rssTitlesOldestFirst = []string{
	"Podcast: een dag op de IC",
	"Wachtlijsten kinderchirurgie WKZ lopen op",
	"UMC Utrecht opent nieuwe spoedeisende hulp",
}

func TestSchedulerPublishesEachItemOnce(t *testing.T) {
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", true)
	sink := &recordingSink{}
	store := NewMemoryStore()
	clk := &clock{now: fixedNow}
	spec := FeedSpec{ID: "nieuws-utrecht", Name: "Utrechts Nieuwsblad", URL: srv.URL, Source: "news", Interval: 10 * time.Minute}
	s, reg, _ := newScheduler(t, store, sink, clk.Now, spec)

	if err := s.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if got := sink.titles(); !slices.Equal(got, rssTitlesOldestFirst) {
		t.Fatalf("published %q, want oldest first %q", got, rssTitlesOldestFirst)
	}

	clk.set(fixedNow.Add(10 * time.Minute))
	if err := s.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.titles()); n != 3 {
		t.Errorf("%d publishes after a 304, want still 3", n)
	}
	srv.mu.Lock()
	if srv.ifNoneMatch[1] == "" {
		t.Error("second poll sent no If-None-Match")
	}
	srv.mu.Unlock()

	st, ok, err := store.Load(t.Context(), spec.ID)
	if err != nil || !ok {
		t.Fatalf("stored state: %v %v", ok, err)
	}
	if st.ETag == "" || st.ItemsSeen != 3 || len(st.Seen) != 3 || st.LastStatus != 304 ||
		!st.LastSuccess.Equal(clk.Now()) || !st.NextPoll.Equal(clk.Now().Add(spec.Interval)) {
		t.Errorf("stored state %+v", st)
	}

	status := s.Status()
	if len(status) != 1 || status[0].ID != spec.ID || status[0].Name != spec.Name || !status[0].Healthy || status[0].ItemsSeen != 3 {
		t.Errorf("Status() = %+v", status)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mediawatch_feed_fetches_total", []string{spec.ID, "ok"}, 1},
		{"mediawatch_feed_fetches_total", []string{spec.ID, "not_modified"}, 1},
		{"mediawatch_feed_fetches_total", []string{spec.ID, "http_error"}, 0},
		{"mediawatch_items_ingested_total", []string{spec.ID}, 3},
		{"mediawatch_feed_items_parsed_total", []string{spec.ID}, 3},
		{"mediawatch_feed_consecutive_failures", []string{spec.ID}, 0},
		{"mediawatch_feed_last_success_timestamp_seconds", []string{spec.ID}, float64(clk.Now().Unix())},
	} {
		if got := feedMetric(t, s, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "mediawatch_feed_fetches_total"); err != nil || n != len(fetchResults) {
		t.Errorf("fetches_total has %d series (%v), want one per result, pre-created", n, err)
	}
}

func TestSchedulerRestartDoesNotRepublish(t *testing.T) {
	// No ETag support: only the persisted seen IDs prevent republishing.
	srv := newFeedServer(t, "atom.xml", "application/atom+xml", false)
	sink := &recordingSink{}
	store := NewMemoryStore()
	spec := FeedSpec{ID: "zorgwatcher", URL: srv.URL, Source: "mastodon", Interval: time.Minute}

	first, _, _ := newScheduler(t, store, sink, nil, spec)
	if err := first.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.ids()); n != 2 {
		t.Fatalf("first run published %d, want 2", n)
	}

	second, _, _ := newScheduler(t, store, sink, nil, spec)
	if err := second.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.ids()); n != 2 {
		t.Fatalf("after restart %d published, want still 2", n)
	}
	if st := second.Status()[0]; st.ItemsSeen != 2 || st.LastSuccess.IsZero() {
		t.Errorf("restarted status %+v, want the stored counters", st)
	}

	srv.set(func(fs *feedServer) {
		fs.body = bytes.Replace(fs.body, []byte("<entry>"), []byte(`<entry>
    <id>https://mastodon.example.be/users/zorgwatcher/statuses/113460000000000000</id>
    <title>Bezoekuren aangepast</title>
    <published>2026-11-16T11:00:00Z</published>
    <content type="html">UZ Leuven past de bezoekuren aan.</content>
  </entry>
  <entry>`), 1)
	})
	if err := second.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if got := sink.titles(); len(got) != 3 || got[2] != "Bezoekuren aangepast" {
		t.Errorf("published %q, want only the new item added", got)
	}
}

func TestSchedulerFailedPublishLosesNothing(t *testing.T) {
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", true)
	sink := &recordingSink{failOn: map[int]bool{2: true}}
	store := NewMemoryStore()
	spec := FeedSpec{ID: "nieuws-utrecht", URL: srv.URL, Source: "news", Interval: time.Minute}
	s, _, logs := newScheduler(t, store, sink, nil, spec)

	err := s.PollNow(t.Context(), spec.ID)
	if err == nil || !strings.Contains(err.Error(), "broker unavailable") || !strings.Contains(err.Error(), spec.ID) {
		t.Fatalf("err = %v, want the publish error naming the feed", err)
	}
	st, _, _ := store.Load(t.Context(), spec.ID)
	if st.ETag != "" {
		t.Errorf("ETag %q saved after a failed publish; a 304 would now hide the unpublished items", st.ETag)
	}
	if st.ConsecutiveFailures != 1 || len(st.Seen) != 1 || !strings.Contains(st.LastError, spec.ID) {
		t.Errorf("state after failed publish: %+v", st)
	}
	if got := feedMetric(t, s, "mediawatch_feed_consecutive_failures", spec.ID); got != 1 {
		t.Errorf("consecutive failures gauge %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "feed="+spec.ID) || !strings.Contains(logs.String(), "url="+srv.URL) {
		t.Errorf("failure log lacks feed and url attributes:\n%s", logs)
	}

	// After a restart (same store), the next poll fetches in full and
	// publishes the rest, nothing twice.
	s2, _, _ := newScheduler(t, store, sink, nil, spec)
	if err := s2.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	if got := sink.titles(); !slices.Equal(got, rssTitlesOldestFirst) {
		t.Errorf("published %q, want each item exactly once: %q", got, rssTitlesOldestFirst)
	}
	srv.mu.Lock()
	if srv.ifNoneMatch[1] != "" {
		t.Errorf("poll after a failed publish sent If-None-Match %q", srv.ifNoneMatch[1])
	}
	srv.mu.Unlock()
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int
		limit    time.Duration
		want     time.Duration // before jitter
	}{
		{0, time.Hour, 30 * time.Second},
		{1, time.Hour, 30 * time.Second},
		{2, time.Hour, time.Minute},
		{3, time.Hour, 2 * time.Minute},
		{7, time.Hour, 32 * time.Minute},
		{8, time.Hour, time.Hour},
		{40, time.Hour, time.Hour},
		{1 << 20, time.Hour, time.Hour},
		{5, 3 * time.Minute, 3 * time.Minute},
	}
	for _, tt := range tests {
		if got := backoff(tt.failures, tt.limit, 0); got != tt.want {
			t.Errorf("backoff(%d, %s, 0) = %s, want %s", tt.failures, tt.limit, got, tt.want)
		}
		if got, lo := backoff(tt.failures, tt.limit, 0.999), tt.want*4/5; got < lo || got >= tt.want {
			t.Errorf("backoff(%d, %s, 0.999) = %s, want within [%s, %s)", tt.failures, tt.limit, got, lo, tt.want)
		}
	}
}

func TestSchedulerBackoffGrowsAndRecovers(t *testing.T) {
	srv := newFeedServer(t, "feed.json", "application/feed+json", false)
	srv.set(func(fs *feedServer) { fs.status = http.StatusInternalServerError })
	clk := &clock{now: fixedNow}
	store := NewMemoryStore()
	spec := FeedSpec{ID: "forum", URL: srv.URL, Source: "forum", Interval: 5 * time.Minute}
	s, _, _ := newScheduler(t, store, &recordingSink{}, clk.Now, spec)

	wantDelay := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i, want := range wantDelay {
		err := s.PollNow(t.Context(), spec.ID)
		var herr *HTTPError
		if !errors.As(err, &herr) || herr.Status != 500 {
			t.Fatalf("poll %d: err = %v, want HTTP 500", i+1, err)
		}
		st := s.Status()[0]
		if st.ConsecutiveFailures != i+1 {
			t.Errorf("poll %d: %d consecutive failures", i+1, st.ConsecutiveFailures)
		}
		if d := st.NextPoll.Sub(clk.Now()); d < want*4/5 || d > want {
			t.Errorf("poll %d: next poll in %s, want within [%s, %s]", i+1, d, want*4/5, want)
		}
		if wantHealthy := i+1 < unhealthyAfter; st.Healthy != wantHealthy {
			t.Errorf("poll %d: Healthy = %v, want %v", i+1, st.Healthy, wantHealthy)
		}
		if !strings.HasPrefix(st.LastError, "feed forum: fetch "+srv.URL) || strings.Contains(st.LastError, "\n") {
			t.Errorf("LastError %q should be one line naming the feed and URL", st.LastError)
		}
		clk.set(st.NextPoll)
	}
	if got := feedMetric(t, s, "mediawatch_feed_fetches_total", spec.ID, "http_error"); got != float64(len(wantDelay)) {
		t.Errorf("http_error fetches %v, want %d", got, len(wantDelay))
	}

	srv.set(func(fs *feedServer) { fs.status = 0 })
	if err := s.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	st := s.Status()[0]
	if st.ConsecutiveFailures != 0 || st.LastError != "" || !st.Healthy || !st.NextPoll.Equal(clk.Now().Add(spec.Interval)) {
		t.Errorf("after recovery: %+v", st)
	}
}

func TestSchedulerHonoursRetryAfter(t *testing.T) {
	srv := newFeedServer(t, "feed.json", "application/feed+json", false)
	srv.set(func(fs *feedServer) { fs.status, fs.retryAfter = http.StatusTooManyRequests, "900" })
	clk := &clock{now: fixedNow}
	spec := FeedSpec{ID: "forum", URL: srv.URL, Source: "forum", Interval: time.Minute}
	s, _, _ := newScheduler(t, NewMemoryStore(), &recordingSink{}, clk.Now, spec)

	if err := s.PollNow(t.Context(), spec.ID); err == nil {
		t.Fatal("want an error for 429")
	}
	if got, want := s.Status()[0].NextPoll, fixedNow.Add(15*time.Minute); !got.Equal(want) {
		t.Errorf("next poll %s, want Retry-After's %s (longer than the 30s backoff)", got, want)
	}
}

func TestSchedulerClassifiesFailures(t *testing.T) {
	tests := []struct {
		name, body, result string
		opts               FetcherOptions
	}{
		{"parse error", "<html><body>Onderhoud</body></html>", resultParseError, FetcherOptions{}},
		{"too large", strings.Repeat("x", 2048), resultTooLarge, FetcherOptions{MaxBodyBytes: 1024}},
		{"blocked", "<rss/>", resultBlocked, FetcherOptions{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			spec := FeedSpec{ID: "f", URL: srv.URL, Source: "news", Interval: time.Minute}
			s, err := NewScheduler(SchedulerOptions{
				Feeds: []FeedSpec{spec}, Fetcher: testFetcher(tt.opts), Store: NewMemoryStore(), Sink: &recordingSink{},
				Registerer: prometheus.NewRegistry(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PollNow(t.Context(), spec.ID); err == nil {
				t.Fatal("want an error")
			}
			for _, r := range fetchResults {
				want := 0.0
				if r == tt.result {
					want = 1
				}
				if got := feedMetric(t, s, "mediawatch_feed_fetches_total", spec.ID, r); got != want {
					t.Errorf("result %s counted %v, want %v", r, got, want)
				}
			}
		})
	}
}

func TestSchedulerRun(t *testing.T) {
	rss := newFeedServer(t, "rss.xml", "application/rss+xml", true)
	atom := newFeedServer(t, "atom.xml", "application/atom+xml", false)
	broken := newFeedServer(t, "feed.json", "application/feed+json", false)
	broken.set(func(fs *feedServer) { fs.status = http.StatusBadGateway })
	sink := &recordingSink{}
	store := NewMemoryStore()
	feeds := []FeedSpec{
		{ID: "b-atom", URL: atom.URL, Source: "mastodon", Interval: 20 * time.Millisecond},
		{ID: "a-rss", URL: rss.URL, Source: "news", Interval: 20 * time.Millisecond},
		{ID: "c-broken", URL: broken.URL, Source: "forum", Interval: 20 * time.Millisecond},
	}
	s, _, _ := newScheduler(t, store, sink, nil, feeds...)

	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()

	deadline := time.Now().Add(30 * time.Second)
	for (rss.requestCount() < 3 || atom.requestCount() < 3) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run returned %v on shutdown, want nil", err)
	}
	if rss.requestCount() < 3 || atom.requestCount() < 3 {
		t.Fatalf("feeds polled %d and %d times, want at least 3 each", rss.requestCount(), atom.requestCount())
	}
	if n := broken.requestCount(); n != 1 {
		t.Errorf("failing feed polled %d times within its 30s backoff, want 1", n)
	}

	ids := sink.ids()
	if len(ids) != 5 {
		t.Errorf("published %d mentions, want 5 (3 RSS + 2 Atom, each once)", len(ids))
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != len(ids) {
		t.Error("a mention was published twice")
	}

	status := s.Status()
	if got := []string{status[0].ID, status[1].ID, status[2].ID}; !slices.Equal(got, []string{"a-rss", "b-atom", "c-broken"}) {
		t.Errorf("Status order %q, want sorted by ID", got)
	}
	if status[2].Healthy != true || status[2].ConsecutiveFailures != 1 || !strings.Contains(status[2].LastError, "502") {
		t.Errorf("broken feed status %+v", status[2])
	}
}

func TestNewSchedulerRejectsBadOptions(t *testing.T) {
	valid := func() SchedulerOptions {
		return SchedulerOptions{
			Feeds:   []FeedSpec{{ID: "a", URL: "https://example.org/feed", Source: "news"}},
			Fetcher: NewFetcher(FetcherOptions{}), Store: NewMemoryStore(), Sink: &recordingSink{},
		}
	}
	tests := []struct {
		name   string
		modify func(*SchedulerOptions)
		want   string
	}{
		{"no fetcher", func(o *SchedulerOptions) { o.Fetcher = nil }, "Fetcher"},
		{"no store", func(o *SchedulerOptions) { o.Store = nil }, "StateStore"},
		{"no sink", func(o *SchedulerOptions) { o.Sink = nil }, "Sink"},
		{"no ID", func(o *SchedulerOptions) { o.Feeds[0].ID = "" }, "no ID"},
		{"duplicate ID", func(o *SchedulerOptions) { o.Feeds = append(o.Feeds, o.Feeds[0]) }, `feed "a" is configured twice`},
		{"relative URL", func(o *SchedulerOptions) { o.Feeds[0].URL = "/feed" }, `feed 0 ("a"): URL "/feed"`},
		{"ftp URL", func(o *SchedulerOptions) { o.Feeds[0].URL = "ftp://example.org/feed" }, "not an absolute http(s) URL"},
		{"negative interval", func(o *SchedulerOptions) { o.Feeds[0].Interval = -time.Second }, "negative interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid()
			tt.modify(&opts)
			_, err := NewScheduler(opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	s, err := NewScheduler(valid())
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Status()[0].Interval; got != DefaultInterval {
		t.Errorf("zero interval became %s, want %s", got, DefaultInterval)
	}
	if err := s.PollNow(t.Context(), "missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("PollNow of an unknown feed: %v", err)
	}
}

func TestSchedulerResumesStoredState(t *testing.T) {
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", false)
	srv.set(func(fs *feedServer) { fs.status = http.StatusServiceUnavailable })
	store := NewMemoryStore()
	clk := &clock{now: fixedNow}
	spec := FeedSpec{ID: "nieuws", URL: srv.URL, Source: "news", Interval: time.Minute}
	stored := FeedState{
		FeedID: spec.ID, URL: spec.URL, ETag: `"stored"`,
		LastAttempt: fixedNow.Add(-time.Minute), NextPoll: fixedNow.Add(3 * time.Minute),
		ConsecutiveFailures: 4, ItemsSeen: 17, Seen: []string{"x"},
	}
	if err := store.Save(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	s, _, _ := newScheduler(t, store, &recordingSink{}, clk.Now, spec)

	if err := s.ensureLoaded(t.Context(), s.byID[spec.ID]); err != nil {
		t.Fatal(err)
	}
	if st := s.Status()[0]; st.ConsecutiveFailures != 4 || st.ItemsSeen != 17 || !st.NextPoll.Equal(stored.NextPoll) || st.Healthy {
		t.Errorf("loaded status %+v, want the stored failures, counters and next poll", st)
	}
	if got := feedMetric(t, s, "mediawatch_feed_consecutive_failures", spec.ID); got != 4 {
		t.Errorf("failures gauge %v after load, want 4", got)
	}

	if err := s.PollNow(t.Context(), spec.ID); err == nil {
		t.Fatal("want the 503")
	}
	srv.mu.Lock()
	sent := srv.ifNoneMatch[0]
	srv.mu.Unlock()
	if sent != `"stored"` {
		t.Errorf("If-None-Match %q, want the stored ETag", sent)
	}
	st := s.Status()[0]
	if d := st.NextPoll.Sub(fixedNow); st.ConsecutiveFailures != 5 || d < 8*time.Minute*4/5 || d > 8*time.Minute {
		t.Errorf("after a fifth failure: %d failures, next poll in %s, want 5 and about 8m", st.ConsecutiveFailures, d)
	}
}

func TestSchedulerShortenedIntervalPullsNextPollIn(t *testing.T) {
	store := NewMemoryStore()
	spec := FeedSpec{ID: "a", URL: "https://example.org/feed", Source: "news", Interval: time.Minute}
	if err := store.Save(t.Context(), FeedState{FeedID: "a", URL: spec.URL, LastAttempt: fixedNow, NextPoll: fixedNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s, _, _ := newScheduler(t, store, &recordingSink{}, nil, spec)
	if err := s.ensureLoaded(t.Context(), s.byID["a"]); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Status()[0].NextPoll, fixedNow.Add(time.Minute); !got.Equal(want) {
		t.Errorf("next poll %s, want %s (last attempt + the new interval)", got, want)
	}
}

// TestSchedulerBadDocuments: a document that is not a feed fails the poll
// with an error naming the feed and URL; one broken in an item or cut off
// publishes its intact items, logs what it dropped and keeps no
// validators, so the next poll fetches it whole again and publishes the
// rest.
func TestSchedulerBadDocuments(t *testing.T) {
	t.Run("HTML page", func(t *testing.T) {
		srv := newFeedServer(t, "html-page.html", "text/html; charset=utf-8", true)
		spec := FeedSpec{ID: "umc-login", URL: srv.URL, Source: "news", Interval: time.Minute}
		s, _, logs := newScheduler(t, NewMemoryStore(), &recordingSink{}, nil, spec)
		err := s.PollNow(t.Context(), spec.ID)
		want := `feed umc-login: ` + srv.URL + `: parse feed: got an HTML page titled "Inloggen – Mijn UMC", not RSS, Atom or JSON Feed`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("err = %v, want it to start %q", err, want)
		}
		if st := s.Status()[0]; !strings.HasPrefix(st.LastError, want) || st.ConsecutiveFailures != 1 {
			t.Errorf("status %+v", st)
		}
		if got := feedMetric(t, s, "mediawatch_feed_fetches_total", spec.ID, resultParseError); got != 1 {
			t.Errorf("parse errors counted %v, want 1", got)
		}
		if !strings.Contains(logs.String(), "feed=umc-login") {
			t.Errorf("no log of the failure:\n%s", logs)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		srv := newFeedServer(t, "truncated.xml", "application/rss+xml", true)
		sink := &recordingSink{}
		store := NewMemoryStore()
		spec := FeedSpec{ID: "nieuws", URL: srv.URL, Source: "news", Interval: time.Minute}
		s, _, logs := newScheduler(t, store, sink, nil, spec)
		if err := s.PollNow(t.Context(), spec.ID); err != nil {
			t.Fatal(err)
		}
		if got, want := sink.titles(), []string{"Wachtlijsten kinderchirurgie WKZ lopen op", "UMC Utrecht opent nieuwe spoedeisende hulp"}; !slices.Equal(got, want) {
			t.Fatalf("published %q, want %q", got, want)
		}
		if l := logs.String(); !strings.Contains(l, "feed document is broken") || !strings.Contains(l, "kept=2 dropped=1") || !strings.Contains(l, "url="+srv.URL) {
			t.Errorf("no warning of the dropped item:\n%s", l)
		}
		if st, _, _ := store.Load(t.Context(), spec.ID); st.ETag != "" || st.ConsecutiveFailures != 0 {
			t.Errorf("state after a salvaged poll: %+v; want no ETag, no failure", st)
		}

		// The same document, whole.
		srv.set(func(fs *feedServer) {
			fs.body = append(readTestdata(t, "truncated.xml"), "are.</p>]]></description>\n    </item>\n  </channel>\n</rss>\n"...)
		})
		if err := s.PollNow(t.Context(), spec.ID); err != nil {
			t.Fatal(err)
		}
		if got := sink.titles(); len(got) != 3 || got[2] != "Podcast: een dag op de IC" {
			t.Errorf("published %q, want the third item added once whole", got)
		}
		srv.mu.Lock()
		if srv.ifNoneMatch[1] != "" {
			t.Errorf("the poll after a salvaged one sent If-None-Match %q", srv.ifNoneMatch[1])
		}
		srv.mu.Unlock()
	})
}

// largeFeed is an RSS feed of n items.
func largeFeed(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Zorgforum archief</title><link>https://zorgforum.example/</link>
`)
	base := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, `<item><title>Bericht %d over het UMC Utrecht</title><link>https://zorgforum.example/t/%d</link><guid>https://zorgforum.example/t/%d</guid><pubDate>%s</pubDate><description>Tekst van bericht %d.</description></item>
`, i, i, i, base.Add(-time.Duration(i)*time.Minute).Format(time.RFC1123Z), i)
	}
	b.WriteString("</channel></rss>\n")
	return b.Bytes()
}

// TestSchedulerLargeFeedNoDuplicates: a feed of 5,000 items polled twice,
// and again after a restart on the same state store, publishes each item
// once. The server sends no validators, so every poll gets all items.
func TestSchedulerLargeFeedNoDuplicates(t *testing.T) {
	const n = 5000
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", false)
	srv.set(func(fs *feedServer) { fs.body = largeFeed(n) })
	sink := &recordingSink{}
	store := NewMemoryStore()
	spec := FeedSpec{ID: "archief", URL: srv.URL, Source: "forum", Interval: time.Minute}

	first, _, _ := newScheduler(t, store, sink, nil, spec)
	for poll := 1; poll <= 2; poll++ {
		if err := first.PollNow(t.Context(), spec.ID); err != nil {
			t.Fatal(err)
		}
		if got := len(sink.ids()); got != n {
			t.Fatalf("poll %d: %d published, want %d", poll, got, n)
		}
	}
	restarted, _, _ := newScheduler(t, store, sink, nil, spec)
	if err := restarted.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	srv.set(func(fs *feedServer) {
		fs.body = bytes.Replace(fs.body, []byte("<item>"), []byte(`<item><title>Nieuw bericht</title><guid>https://zorgforum.example/t/nieuw</guid></item>
<item>`), 1)
	})
	if err := restarted.PollNow(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	ids := sink.ids()
	if len(ids) != n+1 {
		t.Errorf("%d published after a restart and a new item, want %d", len(ids), n+1)
	}
	slices.Sort(ids)
	if dups := len(ids) - len(slices.Compact(ids)); dups != 0 {
		t.Errorf("%d items published twice", dups)
	}
	if got := sink.titles(); got[len(got)-1] != "Nieuw bericht" {
		t.Errorf("last published %q, want the new item", got[len(got)-1])
	}
}
