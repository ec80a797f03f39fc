package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestTail reads what is stored after a sequence, then what comes live, and
// stops when its context ends.
func TestTail(t *testing.T) {
	ns := startServer(t, "127.0.0.1:-1", t.TempDir())
	conn := connect(t, ns.ClientURL(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(subject, body string) {
		t.Helper()
		if _, err := conn.JS.Publish(ctx, subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	publish("t.a", "1")
	publish("t.b", "other subject")
	publish("t.a", "3")

	type got struct {
		seq  uint64
		data string
	}
	collect := func(after uint64, want int, live func()) []got {
		t.Helper()
		var out []got
		done := errors.New("enough")
		tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
		defer tcancel()
		errc := make(chan error, 1)
		go func() {
			errc <- Tail(tctx, conn.JS, "T", "t.a", after, func(seq uint64, data []byte) error {
				out = append(out, got{seq, string(data)})
				if len(out) == want {
					return done
				}
				return nil
			})
		}()
		if live != nil {
			live()
		}
		if err := <-errc; !errors.Is(err, done) {
			t.Fatalf("tail after %d: %v (got %v)", after, err, out)
		}
		return out
	}

	if g := collect(1, 1, nil); g[0] != (got{3, "3"}) {
		t.Errorf("after 1: got %v, want seq 3", g)
	}
	// From now on: the stored ones are skipped, the next one comes.
	g := collect(0, 1, func() {
		time.Sleep(200 * time.Millisecond) // let the consumer start at the end
		publish("t.a", "live")
	})
	if g[0].data != "live" || g[0].seq != 4 {
		t.Errorf("live: got %v, want seq 4 live", g)
	}

	// A cancelled context ends the tail without an error.
	cctx, ccancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- Tail(cctx, conn.JS, "T", "t.a", 0, func(uint64, []byte) error { return nil }) }()
	ccancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("cancelled tail: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop when its context ended")
	}

	if err := Tail(ctx, conn.JS, "NOPE", "x", 0, nil); err == nil {
		t.Error("tail of a missing stream: want an error")
	} else if want := "tail NOPE"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the stream", err)
	}
}
