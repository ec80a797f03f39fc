package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
)

// configWithRuleDirs writes a config file that adds the rule directories.
func configWithRuleDirs(t *testing.T, dirs ...string) string {
	t.Helper()
	var quoted []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		quoted = append(quoted, fmt.Sprintf("%q", abs))
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("rules:\n  dirs: ["+strings.Join(quoted, ", ")+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRulesTest(t *testing.T) {
	shipped, err := app.LoadRules(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	broken, _ := filepath.Abs("testdata/rules/broken")
	okLine := regexp.MustCompile(`^ok   (\S+)  (\d+) examples$`)
	tests := []struct {
		name    string
		args    []string
		code    int
		ok      []string // rules beyond the shipped ones reported ok
		fail    map[string][]string
		other   []string // problems not tied to one rule
		summary string
	}{
		{
			name:    "shipped rules",
			args:    nil,
			summary: fmt.Sprintf("%d rules: %d ok, 0 failed", len(shipped), len(shipped)),
		},
		{
			name:    "a good directory",
			args:    []string{"--config", configWithRuleDirs(t, "testdata/rules/good")},
			ok:      []string{"conduct.parking_rant"},
			summary: fmt.Sprintf("%d rules: %d ok, 0 failed", len(shipped)+1, len(shipped)+1),
		},
		{
			name: "a broken directory",
			args: []string{"--config", configWithRuleDirs(t, "testdata/rules/broken")},
			code: 1,
			// The sound rule of a file with a broken one is still tested.
			ok: []string{"conduct.parking_rant"},
			fail: map[string][]string{
				"gossip.canteen":      {broken + "/a_mixed.yaml:15: rule gossip.canteen: unknown category", broken + "/a_mixed.yaml:14: rule gossip.canteen: needs at least one examples.match"},
				"conduct.bad_pattern": {broken + "/b_pattern.yaml:9: rule conduct.bad_pattern: bad pattern"},
				"conduct.noise_rant":  {broken + "/c_examples.yaml:14: rule conduct.noise_rant: examples.no_match[0] fired"},
			},
			other:   []string{broken + "/d_yaml.yaml:1: invalid YAML"},
			summary: fmt.Sprintf("%d rules: %d ok, 3 failed, 1 other problem(s)", len(shipped)+4, len(shipped)+1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"rules", "test"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s\n%s", code, tt.code, errOut, out)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if got := lines[len(lines)-1]; got != tt.summary {
				t.Errorf("summary %q, want %q", got, tt.summary)
			}
			var okIDs []string
			failures := map[string]string{}
			var others []string
			for _, l := range lines[:len(lines)-1] {
				if m := okLine.FindStringSubmatch(l); m != nil {
					okIDs = append(okIDs, m[1])
					continue
				}
				rest, found := strings.CutPrefix(l, "FAIL ")
				if !found {
					t.Errorf("line neither ok nor FAIL: %q", l)
					continue
				}
				if id, problem, found := strings.Cut(rest, "  "); found {
					failures[id] += problem + "\n"
				} else {
					others = append(others, rest)
				}
			}
			if !slices.IsSorted(okIDs) {
				t.Errorf("ok lines not sorted by id: %v", okIDs)
			}
			for _, r := range shipped {
				if !slices.Contains(okIDs, r.ID) {
					t.Errorf("shipped rule %s not reported ok", r.ID)
				}
			}
			for _, id := range tt.ok {
				if !slices.Contains(okIDs, id) {
					t.Errorf("rule %s not reported ok", id)
				}
			}
			if len(okIDs) != len(shipped)+len(tt.ok) {
				t.Errorf("%d rules ok, want %d", len(okIDs), len(shipped)+len(tt.ok))
			}
			for id, problems := range tt.fail {
				for _, p := range problems {
					if !strings.Contains(failures[id], p) {
						t.Errorf("FAIL %s lacks %q; got %q", id, p, failures[id])
					}
				}
			}
			if len(failures) != len(tt.fail) {
				t.Errorf("failed rules %v, want %d", failures, len(tt.fail))
			}
			if len(others) != len(tt.other) {
				t.Errorf("other problems %q, want %q", others, tt.other)
			}
			for i := range min(len(others), len(tt.other)) {
				if !strings.HasPrefix(others[i], tt.other[i]) {
					t.Errorf("other problem %q, want %q", others[i], tt.other[i])
				}
			}
		})
	}
}

func TestRulesList(t *testing.T) {
	code, out, errOut := runCmd(t, "rules", "list", "--config", configWithRuleDirs(t, "testdata/rules/good"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m, err := app.LoadMatcher(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(m.Rules())+1 {
		t.Fatalf("%d lines, want the %d shipped rules and the added one:\n%s", len(lines), len(m.Rules()), out)
	}
	var ids []string
	for _, l := range lines {
		cols := strings.Split(l, "\t")
		if len(cols) != 5 {
			t.Fatalf("line %q has %d tab-separated columns, want 5", l, len(cols))
		}
		ids = append(ids, cols[0])
		if !slices.Contains(match.Categories, cols[1]) || !match.Severity(cols[2]).Valid() || cols[3] == "" || !strings.HasSuffix(cols[4], ".txt") {
			t.Errorf("line %q: want id, category, severity, description, policy file", l)
		}
	}
	if !slices.IsSorted(ids) {
		t.Errorf("not sorted by id: %v", ids)
	}
	want := "conduct.parking_rant\tconduct\tlow\tComplaints about parking fines at the hospital.\tumc-utrecht-richtlijnen-social-media.txt"
	if !slices.Contains(lines, want) {
		t.Errorf("lacks the added rule as %q", want)
	}

	code, out, errOut = runCmd(t, "rules", "list", "--config", configWithRuleDirs(t, "testdata/rules/broken"))
	if code != 1 || out != "" || !strings.Contains(errOut, "b_pattern.yaml:9") {
		t.Errorf("broken rules: exit %d, stdout %q, stderr %q; want 1, nothing, the problems", code, out, errOut)
	}
}

func TestRulesUsage(t *testing.T) {
	for _, args := range [][]string{{"rules"}, {"rules", "frobnicate"}, {"rules", "test", "--frobnicate"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// daemonConfig is a config for a daemon on free ports in a temporary data
// dir, with no feeds.
func daemonConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.StoreDir = ""
	cfg.Index.Path = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Feeds = nil
	return cfg
}

func counterValue(t *testing.T, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// SIGHUP reloads the rules of a running daemon.
func TestSIGHUPReloadsRules(t *testing.T) {
	cfg := daemonConfig(t)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ready := make(chan *app.App, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runDaemon(ctx, app.Options{Config: cfg, Logger: logger, Version: version}, func(a *app.App) { ready <- a })
	}()
	var a *app.App
	select {
	case a = <-ready:
	case code := <-done:
		t.Fatalf("daemon exited with %d before it was ready:\n%s", code, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("daemon exited with %d:\n%s", code, logs.String())
		}
	}()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for counterValue(t, a.Registry(), "mediawatch_rules_reloads_total", "result", "success") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no successful reload after SIGHUP:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `msg="rules reloaded"`) {
		t.Errorf("log lacks the reload:\n%s", logs.String())
	}
}

// The rescan command prints its summary; the details are tested with
// app.Rescan.
func TestRescanCommand(t *testing.T) {
	cfg := daemonConfig(t)
	// Create the streams, as a daemon does on its first start.
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		done <- runDaemon(ctx, app.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Version: version}, func(*app.App) { close(ready) })
	}()
	select {
	case <-ready:
	case <-done:
		t.Fatal("daemon exited before it was ready")
	}
	cancel()
	<-done

	// Nothing listens at nats.listen: the rescan starts the embedded server
	// on the data dir itself.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unused := ln.Addr().String()
	ln.Close()
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("data_dir: %q\nnats:\n  listen: %s\n", cfg.DataDir, unused)), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"rescan", "--config", cfgFile, "--since", "24h"}, 0, "rescanned 0 mentions of the last 24h0m0s: 0 new alerts, 0 already known\n", ""},
		{[]string{"rescan", "--config", cfgFile}, 2, "", "want --since"},
		{[]string{"rescan", "--since", "soon"}, 2, "", "invalid value"},
		{[]string{"rescan", "--config", "testdata/bad-config.yaml", "--since", "1h"}, 1, "", "bad-config.yaml:4"},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(t, tt.args...)
		if code != tt.code || out != tt.stdout || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out, errOut, tt.code, tt.stdout, tt.stderr)
		}
	}
}
