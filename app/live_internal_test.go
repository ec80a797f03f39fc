package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

type liveFixture struct {
	js   jetstream.JetStream
	live *live
	// stop ends every Follow, as the HTTP server's shutdown does.
	stop context.CancelFunc
}

func newLiveFixture(t *testing.T) liveFixture {
	t.Helper()
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx := testContext(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: bus.StreamAlerts, Subjects: []string{bus.SubjectAlerts}}); err != nil {
		t.Fatal(err)
	}
	if err := triage.EnsureStream(ctx, js, time.Hour, 1); err != nil {
		t.Fatal(err)
	}
	done, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	return liveFixture{js: js, stop: stop, live: &live{js: js, logger: slog.New(slog.DiscardHandler), done: done}}
}

func (f liveFixture) publishAlert(t *testing.T, id string) {
	t.Helper()
	a := alerts.Alert{ID: id, Institution: "umc-utrecht", Category: match.CategoryLogoMisuse, Severity: match.SeverityMedium, Status: alerts.StatusNew}
	data, _ := json.Marshal(a)
	if _, err := f.js.Publish(testContext(t), a.Subject(), data); err != nil {
		t.Fatal(err)
	}
}

func (f liveFixture) publishTriage(t *testing.T, alertID, status string) {
	t.Helper()
	data, _ := json.Marshal(triage.Event{ID: alertID + status, AlertID: alertID, Action: "ack", Status: status, Actor: "anna", At: time.Now()})
	if _, err := f.js.Publish(testContext(t), "mediawatch.triage."+alertID, data); err != nil {
		t.Fatal(err)
	}
}

// follow runs Follow in the background and gathers its events.
type follow struct {
	mu     sync.Mutex
	events []web.LiveEvent
	done   chan error
	cancel context.CancelFunc
}

func startFollow(f liveFixture, from web.Position) *follow {
	ctx, cancel := context.WithCancel(context.Background())
	fl := &follow{done: make(chan error, 1), cancel: cancel}
	inCall := make(chan struct{}, 1)
	go func() {
		fl.done <- f.live.Follow(ctx, from, func(ev web.LiveEvent) error {
			// One call at a time: a second call while this one runs
			// would find the slot taken.
			select {
			case inCall <- struct{}{}:
			default:
				return errors.New("fn called while another call runs")
			}
			defer func() { <-inCall }()
			time.Sleep(time.Millisecond)
			fl.mu.Lock()
			defer fl.mu.Unlock()
			fl.events = append(fl.events, ev)
			return nil
		})
	}()
	return fl
}

func (fl *follow) waitFor(t *testing.T, n int) []web.LiveEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fl.mu.Lock()
		got := append([]web.LiveEvent(nil), fl.events...)
		fl.mu.Unlock()
		if len(got) >= n {
			time.Sleep(100 * time.Millisecond) // and nothing more comes
			fl.mu.Lock()
			defer fl.mu.Unlock()
			if len(fl.events) != n {
				t.Fatalf("%d events, want %d", len(fl.events), n)
			}
			return fl.events
		}
		select {
		case err := <-fl.done:
			t.Fatalf("follow ended after %d events: %v", len(got), err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events after 10s, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (fl *follow) stop(t *testing.T) {
	t.Helper()
	fl.cancel()
	select {
	case err := <-fl.done:
		if err != nil {
			t.Errorf("follow ended with %v, want nil when its context ends", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}

// checkPositions fails unless the positions only move forward, each event
// moving its own stream's sequence, and end at last.
func checkPositions(t *testing.T, from web.Position, events []web.LiveEvent, last web.Position) {
	t.Helper()
	prev := from
	for i, ev := range events {
		p := ev.Pos
		switch {
		case ev.Alert != nil && ev.Triage == nil:
			if p.Alerts <= prev.Alerts || p.Triage != prev.Triage {
				t.Errorf("event %d (alert %s): position %v after %v", i, ev.Alert.ID, p, prev)
			}
		case ev.Triage != nil && ev.Alert == nil:
			if p.Triage <= prev.Triage || p.Alerts != prev.Alerts {
				t.Errorf("event %d (triage of %s): position %v after %v", i, ev.Triage.AlertID, p, prev)
			}
		default:
			t.Errorf("event %d is neither an alert nor a triage event: %+v", i, ev)
		}
		prev = p
	}
	if prev != last {
		t.Errorf("last position %v, want %v", prev, last)
	}
}

// A page that took the position when both streams were empty sees what
// came after; one that took it later sees only what came after that; one
// that comes back with an older position gets what it missed.
func TestLiveFollow(t *testing.T) {
	f := newLiveFixture(t)
	ctx := testContext(t)
	empty, err := f.live.Position(ctx)
	if err != nil || empty != (web.Position{}) {
		t.Fatalf("position of empty streams: %v (%v)", empty, err)
	}
	f.publishAlert(t, "a1")
	f.publishTriage(t, "a1", "acknowledged")
	fl := startFollow(f, empty)
	events := fl.waitFor(t, 2)
	checkPositions(t, empty, events, web.Position{Alerts: 1, Triage: 1})
	fl.stop(t)

	pos, err := f.live.Position(ctx)
	if err != nil || pos != (web.Position{Alerts: 1, Triage: 1}) {
		t.Fatalf("position: %v (%v)", pos, err)
	}
	fl = startFollow(f, pos)
	f.publishAlert(t, "a2")
	f.publishTriage(t, "a2", "acknowledged")
	f.publishTriage(t, "a1", "resolved")
	events = fl.waitFor(t, 3)
	checkPositions(t, pos, events, web.Position{Alerts: 2, Triage: 3})
	var alertIDs, triaged []string
	for _, ev := range events {
		if ev.Alert != nil {
			alertIDs = append(alertIDs, ev.Alert.ID)
		} else {
			triaged = append(triaged, ev.Triage.AlertID+" "+ev.Triage.Status)
		}
	}
	if len(alertIDs) != 1 || alertIDs[0] != "a2" || len(triaged) != 2 || triaged[0] != "a2 acknowledged" || triaged[1] != "a1 resolved" {
		t.Errorf("alerts %q, triage %q", alertIDs, triaged)
	}
	fl.stop(t)

	// Back after missing alert 2 and triage 2 and 3.
	older := web.Position{Alerts: 1, Triage: 1}
	fl = startFollow(f, older)
	events = fl.waitFor(t, 3)
	checkPositions(t, older, events, web.Position{Alerts: 2, Triage: 3})
	fl.stop(t)
}

// fn failing ends Follow with its error and no further call; the server's
// shutdown ends every Follow.
func TestLiveFollowEnds(t *testing.T) {
	f := newLiveFixture(t)
	ctx := testContext(t)
	for _, id := range []string{"a1", "a2", "a3"} {
		f.publishAlert(t, id)
		f.publishTriage(t, id, "acknowledged")
	}
	boom := errors.New("the page went away")
	calls := 0
	err := f.live.Follow(ctx, web.Position{}, func(web.LiveEvent) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("follow returned %v after %d calls, want fn's error after 1", err, calls)
	}

	pos, err := f.live.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- f.live.Follow(ctx, pos, func(web.LiveEvent) error { return nil })
	}()
	time.Sleep(100 * time.Millisecond)
	f.stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow ended with %v at shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end at shutdown")
	}
}
