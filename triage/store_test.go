package triage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// replica is one process's view: its own connection, store and follower.
type replica struct {
	store *Store
	reg   *prometheus.Registry
}

func startReplica(t *testing.T, ns *server.Server) *replica {
	t.Helper()
	js := natstest.Connect(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureStream(ctx, js, 24*time.Hour, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := NewStore(js, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	natstest.Follow(t, s.Follow)
	if err := s.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	return &replica{store: s, reg: reg}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStoreLifecycleSurvivesRestart(t *testing.T) {
	ns := natstest.StartJetStream(t)
	r := startReplica(t, ns)
	ctx := testContext(t)
	const alert = "3f2a9c0e11d84b7a"
	steps := []Request{
		{Action: ActionAck, Actor: "anna@umcutrecht.example"},
		{Action: ActionAssign, Actor: "anna@umcutrecht.example", Assignee: "bram@umcutrecht.example"},
		{Action: ActionEscalate, Actor: "bram@umcutrecht.example", To: EscalatePrivacy, Note: "BSN visible in the photo"},
		{Action: ActionResolve, Actor: "privacy@umcutrecht.example", Note: "author removed the post"},
	}
	var last State
	for _, req := range steps {
		st, err := r.store.Do(ctx, alert, req)
		if err != nil {
			t.Fatalf("%s: %v", req.Action, err)
		}
		last = st
	}
	if last.Status != StatusResolved || len(last.History) != 4 || last.Assignee != "bram@umcutrecht.example" {
		t.Fatalf("after the lifecycle: %+v", last)
	}
	if _, err := r.store.Do(ctx, alert, Request{Action: ActionAck, Actor: "anna@umcutrecht.example"}); !errors.Is(err, ErrTransition) {
		t.Errorf("ack of a resolved alert: err = %v, want ErrTransition", err)
	}
	if got := testutil.ToFloat64(r.store.actions.WithLabelValues(ActionAssign)); got != 1 {
		t.Errorf("mediawatch_triage_actions_total{action=assign} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(r.store.byStatus.WithLabelValues(StatusResolved)); got != 1 {
		t.Errorf("mediawatch_triage_alerts{status=resolved} = %v, want 1", got)
	}

	// A process started later rebuilds the same state from the stream.
	fresh := startReplica(t, ns).store.Get(alert)
	if fresh.Status != last.Status || len(fresh.History) != len(last.History) || fresh.Seq != last.Seq {
		t.Errorf("rebuilt state %+v, want %+v", fresh, last)
	}
	for i := range last.History {
		if fresh.History[i] != last.History[i] {
			t.Errorf("history[%d]: rebuilt %+v, want %+v", i, fresh.History[i], last.History[i])
		}
	}
}

// Two dashboard replicas act on the same alert at the same moment. Only one
// acknowledgement can win; both reassignments go through, one after the
// other; and both replicas end with the same state.
func TestStoreReplicasConverge(t *testing.T) {
	ns := natstest.StartJetStream(t)
	a, b := startReplica(t, ns), startReplica(t, ns)
	ctx := testContext(t)
	const alert = "9c0e11d84b7a3f2a"

	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, r := range []*replica{a, b} {
		wg.Go(func() {
			_, errs[i] = r.store.Do(ctx, alert, Request{Action: ActionAck, Actor: []string{"anna", "bram"}[i]})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrTransition):
			t.Errorf("losing ack: err = %v, want ErrTransition", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d acknowledgements won, want 1 (errors %v)", won, errs)
	}

	for i, r := range []*replica{a, b} {
		wg.Go(func() {
			_, errs[i] = r.store.Do(ctx, alert, Request{Action: ActionAssign, Actor: "lead", Assignee: []string{"carla", "dirk"}[i]})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("assign %d: %v", i, err)
		}
	}
	if err := a.store.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.store.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.store.Get(alert), b.store.Get(alert)
	// Both have applied the three events, the stream's sequences 1 to 3.
	if a.store.Applied() != 3 || b.store.Applied() != 3 {
		t.Errorf("applied %d and %d, want 3 both", a.store.Applied(), b.store.Applied())
	}
	if len(sa.History) != 3 || sa.Status != StatusAssigned || sa.Assignee != sb.Assignee || sa.Seq != sb.Seq || len(sb.History) != 3 {
		t.Errorf("replicas disagree or lost an event:\n a %+v\n b %+v", sa, sb)
	}
	conflicts := testutil.ToFloat64(a.store.conflicts) + testutil.ToFloat64(b.store.conflicts)
	if conflicts < 1 {
		t.Errorf("mediawatch_triage_conflicts_total = %v over both replicas, want ≥ 1: the second writer must have met the first", conflicts)
	}
}

func TestStoreRejectsBadRequests(t *testing.T) {
	r := startReplica(t, natstest.StartJetStream(t))
	ctx := testContext(t)
	tests := []struct {
		alert string
		req   Request
		want  error
	}{
		{"a.b", Request{Action: ActionAck, Actor: "anna"}, ErrInvalid},         // would change the subject
		{"a>", Request{Action: ActionAck, Actor: "anna"}, ErrInvalid},          // a wildcard
		{"", Request{Action: ActionAck, Actor: "anna"}, ErrInvalid},            // no alert
		{"abc123", Request{Action: ActionEscalate, Actor: "anna"}, ErrInvalid}, // no target
		{"abc123", Request{Action: "reopen", Actor: "anna"}, ErrUnknownAction},
	}
	for _, tt := range tests {
		if _, err := r.store.Do(ctx, tt.alert, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("Do(%q, %+v): err = %v, want %v", tt.alert, tt.req, err, tt.want)
		}
	}
	if got := r.store.Get("abc123"); got.Status != StatusNew || len(got.History) != 0 {
		t.Errorf("a rejected request changed the alert: %+v", got)
	}
}
