// Package lease shares the feed list among the ingest processes of a
// deployment, on JetStream key-value buckets, so that no feed is polled by
// two processes and the feeds of a process that dies are taken over within
// one lease period.
//
// The design, in three parts:
//
//   - Membership. Every ingest process puts a key of its own into the bucket
//     mediawatch_ingest_members every Period/8. The bucket's TTL is Period/2:
//     a process that stops (a crash, SIGKILL, a network partition) drops out
//     of the list at most Period/2 after its last heartbeat.
//   - Ownership. Each process reads the list every Period/8 and computes
//     for each feed its owner by rendezvous hashing over the live members:
//     every process agrees without talking, and a member joining or leaving
//     moves only its share of the feeds.
//   - Leases. A process polls a feed only while it holds the feed's key in
//     mediawatch_feed_leases, taken with compare-and-set: created when
//     free, taken over when its holder is no longer a member, handed back
//     (deleted at its revision) when the list says the feed is another's —
//     but never while a poll of it is in flight. The new owner waits until
//     the old one has handed it back. Two processes therefore never hold a
//     lease at once, however their views of the list differ for a moment.
//
// A process that cannot renew its heartbeat for 3/8 of a period fences
// itself: it polls nothing until a heartbeat succeeds again, and then takes
// its leases anew. By then its key may have expired and another process
// taken over; fencing before the key can expire (at Period/2) keeps the two
// from polling the same feed.
//
// So a dead process's feeds are taken over at most Period/2 (its key
// expiring) + Period/8 (the next look at the list) after its last
// heartbeat: within one period.
package lease

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The buckets.
const (
	BucketMembers = "mediawatch_ingest_members"
	BucketLeases  = "mediawatch_feed_leases"
)

// DefaultPeriod is the lease period when none is configured.
const DefaultPeriod = 30 * time.Second

// MinPeriod bounds the period from below: the members bucket's TTL is half
// of it and JetStream expires messages about once a second.
const MinPeriod = 4 * time.Second

// Options configures a Manager.
type Options struct {
	JS jetstream.JetStream
	// Member names this process; empty: host name, process id and a random
	// suffix, so that a restarted process is a new member.
	Member string
	// Period is the lease period (DefaultPeriod when zero).
	Period time.Duration
	// Feeds are the ids of the feeds to share: every ingest process of a
	// deployment has the same list.
	Feeds      []string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Manager holds this process's share of the feeds.
type Manager struct {
	js      jetstream.JetStream
	members jetstream.KeyValue
	leases  jetstream.KeyValue
	me      string
	period  time.Duration
	feeds   []string
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	held     map[string]uint64 // feed → revision of our lease key
	inFlight map[string]bool
	lastBeat time.Time
	live     []string
	changed  chan struct{}

	leased     *prometheus.GaugeVec
	memberGage prometheus.Gauge
	takeovers  prometheus.Counter
}

// New creates or opens the buckets. Nothing is held until Run has run a
// round.
func New(ctx context.Context, opts Options) (*Manager, error) {
	period := cmp.Or(opts.Period, DefaultPeriod)
	if period < MinPeriod {
		return nil, fmt.Errorf("lease period %s is below the minimum of %s", period, MinPeriod)
	}
	me := opts.Member
	if me == "" {
		me = defaultMember()
	}
	if !validKey(me) {
		return nil, fmt.Errorf("lease: member name %q is not a valid key (letters, digits, - _ = .)", me)
	}
	members, err := opts.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketMembers,
		Description: "Live ingest processes: each keeps its key fresh; a key not renewed expires and its feeds are taken over.",
		TTL:         period / 2,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketMembers, err)
	}
	leases, err := opts.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketLeases,
		Description: "Which ingest process polls each feed, taken and handed back with compare-and-set.",
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketLeases, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{
		js: opts.JS, members: members, leases: leases, me: me, period: period,
		feeds: slices.Sorted(slices.Values(opts.Feeds)), log: logger, now: time.Now,
		held: map[string]uint64{}, inFlight: map[string]bool{}, changed: make(chan struct{}, 1),
		leased: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_feed_leased",
			Help: "1 while this process holds the feed's lease and may poll it.",
		}, []string{"feed"}),
		memberGage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_ingest_members",
			Help: "Ingest processes this process sees as live, itself included.",
		}),
		takeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_feed_lease_takeovers_total",
			Help: "Leases this process took over from a process that had stopped.",
		}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{m.leased, m.memberGage, m.takeovers} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("lease: register metrics: %w", err)
			}
		}
	}
	for _, f := range m.feeds {
		if !validKey(f) {
			return nil, fmt.Errorf("lease: feed id %q is not a valid key", f)
		}
		m.leased.WithLabelValues(f).Set(0)
	}
	return m, nil
}

