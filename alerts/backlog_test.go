package alerts

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/prometheus/client_golang/prometheus"
)

// The backlog gauge counts the alerts handed to Publish and not yet
// acknowledged: it grows while the server is down, drains when it is back,
// and an alert given back with an error leaves it too.
func TestPublisherBacklogGauge(t *testing.T) {
	t.Parallel()
	b := newEmbeddedBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connectRetry(ctx, t, b.URL())
	defer conn.Close(ctx)
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := NewPublisher(conn, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	backlog := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "mediawatch_alert_publish_backlog" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("mediawatch_alert_publish_backlog is not registered with the publisher's metrics")
		return 0
	}
	waitBacklog := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for backlog() != want {
			if time.Now().After(deadline) {
				t.Fatalf("backlog %v, want %v", backlog(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// publish starts n concurrent publishes of fresh alerts from next on;
	// each result arrives on the channel.
	next := 0
	publish := func(ctx context.Context, n int) <-chan error {
		results := make(chan error, n)
		for range n {
			a := testAlert(next)
			next++
			go func() {
				_, err := p.Publish(ctx, &a)
				results <- err
			}()
		}
		return results
	}

	if backlog() != 0 {
		t.Fatalf("backlog %v before any publish", backlog())
	}
	if err := <-publish(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if backlog() != 0 {
		t.Errorf("backlog %v after an acknowledged publish, want 0", backlog())
	}

	// Server down: the alerts wait in Publish and the gauge shows them.
	b.stop()
	results := publish(ctx, 5)
	waitBacklog(5)
	select {
	case err := <-results:
		t.Fatalf("a publish returned while the server was down: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if backlog() != 5 {
		t.Errorf("backlog %v while the server is down, want 5", backlog())
	}
	b.start(t)
	for range 5 {
		if err := <-results; err != nil {
			t.Fatalf("publish after the restart: %v", err)
		}
	}
	if backlog() != 0 {
		t.Errorf("backlog %v once every alert is acknowledged, want 0", backlog())
	}

	// Given back with an error: no longer in the backlog.
	b.stop()
	giveUp, stop := context.WithCancel(ctx)
	results = publish(giveUp, 3)
	waitBacklog(3)
	stop()
	for range 3 {
		if err := <-results; !errors.Is(err, context.Canceled) {
			t.Fatalf("publish with a cancelled context: %v, want context.Canceled", err)
		}
	}
	if backlog() != 0 {
		t.Errorf("backlog %v after the publishes gave up, want 0", backlog())
	}
	b.start(t)
}
