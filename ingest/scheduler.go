package ingest

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediawatch/mediawatch/mention"
)

// Scheduler defaults.
const (
	DefaultInterval    = 15 * time.Minute
	DefaultMaxBackoff  = time.Hour
	DefaultConcurrency = 8

	// initialBackoff is the delay after the first failure; it doubles with
	// every further failure up to MaxBackoff.
	initialBackoff = 30 * time.Second
	// unhealthyAfter consecutive failures a feed reports as unhealthy: one
	// failed poll is usually a blip, three in a row are worth a look.
	unhealthyAfter = 3
	// stateSaveTimeout bounds saving state after a poll, which must happen
	// even while shutting down so finished work is not repeated.
	stateSaveTimeout = 10 * time.Second
)

// SchedulerOptions configures a Scheduler. Feeds, Fetcher, Store and Sink are
// required.
type SchedulerOptions struct {
	Feeds   []FeedSpec
	Fetcher *Fetcher
	Store   StateStore
	Sink    Sink
	// Logger defaults to discarding; Registerer nil means no metrics are
	// registered.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// MaxBackoff caps the delay after failures (default 1h). The delay starts
	// at 30s, doubles per consecutive failure, is jittered and never stops
	// retrying.
	MaxBackoff time.Duration
	// Concurrency is the maximum number of polls in flight (default 8).
	Concurrency int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Gate decides which feeds this process polls when several ingest
	// processes share the feed list (lease.Manager); nil: every feed.
	Gate Gate
}

// Gate lets a scheduler poll only its share of the feeds.
type Gate interface {
	// Begin reports whether the feed may be polled now and marks the poll
	// in flight; End ends it. The gate never hands a feed to another
	// process while its poll is in flight.
	Begin(feedID string) bool
	End(feedID string)
	// Changed signals that feeds were handed to this process.
	Changed() <-chan struct{}
}

// gateRecheck is how long a feed another process holds waits before this
// scheduler asks the gate again; the gate's Changed signal comes sooner
// when the feed is handed over.
const gateRecheck = 10 * time.Second

// FeedStatus is a snapshot of one feed for status pages and the CLI.
type FeedStatus struct {
	ID, Name, URL, Source string
	Interval              time.Duration
	LastAttempt           time.Time
	LastSuccess           time.Time
	NextPoll              time.Time
	LastError             string
	ConsecutiveFailures   int
	ItemsSeen             int64
	// Healthy is false once a feed has failed three polls in a row.
	Healthy bool
}

// Scheduler polls feeds at their intervals, publishes new items to the Sink
// and persists per-feed state in the StateStore, so that a restart carries on
// where the previous process stopped.
type Scheduler struct {
	opts    SchedulerOptions
	log     *slog.Logger
	metrics *metrics
	feeds   []*feed // sorted by ID
	byID    map[string]*feed
	wake    chan struct{}
	running atomic.Bool

	mu sync.Mutex // guards state, loaded, held and notBefore of every feed
}

type feed struct {
	spec FeedSpec
	// pollMu serialises polls of one feed (the loop and PollNow).
	pollMu sync.Mutex
	state  FeedState
	loaded bool
	// held: the gate let this process poll the feed last time it asked. A
	// feed newly held is loaded again first: the process that held it
	// before moved its state on. notBefore delays asking the gate again
	// about a feed another process holds.
	held      bool
	notBefore time.Time
}

