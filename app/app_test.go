package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// feedServer serves the files of testdata/feeds and counts requests per path.
type feedServer struct {
	*httptest.Server
	hits map[string]*atomic.Int64
}

func newFeedServer(t *testing.T) *feedServer {
	t.Helper()
	fs := &feedServer{hits: map[string]*atomic.Int64{}}
	types := map[string]string{".rss": "application/rss+xml", ".atom": "application/atom+xml", ".json": "application/feed+json"}
	entries, err := os.ReadDir("testdata/feeds")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, e := range entries {
		name := e.Name()
		body, err := os.ReadFile(filepath.Join("testdata/feeds", name))
		if err != nil {
			t.Fatal(err)
		}
		counter := &atomic.Int64{}
		fs.hits["/"+name] = counter
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
			counter.Add(1)
			// Always a full 200: the test checks that items already seen
			// are not published again even when the whole feed comes back.
			w.Header().Set("Content-Type", types[filepath.Ext(name)])
			w.Write(body)
		})
	}
	fs.Server = httptest.NewServer(mux)
	t.Cleanup(fs.Close)
	return fs
}

func testConfig(t *testing.T, dataDir string, fs *feedServer) *config.Config {
	t.Helper()
	cfg := quietConfig(t, dataDir)
	cfg.Feeds = []config.Feed{
		{ID: "stadsnieuws", URL: fs.URL + "/nieuws.rss", Source: "news", Interval: config.Duration(time.Hour)},
		{ID: "forum", URL: fs.URL + "/social.atom", Source: "forum", Interval: config.Duration(time.Hour)},
		{ID: "zorgblogs", URL: fs.URL + "/blogs.json", Source: "news", Interval: config.Duration(time.Hour)},
	}
	// The shipped routing tree, with waits short enough for a test.
	shorten(&cfg.Routing)
	return cfg
}

// shorten gives every route of the tree short timings.
func shorten(r *config.Route) {
	r.GroupWait, r.GroupInterval = config.Duration(50*time.Millisecond), config.Duration(200*time.Millisecond)
	for i := range r.Routes {
		shorten(&r.Routes[i])
	}
}

// daemon is one running App.
type daemon struct {
	app  *app.App
	stop context.CancelFunc
	done chan error
}

func startDaemon(t *testing.T, cfg *config.Config) *daemon {
	t.Helper()
	return startApp(t, app.Options{Config: cfg, Version: "test"})
}

// startApp is startDaemon with every option at hand.
func startApp(t *testing.T, opts app.Options) *daemon {
	t.Helper()
	a, err := app.New(opts)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{app: a, stop: cancel, done: make(chan error, 1)}
	go func() { d.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-d.done:
		t.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	t.Cleanup(func() { d.shutdown(t) })
	return d
}

func (d *daemon) shutdown(t *testing.T) {
	t.Helper()
	if d.stop == nil {
		return
	}
	d.stop()
	d.stop = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("daemon stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s")
	}
}

func (d *daemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return d.do(t, http.MethodGet, path, "")
}

// post sends a JSON body, as the dashboard does.
func (d *daemon) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	return d.do(t, http.MethodPost, path, body)
}

func (d *daemon) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+d.app.HTTPAddr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(out)
}

// eventually retries fn until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type storedAlert struct {
	subject string
	msgID   string
	alert   alerts.Alert
}

// connectJS connects a JetStream client of the test's own; the caller
// closes it with the returned function.
func connectJS(t *testing.T, natsURL string) (jetstream.JetStream, func()) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return js, nc.Close
}

// readAlerts returns every message in the ALERTS stream.
func readAlerts(t *testing.T, natsURL string) []storedAlert {
	t.Helper()
	js, closeJS := connectJS(t, natsURL)
	defer closeJS()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedAlert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get alert %d: %v", seq, err)
		}
		var a alerts.Alert
		if err := json.Unmarshal(raw.Data, &a); err != nil {
			t.Fatalf("alert %d is not JSON: %v", seq, err)
		}
		out = append(out, storedAlert{subject: raw.Subject, msgID: raw.Header.Get(jetstream.MsgIDHeader), alert: a})
	}
	return out
}

func findAlert(list []storedAlert, institution, category string) (storedAlert, bool) {
	for _, a := range list {
		if a.alert.Institution == institution && a.alert.Category == category {
			return a, true
		}
	}
	return storedAlert{}, false
}

