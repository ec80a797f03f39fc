package main

import (
	"encoding/json"
	"testing"
)

// The bench command runs the daemon against its synthetic feeds and prints
// one JSON object with every figure. Only its shape and sanity are
// checked here: speed is what the command measures, not what a test may
// assert.
func TestBenchPrintsEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon")
	}
	code, out, errOut := runCmd(t, "bench", "--feeds", "5", "--items", "200")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s", code, errOut)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	num := func(key string) float64 {
		t.Helper()
		v, ok := r[key].(float64)
		if !ok {
			t.Errorf("%s: %v (%T), want a number", key, r[key], r[key])
		}
		return v
	}
	for _, key := range []string{"items_per_second", "ingest_items_per_second", "bleve_alone_items_per_second", "ratio", "duration_seconds", "cpu_seconds"} {
		if v := num(key); v <= 0 {
			t.Errorf("%s = %v, want > 0", key, v)
		}
	}
	p50, p99 := num("p50_latency_ms"), num("p99_latency_ms")
	if p50 < 0 || p99 < p50 {
		t.Errorf("latencies p50 %v ms, p99 %v ms: want 0 <= p50 <= p99", p50, p99)
	}
	if v := num("alerting_items"); v < 1 {
		t.Errorf("alerting_items = %v: the corpus must raise alerts for the latency to mean anything", v)
	}
	if v := num("peak_rss_bytes"); v <= 0 {
		t.Errorf("peak_rss_bytes = %v, want > 0", v)
	}
	if v := num("items"); v != 200 {
		t.Errorf("items = %v, want 200", v)
	}
	if v := num("feeds"); v != 5 {
		t.Errorf("feeds = %v, want 5", v)
	}
	if v := num("cores"); v < 1 {
		t.Errorf("cores = %v", v)
	}
	if v, _ := r["go_version"].(string); v == "" {
		t.Errorf("go_version = %v", r["go_version"])
	}
	if v, _ := r["mode"].(string); v != "throughput" {
		t.Errorf("mode = %v, want throughput", r["mode"])
	}
	shares, ok := r["cpu_share"].(map[string]any)
	if !ok {
		t.Fatalf("cpu_share = %v, want an object", r["cpu_share"])
	}
	var sum float64
	for _, stage := range []string{"ingest", "match", "index", "publish", "nats_server", "nats_client", "gc", "runtime", "daemon_other", "feed_server"} {
		v, ok := shares[stage].(float64)
		if !ok || v < 0 || v > 1 {
			t.Errorf("cpu_share[%s] = %v, want a share between 0 and 1", stage, shares[stage])
		}
		sum += v
	}
	// A profile that could not be taken (go test -cpuprofile holds the
	// profiler) leaves every share 0 and says why.
	if _, failed := r["cpu_share_error"]; !failed && (sum < 0.99 || sum > 1.01) {
		t.Errorf("cpu shares add up to %v, want 1: %v", sum, shares)
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--feeds", "0"},
		{"bench", "--items", "-3"},
		{"bench", "--sync-interval", "soon"},
		{"bench", "extra"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
