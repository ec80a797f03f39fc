package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
)

// publisher publishes alerts onto the daemon's ALERTS stream as its match
// stage does: with alerts.Publisher, on the alert's subject, its id as
// Nats-Msg-Id, retried until JetStream acknowledges it.
func publisher(tb testing.TB, d *daemon) *alerts.Publisher {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: d.app.NATSURL(), Name: "e2e-bench"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(ctx)
	})
	p, err := alerts.NewPublisher(conn, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// benchAlert is the i-th of a varied set of alerts: both hospitals, every
// category and severity, a few sources and authors, detected over the
// last days.
func benchAlert(i int, now time.Time) alerts.Alert {
	institutions := []string{"umc-utrecht", "uz-leuven"}
	sources := []string{"news", "forum", "mastodon", "reddit"}
	mentionID := fmt.Sprintf("bench-%s-%d", now.Format("150405.000"), i)
	inst := institutions[i%len(institutions)]
	cat := match.Categories[(i/2)%len(match.Categories)]
	sev := match.Severities[(i/3)%len(match.Severities)]
	detected := now.Add(-time.Duration(i%5000) * time.Minute)
	return alerts.Alert{
		ID:          alerts.ID(mentionID, inst, cat),
		Institution: inst,
		Category:    cat,
		Severity:    sev,
		Rules:       []string{cat + ".bench"},
		Mention: alerts.MentionRef{
			ID: mentionID, URL: fmt.Sprintf("https://forum.example/t/%d", i), Source: sources[i%len(sources)],
			Author: fmt.Sprintf("gebruiker_%d", i%97), Title: fmt.Sprintf("Bericht %d over de zorg", i), Published: detected,
		},
		Snippet:    fmt.Sprintf("Bericht %d: weer een lange dienst gehad op de afdeling, ******818 stond op het scherm.", i),
		Findings:   []alerts.Evidence{{Rule: cat + ".bench", Severity: sev, Field: "text", Start: 0, End: 7, Evidence: "Bericht", Explanation: "benchmark"}},
		DetectedAt: detected,
		Status:     alerts.StatusNew,
		Count:      1,
		FirstSeen:  detected,
		LastSeen:   detected,
	}
}

// sseEvent is one Server-Sent Event with the time it was read.
type sseEvent struct {
	name, id string
	data     []byte
	at       time.Time
}

// readEvents reads the event stream r until it ends, sending every event
// on out.
func readEvents(r io.Reader, out chan<- sseEvent) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != nil {
				ev.at = time.Now()
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = append(ev.data, strings.TrimPrefix(line, "data: ")...)
		}
	}
	return sc.Err()
}

// BenchmarkLiveAlertLatency is the time from an alert's publish on the
// ALERTS stream to its row on an open queue page's event stream (GET
// /events as a logged-in analyst), as shipped: every write fsynced.
// ns/op is the whole round, p50-ms and p99-ms its distribution.
func BenchmarkLiveAlertLatency(b *testing.B) {
	cfg := testConfig(b)
	d := startDaemon(b, cfg)
	pub := publisher(b, d)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	// One alert before the page opens: its stream position is where the
	// page's live updates start.
	if _, err := pub.Publish(ctx, new(benchAlert(0, time.Now()))); err != nil {
		b.Fatal(err)
	}
	c := d.client(b, analyst)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/events", nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b.Fatalf("GET /events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 64)
	go func() {
		_ = readEvents(resp.Body, events)
		close(events)
	}()

	var latencies []time.Duration
	i := 0
	for b.Loop() {
		i++
		a := benchAlert(i, time.Now())
		start := time.Now()
		if _, err := pub.Publish(ctx, &a); err != nil {
			b.Fatal(err)
		}
		waitAlertEvent(b, events, a.ID)
		latencies = append(latencies, time.Since(start))
	}
	reportPercentiles(b, latencies)
}

// waitAlertEvent waits for the "alert" event of the alert id.
func waitAlertEvent(b *testing.B, events <-chan sseEvent, id string) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				b.Fatal("the event stream ended")
			}
			if ev.name != "alert" {
				continue
			}
			var msg struct {
				ID   string `json:"id"`
				HTML string `json:"html"`
			}
			if err := json.Unmarshal(ev.data, &msg); err != nil {
				b.Fatalf("alert event: %v: %s", err, ev.data)
			}
			if msg.ID == id {
				if !strings.Contains(msg.HTML, `data-id="`+id+`"`) {
					b.Fatalf("alert event without its row: %s", ev.data)
				}
				return
			}
		case <-timeout:
			b.Fatalf("no alert event for %s within 30s", id)
		}
	}
}

// reportPercentiles reports the median and the 99th percentile of ds in
// milliseconds.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) float64 {
		i := min(len(ds)-1, int(p*float64(len(ds))))
		return float64(ds[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// queueAlerts is the size of the queue BenchmarkQueuePage10k renders.
const queueAlerts = 10_000

// BenchmarkQueuePage10k is a logged-in GET / (the queue: filters, facet
// counts, the first page of rows) with 10,000 open alerts in ALERTS.
func BenchmarkQueuePage10k(b *testing.B) {
	cfg := testConfig(b)
	// Publishing 10,000 alerts with an fsync each takes minutes; the
	// page's time does not depend on it.
	cfg.NATS.SyncInterval = config.Duration(time.Minute)
	d := startDaemon(b, cfg)
	pub := publisher(b, d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)

	start := time.Now()
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < queueAlerts; i += 8 {
				a := benchAlert(i, now)
				if _, err := pub.Publish(ctx, &a); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	b.Logf("published %d alerts in %v", queueAlerts, time.Since(start).Round(time.Millisecond))

	// The dashboard's view follows the stream; wait until the queue counts
	// them all.
	c := d.client(b, analyst)
	count := regexp.MustCompile(`<span class="count">([0-9.,\x{a0} ]+) alerts?</span>`)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		body := getPage(b, c, d.base+"/")
		m := count.FindStringSubmatch(body)
		n := -1
		if m != nil {
			n, _ = strconv.Atoi(strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, m[1]))
		}
		if n == queueAlerts {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the queue counts %d alerts after 2 minutes, want %d", n, queueAlerts)
		}
		time.Sleep(100 * time.Millisecond)
	}

	for b.Loop() {
		getPage(b, c, d.base+"/")
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
}

// getPage GETs a page with c and returns its body; anything but 200 fails.
func getPage(b *testing.B, c *http.Client, u string) string {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", u, resp.Status)
	}
	return string(body)
}
