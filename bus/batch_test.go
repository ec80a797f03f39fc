package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func mentionMsgs(ids ...string) []*nats.Msg {
	var msgs []*nats.Msg
	for _, id := range ids {
		m := nats.NewMsg("mediawatch.mentions.news")
		m.Data = []byte(`{"id":"` + id + `"}`)
		m.Header.Set(jetstream.MsgIDHeader, id)
		msgs = append(msgs, m)
	}
	return msgs
}

func storedIDs(t *testing.T, conn *Conn, stream string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := conn.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

// A batch is stored whole and in order; a batch holding a message the
// stream already has is refused whole; a stream that does not allow
// atomic batches says so and stores nothing of one.
func TestPublishBatch(t *testing.T) {
	ns := startServer(t, "127.0.0.1:-1", t.TempDir())
	conn := connect(t, ns.ClientURL(), nil)
	ctx := context.Background()
	if err := conn.EnsureStreams(ctx, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	for stream, want := range map[string]bool{StreamMentions: true, StreamAlerts: false} {
		if got, err := conn.AtomicBatches(ctx, stream); err != nil || got != want {
			t.Errorf("AtomicBatches(%s) = %v, %v; want %v", stream, got, err, want)
		}
	}

	if err := conn.PublishBatch(ctx, mentionMsgs("a", "b", "c", "d", "e")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(storedIDs(t, conn, StreamMentions)); got != "[a b c d e]" {
		t.Errorf("after a batch: %s", got)
	}

	// "c" is stored already: nothing of the batch is.
	err := conn.PublishBatch(ctx, mentionMsgs("f", "c", "g"))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10201 {
		t.Errorf("batch with a stored message: %v, want JetStream error 10201 (batch contains duplicate message id)", err)
	}
	if got := fmt.Sprint(storedIDs(t, conn, StreamMentions)); got != "[a b c d e]" {
		t.Errorf("after a refused batch: %s", got)
	}

	alerts := mentionMsgs("x", "y")
	for _, m := range alerts {
		m.Subject = "mediawatch.alerts.umcu.patient_data.high"
	}
	if err := conn.PublishBatch(ctx, alerts); err == nil {
		t.Error("a batch on a stream without atomic batches was accepted")
	}
	if got := storedIDs(t, conn, StreamAlerts); len(got) != 0 {
		t.Errorf("a refused batch stored %v", got)
	}

	ids := make([]string, MaxBatch+1)
	for i := range ids {
		ids[i] = "big-" + strconv.Itoa(i)
	}
	if err := conn.PublishBatch(ctx, mentionMsgs(ids...)); err == nil {
		t.Errorf("a batch of %d was accepted", len(ids))
	}
}

// BenchmarkPublishBatch stores mention-sized messages with every write
// fsynced, one by one (batch=1) and in atomic batches, and reports
// messages a second.
func BenchmarkPublishBatch(b *testing.B) {
	for _, size := range []int{1, 2, 5, 10, 20, 50, 100} {
		b.Run("batch="+strconv.Itoa(size), func(b *testing.B) {
			ns := startServer(b, "127.0.0.1:-1", b.TempDir())
			conn := connect(b, ns.ClientURL(), nil)
			ctx := context.Background()
			if err := conn.EnsureStreams(ctx, StreamOptions{}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 1500)
			n := 0
			for b.Loop() {
				msgs := make([]*nats.Msg, size)
				for i := range msgs {
					n++
					msgs[i] = nats.NewMsg("mediawatch.mentions.news")
					msgs[i].Data = data
					msgs[i].Header.Set(jetstream.MsgIDHeader, strconv.Itoa(n))
				}
				if size == 1 {
					if _, err := conn.PublishRetry(ctx, msgs[0].Subject, strconv.Itoa(n), data, nil); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if err := conn.PublishBatch(ctx, msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
