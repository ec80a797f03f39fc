package ingest

import (
	"container/heap"
	"slices"
	"testing"
	"time"
)

// The queue gives the feeds soonest due first (ties by ID), follows a feed
// whose poll moved later, and after refresh one whose poll moved earlier.
func TestDueQueueOrder(t *testing.T) {
	s := &Scheduler{}
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	feeds := map[string]*feed{}
	var q dueQueue
	for _, c := range []struct {
		id        string
		next      time.Duration
		notBefore time.Duration
	}{
		{"nos", 3 * time.Minute, 0},
		{"reddit", time.Minute, 0},
		{"mastodon", time.Minute, 0}, // ties with reddit: by ID
		{"vrt", 0, 5 * time.Minute},  // held by another process for a while
		{"blog", 2 * time.Minute, 0},
	} {
		f := &feed{spec: FeedSpec{ID: c.id}, state: FeedState{NextPoll: base.Add(c.next)}}
		if c.notBefore > 0 {
			f.notBefore = base.Add(c.notBefore)
		}
		feeds[c.id] = f
		s.queueFeed(&q, f)
	}
	order := func() []string {
		var ids []string
		for {
			f, _, ok := s.soonest(&q)
			if !ok {
				return ids
			}
			heap.Pop(&q)
			ids = append(ids, f.spec.ID)
		}
	}

	// mastodon was polled by hand: now due after nos. blog's backoff
	// ended early (a manual poll succeeded): due first, seen after refresh.
	feeds["mastodon"].state.NextPoll = base.Add(4 * time.Minute)
	feeds["blog"].state.NextPoll = base.Add(30 * time.Second)
	s.refresh(&q)
	want := []string{"blog", "reddit", "nos", "mastodon", "vrt"}
	if got := order(); !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}

	// Without a refresh a feed that moved later is still given in its new
	// place: the stale key is corrected when it comes up.
	for _, id := range []string{"nos", "reddit", "blog"} {
		s.queueFeed(&q, feeds[id])
	}
	feeds["reddit"].state.NextPoll = base.Add(10 * time.Minute)
	want = []string{"blog", "nos", "reddit"}
	if got := order(); !slices.Equal(got, want) {
		t.Errorf("after a later poll without refresh: order %v, want %v", got, want)
	}
}
