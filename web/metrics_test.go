package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// idleLive is a Live with no news: a stream stays open until the page
// goes.
type idleLive struct{}

func (idleLive) Position(context.Context) (Position, error) {
	return Position{Alerts: 7, Triage: 3}, nil
}

func (idleLive) Follow(ctx context.Context, _ Position, _ func(LiveEvent) error) error {
	<-ctx.Done()
	return ctx.Err()
}

// brokenAudit refuses every record, as an audit log on an unreachable
// JetStream does.
type brokenAudit struct{}

func (brokenAudit) Record(context.Context, audit.Event) error {
	return errors.New("nats: no responders available for request")
}

func (brokenAudit) Query(context.Context, audit.Query) ([]audit.Event, error) { return nil, nil }

// loginSequence is an identity provider answering each callback with the
// next of its results.
type loginSequence struct {
	mu      sync.Mutex
	results []providerLogin
}

func (s *loginSequence) Begin(w http.ResponseWriter, r *http.Request, _ string, _ bool) {
	http.Redirect(w, r, "/auth/oidc/callback", http.StatusFound)
}

func (s *loginSequence) Finish(http.ResponseWriter, *http.Request, bool) (auth.OIDCIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.results[0]
	s.results = s.results[1:]
	return next.who, next.err
}

// family returns the metric family name from reg, nil when it has no series.
func family(t *testing.T, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// labelValues lists the values the label takes in the family name.
func labelValues(t *testing.T, reg prometheus.Gatherer, name, label string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	if mf := family(t, reg, name); mf != nil {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out[lp.GetValue()] = true
				}
			}
		}
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsByRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newAccessFixture(t, func(o *Options) { o.Registerer, o.Gatherer, o.Live = reg, reg, idleLive{} })
	requests := func(route, code string) float64 {
		return max(value(t, reg, "mediawatch_http_requests_total", "route", route, "code", code), 0)
	}

	c := f.loggedIn(t, auth.RoleViewer)
	for _, path := range []string{"/alerts/pd1", "/alerts/lg1", "/api/alerts/pd1", "/no/such/page", "/alerts/pd1/act"} {
		resp, _ := f.do(t, c, http.MethodGet, path, "")
		resp.Body.Close()
	}
	resp, _ := f.do(t, c, http.MethodDelete, "/healthz", "")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE /healthz: %d, want 405", resp.StatusCode)
	}

	for _, tt := range []struct {
		route, code string
		want        float64
	}{
		{"GET /alerts/{id}", "200", 2}, // both alerts under one route
		{"GET /api/alerts/{id}", "200", 1},
		{"POST /login", "303", 1},
		{"unmatched", "404", 2}, // an unknown path, and GET on a POST-only route
		{"unmatched", "405", 1},
	} {
		if got := requests(tt.route, tt.code); got != tt.want {
			t.Errorf("requests{route=%q,code=%q} = %v, want %v", tt.route, tt.code, got, tt.want)
		}
	}
	for route := range labelValues(t, reg, "mediawatch_http_requests_total", "route") {
		if strings.Contains(route, "pd1") || strings.Contains(route, "/no/such") {
			t.Errorf("route label %q carries a request path", route)
		}
	}

	// Every route has its duration series from the start.
	routes := labelValues(t, reg, "mediawatch_http_request_duration_seconds", "route")
	for _, want := range []string{"GET /{$}", "GET /alerts/{id}", "POST /api/alerts/{id}/{action}", "GET /metrics", "unmatched"} {
		if !routes[want] {
			t.Errorf("no duration series for route %q; have %v", want, routes)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// The live stream counts as open while the page listens, and as a request
// once it ends; it stays out of the duration histogram, where it would
// record hours.
func TestMetricsLiveStreams(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newAccessFixture(t, func(o *Options) { o.Registerer, o.Gatherer, o.Live = reg, reg, idleLive{} })
	c := f.loggedIn(t, auth.RoleViewer)
	streams := func() float64 { return value(t, reg, "mediawatch_live_streams") }
	if got := streams(); got != 0 {
		t.Fatalf("live streams %v before any page listens", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("event stream starts with %q, %v", line, err)
	}
	waitUntil(t, "one live stream open", func() bool { return streams() == 1 })

	cancel()
	resp.Body.Close()
	waitUntil(t, "the stream counted as closed", func() bool { return streams() == 0 })
	waitUntil(t, "the stream counted as a request", func() bool {
		return value(t, reg, "mediawatch_http_requests_total", "route", "GET /events", "code", "200") == 1
	})
	if routes := labelValues(t, reg, "mediawatch_http_request_duration_seconds", "route"); routes["GET /events"] {
		t.Error("the event stream has a duration series")
	}
}

func TestMetricsLogins(t *testing.T) {
	reg := prometheus.NewRegistry()
	provider := &loginSequence{results: []providerLogin{
		{who: auth.OIDCIdentity{Name: "stagiair"}, err: fmt.Errorf("oidc: %w", auth.ErrNoRole)},
		{err: errors.New("oidc: bad state")},
		{who: auth.OIDCIdentity{Name: "els@uzleuven.example", Roles: []string{auth.RoleAnalyst}, ReturnTo: "/"}},
	}}
	f := newAccessFixture(t, func(o *Options) {
		o.Registerer, o.Gatherer, o.OIDC, o.Audit = reg, reg, provider, brokenAudit{}
	})
	logins := func(method, result string) float64 {
		return value(t, reg, "mediawatch_logins_total", "method", method, "result", result)
	}
	for _, method := range []string{"local", "oidc"} {
		for _, result := range []string{"ok", "failed", "refused"} {
			if got := logins(method, result); got != 0 {
				t.Errorf("logins{%s,%s} = %v before any login", method, result, got)
			}
		}
	}

	f.loggedIn(t, auth.RoleAnalyst)
	c := f.browser(t)
	// The fixture's limiter allows three failures, then refuses.
	for range 4 {
		f.postForm(t, c, "/login", url.Values{"name": {"viewer-user"}, "password": {"guess"}})
	}
	for range 3 {
		resp, _ := f.do(t, f.browser(t), http.MethodGet, "/auth/oidc/callback", "")
		resp.Body.Close()
	}

	for _, tt := range []struct {
		method, result string
		want           float64
	}{
		{"local", "ok", 1}, {"local", "failed", 3}, {"local", "refused", 1},
		{"oidc", "ok", 1}, {"oidc", "failed", 1}, {"oidc", "refused", 1},
	} {
		if got := logins(tt.method, tt.result); got != tt.want {
			t.Errorf("logins{method=%q,result=%q} = %v, want %v", tt.method, tt.result, got, tt.want)
		}
	}
	// Each attempt was to be recorded in the audit log, which refused.
	if got := value(t, reg, "mediawatch_audit_record_failures_total"); got != 8 {
		t.Errorf("audit record failures %v, want 8 (one per login attempt)", got)
	}
}

// A second dashboard on the same registry counts on the same series
// instead of failing to register.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	Handler(Options{Registerer: reg, Gatherer: reg})
	Handler(Options{Registerer: reg, Gatherer: reg})
	if n, err := testutil.GatherAndCount(reg, "mediawatch_logins_total"); err != nil || n != 6 {
		t.Errorf("logins_total: %d series (%v), want 6", n, err)
	}
}

// value reads the counter or gauge sample of name whose labels have the
// given name, value pairs; a missing sample reads -1.
func value(t *testing.T, reg prometheus.Gatherer, name string, pairs ...string) float64 {
	t.Helper()
	mf := family(t, reg, name)
	if mf == nil {
		return -1
	}
metrics:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			if have[pairs[i]] != pairs[i+1] {
				continue metrics
			}
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}