// NewScheduler validates opts and registers the ingest metrics.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	switch {
	case opts.Fetcher == nil:
		return nil, errors.New("ingest: scheduler needs a Fetcher")
	case opts.Store == nil:
		return nil, errors.New("ingest: scheduler needs a StateStore")
	case opts.Sink == nil:
		return nil, errors.New("ingest: scheduler needs a Sink")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	s := &Scheduler{
		opts: opts,
		log:  opts.Logger,
		byID: make(map[string]*feed, len(opts.Feeds)),
		wake: make(chan struct{}, 1),
	}
	for i, spec := range opts.Feeds {
		if err := validateSpec(spec); err != nil {
			return nil, fmt.Errorf("ingest: feed %d (%q): %w", i, spec.ID, err)
		}
		if _, dup := s.byID[spec.ID]; dup {
			return nil, fmt.Errorf("ingest: feed %q is configured twice", spec.ID)
		}
		if spec.Interval == 0 {
			spec.Interval = DefaultInterval
		}
		f := &feed{spec: spec, state: FeedState{FeedID: spec.ID, URL: spec.URL}}
		s.byID[spec.ID] = f
		s.feeds = append(s.feeds, f)
	}
	slices.SortFunc(s.feeds, func(a, b *feed) int { return cmp.Compare(a.spec.ID, b.spec.ID) })

	specs := make([]FeedSpec, len(s.feeds))
	for i, f := range s.feeds {
		specs[i] = f.spec
	}
	m, err := newMetrics(opts.Registerer, specs)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

func validateSpec(spec FeedSpec) error {
	if strings.TrimSpace(spec.ID) == "" {
		return errors.New("feed has no ID")
	}
	if spec.Interval < 0 {
		return fmt.Errorf("negative interval %s", spec.Interval)
	}
	u, err := url.Parse(spec.URL)
	if err != nil {
		return fmt.Errorf("bad URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q is not an absolute http(s) URL", spec.URL)
	}
	return nil
}

// Run polls feeds until ctx is done. It loads every feed's stored state
// first, so polling resumes with the stored validators, seen items, failure
// count and next poll time. On cancellation it waits for polls in flight and
// returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ingest: scheduler is already running")
	}
	defer s.running.Store(false)

	for _, f := range s.feeds {
		if err := s.ensureLoaded(ctx, f); err != nil && ctx.Err() == nil {
			// Polling the feed retries the load before fetching.
			s.log.Error("loading feed state", "feed", f.spec.ID, "url", f.spec.URL, "err", err)
		}
	}

	s.log.Info("feed scheduler started", "feeds", len(s.feeds), "concurrency", s.opts.Concurrency)
	defer s.log.Info("feed scheduler stopped")

	var (
		wg       sync.WaitGroup
		done     = make(chan *feed, len(s.feeds))
		inFlight int
		timer    = time.NewTimer(time.Hour)
		queue    = make(dueQueue, 0, len(s.feeds))
	)
	for _, f := range s.feeds {
		s.queueFeed(&queue, f)
	}
	var gateChanged <-chan struct{}
	if s.opts.Gate != nil {
		gateChanged = s.opts.Gate.Changed()
	}
	defer timer.Stop()
	for {
		now := s.opts.Now()
		var next time.Time
		for inFlight < s.opts.Concurrency {
			f, at, ok := s.soonest(&queue)
			if !ok {
				break
			}
			if at.After(now) {
				next = at
				break
			}
			heap.Pop(&queue)
			reload := false
			if g := s.opts.Gate; g != nil {
				if !g.Begin(f.spec.ID) {
					s.mu.Lock()
					f.held, f.notBefore = false, now.Add(gateRecheck)
					s.mu.Unlock()
					s.queueFeed(&queue, f)
					continue
				}
				s.mu.Lock()
				reload, f.held = !f.held, true
				s.mu.Unlock()
			}
			inFlight++
			wg.Go(func() {
				s.pollGated(ctx, f, reload)
				done <- f
			})
		}

		var timerC <-chan time.Time
		if !next.IsZero() && inFlight < s.opts.Concurrency {
			timer.Reset(max(next.Sub(now), 0))
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case f := <-done:
			inFlight--
			s.queueFeed(&queue, f)
		case <-timerC:
		case <-s.wake:
			// A PollNow may have brought a feed's next poll forward.
			s.refresh(&queue)
		case <-gateChanged:
			// Feeds were handed to this process: ask about every one.
			s.mu.Lock()
			for _, f := range s.feeds {
				f.notBefore = time.Time{}
			}
			s.mu.Unlock()
			s.refresh(&queue)
		}
	}
}

