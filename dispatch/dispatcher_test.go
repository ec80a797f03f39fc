package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/route"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// inbox records what receivers were sent, and can make one fail.
type inbox struct {
	mu    sync.Mutex
	sent  []string // "receiver group: id#count,id#count"
	fails map[string]int
}

func (in *inbox) deliver(_ context.Context, receiver, groupKey string, list []alerts.Alert) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.fails[receiver] > 0 {
		in.fails[receiver]--
		return errors.New("receiver down")
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, version(a))
	}
	in.sent = append(in.sent, receiver+" "+groupKey+": "+strings.Join(ids, ","))
	return nil
}

func (in *inbox) list() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := slices.Clone(in.sent)
	slices.Sort(out)
	return out
}

type env struct {
	js   jetstream.JetStream
	root *route.Route
}

func newEnv(t *testing.T, wait, interval time.Duration) *env {
	t.Helper()
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ALERTS", Subjects: []string{"mediawatch.alerts.>"}}); err != nil {
		t.Fatal(err)
	}
	root, err := route.Build(route.Config{
		Receiver: "comms", GroupWait: wait, GroupInterval: interval, RepeatInterval: time.Hour,
		Routes: []route.Config{
			{Match: map[string][]string{route.LabelCategory: {"patient_data"}}, Receiver: "privacy", Continue: true},
			{Receiver: "comms"},
		},
	}, []string{"comms", "privacy"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{js: js, root: root}
}

// start runs a dispatcher until the returned stop is called.
func (e *env) start(t *testing.T, in *inbox, closed func(string) bool) (stop func()) {
	t.Helper()
	return e.startWith(t, in, closed, nil)
}

func (e *env) startWith(t *testing.T, in *inbox, closed func(string) bool, silenced func(*alerts.Alert) bool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := New(ctx, Options{
		JS: e.js, Stream: "ALERTS", Subject: "mediawatch.alerts.>", Root: e.root, Deliver: in.deliver, Closed: closed, Silenced: silenced,
		SendTimeout: time.Second, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			rcancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (e *env) publish(t *testing.T, a alerts.Alert) {
	t.Helper()
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, a.Subject(), data, jetstream.WithMsgID(version(a))); err != nil {
		t.Fatal(err)
	}
}

func (e *env) unacked(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, "ALERTS", Consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending + int(info.NumPending)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func alert(id, inst, cat string, count int) alerts.Alert {
	return alerts.Alert{ID: id, Institution: inst, Category: cat, Severity: "high", Count: count,
		DetectedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), Mention: alerts.MentionRef{Source: "forum"}}
}

func TestGroupsNotifyOnceThenWhatIsNew(t *testing.T) {
	e := newEnv(t, 200*time.Millisecond, 400*time.Millisecond)
	in := &inbox{}
	e.start(t, in, nil)
	e.publish(t, alert("bsn1", "umc-utrecht", "patient_data", 1))
	e.publish(t, alert("bsn2", "umc-utrecht", "patient_data", 1))
	e.publish(t, alert("mock1", "umc-utrecht", "conduct", 1))

	want := []string{
		"comms 0.1{institution=umc-utrecht,category=conduct}: mock1#1",
		"comms 0.1{institution=umc-utrecht,category=patient_data}: bsn1#1,bsn2#1",
		"privacy 0.0{institution=umc-utrecht,category=patient_data}: bsn1#1,bsn2#1",
	}
	waitFor(t, "three group notifications", func() bool { return len(in.list()) >= 3 })
	if got := in.list(); !slices.Equal(got, want) {
		t.Fatalf("sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	waitFor(t, "every alert acknowledged", func() bool { return e.unacked(t) == 0 })

	// A repeat of the story is news again, after the group interval.
	e.publish(t, alert("bsn1", "umc-utrecht", "patient_data", 2))
	waitFor(t, "the repeat notified", func() bool { return len(in.list()) >= 5 })
	got := in.list()
	for _, w := range []string{
		"comms 0.1{institution=umc-utrecht,category=patient_data}: bsn1#2,bsn2#1",
		"privacy 0.0{institution=umc-utrecht,category=patient_data}: bsn1#2,bsn2#1",
	} {
		if !slices.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, strings.Join(got, "\n"))
		}
	}
	time.Sleep(600 * time.Millisecond) // more than a group interval: nothing new, nothing sent
	if n := len(in.list()); n != 5 {
		t.Errorf("%d notifications after a quiet interval, want 5:\n%s", n, strings.Join(in.list(), "\n"))
	}
}

func TestFailedNotificationIsRetriedAndNotLost(t *testing.T) {
	e := newEnv(t, 100*time.Millisecond, 300*time.Millisecond)
	in := &inbox{fails: map[string]int{"comms": 2}}
	e.start(t, in, nil)
	e.publish(t, alert("m1", "uz-leuven", "misinformation", 1))
	time.Sleep(250 * time.Millisecond)
	if n := e.unacked(t); n != 1 {
		t.Errorf("%d alerts unacknowledged while the receiver is down, want 1", n)
	}
	waitFor(t, "delivery after two failures", func() bool { return len(in.list()) == 1 })
	waitFor(t, "acknowledged after delivery", func() bool { return e.unacked(t) == 0 })
}

func TestRestartLosesNothingAndRepeatsNothing(t *testing.T) {
	e := newEnv(t, 300*time.Millisecond, time.Second)
	first := &inbox{}
	stop := e.start(t, first, nil)
	e.publish(t, alert("c1", "umc-utrecht", "conduct", 1))
	time.Sleep(50 * time.Millisecond)
	stop() // before group_wait: nothing sent, nothing acknowledged
	if len(first.list()) != 0 {
		t.Fatalf("sent before group_wait: %v", first.list())
	}
	second := &inbox{}
	stop2 := e.start(t, second, nil)
	waitFor(t, "the alert notified by the next process", func() bool { return len(second.list()) == 1 })
	waitFor(t, "acknowledged", func() bool { return e.unacked(t) == 0 })
	stop2()

	// A notification logged as sent is not sent again when its alert comes
	// back (a crash between sending and acknowledging).
	third := &inbox{}
	stop3 := e.start(t, third, nil)
	e.publish(t, alert("c2", "uz-leuven", "conduct", 1))
	waitFor(t, "c2 notified", func() bool { return len(third.list()) == 1 })
	stop3()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Redeliver c2 as a crash would: a fresh consumer position is not
	// needed, the same message published again under a new id is enough.
	data, _ := json.Marshal(alert("c2", "uz-leuven", "conduct", 1))
	if _, err := e.js.Publish(ctx, "mediawatch.alerts.uz-leuven.conduct.high", data, jetstream.WithMsgID("again")); err != nil {
		t.Fatal(err)
	}
	fourth := &inbox{}
	e.start(t, fourth, nil)
	waitFor(t, "redelivered alert acknowledged", func() bool { return e.unacked(t) == 0 })
	time.Sleep(400 * time.Millisecond)
	if got := fourth.list(); len(got) != 0 {
		t.Errorf("sent again after a restart: %v", got)
	}
}

func TestClosedAndSilencedAlertsAreNotNotified(t *testing.T) {
	e := newEnv(t, 100*time.Millisecond, 300*time.Millisecond)
	in := &inbox{}
	closed := func(id string) bool { return id == "done" }
	e.startWith(t, in, closed, func(a *alerts.Alert) bool { return a.Mention.Author == "spammer" })
	e.publish(t, alert("done", "umc-utrecht", "conduct", 1))
	spam := alert("spam", "umc-utrecht", "conduct", 1)
	spam.Mention.Author = "spammer"
	e.publish(t, spam)
	e.publish(t, alert("open", "umc-utrecht", "conduct", 1))
	waitFor(t, "one notification", func() bool { return len(in.list()) == 1 })
	if got := in.list()[0]; got != "comms 0.1{institution=umc-utrecht,category=conduct}: open#1" {
		t.Errorf("sent %q", got)
	}
	waitFor(t, "all three acknowledged", func() bool { return e.unacked(t) == 0 })
}
