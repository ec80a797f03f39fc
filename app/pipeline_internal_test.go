package app

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// A batch in hand for longer than the consumer's AckWait is not handed
// out again while its progress is acknowledged, and is handed out again
// once the process stops acknowledging it (as a killed process does).
func TestBatchInHandIsKeptThenRedelivered(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx := testContext(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "HELD", Subjects: []string{"held.>"}}); err != nil {
		t.Fatal(err)
	}
	const ackWait = time.Second
	consumer, err := js.CreateOrUpdateConsumer(ctx, "HELD", jetstream.ConsumerConfig{
		Durable: "held", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, fmt.Sprintf("held.%d", i), []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	fetched, err := consumer.Fetch(3, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	b := &batch{ctx: bctx, cancel: cancel}
	for msg := range fetched.Messages() {
		b.items = append(b.items, &item{msg: msg})
	}
	if len(b.items) != 3 {
		t.Fatalf("fetched %d messages, want 3", len(b.items))
	}
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		b.keepInProgress(ackWait/4, slog.New(slog.DiscardHandler))
	}()

	// Three AckWaits in hand: nothing comes again.
	again, err := consumer.Fetch(3, jetstream.FetchMaxWait(3*ackWait))
	if err != nil {
		t.Fatal(err)
	}
	for msg := range again.Messages() {
		t.Errorf("%s handed out again while its batch was in hand", msg.Subject())
	}

	// The process stops (its batch context ends without acknowledgements):
	// every message comes again after AckWait.
	cancel()
	<-kept
	redelivered := map[string]uint64{}
	deadline := time.Now().Add(10 * ackWait)
	for len(redelivered) < 3 && time.Now().Before(deadline) {
		again, err := consumer.Fetch(3, jetstream.FetchMaxWait(ackWait))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range again.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			redelivered[msg.Subject()] = meta.NumDelivered
			_ = msg.Ack()
		}
	}
	if len(redelivered) != 3 {
		t.Fatalf("redelivered after the batch ended: %v, want all 3", redelivered)
	}
	for subject, n := range redelivered {
		if n != 2 {
			t.Errorf("%s delivered %d times, want 2", subject, n)
		}
	}
}
