package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

const (
	rulesFile     = "prometheus/rules/mediawatch.rules.yml"
	rulesTestFile = "prometheus/rules/mediawatch.rules.test.yml"
	promConfig    = "prometheus/prometheus.yml"
)

// The alerts operations asked for; more may follow.
var wantAlerts = []string{
	"MediawatchDown",
	"MediawatchFeedStale",
	"MediawatchFeedFailing",
	"MediawatchNoMentions",
	"MediawatchAlertPublishFailing",
	"MediawatchReceiverFailing",
	"MediawatchNATSDisconnected",
	"MediawatchRulesReloadFailed",
	"MediawatchIndexErrors",
	"MediawatchPipelineLagHigh",
	"MediawatchFeedNotLeased",
}

// ruleExprs are the expressions of the rules file, by where they are.
func ruleExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, g := range listAt(yamlMap(t, rulesFile), "groups") {
		for _, r := range listAt(g, "rules") {
			name := strAt(r, "alert")
			if name == "" {
				name = strAt(r, "record")
			}
			out[fmt.Sprintf("%s: %s", rulesFile, name)] = strAt(r, "expr")
		}
	}
	return out
}

// Every alert says how bad it is and what to do, and has a test in which it
// fires and one in which it must not.
func TestAlertRules(t *testing.T) {
	var alerts []string
	for _, g := range listAt(yamlMap(t, rulesFile), "groups") {
		for _, r := range listAt(g, "rules") {
			name := strAt(r, "alert")
			if name == "" {
				continue
			}
			alerts = append(alerts, name)
			switch sev := strAt(r, "labels", "severity"); sev {
			case "critical", "warning", "info":
			default:
				t.Errorf("alert %s: severity %q, want critical, warning or info", name, sev)
			}
			for _, a := range []string{"summary", "description"} {
				if strAt(r, "annotations", a) == "" {
					t.Errorf("alert %s: no %s annotation", name, a)
				}
			}
		}
	}
	for _, want := range wantAlerts {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}

	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range listAt(yamlMap(t, rulesTestFile), "tests") {
		for _, at := range listAt(tc, "alert_rule_test") {
			name := strAt(at, "alertname")
			exp := listAt(at, "exp_alerts")
			if len(exp) == 0 {
				quiet[name] = true
			}
			for _, e := range exp {
				fires[name] = true
				if strAt(e, "exp_labels", "severity") == "" || strAt(e, "exp_annotations", "summary") == "" {
					t.Errorf("%s: a firing %s is checked without its severity and annotations", rulesTestFile, name)
				}
			}
		}
	}
	for _, a := range alerts {
		if !fires[a] {
			t.Errorf("%s: no test in which %s fires", rulesTestFile, a)
		}
		if !quiet[a] {
			t.Errorf("%s: no test in which %s must not fire", rulesTestFile, a)
		}
	}
}

// promtool checks the rules and the configuration and runs the rule tests
// when it is installed (Debian: prometheus); MEDIAWATCH_PROMTOOL=required
// makes its absence a failure, as in CI.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("MEDIAWATCH_PROMTOOL") == "required" {
			t.Fatal("promtool is not installed and MEDIAWATCH_PROMTOOL=required")
		}
		t.Skip("promtool is not installed (Debian: apt-get install prometheus)")
	}
	rules, _ := filepath.Glob("prometheus/rules/*.rules.yml")
	tests, _ := filepath.Glob("prometheus/rules/*.test.yml")
	for _, args := range [][]string{
		append([]string{"check", "rules"}, rules...),
		append([]string{"test", "rules"}, tests...),
		{"check", "config", promConfig},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