// pollGated polls a feed the gate let through and ends the gate's hold. A
// feed newly held is loaded again first, and polled only if it is due by
// the state the previous holder left.
func (s *Scheduler) pollGated(ctx context.Context, f *feed, reload bool) {
	if g := s.opts.Gate; g != nil {
		defer g.End(f.spec.ID)
	}
	if reload {
		s.mu.Lock()
		f.loaded = false
		s.mu.Unlock()
		if err := s.ensureLoaded(ctx, f); err != nil {
			s.log.Error("loading feed state", "feed", f.spec.ID, "url", f.spec.URL, "err", err)
			return
		}
		s.mu.Lock()
		notDue := f.state.NextPoll.After(s.opts.Now())
		s.mu.Unlock()
		if notDue {
			return
		}
	}
	_ = s.poll(ctx, f) // failures are logged and recorded in state
}

// PollNow polls one feed immediately, whatever its schedule, and returns the
// poll's error.
func (s *Scheduler) PollNow(ctx context.Context, feedID string) error {
	f, ok := s.byID[feedID]
	if !ok {
		return fmt.Errorf("ingest: unknown feed %q", feedID)
	}
	if g := s.opts.Gate; g != nil {
		if !g.Begin(feedID) {
			return fmt.Errorf("ingest: feed %q is polled by another process now", feedID)
		}
		defer g.End(feedID)
	}
	err := s.poll(ctx, f)
	select {
	case s.wake <- struct{}{}: // let Run see the new NextPoll
	default:
	}
	return err
}

// Status returns a snapshot of every feed, sorted by feed ID.
func (s *Scheduler) Status() []FeedStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FeedStatus, len(s.feeds))
	for i, f := range s.feeds {
		out[i] = StatusOf(f.spec, f.state)
	}
	return out
}

func (s *Scheduler) ensureLoaded(ctx context.Context, f *feed) error {
	s.mu.Lock()
	loaded := f.loaded
	s.mu.Unlock()
	if loaded {
		return nil
	}
	st, ok, err := s.opts.Store.Load(ctx, f.spec.ID)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	if ok {
		st.FeedID = f.spec.ID
		if st.URL != f.spec.URL {
			// Validators belong to the old URL; seen IDs are per URL anyway.
			st.ETag, st.LastModified = "", ""
		}
		st.URL = f.spec.URL
		if limit := st.LastAttempt.Add(f.spec.Interval); st.ConsecutiveFailures == 0 && st.NextPoll.After(limit) {
			// The interval was shortened in config since the last poll.
			st.NextPoll = limit
		}
		s.metrics.health(f.spec.ID, st.ConsecutiveFailures, st.LastSuccess)
	} else {
		st = FeedState{FeedID: f.spec.ID, URL: f.spec.URL}
	}
	var owed time.Duration
	if st.ConsecutiveFailures > 0 && !st.LastAttempt.IsZero() {
		owed = st.NextPoll.Sub(st.LastAttempt)
	}
	next := st.NextPoll
	if next.IsZero() {
		next = s.opts.Now() // never polled: due at once
	}
	s.metrics.scheduled(f.spec.ID, next, owed)
	s.mu.Lock()
	f.state, f.loaded = st, true
	s.mu.Unlock()
	return nil
}