// Member is this process's name in the members bucket.
func (m *Manager) Member() string { return m.me }

// Changed signals (without blocking) when this process has taken a lease:
// the scheduler wakes and looks at the feed.
func (m *Manager) Changed() <-chan struct{} { return m.changed }

// Begin reports whether this process may poll the feed now, and if so
// marks the poll in flight: the lease is not handed back until End.
func (m *Manager) Begin(feed string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.held[feed]; !ok || m.fencedLocked() {
		return false
	}
	m.inFlight[feed] = true
	return true
}

// End ends the poll Begin allowed.
func (m *Manager) End(feed string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.inFlight, feed)
}

// Held returns the feeds this process holds, sorted.
func (m *Manager) Held() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.held))
	for f := range m.held {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// fencedLocked: the heartbeat has not been renewed for long enough that
// the key might expire before the next try; m.mu is held.
func (m *Manager) fencedLocked() bool {
	return m.lastBeat.IsZero() || m.now().Sub(m.lastBeat) > 3*m.period/8
}

// Run keeps the heartbeat and the leases until ctx ends, then hands every
// lease back and leaves the list, so that the others take over at once
// rather than after a period.
func (m *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(m.period / 8)
	defer tick.Stop()
	m.log.Info("sharing feeds with the other ingest processes", "member", m.me, "feeds", len(m.feeds), "lease_period", m.period)
	for {
		m.round(ctx)
		select {
		case <-ctx.Done():
			m.leave()
			return nil
		case <-tick.C:
		}
	}
}

// round is one heartbeat and one look at the list and the leases.
func (m *Manager) round(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, m.period/8)
	defer cancel()
	if _, err := m.members.PutString(rctx, m.me, m.now().UTC().Format(time.RFC3339Nano)); err != nil {
		m.log.Warn("lease heartbeat failed", "member", m.me, "err", err)
	} else {
		m.mu.Lock()
		wasFenced := m.fencedLocked()
		m.lastBeat = m.now()
		if wasFenced && len(m.held) > 0 {
			// While fenced, another process may have taken our leases:
			// forget them and take them anew with compare-and-set.
			m.dropAllLocked()
		}
		m.mu.Unlock()
	}
	m.mu.Lock()
	fenced := m.fencedLocked()
	m.mu.Unlock()
	if fenced {
		return
	}
	live, err := m.liveMembers(rctx)
	if err != nil {
		m.log.Warn("reading the ingest members failed", "err", err)
		return
	}
	m.mu.Lock()
	m.live = live
	m.mu.Unlock()
	m.memberGage.Set(float64(len(live)))
	gained := false
	for _, f := range m.feeds {
		if ctx.Err() != nil {
			return
		}
		want := owner(f, live) == m.me
		m.mu.Lock()
		rev, held := m.held[f]
		busy := m.inFlight[f]
		m.mu.Unlock()
		switch {
		case held && !want && !busy:
			m.release(rctx, f, rev)
		case !held && want:
			if m.acquire(rctx, f, live) {
				gained = true
			}
		}
	}
	if gained {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
}

// liveMembers lists the members whose keys have not expired, sorted. This
// process is always among them once its heartbeat succeeded.
func (m *Manager) liveMembers(ctx context.Context) ([]string, error) {
	keys, err := m.members.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = keys.Stop() }()
	var live []string
	for k := range keys.Keys() {
		live = append(live, k)
	}
	if !slices.Contains(live, m.me) {
		live = append(live, m.me)
	}
	slices.Sort(live)
	return live, nil
}

