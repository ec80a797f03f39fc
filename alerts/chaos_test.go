package alerts

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
)

const (
	// chaosAlerts is how many distinct alerts a chaos run publishes.
	chaosAlerts = 20000
	// chaosWorkers is how many goroutines of a publisher process call
	// Publish at once.
	chaosWorkers = 16
)

// No alert is lost or stored twice while the embedded NATS server is shut
// down and restarted twice and the publishing process is killed with
// SIGKILL and started again.
func TestPublisherNoLossNoDuplicateUnderChaos(t *testing.T) {
	t.Parallel()
	runChaos(t, newEmbeddedBroker(t))
}

// The same with Debian's nats-server binary as an external broker, killed
// with SIGKILL instead of shut down.
func TestPublisherNoLossNoDuplicateUnderChaosExternalServer(t *testing.T) {
	t.Parallel()
	path, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("nats-server is not on PATH; install Debian's package (apt-get install nats-server), as .ci/run does, to run this test")
	}
	runChaos(t, newBinaryBroker(t, path))
}

// runChaos publishes the alerts testAlert(0) to testAlert(chaosAlerts-1)
// from a child process (a publisher, A) while it:
//
//   - restarts the broker once A has stored 15% of the alerts,
//   - kills A with SIGKILL at 40% and starts a publisher B that publishes
//     the whole range again, from the start,
//   - restarts the broker again at 70%,
//
// then waits for B to finish and reads the ALERTS stream: every alert must
// be there exactly once.
func runChaos(t *testing.T, b broker) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := connectRetry(ctx, t, b.URL())
	defer conn.Close(ctx)
	if err := conn.EnsureStreams(ctx, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := conn.JS.Stream(ctx, bus.StreamAlerts)
		if err != nil {
			return 0 // the broker is down; try again
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	// waitStored returns once pct percent of the alerts are stored, and
	// fails the test if pub ends first.
	waitStored := func(pub *process, pct int) uint64 {
		t.Helper()
		want := uint64(chaosAlerts * pct / 100)
		for {
			if n := stored(); n >= want {
				return n
			}
			if pub.exited() {
				t.Fatalf("%s ended before %d%% of the alerts were stored (%v):\n%s", pub.name, pct, pub.err, pub.out.String())
			}
			if ctx.Err() != nil {
				t.Fatalf("%d%% of the alerts not stored in time", pct)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	startPublisher := func(label string) *process {
		return startHelper(t, label, "publish",
			helperURLEnv+"="+b.URL(),
			helperFromEnv+"=0",
			helperToEnv+"="+strconv.Itoa(chaosAlerts),
			helperWorkersEnv+"="+strconv.Itoa(chaosWorkers))
	}

	a := startPublisher("publisher A")
	n := waitStored(a, 15)
	b.Restart(t)
	t.Logf("%v: broker restarted with %d alerts stored", time.Since(start).Round(time.Millisecond), n)
	n = waitStored(a, 40)
	a.kill(t)
	t.Logf("%v: publisher A killed with %d alerts stored", time.Since(start).Round(time.Millisecond), n)
	if n >= chaosAlerts {
		t.Fatalf("publisher A had stored all %d alerts before it was killed", n)
	}

	pub := startPublisher("publisher B")
	n = waitStored(pub, 70)
	b.Restart(t)
	t.Logf("%v: broker restarted with %d alerts stored", time.Since(start).Round(time.Millisecond), n)
	pub.wait(t, 3*time.Minute)
	t.Logf("%v: publisher B done", time.Since(start).Round(time.Millisecond))

	counts := storedAlerts(ctx, t, conn)
	distinct, missing, duplicated, unexpected := tally(counts, chaosAlerts)
	t.Logf("%v: ALERTS holds %d distinct alerts of %d: %d missing, %d duplicated, %d unexpected",
		time.Since(start).Round(time.Millisecond), distinct, chaosAlerts, missing, duplicated, unexpected)
	if distinct != chaosAlerts || missing != 0 || duplicated != 0 || unexpected != 0 {
		t.Errorf("want exactly the %d alerts, each once", chaosAlerts)
	}
}
