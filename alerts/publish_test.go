package alerts

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPublisherStoresEachAlertOnce(t *testing.T) {
	ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p, err := NewPublisher(conn, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	p.PreCreate([]string{"umc-utrecht", "uz-leuven"})

	m, res := leak()
	built := Build(m, res, detected, BuildOptions{})
	for round := range 2 {
		for i := range built {
			fresh, err := p.Publish(ctx, &built[i])
			if err != nil {
				t.Fatal(err)
			}
			if fresh != (round == 0) {
				t.Errorf("round %d, alert %s: fresh = %v", round, built[i].ID, fresh)
			}
		}
	}
	stream, err := conn.JS.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if int(info.State.Msgs) != len(built) {
		t.Errorf("ALERTS holds %d messages, want %d", info.State.Msgs, len(built))
	}
	for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if id := msg.Header.Get(jetstream.MsgIDHeader); id != built[seq-1].ID || msg.Subject != built[seq-1].Subject() {
			t.Errorf("message %d: subject %s id %s, want %s %s", seq, msg.Subject, id, built[seq-1].Subject(), built[seq-1].ID)
		}
	}
	if got := testutil.ToFloat64(p.published.WithLabelValues("uz-leuven", "patient_data", "critical")); got != 2 {
		t.Errorf("published counter = %v, want 2 (one store, one duplicate acknowledgement)", got)
	}
	if n := testutil.CollectAndCount(p.published); n != 2*4*5 {
		t.Errorf("pre-created series = %d, want every institution × category × severity", n)
	}
}
