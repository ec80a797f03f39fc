package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkPublish measures the publisher against the embedded server with
// each sync policy: sync=always (the default, one fsync per stored alert)
// and sync=2m (nats-server's own default). One caller publishes alert after
// alert as the match stage does; 16 callers show what concurrency buys.
//
//	go test -run '^$' -bench Publish -benchtime 3000x ./alerts
func BenchmarkPublish(b *testing.B) {
	for _, sync := range []struct {
		name     string
		interval time.Duration
	}{{"always", 0}, {"2m", 2 * time.Minute}} {
		for _, callers := range []int{1, 16} {
			b.Run(fmt.Sprintf("sync=%s/callers=%d", sync.name, callers), func(b *testing.B) {
				ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: "127.0.0.1:-1", StoreDir: b.TempDir(), SyncInterval: sync.interval})
				if err != nil {
					b.Fatal(err)
				}
				defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
				ctx := context.Background()
				conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: ns.ClientURL()})
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close(ctx)
				if err := conn.EnsureStreams(ctx, bus.StreamOptions{}); err != nil {
					b.Fatal(err)
				}
				p, err := NewPublisher(conn, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				start := time.Now()
				publishRange(ctx, b, p, 0, b.N, callers, nil)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "alerts/s")
			})
		}
	}
}
