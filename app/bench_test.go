package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkPipeline measures the match stage end to end on the demo corpus:
// mentions published on MENTIONS → matched → indexed in Bleve → alerts
// acknowledged by JetStream → mentions acknowledged. It reports items/s and
// the heap in use afterwards.
//
// The embedded server's sync policy dominates: sync=always fsyncs every
// write before acknowledging it (the default), sync=1s once a second.
func BenchmarkPipeline(b *testing.B) {
	for _, sync := range []time.Duration{0, time.Second} {
		name := "sync=always"
		if sync > 0 {
			name = "sync=" + sync.String()
		}
		b.Run(name, func(b *testing.B) { benchmarkPipeline(b, sync) })
	}
}

func benchmarkPipeline(b *testing.B, sync time.Duration) {
	var corpus []mention.Mention
	for _, it := range demoCorpus(b) {
		corpus = append(corpus, it.mention)
	}
	cfg := quietConfig(b, b.TempDir())
	cfg.Index.FlushInterval = config.Default().Index.FlushInterval // as shipped
	cfg.NATS.SyncInterval = config.Duration(sync)
	a, err := app.New(app.Options{Config: cfg, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	<-a.Ready()
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: a.NATSURL()})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	consumer, err := conn.JS.Consumer(ctx, bus.StreamMentions, "match")
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		m := corpus[i%len(corpus)]
		m.ID = fmt.Sprintf("%s-%d", m.ID, i)
		m.Fetched = time.Now()
		data, _ := json.Marshal(m)
		if _, err := conn.JS.PublishAsync(mention.Subject(m.Source), data, jetstream.WithMsgID(m.ID)); err != nil {
			b.Fatal(err)
		}
		// The client holds at most a few thousand unacknowledged publishes;
		// with the server syncing every write, let them drain in chunks.
		if i%1000 == 999 {
			<-conn.JS.PublishAsyncComplete()
		}
	}
	<-conn.JS.PublishAsyncComplete()
	for {
		info, err := consumer.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "items/s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}
