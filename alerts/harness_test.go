package alerts

// Real NATS servers and real processes for the delivery tests: the
// embedded server in this process or in a child process, Debian's
// nats-server binary, and publishers in child processes that can be killed.
// A child process is this test binary run again with helperModeEnv set;
// TestHelperProcess is its entry point.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/match"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// The environment of a helper process.
const (
	helperModeEnv    = "MEDIAWATCH_ALERTS_HELPER" // "publish" or "server"
	helperURLEnv     = "MEDIAWATCH_ALERTS_HELPER_URL"
	helperFromEnv    = "MEDIAWATCH_ALERTS_HELPER_FROM"
	helperToEnv      = "MEDIAWATCH_ALERTS_HELPER_TO"
	helperWorkersEnv = "MEDIAWATCH_ALERTS_HELPER_WORKERS"
	helperListenEnv  = "MEDIAWATCH_ALERTS_HELPER_LISTEN"
	helperStoreEnv   = "MEDIAWATCH_ALERTS_HELPER_STORE"
)

// TestHelperProcess is not a test: it is the body of the child processes
// the delivery tests start, and does nothing unless helperModeEnv is set.
//
//	publish: publishes the test alerts [FROM, TO) to URL through a
//	         Publisher with WORKERS concurrent callers, then exits 0.
//	server:  runs the embedded server (bus.StartEmbedded, default sync
//	         policy) on LISTEN with STORE until standard input closes.
//
// Both end when their standard input closes, so a child never outlives a
// parent that died.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperModeEnv)
	if mode == "" {
		return
	}
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	switch mode {
	case "publish":
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		go func() {
			select {
			case <-stdinClosed:
				cancel()
			case <-ctx.Done():
			}
		}()
		helperPublish(ctx, t)
	case "server":
		ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: os.Getenv(helperListenEnv), StoreDir: os.Getenv(helperStoreEnv)})
		if err != nil {
			t.Fatal(err)
		}
		<-stdinClosed
		ns.Shutdown()
		ns.WaitForShutdown()
	default:
		t.Fatalf("unknown helper mode %q", mode)
	}
}

func helperPublish(ctx context.Context, t *testing.T) {
	from, err1 := strconv.Atoi(os.Getenv(helperFromEnv))
	to, err2 := strconv.Atoi(os.Getenv(helperToEnv))
	workers, err3 := strconv.Atoi(os.Getenv(helperWorkersEnv))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	conn := connectRetry(ctx, t, os.Getenv(helperURLEnv))
	defer conn.Close(context.Background())
	p, err := NewPublisher(conn, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	publishRange(ctx, t, p, from, to, workers, nil)
}

// publishRange publishes testAlert(i) for i in [from, to) with workers
// concurrent callers of Publish and calls acked, if not nil, with each i
// JetStream acknowledged. A caller stops at its first alert that is not
// acknowledged before ctx ends, and reports it as an error on t unless
// ctx was cancelled.
func publishRange(ctx context.Context, t testing.TB, p *Publisher, from, to, workers int, acked func(int)) {
	var (
		mu   sync.Mutex
		next = from
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= to {
					return
				}
				a := testAlert(i)
				if _, err := p.Publish(ctx, &a); err != nil {
					if !errors.Is(ctx.Err(), context.Canceled) {
						t.Errorf("alert %d: %v", i, err)
					}
					return
				}
				if acked != nil {
					acked(i)
				}
			}
		})
	}
	wg.Wait()
}

// testAlert is the i-th alert of the delivery tests: distinct for every
// i, the same in every process.
func testAlert(i int) Alert {
	institutions := []string{"umc-utrecht", "uz-leuven"}
	mentionID := fmt.Sprintf("delivery-test-mention-%06d", i)
	inst := institutions[i%len(institutions)]
	cat := match.Categories[i%len(match.Categories)]
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return Alert{
		ID:          ID(mentionID, inst, cat),
		Institution: inst,
		Category:    cat,
		Severity:    match.Severities[i%len(match.Severities)],
		Rules:       []string{"delivery-test"},
		Mention: MentionRef{
			ID:        mentionID,
			URL:       fmt.Sprintf("https://news.example.org/posts/%d", i),
			Source:    "news",
			Author:    "reporter",
			Title:     fmt.Sprintf("Post %d about the hospital", i),
			Published: at,
		},
		Snippet:    "a post of ordinary length that mentions the hospital and something the guidelines forbid, with the personal data in it masked as ████",
		DetectedAt: at,
		Status:     StatusNew,
		Count:      1,
		FirstSeen:  at,
		LastSeen:   at,
	}
}

