package bus

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gathered reads the value of the unlabelled gauge or counter name from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s not registered", name)
	return 0
}

func TestConnectMetrics(t *testing.T) {
	ns := startServer(t, "127.0.0.1:-1", t.TempDir())
	reg := prometheus.NewRegistry()

	// A connect that fails leaves the registry as it was, so that the
	// next attempt can register again.
	if _, err := Connect(context.Background(), ConnectOptions{URL: "nats://127.0.0.1:1", Registerer: reg}); err == nil {
		t.Fatal("connect to a closed port: want an error")
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("after a failed connect %d series are registered (%v), want none", n, err)
	}

	connect(t, ns.ClientURL(), reg)
	if got := gathered(t, reg, "mediawatch_nats_connected"); got != 1 {
		t.Errorf("mediawatch_nats_connected = %v, want 1", got)
	}
	if got := gathered(t, reg, "mediawatch_nats_reconnects_total"); got != 0 {
		t.Errorf("mediawatch_nats_reconnects_total = %v before any outage, want 0", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}
