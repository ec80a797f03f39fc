package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "grafana/dashboards/mediawatch.json"

type dashboard struct {
	SchemaVersion int     `json:"schemaVersion"`
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasourceRef           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasourceRef  `json:"datasource"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels are the dashboard's panels, those inside collapsed rows
// included.
func (d dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// exprs are the dashboard's PromQL expressions: the panels' queries and the
// query variables', by where they are.
func (d dashboard) exprs() map[string]string {
	out := map[string]string{}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("%s: panel %q query %s", dashboardFile, p.Title, tg.RefID)] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out[fmt.Sprintf("%s: variable %s", dashboardFile, v.Name)] = v.Definition
		}
	}
	return out
}

var dashboardVar = regexp.MustCompile(`\$(\{)?(\w+)`)

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 39 || d.UID == "" || d.Title == "" {
		t.Errorf("schemaVersion %d, uid %q, title %q", d.SchemaVersion, d.UID, d.Title)
	}

	// The variables: a Prometheus data source, and institution and feed
	// from the metrics that name them.
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if v := vars["datasource"]; v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("variable datasource: type %q query %s, want a prometheus data source", v.Type, v.Query)
	}
	for name, def := range map[string]string{
		"institution": "label_values(mediawatch_mentions_total, institution)",
		"feed":        "label_values(mediawatch_feed_fetches_total, feed)",
	} {
		v := vars[name]
		if v.Type != "query" || v.Definition != def || !strings.Contains(string(v.Query), def) {
			t.Errorf("variable %s: type %q definition %q, want a query of %s", name, v.Type, v.Definition, def)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s: data source %+v, want ${datasource}", v.Name, v.Datasource)
		}
	}

	ids := map[int]string{}
	used := map[string]bool{}
	for _, p := range d.allPanels() {
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, g)
		}
		if p.Type == "row" {
			if len(p.Targets) > 0 {
				t.Errorf("row %q has queries", p.Title)
			}
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("panel %q: data source %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q empty or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: data source %+v", p.Title, tg.RefID, tg.Datasource)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q query %s: no expression", p.Title, tg.RefID)
			}
		}
	}

	for where, expr := range d.exprs() {
		if err := lexPromQL(expr); err != nil {
			t.Errorf("%s: %v in %s", where, err, expr)
		}
		for _, m := range dashboardVar.FindAllStringSubmatch(expr, -1) {
			name := m[2]
			used[name] = true
			if _, ok := vars[name]; !ok && !strings.HasPrefix(name, "__") {
				t.Errorf("%s: unknown variable $%s", where, name)
			}
		}
		if len(metricNames(expr)) == 0 {
			t.Errorf("%s: no metric in %s", where, expr)
		}
	}
	for _, name := range []string{"institution", "feed"} {
		if !used[name] {
			t.Errorf("no query uses $%s", name)
		}
	}

	// A row for each part of the daemon.
	var rows []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows = append(rows, p.Title)
		}
	}
	for _, want := range []string{"Feeds", "Ingest", "Detections", "Alert delivery", "Index", "NATS", "Web", "Runtime"} {
		if !slices.Contains(rows, want) {
			t.Errorf("no row %q (rows: %v)", want, rows)
		}
	}
}

// metricPattern finds the metric names of an expression once its strings
// are removed: the names of mediawatch, the Go runtime and process
// collectors, and up, not preceded by a name character or a colon (so the
// names of recording rules are left alone) and not called as functions.
var metricPattern = regexp.MustCompile(`(?:^|[^\w:])((?:mediawatch|go|process)_\w+|up)\b(\s*\()?`)

var promqlString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")

// metricNames are the metric names an expression reads.
func metricNames(expr string) []string {
	expr = promqlString.ReplaceAllString(expr, `""`)
	var out []string
	for _, m := range metricPattern.FindAllStringSubmatch(expr, -1) {
		if m[2] != "" { // a function call
			continue
		}
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// lexPromQL is a small check of an expression's shape: strings closed,
// brackets balanced and properly nested. (The PromQL parser is not a
// dependency of this module; promtool checks the rules themselves.)
func lexPromQL(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	rest := promqlString.ReplaceAllString(expr, "S")
	if strings.ContainsAny(rest, "\"'`") {
		return fmt.Errorf("unterminated string")
	}
	for i, r := range rest {
		switch r {
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q at %d", r, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		return fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	return nil
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (feed) (rate(mediawatch_feed_fetches_total{feed=~"$feed", result="ok"}[5m]))`:           {"mediawatch_feed_fetches_total"},
		`histogram_quantile(0.99, sum by (le) (rate(mediawatch_pipeline_lag_seconds_bucket[5m]))) > 60`: {"mediawatch_pipeline_lag_seconds_bucket"},
		`go_goroutines{instance=~"$instance"} and on (job, instance) mediawatch_build_info`:             {"go_goroutines", "mediawatch_build_info"},
		`up{job="mediawatch"} == 0`:                                   {"up"},
		`label_values(mediawatch_mentions_total, institution)`:        {"mediawatch_mentions_total"},
		`job:mediawatch_pipeline_lag_seconds:p99_5m > 1 or vector(0)`: nil,
		`count by (x) (process_cpu_seconds_total{label="mediawatch_not_a_metric"}) unless on () count(mediawatch_feed_leased offset 1h)`: {"process_cpu_seconds_total", "mediawatch_feed_leased"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `x{a="b"]`, `x{a="b}`} {
		if lexPromQL(bad) == nil {
			t.Errorf("lexPromQL accepted %s", bad)
		}
	}
}