// connectRetry connects to url, retrying while the server is not up yet.
func connectRetry(ctx context.Context, t testing.TB, url string) *bus.Conn {
	t.Helper()
	for {
		conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: url, Name: "mediawatch-delivery-test"})
		if err == nil {
			return conn
		}
		select {
		case <-ctx.Done():
			t.Fatalf("connect %s: %v", url, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a child process whose output is kept for the test log.
type process struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer // written by exec until done is closed
	done  chan struct{}
	err   error // set before done is closed
}

// startProcess runs name with args and env added to this process's
// environment. The process is killed, if still running, when the test ends.
func startProcess(t testing.TB, label string, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{name: label, cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// startHelper runs this test binary as a helper process in mode.
func startHelper(t testing.TB, label, mode string, env ...string) *process {
	t.Helper()
	env = append([]string{helperModeEnv + "=" + mode}, env...)
	return startProcess(t, label, env, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=5m")
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits until the process is gone. It fails the
// test if the process had already ended by itself.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if p.exited() {
		t.Fatalf("%s ended before it could be killed (%v):\n%s", p.name, p.err, p.out.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s: ended with %v, not by SIGKILL:\n%s", p.name, p.err, p.out.String())
	}
}

// wait waits for the process to end by itself and fails the test unless
// it exits 0 within timeout.
func (p *process) wait(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s still running after %v:\n%s", p.name, timeout, p.out.String())
	}
	if p.err != nil {
		t.Fatalf("%s: %v:\n%s", p.name, p.err, p.out.String())
	}
}

// broker is a NATS server with JetStream that a test can take down and
// bring back on the same address and store.
type broker interface {
	URL() string
	// Restart stops the server (how depends on the broker) and starts it
	// again on the same port and store directory.
	Restart(t testing.TB)
}

// embeddedBroker is bus.StartEmbedded in this process, shut down cleanly.
type embeddedBroker struct {
	listen, store string
	ns            *server.Server
}

func newEmbeddedBroker(t testing.TB) *embeddedBroker {
	t.Helper()
	b := &embeddedBroker{listen: fmt.Sprintf("127.0.0.1:%d", freePort(t)), store: t.TempDir()}
	b.start(t)
	t.Cleanup(b.stop)
	return b
}

func (b *embeddedBroker) start(t testing.TB) {
	t.Helper()
	ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: b.listen, StoreDir: b.store})
	if err != nil {
		t.Fatal(err)
	}
	b.ns = ns
}

func (b *embeddedBroker) URL() string { return "nats://" + b.listen }

func (b *embeddedBroker) stop() {
	b.ns.Shutdown()
	b.ns.WaitForShutdown()
}

func (b *embeddedBroker) Restart(t testing.TB) {
	t.Helper()
	b.stop()
	b.start(t)
}

// processBroker is a NATS server in a child process, killed with SIGKILL:
// Debian's nats-server binary or the embedded server run by a helper
// process.
type processBroker struct {
	label  string
	listen string
	start  func(t testing.TB) *process
	proc   *process
}

// newBinaryBroker runs the nats-server binary at path with JetStream on a
// store in a temporary directory.
func newBinaryBroker(t testing.TB, path string) *processBroker {
	t.Helper()
	port := freePort(t)
	store := t.TempDir()
	b := &processBroker{label: "nats-server", listen: fmt.Sprintf("127.0.0.1:%d", port)}
	b.start = func(t testing.TB) *process {
		return startProcess(t, b.label, nil, path, "-js", "-sd", store, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	}
	b.run(t)
	return b
}

// newChildEmbeddedBroker runs bus.StartEmbedded in a helper process on
// store, so that it can crash without taking the test with it.
func newChildEmbeddedBroker(t testing.TB, store string) *processBroker {
	t.Helper()
	b := &processBroker{label: "embedded server process", listen: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	b.start = func(t testing.TB) *process {
		return startHelper(t, b.label, "server", helperListenEnv+"="+b.listen, helperStoreEnv+"="+store)
	}
	b.run(t)
	return b
}

// run starts the process and waits until it accepts connections.
func (b *processBroker) run(t testing.TB) {
	t.Helper()
	b.proc = b.start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.listen, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if b.proc.exited() || time.Now().After(deadline) {
			_ = b.proc.cmd.Process.Kill()
			<-b.proc.done
			t.Fatalf("%s not listening on %s (%v):\n%s", b.label, b.listen, b.proc.err, b.proc.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *processBroker) URL() string { return "nats://" + b.listen }

// Restart kills the server with SIGKILL and starts it again.
func (b *processBroker) Restart(t testing.TB) {
	t.Helper()
	b.proc.kill(t)
	b.run(t)
}

// storedAlerts reads the whole ALERTS stream and counts the messages of
// each alert id; it fails the test on a message whose Nats-Msg-Id and
// body disagree.
func storedAlerts(ctx context.Context, t testing.TB, conn *bus.Conn) map[string]int {
	t.Helper()
	stream, err := conn.JS.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	counts := make(map[string]int, info.State.Msgs)
	for read := uint64(0); read < info.State.Msgs; {
		// Fetch waits for a full batch: ask for no more than is left.
		batch, err := cons.Fetch(int(min(1000, info.State.Msgs-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var a Alert
			if err := json.Unmarshal(msg.Data(), &a); err != nil {
				t.Fatalf("message on %s: %v", msg.Subject(), err)
			}
			if id := msg.Headers().Get(jetstream.MsgIDHeader); id != a.MsgID() {
				t.Fatalf("message on %s: Nats-Msg-Id %q, want %q", msg.Subject(), id, a.MsgID())
			}
			counts[a.ID]++
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("read %d of the %d messages of ALERTS, then nothing more", read, info.State.Msgs)
		}
		read += uint64(n)
	}
	return counts
}

// tally compares the stored counts with the alerts testAlert(i) for
// i in [0, n): how many are stored, missing, stored more than once (one
// per extra copy) and stored without being expected.
func tally(counts map[string]int, n int) (distinct, missing, duplicated, unexpected int) {
	want := make(map[string]bool, n)
	for i := range n {
		want[testAlert(i).ID] = true
	}
	for id, c := range counts {
		if !want[id] {
			unexpected += c
			continue
		}
		distinct++
		duplicated += c - 1
	}
	return distinct, n - distinct, duplicated, unexpected
}
