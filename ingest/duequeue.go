package ingest

import (
	"cmp"
	"container/heap"
	"time"
)

// dueQueue holds the feeds waiting for their next poll, soonest due first,
// ties by feed ID so the order is deterministic. Only the scheduler's loop
// uses it. A feed's key is when it was due at the time it was queued; the
// loop checks the key of the soonest against the feed before it acts on it,
// so a feed whose poll moved later (a PollNow, a gate that refused) is
// simply queued again, and refresh rekeys every feed when one may have
// moved earlier.
//
// With ten thousand feeds the loop takes the soonest in O(log n) instead of
// sorting every feed after every poll.
type dueQueue []dueItem

type dueItem struct {
	feed *feed
	at   time.Time
}

func (q dueQueue) Len() int { return len(q) }

func (q dueQueue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return cmp.Less(q[i].feed.spec.ID, q[j].feed.spec.ID)
}

func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

func (q *dueQueue) Push(x any) { *q = append(*q, x.(dueItem)) }

func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = dueItem{}
	*q = old[:len(old)-1]
	return it
}

// dueAt is when f may be polled next: its NextPoll, or later when the gate
// asked for a pause. The caller holds the scheduler's mu.
func (f *feed) dueAt() time.Time {
	if f.notBefore.After(f.state.NextPoll) {
		return f.notBefore
	}
	return f.state.NextPoll
}

// queueFeed adds f to q with its current due time.
func (s *Scheduler) queueFeed(q *dueQueue, f *feed) {
	s.mu.Lock()
	at := f.dueAt()
	s.mu.Unlock()
	heap.Push(q, dueItem{feed: f, at: at})
}

// refresh rekeys every queued feed.
func (s *Scheduler) refresh(q *dueQueue) {
	s.mu.Lock()
	for i := range *q {
		(*q)[i].at = (*q)[i].feed.dueAt()
	}
	s.mu.Unlock()
	heap.Init(q)
}

// soonest returns the queued feed due first with its up-to-date due time,
// leaving it queued; ok is false when the queue is empty.
func (s *Scheduler) soonest(q *dueQueue) (f *feed, at time.Time, ok bool) {
	for q.Len() > 0 {
		top := &(*q)[0]
		s.mu.Lock()
		actual := top.feed.dueAt()
		s.mu.Unlock()
		if actual.Equal(top.at) {
			return top.feed, top.at, true
		}
		top.at = actual
		heap.Fix(q, 0)
	}
	return nil, time.Time{}, false
}