func TestEndToEnd(t *testing.T) {
	fs := newFeedServer(t)
	dataDir := t.TempDir()
	cfg := testConfig(t, dataDir, fs)
	d := startDaemon(t, cfg)

	// The leaked BSN becomes a critical patient_data alert for UMC Utrecht.
	var leak storedAlert
	eventually(t, "patient_data alert for umc-utrecht", func() error {
		var ok bool
		leak, ok = findAlert(readAlerts(t, d.app.NATSURL()), "umc-utrecht", match.CategoryPatientData)
		if !ok {
			return fmt.Errorf("not in ALERTS yet")
		}
		return nil
	})
	if want := "mediawatch.alerts.umc-utrecht.patient_data.critical"; leak.subject != want {
		t.Errorf("subject = %q, want %q", leak.subject, want)
	}
	if leak.msgID != leak.alert.ID || leak.alert.ID == "" {
		t.Errorf("Nats-Msg-Id = %q, alert id = %q: want equal and set", leak.msgID, leak.alert.ID)
	}
	if leak.alert.Mention.URL != "https://forum.example/t/lange-dienst/5521" || leak.alert.Mention.Source != "forum" || leak.alert.Mention.Author != "coassistent_joost" {
		t.Errorf("mention reference = %+v", leak.alert.Mention)
	}
	if !strings.Contains(strings.Join(leak.alert.Rules, ","), "bsn") {
		t.Errorf("rules = %v, want the BSN rule among them", leak.alert.Rules)
	}
	if strings.Contains(leak.alert.Snippet, "234567818") || !strings.Contains(leak.alert.Snippet, "818") {
		t.Errorf("snippet %q: want the BSN masked down to its last digits", leak.alert.Snippet)
	}
	for _, a := range readAlerts(t, d.app.NATSURL()) {
		raw, _ := json.Marshal(a.alert)
		if strings.Contains(string(raw), "234567818") {
			t.Errorf("alert %s carries the BSN unmasked: %s", a.alert.ID, raw)
		}
	}

	// The search API finds the post, with the BSN masked in the index too.
	eventually(t, "search finds the post", func() error {
		code, body := d.get(t, "/api/search?q="+url.QueryEscape("dossier"))
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if !strings.Contains(body, "https://forum.example/t/lange-dienst/5521") {
			return fmt.Errorf("post not in results: %s", body)
		}
		if strings.Contains(body, "234567818") {
			t.Fatalf("search result shows the BSN: %s", body)
		}
		return nil
	})
	code, body := d.get(t, "/api/search?q=Gasthuisberg&institution=uz-leuven")
	if code != http.StatusOK || !strings.Contains(body, "parkeren-gasthuisberg") {
		t.Errorf("search Gasthuisberg in uz-leuven: %d %s", code, body)
	}

	// Metrics show the flow.
	_, metrics := d.get(t, "/metrics")
	for _, want := range []string{
		`mediawatch_feed_fetches_total{feed="forum",result="ok"} 1`,
		`mediawatch_alerts_published_total{category="patient_data",institution="umc-utrecht",severity="critical"} 1`,
		`mediawatch_nats_connected 1`,
		`mediawatch_build_info{goversion="` + runtime.Version() + `",version="test"} 1`,
		`mediawatch_items_ingested_total{feed="stadsnieuws"} 2`,
		`mediawatch_mentions_total{institution="uz-leuven"}`,
		`mediawatch_findings_total{category="patient_data"}`,
		`mediawatch_index_batch_duration_seconds_count`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grepLines(metrics, "mediawatch_feed_"))
		}
	}
	if code, body := d.get(t, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d: %s", code, body)
	}
	if code, _ := d.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}

	// The privacy officer and the communications team of UMC Utrecht are
	// notified on their subjects, with the BSN masked there too.
	for _, receiver := range []string{"privacy-umc-utrecht", "comms-umc-utrecht"} {
		eventually(t, "notification for "+receiver, func() error {
			data, err := lastNotification(t, d.app.NATSURL(), receiver)
			if err != nil {
				return err
			}
			if !strings.Contains(data, leak.alert.ID) {
				return fmt.Errorf("latest notification is not about the leak: %s", data)
			}
			if strings.Contains(data, "234567818") {
				t.Fatalf("notification for %s carries the BSN: %s", receiver, data)
			}
			return nil
		})
	}

	// The communications team takes the leak on and hands it to the
	// privacy officer.
	eventually(t, "leak alert in the dashboard's view", func() error {
		if code, body := d.get(t, "/api/alerts/"+leak.alert.ID); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	for _, step := range []struct{ action, body string }{
		{"ack", `{}`},
		{"escalate", `{"to":"privacy","note":"BSN in the post"}`},
	} {
		if code, body := d.post(t, "/api/alerts/"+leak.alert.ID+"/"+step.action, step.body); code != http.StatusOK {
			t.Fatalf("%s: %d %s", step.action, code, body)
		}
	}

	before := readAlerts(t, d.app.NATSURL())
	hitsBefore := fs.hits["/social.atom"].Load()
	d.shutdown(t)

	// The index is a view: rebuilt from the MENTIONS stream it holds every
	// mention again.
	n, err := app.Reindex(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("reindex: %v", err)
	}
	if n != 6 {
		t.Errorf("reindex indexed %d mentions, want the 6 items of the test feeds", n)
	}

	// Restart on the same data dir and poll every feed again: the items come
	// back in full, but nothing is published twice.
	d2 := startDaemon(t, cfg)
	for _, f := range cfg.Feeds {
		if err := d2.app.PollNow(context.Background(), f.ID); err != nil {
			t.Fatalf("poll %s after restart: %v", f.ID, err)
		}
	}
	if got := fs.hits["/social.atom"].Load(); got <= hitsBefore {
		t.Fatalf("feed not fetched again after restart (hits %d → %d)", hitsBefore, got)
	}
	waitIdle(t, d2.app.NATSURL())
	after := readAlerts(t, d2.app.NATSURL())
	if len(after) != len(before) {
		t.Errorf("ALERTS holds %d alerts after restart and re-poll, %d before", len(after), len(before))
	}
	seen := map[string]bool{}
	for _, a := range after {
		if seen[a.alert.ID] {
			t.Errorf("alert %s stored twice", a.alert.ID)
		}
		seen[a.alert.ID] = true
	}
	code, body = d2.get(t, "/api/search?q=dossier")
	if code != http.StatusOK || !strings.Contains(body, "lange-dienst/5521") || !strings.Contains(body, `"total": 1`) {
		t.Errorf("search after reindex and restart: %d %s", code, body)
	}
	// The dashboard's view and the triage state are rebuilt from their
	// streams after the restart.
	eventually(t, "alert listed by the API after restart, still escalated", func() error {
		_, body := d2.get(t, "/api/alerts/"+leak.alert.ID)
		if !strings.Contains(body, leak.alert.ID) {
			return fmt.Errorf("not listed: %s", body)
		}
		if !strings.Contains(body, `"status": "escalated"`) || !strings.Contains(body, `"escalated_to": "privacy"`) ||
			!strings.Contains(body, `"note": "BSN in the post"`) || !strings.Contains(body, `"actor": "local"`) {
			return fmt.Errorf("triage state lost: %s", body)
		}
		return nil
	})
	_, metrics = d2.get(t, "/metrics")
	if !strings.Contains(metrics, `mediawatch_triage_alerts{status="escalated"} 1`) {
		t.Errorf("/metrics lacks the escalated alert\n%s", grepLines(metrics, "mediawatch_triage"))
	}
}

// waitIdle waits until the match consumer has nothing pending or unacked.
func waitIdle(t *testing.T, natsURL string) {
	t.Helper()
	js, closeJS := connectJS(t, natsURL)
	defer closeJS()
	eventually(t, "match consumer idle", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, bus.StreamMentions, "match")
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("pending %d, unacked %d", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// Without internet every feed fails; the daemon must keep running and show
// the failures in /readyz, /api/feeds and the metrics.
func TestFailingFeedsStayVisible(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close() // nothing listens there any more: connection refused

	cfg := testConfig(t, t.TempDir(), newFeedServer(t))
	cfg.Ingest.AllowPrivateNetworks = []string{"127.0.0.2/32"}
	blocked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the private-network guard let a request through to %s", r.URL)
	}))
	defer blocked.Close()
	cfg.Feeds = []config.Feed{
		{ID: "unreachable", URL: strings.Replace(closedURL, "127.0.0.1", "127.0.0.2", 1) + "/feed.xml", Source: "news", Interval: config.Duration(time.Hour)},
		{ID: "loopback", URL: blocked.URL + "/feed.xml", Source: "news", Interval: config.Duration(time.Hour)},
	}
	d := startDaemon(t, cfg)
	// The scheduler polls every feed as soon as it starts.
	eventually(t, "both feeds fail visibly in /readyz", func() error {
		code, body := d.get(t, "/readyz")
		if code != http.StatusOK {
			t.Fatalf("/readyz = %d with only feeds failing, want 200: %s", code, body)
		}
		var ready struct {
			FeedsFailing int `json:"feeds_failing"`
			Feeds        []struct {
				ID        string `json:"id"`
				LastError string `json:"last_error"`
			} `json:"feeds"`
		}
		if err := json.Unmarshal([]byte(body), &ready); err != nil {
			return err
		}
		for _, f := range ready.Feeds {
			if f.LastError == "" {
				return fmt.Errorf("feed %s shows no error yet: %s", f.ID, body)
			}
		}
		return nil
	})
	_, metrics := d.get(t, "/metrics")
	for _, want := range []string{
		`mediawatch_feed_fetches_total{feed="unreachable",result="network_error"} `,
		`mediawatch_feed_fetches_total{feed="loopback",result="blocked"} `,
		`mediawatch_feed_consecutive_failures{feed="loopback"} `,
	} {
		if v := metricValue(metrics, want); v < 1 {
			t.Errorf("/metrics: %s= %v, want at least 1\n%s", want, v, grepLines(metrics, "mediawatch_feed_fetches_total"))
		}
	}
}

// metricValue returns the value of the sample line starting with prefix, or
// -1 when there is none.
func metricValue(exposition, prefix string) float64 {
	for l := range strings.SplitSeq(exposition, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v
			}
		}
	}
	return -1
}

func grepLines(s, substr string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// lastNotification returns the latest group notification published for a
// receiver of type nats.
func lastNotification(t *testing.T, natsURL, receiver string) (string, error) {
	t.Helper()
	js, done := connectJS(t, natsURL)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	str, err := js.Stream(ctx, app.StreamNotifications)
	if err != nil {
		return "", err
	}
	msg, err := str.GetLastMsgForSubject(ctx, "mediawatch.notifications."+receiver)
	if err != nil {
		return "", err
	}
	return string(msg.Data), nil
}
