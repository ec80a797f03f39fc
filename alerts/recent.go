package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/nats-io/nats.go/jetstream"
)

// Recent is the dashboard's view of the latest alerts, built from the ALERTS
// stream (not from the publisher), so every web process shows the same
// alerts whichever process raised them.
type Recent struct {
	mu    sync.RWMutex
	limit int
	byID  map[string]int // alert id → position in list
	list  []Alert        // in stream order, oldest first
	// seq is the ALERTS sequence of the last message Follow applied: what
	// a page rendered from this view has seen, where its live updates
	// start.
	seq uint64
}

// Seq returns the ALERTS stream sequence of the last alert applied.
func (r *Recent) Seq() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.seq
}

// NewRecent keeps at most limit alerts.
func NewRecent(limit int) *Recent {
	return &Recent{limit: max(limit, 1), byID: map[string]int{}}
}

// Add records an alert; a repeat of a known id replaces it in place.
func (r *Recent) Add(a Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.byID[a.ID]; ok {
		r.list[i] = a
		return
	}
	r.list = append(r.list, a)
	r.byID[a.ID] = len(r.list) - 1
	if len(r.list) > r.limit {
		drop := len(r.list) - r.limit
		r.list = slices.Delete(r.list, 0, drop)
		clear(r.byID)
		for i, a := range r.list {
			r.byID[a.ID] = i
		}
	}
}

// List returns up to n alerts, newest first.
func (r *Recent) List(n int) []Alert {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n = min(n, len(r.list))
	out := make([]Alert, 0, n)
	for i := len(r.list) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, r.list[i])
	}
	return out
}

// Get returns the alert with the given id, if it is among the recent ones.
func (r *Recent) Get(id string) (Alert, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	i, ok := r.byID[id]
	if !ok {
		return Alert{}, false
	}
	return r.list[i], true
}

// Follow feeds r from the ALERTS stream, starting with the alerts of the
// last lookback, until ctx ends. It uses an ordered consumer: nothing is
// acknowledged and nothing is left behind on the server when it stops.
func (r *Recent) Follow(ctx context.Context, conn *bus.Conn, lookback time.Duration, logger *slog.Logger) error {
	start := time.Now().Add(-lookback)
	cons, err := conn.JS.OrderedConsumer(ctx, bus.StreamAlerts, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.SubjectAlerts},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", bus.StreamAlerts, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		var a Alert
		if err := json.Unmarshal(msg.Data(), &a); err != nil {
			logger.Warn("undecodable alert on stream", "subject", msg.Subject(), "err", err)
		} else {
			r.Add(a)
		}
		if meta, err := msg.Metadata(); err == nil {
			r.mu.Lock()
			r.seq = max(r.seq, meta.Sequence.Stream)
			r.mu.Unlock()
		}
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", bus.StreamAlerts, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
