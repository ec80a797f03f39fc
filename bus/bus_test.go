package bus

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

func startServer(t testing.TB, listen, storeDir string) *server.Server {
	t.Helper()
	return startServerWith(t, ServerOptions{Listen: listen, StoreDir: storeDir})
}

func startServerWith(t testing.TB, opts ServerOptions) *server.Server {
	t.Helper()
	ns, err := StartEmbedded(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func connect(t testing.TB, url string, reg prometheus.Registerer) *Conn {
	t.Helper()
	conn, err := Connect(context.Background(), ConnectOptions{URL: url, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartEmbeddedRejectsBadListen(t *testing.T) {
	for _, listen := range []string{"127.0.0.1", "127.0.0.1:http", ""} {
		if _, err := StartEmbedded(ServerOptions{Listen: listen, StoreDir: t.TempDir()}); err == nil {
			t.Errorf("listen %q: want an error", listen)
		}
	}
}

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	ns := startServer(t, "127.0.0.1:-1", t.TempDir())
	conn := connect(t, ns.ClientURL(), nil)
	ctx := context.Background()
	opts := StreamOptions{MentionsMaxAge: 30 * time.Minute, AlertsMaxAge: 48 * time.Hour}
	for range 2 {
		if err := conn.EnsureStreams(ctx, opts); err != nil {
			t.Fatal(err)
		}
	}
	s, err := conn.JS.Stream(ctx, StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 48*time.Hour || info.Config.Duplicates != 24*time.Hour || info.Config.Subjects[0] != SubjectAlerts {
		t.Errorf("ALERTS config = %+v", info.Config)
	}
	if _, err := conn.JS.KeyValue(ctx, BucketFeeds); err != nil {
		t.Errorf("feed state bucket: %v", err)
	}
}

func TestPublishRetryDeduplicatesByID(t *testing.T) {
	ns := startServer(t, "127.0.0.1:-1", t.TempDir())
	conn := connect(t, ns.ClientURL(), nil)
	ctx := context.Background()
	if err := conn.EnsureStreams(ctx, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	first, err := conn.PublishRetry(ctx, "mediawatch.alerts.umc-utrecht.conduct.medium", "alert-1", []byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := conn.PublishRetry(ctx, "mediawatch.alerts.umc-utrecht.conduct.medium", "alert-1", []byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !again.Duplicate || first.Sequence != again.Sequence {
		t.Errorf("first %+v, again %+v: want the second acknowledged as a duplicate of the first", first, again)
	}
}

// A publish made while the server is down is retried until the server is
// back and then stored once; the connection gauge follows the outage and
// the reconnect is counted.
func TestPublishRetrySurvivesServerRestart(t *testing.T) {
	store := t.TempDir()
	ns := startServer(t, "127.0.0.1:-1", store)
	u, err := url.Parse(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	conn := connect(t, ns.ClientURL(), reg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := conn.EnsureStreams(ctx, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, "client notices the outage", func() bool { return !conn.Connected() })
	// The gauge is set from the client's disconnect callback, which runs
	// on its own goroutine a moment after the status changes.
	waitFor(t, "gauge drops to 0 during the outage", func() bool { return connectedGauge(t, reg) == 0 })

	retries := make(chan error, 100)
	done := make(chan error, 1)
	go func() {
		_, err := conn.PublishRetry(ctx, "mediawatch.mentions.news", "mention-1", []byte(`{"id":"mention-1"}`), func(err error) {
			select {
			case retries <- err:
			default:
			}
		})
		done <- err
	}()
	select {
	case <-retries:
	case err := <-done:
		t.Fatalf("publish returned while the server was down: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no retry reported while the server was down")
	}

	startServer(t, u.Host, store)
	if err := <-done; err != nil {
		t.Fatalf("publish after restart: %v", err)
	}
	waitFor(t, "gauge back to 1", func() bool { return connectedGauge(t, reg) == 1 })
	if got := gathered(t, reg, "mediawatch_nats_reconnects_total"); got != 1 {
		t.Errorf("mediawatch_nats_reconnects_total = %v after one outage, want 1", got)
	}
	s, err := conn.JS.Stream(ctx, StreamMentions)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("MENTIONS holds %d messages after the restart, want 1", info.State.Msgs)
	}
}

// connectedGauge reads mediawatch_nats_connected from reg.
func connectedGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mediawatch_nats_connected" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("mediawatch_nats_connected not registered")
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDedupWindowNeverExceedsMaxAge(t *testing.T) {
	for _, tc := range []struct{ want, maxAge, got time.Duration }{
		{time.Hour, 0, time.Hour},
		{time.Hour, 30 * time.Minute, 30 * time.Minute},
		{24 * time.Hour, 30 * 24 * time.Hour, 24 * time.Hour},
	} {
		if got := dedupWindow(tc.want, tc.maxAge); got != tc.got {
			t.Errorf("dedupWindow(%v, %v) = %v, want %v", tc.want, tc.maxAge, got, tc.got)
		}
	}
}
