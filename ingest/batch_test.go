package ingest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/mention"
)

// batchSink stores as JetStream does: a mention whose id is stored already
// is acknowledged and not stored again, and a batch holding one is refused
// whole.
type batchSink struct {
	mu       sync.Mutex
	min, max int
	stored   []string
	batches  [][]string // accepted batches
	refused  int
}

func (s *batchSink) has(id string) bool { return slices.Contains(s.stored, id) }

func (s *batchSink) PublishMention(_ context.Context, m mention.Mention) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.has(m.ID) {
		s.stored = append(s.stored, m.ID)
	}
	return nil
}

func (s *batchSink) PublishMentions(_ context.Context, ms []mention.Mention) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, m := range ms {
		if s.has(m.ID) {
			s.refused++
			return errors.New("atomic publish batch contains duplicate message id")
		}
		ids = append(ids, m.ID)
	}
	s.stored = append(s.stored, ids...)
	s.batches = append(s.batches, ids)
	return nil
}

func (s *batchSink) MinBatch() int { return s.min }
func (s *batchSink) MaxBatch() int { return s.max }

// A poll's new items go out in batches of at most MaxBatch, the rest one
// by one; a batch refused because the broker has one of its items (stored
// before a crash, say) is published again item by item. Either way every
// item is stored once, oldest first.
func TestSchedulerPublishesInBatches(t *testing.T) {
	srv := newFeedServer(t, "rss.xml", "application/rss+xml", true)
	spec := FeedSpec{ID: "nieuws", URL: srv.URL, Source: "news", Interval: 10 * time.Minute}
	for _, c := range []struct {
		name        string
		min, max    int
		storedFirst int // index (oldest first) of an item the broker has already; -1: none
		wantBatches int
		wantRefused int
	}{
		{name: "one batch and one single", min: 2, max: 2, storedFirst: -1, wantBatches: 1},
		{name: "whole poll in one batch", min: 2, max: 100, storedFirst: -1, wantBatches: 1},
		{name: "too few for a batch", min: 4, max: 100, storedFirst: -1, wantBatches: 0},
		{name: "sink that cannot batch now", min: 2, max: 0, storedFirst: -1, wantBatches: 0},
		{name: "batch refused, published one by one", min: 2, max: 100, storedFirst: 1, wantRefused: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The item ids, oldest first, from a run that records them.
			probe := &recordingSink{}
			ps, _, _ := newScheduler(t, NewMemoryStore(), probe, (&clock{now: fixedNow}).Now, spec)
			if err := ps.PollNow(context.Background(), spec.ID); err != nil {
				t.Fatal(err)
			}
			want := probe.ids()
			if len(want) != 3 {
				t.Fatalf("the feed has %d items, want 3", len(want))
			}

			sink := &batchSink{min: c.min, max: c.max}
			if c.storedFirst >= 0 {
				sink.stored = []string{want[c.storedFirst]}
			}
			s, _, _ := newScheduler(t, NewMemoryStore(), sink, (&clock{now: fixedNow}).Now, spec)
			if err := s.PollNow(context.Background(), spec.ID); err != nil {
				t.Fatal(err)
			}
			wantStored := want
			if c.storedFirst >= 0 {
				wantStored = append([]string{want[c.storedFirst]}, slices.Delete(slices.Clone(want), c.storedFirst, c.storedFirst+1)...)
			}
			if !slices.Equal(sink.stored, wantStored) {
				t.Errorf("stored %v, want %v", sink.stored, wantStored)
			}
			if len(sink.batches) != c.wantBatches || sink.refused != c.wantRefused {
				t.Errorf("%d batches %v and %d refused, want %d and %d", len(sink.batches), sink.batches, sink.refused, c.wantBatches, c.wantRefused)
			}
			for _, b := range sink.batches {
				if len(b) > c.max || len(b) < c.min {
					t.Errorf("batch of %d, want %d to %d", len(b), c.min, c.max)
				}
			}
			if got := feedMetric(t, s, "mediawatch_items_ingested_total", spec.ID); got != 3 {
				t.Errorf("items ingested %v, want 3", got)
			}
		})
	}
}
