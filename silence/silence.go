// Package silence mutes notifications for a while: a known spam author, a
// rule that misfires on a campaign, a domain of a partner, a story the team
// already handles. A silence matches alerts by rule, author, domain or text,
// runs from its start to its end, and carries who made it and why. Silenced
// alerts are still stored and shown; only their notifications are held back.
//
// Silences live in a JetStream key-value bucket, so every process applies
// the same ones and they survive restarts.
package silence

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Bucket is the key-value bucket of silences, one key per silence.
const Bucket = "mediawatch_silences"

// MaxDuration bounds a silence: a mute nobody remembers must not hide
// alerts for ever.
const MaxDuration = 90 * 24 * time.Hour

// ErrInvalid is returned for a silence that matches nothing, has no reason
// or no creator, or an end before its start.
var ErrInvalid = errors.New("invalid silence")

// ErrNotFound is returned for an unknown silence id.
var ErrNotFound = errors.New("no such silence")

// Silence mutes the alerts it matches between StartsAt and EndsAt. Every
// matcher set must match (an empty one matches anything); at least one must
// be set. The JSON field names are an API contract.
type Silence struct {
	ID string `json:"id"`
	// Rule: the alert has this rule among its rules.
	Rule string `json:"rule,omitempty"`
	// Author: the post's author, case-insensitive.
	Author string `json:"author,omitempty"`
	// Domain: the post's URL is on this domain or a subdomain of it.
	Domain string `json:"domain,omitempty"`
	// Text: the alert's title or snippet contains this, case-insensitive.
	Text      string    `json:"text,omitempty"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Active reports whether the silence applies at t.
func (s Silence) Active(t time.Time) bool {
	return !t.Before(s.StartsAt) && t.Before(s.EndsAt)
}

// Matches reports whether the silence's matchers match the alert (whatever
// the time).
func (s Silence) Matches(a *alerts.Alert) bool {
	if s.Rule != "" && !slices.Contains(a.Rules, s.Rule) {
		return false
	}
	if s.Author != "" && !strings.EqualFold(strings.TrimSpace(a.Mention.Author), s.Author) {
		return false
	}
	if s.Domain != "" && !onDomain(a.Mention.URL, s.Domain) {
		return false
	}
	if s.Text != "" {
		text := strings.ToLower(s.Text)
		if !strings.Contains(strings.ToLower(a.Mention.Title), text) && !strings.Contains(strings.ToLower(a.Snippet), text) {
			return false
		}
	}
	return true
}

func onDomain(rawURL, domain string) bool {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	domain = strings.ToLower(strings.Trim(domain, ". "))
	return host == domain || strings.HasSuffix(host, "."+domain)
}

// check validates a silence as a user submits it.
func (s *Silence) check() error {
	s.Rule, s.Author, s.Domain, s.Text = strings.TrimSpace(s.Rule), strings.TrimSpace(s.Author), strings.TrimSpace(s.Domain), strings.TrimSpace(s.Text)
	s.Reason, s.CreatedBy = strings.TrimSpace(s.Reason), strings.TrimSpace(s.CreatedBy)
	switch {
	case s.Rule == "" && s.Author == "" && s.Domain == "" && s.Text == "":
		return fmt.Errorf("%w: set at least one of rule, author, domain, text", ErrInvalid)
	case s.Reason == "":
		return fmt.Errorf("%w: a silence needs a reason", ErrInvalid)
	case s.CreatedBy == "":
		return fmt.Errorf("%w: no creator", ErrInvalid)
	case !s.EndsAt.After(s.StartsAt):
		return fmt.Errorf("%w: ends_at must be after starts_at", ErrInvalid)
	case s.EndsAt.Sub(s.StartsAt) > MaxDuration:
		return fmt.Errorf("%w: a silence lasts at most %s", ErrInvalid, MaxDuration)
	case len(s.Text) > 200 || len(s.Reason) > 2000:
		return fmt.Errorf("%w: text or reason too long", ErrInvalid)
	}
	return nil
}

// Store keeps the silences of the bucket in memory, following its changes.
type Store struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	now    func() time.Time

	mu   sync.RWMutex
	byID map[string]Silence
	// revs is the revision applied per key; changed is closed and replaced
	// on every change, for writers waiting to read their own write.
	revs    map[string]uint64
	changed chan struct{}

	active prometheus.GaugeFunc
}

// NewStore creates or opens the bucket and registers the metrics. Expired
// silences are kept a week, so the API can still show what was muted.
func NewStore(ctx context.Context, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Silences: notifications muted by rule, author, domain or text for a while.",
		Storage:     jetstream.FileStorage,
		TTL:         MaxDuration + 7*24*time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", Bucket, err)
	}
	s := &Store{kv: kv, logger: logger, now: time.Now, byID: map[string]Silence{}, revs: map[string]uint64{}, changed: make(chan struct{})}
	s.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mediawatch_silences_active",
		Help: "Silences in force now.",
	}, func() float64 { return float64(len(s.List(true))) })
	if err := reg.Register(s.active); err != nil {
		return nil, fmt.Errorf("silence: register metrics: %w", err)
	}
	return s, nil
}

// Follow loads the bucket and applies its changes until ctx ends. ready is
// closed once the initial values are loaded.
func (s *Store) Follow(ctx context.Context, ready chan<- struct{}) error {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch %s: %w", Bucket, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil { // the initial values are all in
				if ready != nil {
					close(ready)
					ready = nil
				}
				continue
			}
			s.apply(e)
		}
	}
}

func (s *Store) apply(e jetstream.KeyValueEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revs[e.Key()] = e.Revision()
	close(s.changed)
	s.changed = make(chan struct{})
	if e.Operation() != jetstream.KeyValuePut {
		delete(s.byID, e.Key())
		return
	}
	var sil Silence
	if err := json.Unmarshal(e.Value(), &sil); err != nil || sil.ID != e.Key() {
		s.logger.Warn("undecodable silence skipped", "key", e.Key(), "err", err)
		return
	}
	s.byID[sil.ID] = sil
}

// Create stores a new silence and returns it with its id. A silence
// without a start starts now.
func (s *Store) Create(ctx context.Context, sil Silence) (Silence, error) {
	now := s.now().UTC()
	sil.ID, sil.CreatedAt = newID(), now
	if sil.StartsAt.IsZero() {
		sil.StartsAt = now
	}
	if err := sil.check(); err != nil {
		return Silence{}, err
	}
	data, _ := json.Marshal(sil)
	rev, err := s.kv.Create(ctx, sil.ID, data)
	if err != nil {
		return Silence{}, fmt.Errorf("silence %s: %w", sil.ID, err)
	}
	s.waitFor(ctx, sil.ID, rev)
	return sil, nil
}

// Expire ends a silence now; it stays listed as expired.
func (s *Store) Expire(ctx context.Context, id string) (Silence, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return Silence{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Silence{}, fmt.Errorf("silence %s: %w", id, err)
	}
	var sil Silence
	if err := json.Unmarshal(e.Value(), &sil); err != nil {
		return Silence{}, fmt.Errorf("silence %s: %w", id, err)
	}
	if now := s.now().UTC(); sil.EndsAt.After(now) {
		sil.EndsAt = now
		if sil.StartsAt.After(now) { // not begun yet: it never will
			sil.StartsAt = now
		}
	}
	data, _ := json.Marshal(sil)
	rev, err := s.kv.Update(ctx, id, data, e.Revision())
	if err != nil {
		return Silence{}, fmt.Errorf("silence %s: %w", id, err)
	}
	s.waitFor(ctx, id, rev)
	return sil, nil
}

// waitFor returns once the follower has applied the given revision of a
// key, so that a caller reads its own write; it gives up quietly after a
// moment (the change is stored either way).
func (s *Store) waitFor(ctx context.Context, id string, rev uint64) {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.RLock()
		done, changed := s.revs[id] >= rev, s.changed
		s.mu.RUnlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// List returns the silences, newest first; activeOnly keeps those in force.
func (s *Store) List(activeOnly bool) []Silence {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Silence, 0, len(s.byID))
	for _, sil := range s.byID {
		if !activeOnly || sil.Active(now) {
			out = append(out, sil)
		}
	}
	slices.SortFunc(out, func(a, b Silence) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Silenced returns the first silence in force that matches the alert.
func (s *Store) Silenced(a *alerts.Alert) (Silence, bool) {
	for _, sil := range s.List(true) {
		if sil.Matches(a) {
			return sil, true
		}
	}
	return Silence{}, false
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
