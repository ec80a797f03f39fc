package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRulesPollInterval is how often the daemon looks at the configured
// rule directories for changes.
const DefaultRulesPollInterval = 2 * time.Second

// ruleFilePatterns are the file names loaded from a rule directory.
func ruleFilePatterns() []string { return []string{"*.yaml", "*.yml"} }

// LoadRules loads the shipped rules and those of the configured directories
// and drops the disabled ones. It returns every rule that loaded soundly
// together with every problem found (joined, each naming its file and line),
// so a caller can report on the good rules and the bad ones in one pass.
func LoadRules(cfg *config.Config) ([]match.Rule, error) {
	var errs []error
	rules, err := match.LoadRules(match.DefaultRules(), "*.yaml")
	if err != nil {
		errs = append(errs, err)
	}
	for _, dir := range cfg.Rules.Dirs {
		more, err := loadRuleDir(dir)
		if err != nil {
			errs = append(errs, err)
		}
		rules = append(rules, more...)
	}
	disabled := map[string]bool{}
	for _, id := range cfg.Rules.Disable {
		disabled[id] = true
	}
	kept := rules[:0]
	for _, r := range rules {
		if !disabled[r.ID] {
			kept = append(kept, r)
		}
	}
	return kept, errors.Join(errs...)
}

// loadRuleDir loads the *.yaml and *.yml files of one directory. A directory
// may hold either kind or both, but not neither: an empty or missing
// directory is almost always a mistake in the configuration.
func loadRuleDir(dir string) ([]match.Rule, error) {
	fsys := os.DirFS(dir)
	var patterns []string
	for _, p := range ruleFilePatterns() {
		if files, _ := fs.Glob(fsys, p); len(files) > 0 {
			patterns = append(patterns, p)
		}
	}
	if len(patterns) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("rule directory %s: %w", dir, err)
		}
		return nil, fmt.Errorf("rule directory %s: no *.yaml or *.yml files", dir)
	}
	rules, err := match.LoadRules(fsys, patterns...)
	for i := range rules {
		rules[i].File = filepath.Join(dir, rules[i].File)
	}
	return rules, inDir(dir, err)
}

// ruleMetrics describe the rules in force and how the last reload went.
type ruleMetrics struct {
	lastSuccessful prometheus.Gauge
	lastSuccess    prometheus.Gauge
	loaded         prometheus.Gauge
	reloads        *prometheus.CounterVec
}

func newRuleMetrics(reg prometheus.Registerer) (*ruleMetrics, error) {
	m := &ruleMetrics{
		lastSuccessful: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_rules_last_reload_successful",
			Help: "1 if the last rule reload succeeded (or none was tried since start), 0 if it failed and older rules are still in force.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_rules_last_reload_success_timestamp_seconds",
			Help: "Unix time the rules in force were loaded.",
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_rules_loaded",
			Help: "Rules in force.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_rules_reloads_total",
			Help: "Rule reloads, by result (success or failure).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.lastSuccessful, m.lastSuccess, m.loaded, m.reloads} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("rules: register metrics: %w", err)
		}
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	return m, nil
}

func (m *ruleMetrics) succeeded(rules int, at time.Time) {
	m.lastSuccessful.Set(1)
	m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
	m.loaded.Set(float64(rules))
}

// ReloadRules loads the rules again (shipped rules plus the configured
// directories), runs every rule's examples and, if all is well, puts the new
// rules in force: the match stage uses them from its next batch on. On any
// problem the rules in force stay and the error names every offending file
// and line. It is safe to call at any time, from any goroutine.
func (a *App) ReloadRules() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	m, err := LoadMatcher(a.cfg)
	if err == nil {
		err = m.TestExamples()
	}
	if err != nil {
		a.ruleMetrics.lastSuccessful.Set(0)
		a.ruleMetrics.reloads.WithLabelValues("failure").Inc()
		problems := SplitErrors(err)
		for _, p := range problems {
			a.logger.Error("rule problem", "problem", p.Error())
		}
		a.logger.Error("rules not reloaded; the previous rules stay in force",
			"problems", len(problems), "rules", len(a.Matcher().Rules()))
		return fmt.Errorf("rules not reloaded: %w", err)
	}
	a.matcher.Store(m)
	n := len(m.Rules())
	a.ruleMetrics.succeeded(n, time.Now())
	a.ruleMetrics.reloads.WithLabelValues("success").Inc()
	a.logger.Info("rules reloaded", "rules", n)
	return nil
}

// splitErrors flattens joined errors into their parts, one per problem.
func SplitErrors(err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, SplitErrors(e)...)
	}
	return out
}

// fileState is what the watcher compares between polls.
type fileState struct {
	name  string
	size  int64
	mtime time.Time
	mode  fs.FileMode
}

// snapshotDirs lists the files of the rule directories with size, time and
// mode. Stat follows symbolic links, so a Kubernetes ConfigMap update (an
// atomic swap of the ..data link) shows as a change of every file behind
// it, and an editor's write-to-temp-then-rename shows as a new mtime. A
// directory that cannot be read is recorded by its error, so it turning up
// again is a change too.
func snapshotDirs(dirs []string) []fileState {
	var out []fileState
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			out = append(out, fileState{name: dir + ": " + err.Error()})
			continue
		}
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			info, err := os.Stat(path)
			if err != nil {
				out = append(out, fileState{name: path + ": " + err.Error()})
				continue
			}
			out = append(out, fileState{name: path, size: info.Size(), mtime: info.ModTime(), mode: info.Mode()})
		}
	}
	return out
}

func sameSnapshot(a, b []fileState) bool {
	return slices.EqualFunc(a, b, func(x, y fileState) bool {
		return x.name == y.name && x.size == y.size && x.mtime.Equal(y.mtime) && x.mode == y.mode
	})
}

// watchRuleDirs polls dirs every interval and calls changed after each poll
// that sees a difference from the one before, until ctx ends. Polling rather
// than inotify: it needs no extra dependency, it behaves the same on every
// file system (network mounts and ConfigMap volumes included) and it cannot
// miss an event; a rule change taking two seconds to apply is harmless.
func watchRuleDirs(ctx context.Context, dirs []string, interval time.Duration, changed func()) {
	if len(dirs) == 0 {
		<-ctx.Done()
		return
	}
	last := snapshotDirs(dirs)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		now := snapshotDirs(dirs)
		if sameSnapshot(last, now) {
			continue
		}
		last = now
		changed()
	}
}
