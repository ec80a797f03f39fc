package triage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The stream of triage events: one subject per alert.
const (
	StreamTriage  = "TRIAGE"
	SubjectTriage = "mediawatch.triage.>"
	subjectPrefix = "mediawatch.triage."
)

// publishTimeout bounds one publish attempt; a NATS outage longer than
// that fails the request, and the user tries again.
const publishTimeout = 5 * time.Second

// maxAttempts bounds how often Do re-reads an alert that keeps changing
// under it before it gives up with ErrConflict.
const maxAttempts = 3

// EnsureStream creates the TRIAGE stream, or updates its limits. Events are
// kept as long as the alerts they are about (maxAge), so that a view
// rebuilt from the stream has the whole history of every alert it shows.
func EnsureStream(ctx context.Context, js jetstream.JetStream, maxAge time.Duration, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamTriage,
		Description: "Triage events of alerts: who acknowledged, assigned, escalated or closed what, when.",
		Subjects:    []string{SubjectTriage},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      maxAge,
		Replicas:    max(replicas, 1),
		// A retried publish carries the same event id.
		Duplicates: min(2*time.Minute, max(maxAge, time.Second)),
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamTriage, err)
	}
	return nil
}

// Store is the triage state of every alert, replayed from the TRIAGE stream
// and changed only by publishing events to it.
type Store struct {
	js     jetstream.JetStream
	logger *slog.Logger
	now    func() time.Time

	mu     sync.RWMutex
	states map[string]State
	// applied is the stream sequence of the last event folded in;
	// changed is closed and replaced whenever it moves.
	applied uint64
	changed chan struct{}

	actions   *prometheus.CounterVec
	conflicts prometheus.Counter
	byStatus  *prometheus.GaugeVec
	undecoded prometheus.Counter
}

// NewStore registers the store's metrics on reg. The store is empty until
// Follow runs.
func NewStore(js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	s := &Store{
		js: js, logger: logger, now: time.Now,
		states:  map[string]State{},
		changed: make(chan struct{}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_triage_actions_total",
			Help: "Triage actions stored, by action.",
		}, []string{"action"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_triage_conflicts_total",
			Help: "Triage actions that found the alert changed by someone else and were checked again.",
		}),
		byStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mediawatch_triage_alerts",
			Help: "Alerts with triage events, by current status (alerts nobody touched are new and not counted here).",
		}, []string{"status"}),
		undecoded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_triage_undecodable_events_total",
			Help: "Messages on the triage stream that are not triage events; they are skipped.",
		}),
	}
	for _, c := range []prometheus.Collector{s.actions, s.conflicts, s.byStatus, s.undecoded} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("triage: register metrics: %w", err)
		}
	}
	for _, a := range Actions {
		s.actions.WithLabelValues(a)
	}
	for _, st := range Statuses {
		s.byStatus.WithLabelValues(st)
	}
	return s, nil
}

