package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// logBuffer collects log output written by the daemon's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sample returns the value of the metric name with the given label pairs
// from reg, or -1 when there is no such sample.
func sample(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// copyRuleFile puts a testdata rule file into dir under name the way an
// editor saves: write a temporary file, then rename it over the old one.
// The temporary file is outside dir so that the watcher sees one change.
func copyRuleFile(t *testing.T, from, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(dir), "."+name+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// serveFeed serves one testdata feed file.
func serveFeed(t *testing.T, file string) string {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(file)
}

// quietConfig is the built-in configuration on loopback with free ports,
// under dataDir, with no feeds.
func quietConfig(t testing.TB, dataDir string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.StoreDir = ""
	cfg.Index.Path = ""
	cfg.Index.FlushInterval = config.Duration(50 * time.Millisecond)
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Ingest.AllowPrivateNetworks = []string{"127.0.0.0/8"}
	cfg.Feeds = nil
	return cfg
}

// Rules change under a running daemon: a good change is put in force, a
// broken one leaves the rules in force alone and says so in the metrics and
// the log with the file and line, and fixing it recovers.
func TestRulesReloadOnChange(t *testing.T) {
	ruleDir := t.TempDir()
	copyRuleFile(t, "testdata/rules/more/noise.yaml", ruleDir, "noise.yaml")
	cfg := quietConfig(t, t.TempDir())
	cfg.Rules.Dirs = []string{ruleDir}

	var logs logBuffer
	reg := app.NewRegistry("test")
	d := startApp(t, app.Options{
		Config:            cfg,
		Version:           "test",
		Logger:            slog.New(slog.NewTextHandler(&logs, nil)),
		Registry:          reg,
		RulesPollInterval: 20 * time.Millisecond,
	})
	shipped := len(d.app.Matcher().Rules()) - 1
	if got := sample(t, reg, "mediawatch_rules_loaded"); got != float64(shipped+1) {
		t.Fatalf("mediawatch_rules_loaded = %v at start, want %d", got, shipped+1)
	}
	if got := sample(t, reg, "mediawatch_rules_last_reload_successful"); got != 1 {
		t.Fatalf("mediawatch_rules_last_reload_successful = %v at start, want 1", got)
	}

	steps := []struct {
		name      string
		from      string // testdata file copied to parking.yaml
		rules     int    // rules in force afterwards, beyond the shipped ones
		ok        float64
		successes float64
		failures  float64
		log       string
	}{
		{"add a rule", "testdata/rules/good/parking.yaml", 2, 1, 1, 0, `msg="rules reloaded" rules=` + fmt.Sprint(shipped+2)},
		{"break its pattern", "testdata/rules/broken/parking.yaml", 2, 0, 1, 1, "parking.yaml:9: rule conduct.parking_rant: bad pattern"},
		{"break its examples", "testdata/rules/failing/parking.yaml", 2, 0, 1, 2, "parking.yaml:14: rule conduct.parking_rant: examples.no_match[0] fired"},
		{"fix it", "testdata/rules/good/parking.yaml", 2, 1, 2, 2, ""},
	}
	for _, st := range steps {
		before := sample(t, reg, "mediawatch_rules_last_reload_success_timestamp_seconds")
		copyRuleFile(t, st.from, ruleDir, "parking.yaml")
		eventually(t, st.name, func() error {
			s := sample(t, reg, "mediawatch_rules_reloads_total", "result", "success")
			f := sample(t, reg, "mediawatch_rules_reloads_total", "result", "failure")
			if s != st.successes || f != st.failures {
				return fmt.Errorf("reloads: %v successful, %v failed; want %v and %v", s, f, st.successes, st.failures)
			}
			return nil
		})
		if got := len(d.app.Matcher().Rules()); got != shipped+st.rules {
			t.Errorf("%s: %d rules in force, want %d", st.name, got, shipped+st.rules)
		}
		if got := sample(t, reg, "mediawatch_rules_loaded"); got != float64(shipped+st.rules) {
			t.Errorf("%s: mediawatch_rules_loaded = %v, want %d", st.name, got, shipped+st.rules)
		}
		if got := sample(t, reg, "mediawatch_rules_last_reload_successful"); got != st.ok {
			t.Errorf("%s: mediawatch_rules_last_reload_successful = %v, want %v", st.name, got, st.ok)
		}
		after := sample(t, reg, "mediawatch_rules_last_reload_success_timestamp_seconds")
		if moved := after > before; moved != (st.ok == 1) {
			t.Errorf("%s: success timestamp %v → %v; it should move only on success", st.name, before, after)
		}
		if st.log != "" && !strings.Contains(logs.String(), st.log) {
			t.Errorf("%s: log lacks %q:\n%s", st.name, st.log, logs.String())
		}
	}

	// The match stage uses the reloaded rules: a post about a parking fine
	// raises an alert now.
	publishMention(t, d.app.NATSURL(), mention.Mention{ID: "after-reload", Source: "news", URL: "https://buurt.example/boetes",
		Text: "Alweer een parkeerboete bij het UMC Utrecht voor wie even een familielid komt ophalen."})
	eventually(t, "conduct alert from the reloaded rule", func() error {
		a, ok := findAlert(readAlerts(t, d.app.NATSURL()), "umc-utrecht", match.CategoryConduct)
		if !ok {
			return fmt.Errorf("not in ALERTS yet")
		}
		if strings.Join(a.alert.Rules, ",") != "conduct.parking_rant" || a.alert.Mention.ID != "after-reload" {
			t.Errorf("alert rules = %v on mention %s, want the reloaded rule on after-reload", a.alert.Rules, a.alert.Mention.ID)
		}
		return nil
	})
}

// publishMention stores one mention on the MENTIONS stream, as ingest does.
func publishMention(t *testing.T, natsURL string, m mention.Mention) {
	t.Helper()
	js, closeJS := connectJS(t, natsURL)
	defer closeJS()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, mention.Subject(m.Source), data, jetstream.WithMsgID(m.ID)); err != nil {
		t.Fatal(err)
	}
}

// ReloadRules is the SIGHUP path: it reports the problem by file and line
// and keeps the rules in force.
func TestReloadRulesReportsProblems(t *testing.T) {
	ruleDir := t.TempDir()
	copyRuleFile(t, "testdata/rules/good/parking.yaml", ruleDir, "parking.yaml")
	cfg := quietConfig(t, t.TempDir())
	cfg.Rules.Dirs = []string{ruleDir}
	reg := app.NewRegistry("test")
	a, err := app.New(app.Options{Config: cfg, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	inForce := a.Matcher()

	tests := []struct {
		from    string
		wantErr string
		ok      float64
	}{
		{"testdata/rules/broken/parking.yaml", filepath.Join(ruleDir, "parking.yaml") + ":9: rule conduct.parking_rant: bad pattern", 0},
		{"testdata/rules/failing/parking.yaml", filepath.Join(ruleDir, "parking.yaml") + ":14: rule conduct.parking_rant: examples.no_match[0] fired", 0},
		{"testdata/rules/more/noise.yaml", "", 1},
	}
	for _, tt := range tests {
		copyRuleFile(t, tt.from, ruleDir, "parking.yaml")
		err := a.ReloadRules()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.from, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want it to contain %q", tt.from, err, tt.wantErr)
		}
		if tt.wantErr != "" && a.Matcher() != inForce {
			t.Errorf("%s: a failed reload replaced the rules in force", tt.from)
		}
		if got := sample(t, reg, "mediawatch_rules_last_reload_successful"); got != tt.ok {
			t.Errorf("%s: mediawatch_rules_last_reload_successful = %v, want %v", tt.from, got, tt.ok)
		}
	}
	if a.Matcher() == inForce {
		t.Error("a good reload left the old rules in force")
	}
}

func TestLoadRulesDirectories(t *testing.T) {
	yml := t.TempDir()
	data, err := os.ReadFile("testdata/rules/good/parking.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(yml, "parking.yml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dirs    []string
		disable []string
		extra   []string // rule ids beyond the shipped ones
		wantErr string
	}{
		{name: "yaml files", dirs: []string{"testdata/rules/good"}, extra: []string{"conduct.parking_rant"}},
		{name: "yml files only", dirs: []string{yml}, extra: []string{"conduct.parking_rant"}},
		{name: "two directories", dirs: []string{"testdata/rules/good", "testdata/rules/more"}, extra: []string{"conduct.noise_rant", "conduct.parking_rant"}},
		{name: "disabled", dirs: []string{"testdata/rules/good"}, disable: []string{"conduct.parking_rant"}},
		{name: "empty directory", dirs: []string{t.TempDir()}, wantErr: "no *.yaml or *.yml files"},
		{name: "missing directory", dirs: []string{"testdata/rules/nowhere"}, wantErr: "rule directory testdata/rules/nowhere"},
		{name: "same rule twice", dirs: []string{"testdata/rules/good", yml}, wantErr: "duplicate id"},
	}
	shipped, err := app.LoadRules(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Rules.Dirs = tt.dirs
			cfg.Rules.Disable = tt.disable
			m, err := app.LoadMatcher(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var extra []string
			for _, r := range m.Rules() {
				if !strings.HasPrefix(r.File, "testdata/") && !strings.HasPrefix(r.File, yml) {
					continue
				}
				extra = append(extra, r.ID)
			}
			if strings.Join(extra, ",") != strings.Join(tt.extra, ",") {
				t.Errorf("rules from the directories = %v, want %v", extra, tt.extra)
			}
			if got := len(m.Rules()); got != len(shipped)+len(tt.extra) {
				t.Errorf("%d rules, want %d", got, len(shipped)+len(tt.extra))
			}
		})
	}
}
