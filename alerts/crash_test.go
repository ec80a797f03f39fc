package alerts

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/prometheus/client_golang/prometheus"
)

// Every alert JetStream acknowledged is there after the embedded server
// crashes. The server runs in a child process (bus.StartEmbedded with its
// default sync policy, as the daemon runs it) and is killed with SIGKILL
// while 16 callers publish; a new process on the same store must hold
// every acknowledged alert, once.
//
// A SIGKILL ends the process, not the machine: what it proves is that
// nothing acknowledged is held only in the server's memory. That a power
// loss loses nothing either rests on the fsync of sync always (see
// bus.ServerOptions.SyncInterval), which no test here can cut the power
// under.
func TestAcknowledgedAlertsSurviveEmbeddedServerCrash(t *testing.T) {
	t.Parallel()
	const (
		publishers = 16
		killAfter  = 3000 // acknowledged alerts
		upTo       = 1 << 20
	)
	start := time.Now()
	b := newChildEmbeddedBroker(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connectRetry(ctx, t, b.URL())
	defer conn.Close(ctx)
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := NewPublisher(conn, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu      sync.Mutex
		acked   = map[int]bool{}
		reached = make(chan struct{})
	)
	pubCtx, stopPublishing := context.WithCancel(ctx)
	defer stopPublishing()
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishRange(pubCtx, t, p, 0, upTo, publishers, func(i int) {
			mu.Lock()
			defer mu.Unlock()
			acked[i] = true
			if len(acked) == killAfter {
				close(reached)
			}
		})
	}()
	select {
	case <-reached:
	case <-done:
		t.Fatal("publishing ended before the crash")
	case <-ctx.Done():
		t.Fatal("too few alerts acknowledged in time")
	}
	b.proc.kill(t)
	// No acknowledgement can come from a dead server: stop the callers,
	// which keep retrying, and keep what was acknowledged.
	stopPublishing()
	<-done
	mu.Lock()
	ackedAtCrash := len(acked)
	mu.Unlock()
	t.Logf("%v: embedded server killed with %d alerts acknowledged", time.Since(start).Round(time.Millisecond), ackedAtCrash)

	b.run(t)
	counts := storedAlerts(ctx, t, conn)
	lost, duplicated := 0, 0
	for i := range acked {
		if counts[testAlert(i).ID] == 0 {
			lost++
		}
	}
	stored := 0
	for _, c := range counts {
		stored++
		duplicated += c - 1
	}
	t.Logf("%v: after the restart ALERTS holds %d alerts: %d acknowledged before the crash, %d of them lost, %d duplicated",
		time.Since(start).Round(time.Millisecond), stored, ackedAtCrash, lost, duplicated)
	if lost != 0 || duplicated != 0 {
		t.Errorf("want every acknowledged alert stored once")
	}
	if stored < ackedAtCrash || stored > ackedAtCrash+publishers {
		t.Errorf("%d alerts stored, want the %d acknowledged and at most one unacknowledged per caller", stored, ackedAtCrash)
	}
}