// poll fetches one feed, publishes its new items and records the outcome.
// The returned error names the feed.
func (s *Scheduler) poll(ctx context.Context, f *feed) error {
	f.pollMu.Lock()
	defer f.pollMu.Unlock()
	id := f.spec.ID

	if err := s.ensureLoaded(ctx, f); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("feed %s: %w", id, ctx.Err())
		}
		s.mu.Lock()
		st := f.state.clone()
		s.mu.Unlock()
		return s.fail(f, st, s.opts.Now(), err)
	}

	s.mu.Lock()
	st := f.state.clone()
	s.mu.Unlock()

	now := s.opts.Now()
	st.LastAttempt = now
	began := time.Now()
	resp, err := s.opts.Fetcher.Fetch(ctx, f.spec.URL, Conditional{ETag: st.ETag, LastModified: st.LastModified})
	s.metrics.fetchTook(id, time.Since(began))
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: not the feed's fault, nothing to record.
			return fmt.Errorf("feed %s: %w", id, ctx.Err())
		}
		s.metrics.fetched(id, fetchResult(err))
		var herr *HTTPError
		if errors.As(err, &herr) {
			st.LastStatus = herr.Status
		}
		return s.fail(f, st, now, err)
	}
	st.LastStatus = resp.Status

	if resp.NotModified {
		s.metrics.fetched(id, resultNotModified)
		st.ETag, st.LastModified = resp.ETag, resp.LastModified
		return s.succeed(f, st, now, 0)
	}

	parsed, salvaged, err := parseFeed(resp.Body, resp.ContentType)
	if err != nil {
		s.metrics.fetched(id, resultParseError)
		return s.fail(f, st, now, fmt.Errorf("%s: %w", resp.FinalURL, err))
	}
	if salvaged != nil {
		s.log.Warn("feed document is broken; kept the items that parse", "feed", id, "url", resp.FinalURL,
			"kept", salvaged.kept, "dropped", salvaged.dropped, "err", salvaged.cause)
	}
	s.metrics.fetched(id, resultOK)
	s.metrics.itemsParsed(id, len(parsed.Items))

	mentions := Normalise(f.spec, parsed, now)
	current := make([]string, len(mentions))
	for i, m := range mentions {
		current[i] = m.ID
	}

	seen := make(map[string]bool, len(st.Seen)+len(mentions))
	for _, seenID := range st.Seen {
		seen[seenID] = true
	}
	var fresh []mention.Mention
	for _, m := range publicationOrder(mentions) {
		if !seen[m.ID] {
			seen[m.ID] = true // a feed listing an item twice publishes it once
			fresh = append(fresh, m)
		}
	}
	published, err := s.publish(ctx, id, fresh)
	if err != nil {
		// Remember what did get published, but keep the old validators:
		// with the new ETag a 304 would hide the unpublished items.
		slices.Reverse(published)
		st.Seen = mergeSeen(published, st.Seen)
		st.ItemsSeen += int64(len(published))
		if ctx.Err() != nil {
			s.commit(f, st)
			s.save(f, st)
			return fmt.Errorf("feed %s: %w", id, err)
		}
		return s.fail(f, st, now, err)
	}

	st.ETag, st.LastModified = resp.ETag, resp.LastModified
	if salvaged != nil {
		// Without validators the next poll fetches the whole document
		// again, which may then be intact; a 304 would hide the items
		// dropped from this one until the feed changes.
		st.ETag, st.LastModified = "", ""
	}
	st.Seen = mergeSeen(current, st.Seen)
	st.ItemsSeen += int64(len(published))
	if len(published) > 0 {
		s.log.Info("new feed items", "feed", id, "url", f.spec.URL, "items", len(published))
	}
	return s.succeed(f, st, now, len(parsed.Items))
}

// publish stores a poll's new mentions in order and returns the ids of
// those stored, in that order. With a BatchSink a poll that found enough
// new items stores them in batches, each all or none; a batch that fails
// is published again one mention at a time, which deduplicates each.
// The error names the first mention that could not be stored.
func (s *Scheduler) publish(ctx context.Context, feedID string, fresh []mention.Mention) ([]string, error) {
	published := make([]string, 0, len(fresh))
	batcher, _ := s.opts.Sink.(BatchSink)
	for len(fresh) > 0 {
		chunk := fresh[:1]
		if batcher != nil && batcher.MaxBatch() > 1 && len(fresh) >= max(batcher.MinBatch(), 2) {
			chunk = fresh[:min(len(fresh), batcher.MaxBatch())]
			err := batcher.PublishMentions(ctx, chunk)
			if err == nil {
				published = s.ingested(feedID, published, chunk...)
				fresh = fresh[len(chunk):]
				continue
			}
			if ctx.Err() != nil {
				return published, fmt.Errorf("publish items %s to %s: %w", chunk[0].ID, chunk[len(chunk)-1].ID, err)
			}
			s.log.Debug("batch of new items refused; publishing them one by one", "feed", feedID, "items", len(chunk), "err", err)
		}
		for _, m := range chunk {
			if err := s.opts.Sink.PublishMention(ctx, m); err != nil {
				return published, fmt.Errorf("publish item %s (%s): %w", m.ID, m.URL, err)
			}
			published = s.ingested(feedID, published, m)
		}
		fresh = fresh[len(chunk):]
	}
	return published, nil
}