// Follow replays the TRIAGE stream into the store and keeps following it
// until ctx ends. It uses an ordered consumer: nothing is acknowledged and
// nothing is left on the server when it stops.
func (s *Store) Follow(ctx context.Context) error {
	cons, err := s.js.OrderedConsumer(ctx, StreamTriage, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{SubjectTriage},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if ctx.Err() != nil {
		return nil // stopped while starting: nothing to follow
	}
	if err != nil {
		return fmt.Errorf("follow %s: %w", StreamTriage, err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		meta, err := msg.Metadata()
		if err != nil {
			s.logger.Warn("triage event without metadata", "subject", msg.Subject(), "err", err)
			return
		}
		var ev Event
		if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.AlertID == "" || subjectPrefix+ev.AlertID != msg.Subject() {
			s.undecoded.Inc()
			s.logger.Warn("undecodable triage event skipped", "subject", msg.Subject(), "seq", meta.Sequence.Stream, "err", err)
			s.advance(meta.Sequence.Stream)
			return
		}
		s.apply(ev, meta.Sequence.Stream)
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", StreamTriage, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

func (s *Store) apply(ev Event, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, known := s.states[ev.AlertID]
	next := old.Apply(ev, seq)
	s.states[ev.AlertID] = next
	if known {
		s.byStatus.WithLabelValues(old.Status).Dec()
	}
	s.byStatus.WithLabelValues(next.Status).Inc()
	s.advanceLocked(seq)
}

func (s *Store) advance(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(seq)
}

func (s *Store) advanceLocked(seq uint64) {
	if seq > s.applied {
		s.applied = seq
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// Applied returns the TRIAGE stream sequence of the last event applied.
func (s *Store) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// WaitCaughtUp returns once the store has applied every event the stream
// held when it was called: after it, Get answers as the stream does.
func (s *Store) WaitCaughtUp(ctx context.Context) error {
	str, err := s.js.Stream(ctx, StreamTriage)
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamTriage, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamTriage, err)
	}
	return s.waitApplied(ctx, info.State.LastSeq)
}

// waitApplied returns once the event at stream sequence seq (or a later
// one) has been applied.
func (s *Store) waitApplied(ctx context.Context, seq uint64) error {
	for {
		s.mu.RLock()
		done, changed := s.applied >= seq, s.changed
		s.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for triage event %d: %w", seq, ctx.Err())
		}
	}
}

// Get returns an alert's triage state; an alert without events is new.
func (s *Store) Get(alertID string) State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st, ok := s.states[alertID]; ok {
		st.History = append([]Event(nil), st.History...)
		return st
	}
	return NewState(alertID)
}

// Status returns an alert's status without copying its history.
func (s *Store) Status(alertID string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st, ok := s.states[alertID]; ok {
		return st.Status
	}
	return StatusNew
}

// Closed reports whether the alert is resolved or a false positive.
func (s *Store) Closed(alertID string) bool {
	st := s.Status(alertID)
	return st == StatusResolved || st == StatusFalsePositive
}

// Do carries out a triage request on an alert and returns its new state.
// The event is published expecting the alert's last event to be the one
// this store has seen; if someone else changed the alert in between, the
// request is checked again against the new state (a second "ack" becomes an
// ErrTransition, a reassignment still goes through).
func (s *Store) Do(ctx context.Context, alertID string, req Request) (State, error) {
	if !validAlertID(alertID) {
		return State{}, fmt.Errorf("%w: alert id %q", ErrInvalid, alertID)
	}
	for range maxAttempts {
		cur := s.Get(alertID)
		ev, err := Next(cur, req, newEventID(), s.now())
		if err != nil {
			return cur, err
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return cur, fmt.Errorf("alert %s: %s: %w", alertID, req.Action, err)
		}
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		ack, err := s.js.Publish(pctx, subjectPrefix+alertID, data,
			jetstream.WithMsgID(ev.ID),
			jetstream.WithExpectStream(StreamTriage),
			jetstream.WithExpectLastSequencePerSubject(cur.Seq))
		cancel()
		if isWrongLastSequence(err) {
			s.conflicts.Inc()
			if err := s.catchUpOn(ctx, alertID); err != nil {
				return cur, err
			}
			continue
		}
		if err != nil {
			return cur, fmt.Errorf("alert %s: %s: %w", alertID, req.Action, err)
		}
		s.actions.WithLabelValues(req.Action).Inc()
		if err := s.waitApplied(ctx, ack.Sequence); err != nil {
			return cur, err
		}
		return s.Get(alertID), nil
	}
	return s.Get(alertID), fmt.Errorf("alert %s: %s: %w", alertID, req.Action, ErrConflict)
}

// catchUpOn waits until the store has applied the alert's latest event.
func (s *Store) catchUpOn(ctx context.Context, alertID string) error {
	str, err := s.js.Stream(ctx, StreamTriage)
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamTriage, err)
	}
	msg, err := str.GetLastMsgForSubject(ctx, subjectPrefix+alertID)
	if err != nil {
		return fmt.Errorf("alert %s: latest triage event: %w", alertID, err)
	}
	return s.waitApplied(ctx, msg.Sequence)
}

// isWrongLastSequence reports whether a publish failed because the alert
// had a newer event than the one expected.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// validAlertID accepts what alert ids are (hex digests) and more, but
// nothing that could change the subject an event lands on.
func validAlertID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
