package silence

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func followed(t *testing.T, ns *server.Server) *Store {
	t.Helper()
	js := natstest.Connect(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewStore(ctx, js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	natstest.Follow(t, func(ctx context.Context) error { return s.Follow(ctx, ready) })
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("silences not loaded")
	}
	return s
}

func TestSilenceMatchers(t *testing.T) {
	a := &alerts.Alert{Category: "logo_misuse", Rules: []string{"logo_misuse.advertising", "logo_misuse.account_name"},
		Snippet: "Met code WKZ15 krijg je 15% korting", Mention: alerts.MentionRef{Author: "Nestje.Baby", URL: "https://shop.nestje.example/p/1", Title: "Voedingskussen"}}
	tests := []struct {
		name string
		s    Silence
		want bool
	}{
		{"rule", Silence{Rule: "logo_misuse.advertising"}, true},
		{"another rule", Silence{Rule: "conduct.denigrating"}, false},
		{"author, any case", Silence{Author: "nestje.baby"}, true},
		{"domain and subdomains", Silence{Domain: "nestje.example"}, true},
		{"a domain that only ends alike", Silence{Domain: "tje.example"}, false},
		{"text in the snippet", Silence{Text: "code wkz15"}, true},
		{"every matcher must match", Silence{Rule: "logo_misuse.advertising", Author: "someone else"}, false},
	}
	for _, tt := range tests {
		if got := tt.s.Matches(a); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSilenceLifecycle(t *testing.T) {
	ns := natstest.StartJetStream(t)
	s, other := followed(t, ns), followed(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	spam := &alerts.Alert{Category: "logo_misuse", Rules: []string{"logo_misuse.advertising"}, Mention: alerts.MentionRef{Author: "kortingskoning"}}

	for _, bad := range []Silence{
		{Reason: "nothing to match", EndsAt: time.Now().Add(time.Hour), CreatedBy: "anna"},
		{Author: "x", EndsAt: time.Now().Add(time.Hour), CreatedBy: "anna"},               // no reason
		{Author: "x", Reason: "r", EndsAt: time.Now().Add(-time.Hour), CreatedBy: "anna"}, // over before it began
		{Author: "x", Reason: "r", EndsAt: time.Now().Add(100 * 24 * time.Hour), CreatedBy: "anna"},
	} {
		if _, err := s.Create(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Create(%+v): err = %v, want ErrInvalid", bad, err)
		}
	}

	sil, err := s.Create(ctx, Silence{Author: "kortingskoning", Reason: "known spam account, reported to the platform", EndsAt: time.Now().Add(24 * time.Hour), CreatedBy: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Silenced(spam); !ok || got.ID != sil.ID {
		t.Fatalf("not silenced by %+v", sil)
	}
	if got := testutil.ToFloat64(s.active); got != 1 {
		t.Errorf("mediawatch_silences_active = %v, want 1", got)
	}
	// Another process follows the same bucket.
	deadline := time.Now().Add(5 * time.Second)
	for _, ok := other.Silenced(spam); !ok; _, ok = other.Silenced(spam) {
		if time.Now().After(deadline) {
			t.Fatal("the other process never saw the silence")
		}
		time.Sleep(10 * time.Millisecond)
	}

	expired, err := s.Expire(ctx, sil.ID)
	if err != nil {
		t.Fatal(err)
	}
	if expired.Active(time.Now()) {
		t.Errorf("still active after expiry: %+v", expired)
	}
	if _, ok := s.Silenced(spam); ok {
		t.Error("still silenced after expiry")
	}
	if list := s.List(false); len(list) != 1 || list[0].ID != sil.ID {
		t.Errorf("expired silence not listed: %+v", list)
	}
	if _, err := s.Expire(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expire unknown: err = %v, want ErrNotFound", err)
	}
}