// acquire takes the feed's lease: free, or held by a process that is no
// longer a member. A lease a live member holds is left to it: it hands the
// lease back when it sees the list change.
func (m *Manager) acquire(ctx context.Context, feed string, live []string) bool {
	e, err := m.leases.Get(ctx, feed)
	var rev uint64
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		rev, err = m.leases.Create(ctx, feed, []byte(m.me))
		if err != nil {
			return false // someone else was quicker, or deleted it just now
		}
	case err != nil:
		m.log.Warn("reading a feed lease failed", "feed", feed, "err", err)
		return false
	case string(e.Value()) == m.me:
		rev = e.Revision() // ours from before (a restart with the same name)
	case slices.Contains(live, string(e.Value())):
		return false
	default:
		rev, err = m.leases.Update(ctx, feed, []byte(m.me), e.Revision())
		if err != nil {
			return false
		}
		m.takeovers.Inc()
		m.log.Info("took over a feed from a stopped process", "feed", feed, "from", string(e.Value()))
	}
	m.mu.Lock()
	m.held[feed] = rev
	m.mu.Unlock()
	m.leased.WithLabelValues(feed).Set(1)
	return true
}

// release hands a lease back, at the revision we took it (if it is not
// ours any more, there is nothing to hand back).
func (m *Manager) release(ctx context.Context, feed string, rev uint64) {
	err := m.leases.Delete(ctx, feed, jetstream.LastRevision(rev))
	if err != nil && !isWrongRevision(err) {
		m.log.Warn("handing back a feed lease failed", "feed", feed, "err", err)
		return
	}
	m.mu.Lock()
	delete(m.held, feed)
	m.mu.Unlock()
	m.leased.WithLabelValues(feed).Set(0)
}

func (m *Manager) dropAllLocked() {
	for f := range m.held {
		delete(m.held, f)
		m.leased.WithLabelValues(f).Set(0)
	}
}

// leave hands back every lease and removes this process from the list.
func (m *Manager) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range m.Held() {
		m.mu.Lock()
		rev := m.held[f]
		m.mu.Unlock()
		m.release(ctx, f, rev)
	}
	if err := m.members.Delete(ctx, m.me); err != nil {
		m.log.Warn("leaving the ingest members failed", "member", m.me, "err", err)
	}
	m.log.Info("handed back every feed lease", "member", m.me)
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// owner picks the feed's owner among the members by rendezvous hashing:
// the member with the highest hash of (member, feed). Deterministic, and a
// change of members moves only the feeds of the member that came or went.
func owner(feed string, members []string) string {
	var best string
	var bestScore uint64
	for _, mb := range members {
		h := fnv.New64a()
		h.Write([]byte(mb))
		h.Write([]byte{0})
		h.Write([]byte(feed))
		// fnv alone clusters on similar inputs; mix the bits.
		if s := mix(h.Sum64()); best == "" || s > bestScore || (s == bestScore && mb < best) {
			best, bestScore = mb, s
		}
	}
	return best
}

// mix is the finaliser of SplitMix64.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// defaultMember names a process: host, pid and a random suffix.
func defaultMember() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	return strings.Map(func(r rune) rune {
		if validKeyRune(r) {
			return r
		}
		return '-'
	}, name)
}

func validKey(s string) bool {
	if s == "" || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
		return false
	}
	for _, r := range s {
		if !validKeyRune(r) {
			return false
		}
	}
	return true
}

func validKeyRune(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-_=.", r)
}
