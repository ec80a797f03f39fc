package ingest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/mediawatch/mediawatch/mention"
)

// Sink receives new mentions. PublishMention returns only after the broker
// has acknowledged the mention, so a nil error means it is durable.
type Sink interface {
	PublishMention(ctx context.Context, m mention.Mention) error
}

// BatchSink is a Sink that can also store several mentions at once, all or
// none. The scheduler uses it for a poll that found at least
// BatchSink.MinBatch new items; when a batch fails it publishes that
// batch's mentions one by one, so PublishMentions may fail for any reason
// (a mention stored before, a server that cannot) and nothing is lost.
type BatchSink interface {
	Sink
	// PublishMentions returns nil once every mention is durable.
	PublishMentions(ctx context.Context, ms []mention.Mention) error
	// MinBatch is the fewest mentions worth a batch; MaxBatch the most
	// one may hold. MaxBatch 0 means the sink cannot batch now.
	MinBatch() int
	MaxBatch() int
}

// StateStore persists FeedState across restarts.
type StateStore interface {
	// Load returns the stored state of a feed and whether there was one.
	Load(ctx context.Context, feedID string) (FeedState, bool, error)
	Save(ctx context.Context, st FeedState) error
}

// FeedState is what the scheduler remembers about a feed between polls and
// across restarts.
type FeedState struct {
	FeedID       string `json:"feed_id"`
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`

	LastAttempt time.Time `json:"last_attempt"`
	LastSuccess time.Time `json:"last_success"`
	NextPoll    time.Time `json:"next_poll"`

	LastError           string `json:"last_error,omitempty"`
	ConsecutiveFailures int    `json:"consecutive_failures"`
	ItemsSeen           int64  `json:"items_seen"`
	LastStatus          int    `json:"last_status,omitempty"`

	// Seen holds the IDs of recently seen items, most recent first.
	Seen []string `json:"seen,omitempty"`
}

func (st FeedState) clone() FeedState {
	st.Seen = slices.Clone(st.Seen)
	return st
}

// MemoryStore is a StateStore held in memory, for single runs and tests. It
// is safe for concurrent use. The zero value is ready to use.
type MemoryStore struct {
	mu     sync.Mutex
	states map[string]FeedState
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load implements StateStore.
func (s *MemoryStore) Load(ctx context.Context, feedID string) (FeedState, bool, error) {
	if err := ctx.Err(); err != nil {
		return FeedState{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[feedID]
	return st.clone(), ok, nil
}

// Save implements StateStore.
func (s *MemoryStore) Save(ctx context.Context, st FeedState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.states == nil {
		s.states = make(map[string]FeedState)
	}
	s.states[st.FeedID] = st.clone()
	return nil
}

// Bounds of FeedState.Seen: enough to cover items that drop out of a feed
// and come back (pagination jitter, edited posts), small enough to store.
const (
	minSeen = 1000
	maxSeen = 20000
)

// mergeSeen puts the IDs of the current feed first, followed by older IDs
// not in it, keeping max(2×len(current), minSeen) entries, at most maxSeen.
func mergeSeen(current, previous []string) []string {
	limit := min(max(2*len(current), minSeen), maxSeen)
	out := make([]string, 0, min(len(current)+len(previous), limit))
	in := make(map[string]bool, len(current)+len(previous))
	for _, list := range [][]string{current, previous} {
		for _, id := range list {
			if len(out) == limit {
				return out
			}
			if !in[id] {
				in[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}