// ingested counts stored mentions and adds their ids to published.
func (s *Scheduler) ingested(feedID string, published []string, ms ...mention.Mention) []string {
	for _, m := range ms {
		published = append(published, m.ID)
		s.metrics.itemIngested(feedID)
	}
	return published
}

// publicationOrder returns mentions oldest first. Feeds list newest first, so
// items with equal dates keep reversed feed order.
func publicationOrder(mentions []mention.Mention) []mention.Mention {
	out := slices.Clone(mentions)
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b mention.Mention) int { return a.Published.Compare(b.Published) })
	return out
}

func (s *Scheduler) succeed(f *feed, st FeedState, now time.Time, items int) error {
	st.LastSuccess = now
	st.LastError = ""
	st.ConsecutiveFailures = 0
	st.NextPoll = now.Add(f.spec.Interval)
	s.commit(f, st)
	s.metrics.health(f.spec.ID, 0, now)
	s.metrics.scheduled(f.spec.ID, st.NextPoll, 0)
	s.log.Debug("polled feed", "feed", f.spec.ID, "url", f.spec.URL, "status", st.LastStatus, "items", items, "next_poll", st.NextPoll)
	if err := s.save(f, st); err != nil {
		return fmt.Errorf("feed %s: %w", f.spec.ID, err)
	}
	return nil
}

// fail records a failed poll and schedules the next one after the backoff,
// or after the server's Retry-After when that is longer.
func (s *Scheduler) fail(f *feed, st FeedState, now time.Time, cause error) error {
	err := fmt.Errorf("feed %s: %w", f.spec.ID, cause)
	st.ConsecutiveFailures++
	st.LastError = oneLine(err.Error())
	delay := backoff(st.ConsecutiveFailures, s.opts.MaxBackoff, rand.Float64())
	var herr *HTTPError
	if errors.As(cause, &herr) && herr.RetryAfter > delay {
		delay = herr.RetryAfter
	}
	st.NextPoll = now.Add(delay)
	st.LastAttempt = now
	s.commit(f, st)
	s.metrics.health(f.spec.ID, st.ConsecutiveFailures, time.Time{})
	s.metrics.scheduled(f.spec.ID, st.NextPoll, delay)
	s.log.Warn("feed poll failed", "feed", f.spec.ID, "url", f.spec.URL,
		"failures", st.ConsecutiveFailures, "next_poll", st.NextPoll, "err", cause)
	_ = s.save(f, st) // logged by save; the poll error is what matters
	return err
}

func (s *Scheduler) commit(f *feed, st FeedState) {
	s.mu.Lock()
	f.state = st
	s.mu.Unlock()
}

func (s *Scheduler) save(f *feed, st FeedState) error {
	ctx, cancel := context.WithTimeout(context.Background(), stateSaveTimeout)
	defer cancel()
	if err := s.opts.Store.Save(ctx, st); err != nil {
		s.log.Error("saving feed state", "feed", f.spec.ID, "url", f.spec.URL, "err", err)
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// backoff is the delay after the given number of consecutive failures:
// 30s doubling per failure, capped at limit, then shortened by up to 20%
// (jitter in [0,1)) so feeds failing together spread out.
func backoff(failures int, limit time.Duration, jitter float64) time.Duration {
	d := limit
	if failures < 1 {
		failures = 1
	}
	if failures <= 32 {
		if b := initialBackoff << (failures - 1); b > 0 && b < limit {
			d = b
		}
	}
	return d - time.Duration(float64(d)*0.2*jitter)
}

func oneLine(s string) string {
	return truncateUTF8(strings.Join(strings.Fields(s), " "), 1024)
}
