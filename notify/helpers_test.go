package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
)

// detectedAt is when the test alerts were raised.
func detectedAt() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }

// testAlerts are two redacted alerts as the alerts package builds them; the
// second post tries markup and mentions on every chat service.
func testAlerts() []alerts.Alert {
	detected := detectedAt()
	return []alerts.Alert{
		{
			ID: "5f0c1d6e2a9b4c3d8e7f6a5b4c3d2e1f", Institution: "umc-utrecht", Category: match.CategoryPatientData,
			Severity: match.SeverityCritical, Rules: []string{"patient_data.bsn", "patient_data.room_bed"},
			Mention: alerts.MentionRef{ID: "m-1", URL: "https://forum.example/t/1?page=2&sort=new", Source: "forum",
				Author: "coassistent", Title: "dagje stage", Published: detected.Add(-time.Hour), FeedID: "forum"},
			Snippet: "Mevrouw op kamer 14 heeft bsn ******818, wat een dag.",
			Findings: []alerts.Evidence{
				{Rule: "patient_data.bsn", Severity: match.SeverityCritical, Field: "text", Start: 80, End: 89,
					Evidence: "******818", Explanation: "BSN passing the 11-check"},
				{Rule: "patient_data.room_bed", Severity: match.SeverityHigh, Field: "text", Start: 60, End: 68,
					Evidence: "kamer 14", Explanation: "room number in care context"},
			},
			DetectedAt: detected, Status: alerts.StatusNew, Count: 1, FirstSeen: detected, LastSeen: detected,
		},
		{
			ID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", Institution: "uz-leuven", Category: match.CategoryConduct,
			Severity: match.SeverityMedium, Rules: []string{"conduct.denigrating"},
			Mention: alerts.MentionRef{ID: "m-2", URL: "https://social.example/@x/42", Source: "mastodon",
				Author: "x", Title: "<!channel> *look*", Published: detected.Add(-2 * time.Hour)},
			Snippet: "@channel [klik](https://evil.example) <b>die</b> verpleging & co\n# kop",
			Findings: []alerts.Evidence{
				{Rule: "conduct.denigrating", Severity: match.SeverityMedium, Field: "text", Start: 0, End: 8,
					Evidence: "verpleging", Explanation: "denigrating words about staff"},
			},
			DetectedAt: detected, Status: alerts.StatusNew, Count: 3, FirstSeen: detected.Add(-time.Hour), LastSeen: detected,
		},
	}
}

func testMessage() Message {
	return Message{
		Receiver:     "comms",
		GroupKey:     "route-comms/umc-utrecht",
		Alerts:       testAlerts(),
		Truncated:    1,
		DashboardURL: "https://mediawatch.example/",
	}
}

// request is one request a test server received.
type request struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// recorder is an HTTP handler that records requests and answers with the
// scripted responses in turn (the last one repeating; 200 when none).
type recorder struct {
	mu        sync.Mutex
	requests  []request
	responses []response
}

type response struct {
	status int
	header map[string]string
	body   string
	delay  time.Duration // the handler sleeps this long before answering
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	n := len(rec.requests)
	rec.requests = append(rec.requests, request{Header: r.Header.Clone(), Body: body, At: time.Now()})
	resp := response{status: http.StatusOK, body: "ok"}
	if len(rec.responses) > 0 {
		resp = rec.responses[min(n, len(rec.responses)-1)]
	}
	rec.mu.Unlock()
	if resp.delay > 0 {
		select {
		case <-time.After(resp.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range resp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(resp.status)
	_, _ = io.WriteString(w, resp.body)
}

func (rec *recorder) all() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.requests...)
}

// newRecorder starts a real HTTP server on loopback.
func newRecorder(t *testing.T, responses ...response) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{responses: responses}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

// pipeNet is an in-memory network for tests inside a synctest bubble,
// where goroutines blocked on real sockets would keep the fake clock from
// advancing: a real http.Server serves connections made with net.Pipe.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (p *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// servePipe serves h on an in-memory network and returns a client for it;
// call the returned stop before the bubble ends.
func servePipe(h http.Handler) (*http.Client, func()) {
	pn := newPipeNet()
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(pn) }()
	tr := &http.Transport{DialContext: pn.DialContext}
	return &http.Client{Transport: tr}, func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
	}
}

// fastRetry retries almost at once, for tests on real sockets.
func fastRetry() RetryConfig {
	return RetryConfig{MaxAttempts: 3, InitialBackoff: Duration(time.Millisecond), MaxBackoff: Duration(2 * time.Millisecond)}
}

// buildOne builds a single receiver with a fresh registry.
func buildOne(t *testing.T, c ReceiverConfig, deps Deps) (Receiver, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	deps.Registerer = reg
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rs, err := Build([]ReceiverConfig{c}, deps)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return rs[c.Name], reg
}

// counter reads one series of a counter vector on reg.
func counter(t *testing.T, reg *prometheus.Registry, name, receiver, typ string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["receiver"] == receiver && labels["type"] == typ {
				if m.Counter != nil {
					return m.Counter.GetValue()
				}
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s{receiver=%q,type=%q}", name, receiver, typ)
	return 0
}

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with UPDATE_GOLDEN=1 to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// indentJSON pretty-prints a JSON body for comparison with a golden file.
func indentJSON(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	b.WriteByte('\n')
	return b.Bytes()
}
