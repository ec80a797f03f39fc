package lease

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const testPeriod = MinPeriod

func feedIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("feed-%03d", i)
	}
	return out
}

// member is a Manager driven by the test: rounds run every period/8 until
// the member is stopped gracefully (it hands its leases back) or crashes
// (it just stops, as after SIGKILL).
type member struct {
	*Manager
	cancel   context.CancelFunc
	done     chan struct{}
	reg      *prometheus.Registry
	lastBeat func() time.Time
}

func startMember(t *testing.T, js jetstream.JetStream, name string, feeds []string, graceful bool) *member {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(context.Background(), Options{JS: js, Member: name, Period: testPeriod, Feeds: feeds, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mb := &member{Manager: m, cancel: cancel, done: make(chan struct{}), reg: reg}
	go func() {
		defer close(mb.done)
		if graceful {
			_ = m.Run(ctx)
			return
		}
		// Rounds without the goodbye: cancelling is a crash.
		tick := time.NewTicker(testPeriod / 8)
		defer tick.Stop()
		for ctx.Err() == nil {
			m.round(ctx)
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-mb.done })
	return mb
}

func (mb *member) stop() { mb.cancel(); <-mb.done }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// covers reports whether the members hold every feed exactly once between
// them.
func covers(feeds []string, members ...*member) bool {
	var all []string
	for _, m := range members {
		all = append(all, m.Held()...)
	}
	slices.Sort(all)
	return slices.Equal(all, feeds)
}

// watchOverlap checks, until stop is closed, that no feed is held by two
// members at once, and reports the first overlap.
func watchOverlap(members func() []*member, stop <-chan struct{}) <-chan string {
	out := make(chan string, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-stop:
				return
			default:
			}
			holder := map[string]string{}
			for _, m := range members() {
				for _, f := range m.Held() {
					if other, ok := holder[f]; ok {
						out <- fmt.Sprintf("%s held by %s and %s", f, other, m.Member())
						return
					}
					holder[f] = m.Member()
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return out
}

func TestMembersShareTheFeedsAndHandThemOver(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	feeds := feedIDs(90)
	var mu sync.Mutex
	var running []*member
	list := func() []*member { mu.Lock(); defer mu.Unlock(); return slices.Clone(running) }
	add := func(m *member) { mu.Lock(); running = append(running, m); mu.Unlock() }
	remove := func(m *member) {
		mu.Lock()
		running = slices.DeleteFunc(running, func(x *member) bool { return x == m })
		mu.Unlock()
	}
	stop := make(chan struct{})
	overlaps := watchOverlap(list, stop)

	a := startMember(t, js, "ingest-a", feeds, true)
	add(a)
	waitFor(t, "one member holds every feed", 2*testPeriod, func() bool { return covers(feeds, a) })

	b := startMember(t, js, "ingest-b", feeds, true)
	add(b)
	c := startMember(t, js, "ingest-c", feeds, false)
	add(c)
	waitFor(t, "three members share the feeds", 3*testPeriod, func() bool {
		return covers(feeds, a, b, c) && len(a.Held()) > 0 && len(b.Held()) > 0 && len(c.Held()) > 0
	})
	for _, m := range []*member{a, b, c} {
		// Rendezvous hashing: about a third each.
		if n := len(m.Held()); n < 15 || n > 45 {
			t.Errorf("%s holds %d of 90 feeds", m.Member(), n)
		}
		held := 0.0
		for _, f := range feeds {
			held += testutil.ToFloat64(m.leased.WithLabelValues(f))
		}
		if int(held) != len(m.Held()) {
			t.Errorf("%s: mediawatch_feed_leased sums to %v, holds %d", m.Member(), held, len(m.Held()))
		}
	}

	// A graceful stop hands the leases back at once.
	bHeld := b.Held()
	b.stop()
	remove(b)
	took := waitFor(t, "the others take over a stopped member's feeds", 2*testPeriod, func() bool { return covers(feeds, a, c) })
	t.Logf("graceful hand-over of %d feeds: %v", len(bHeld), took)

	// A crash leaves the leases behind; they are taken over within one
	// period of the last heartbeat.
	cHeld := c.Held()
	c.stop()
	crashed := time.Now()
	remove(c)
	waitFor(t, "a crashed member's feeds are taken over", 2*testPeriod, func() bool { return covers(feeds, a) })
	if d := time.Since(crashed); d > testPeriod {
		t.Errorf("a crashed member's %d feeds were taken over after %v, more than the lease period %v", len(cHeld), d, testPeriod)
	} else {
		t.Logf("takeover of %d feeds after a crash: %v (period %v)", len(cHeld), d, testPeriod)
	}
	if got := testutil.ToFloat64(a.takeovers); got != float64(len(cHeld)) {
		t.Errorf("takeovers counted %v, want %d", got, len(cHeld))
	}
	close(stop)
	if o := <-overlaps; o != "" {
		t.Errorf("a feed was held twice: %s", o)
	}

	// The leases in the bucket say the same as the members.
	kv, err := js.KeyValue(context.Background(), BucketLeases)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range feeds {
		e, err := kv.Get(context.Background(), f)
		if err != nil || string(e.Value()) != "ingest-a" {
			t.Fatalf("lease of %s: %v %v, want ingest-a", f, e, err)
		}
	}
}

// TestNoHandOverDuringAPoll: a lease stays while its poll is in flight, and
// the new owner gets it only after End.
func TestNoHandOverDuringAPoll(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	feeds := feedIDs(40)
	a := startMember(t, js, "ingest-a", feeds, true)
	waitFor(t, "a holds every feed", 2*testPeriod, func() bool { return covers(feeds, a) })
	var busy []string
	for _, f := range feeds {
		if owner(f, []string{"ingest-a", "ingest-b"}) == "ingest-b" {
			if !a.Begin(f) {
				t.Fatalf("Begin(%s) refused while held", f)
			}
			busy = append(busy, f)
		}
	}
	b := startMember(t, js, "ingest-b", feeds, true)
	time.Sleep(testPeriod)
	for _, f := range busy {
		if !slices.Contains(a.Held(), f) || slices.Contains(b.Held(), f) {
			t.Fatalf("%s changed hands during its poll", f)
		}
	}
	for _, f := range busy {
		a.End(f)
	}
	waitFor(t, "the polls done, b gets its feeds", 2*testPeriod, func() bool {
		return covers(feeds, a, b) && len(b.Held()) == len(busy)
	})
	for _, f := range busy {
		if a.Begin(f) {
			t.Fatalf("a may still poll %s after handing it over", f)
		}
	}
}

// TestFencedMemberPollsNothing: without a heartbeat for 3/8 of a period a
// member stops polling before its key can expire.
func TestFencedMemberPollsNothing(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	m, err := New(context.Background(), Options{JS: js, Member: "solo", Period: testPeriod, Feeds: feedIDs(3)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m.now = func() time.Time { return now }
	m.round(context.Background())
	if !m.Begin("feed-001") {
		t.Fatal("a member that just beat cannot poll its feed")
	}
	m.End("feed-001")
	now = now.Add(3*testPeriod/8 + time.Millisecond)
	if m.Begin("feed-001") {
		t.Error("a member whose heartbeat is 3/8 of a period old may still poll")
	}
}

func TestOwnerIsStableAndBalanced(t *testing.T) {
	members := []string{"a", "b", "c"}
	count := map[string]int{}
	moved := 0
	for _, f := range feedIDs(999) {
		o := owner(f, members)
		count[o]++
		if o2 := owner(f, []string{"a", "b"}); o != "c" && o2 != o {
			moved++ // a feed that was not c's moved when c left
		}
	}
	for _, m := range members {
		if count[m] < 270 || count[m] > 400 {
			t.Errorf("%s owns %d of 999", m, count[m])
		}
	}
	if moved != 0 {
		t.Errorf("%d feeds of the remaining members moved when one left", moved)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	for _, o := range []Options{
		{JS: js, Period: time.Second},
		{JS: js, Member: "has space"},
		{JS: js, Feeds: []string{"a.b.", ""}},
	} {
		if _, err := New(context.Background(), o); err == nil {
			t.Errorf("New(%+v): want an error", o)
		}
	}
}
