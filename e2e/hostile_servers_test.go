package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
)

// hostileTimeout is ingest.timeout for the test: what a stalling server
// can cost a poll.
const hostileTimeout = 3 * time.Second

// hostileKind is one way of misbehaving, as an HTTP handler that returns
// once the daemon gives up on the request.
type hostileKind struct {
	name string
	// result is how the daemon counts the failed poll, in
	// mediawatch_feed_fetches_total.
	result  string
	handler func(w http.ResponseWriter, r *http.Request)
}

// dripEvery writes s one byte per 100 ms until the request ends.
func dripEvery(w io.Writer, flush func(), s string, done <-chan struct{}) {
	for i := 0; ; i = (i + 1) % len(s) {
		select {
		case <-done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := w.Write([]byte{s[i]}); err != nil {
			return
		}
		flush()
	}
}

func hostileKinds() []hostileKind {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	member := bomb.Bytes() // 1 MiB of zeros; gzip readers read members one after the other
	return []hostileKind{
		{"body dripped", "network_error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/rss+xml")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			dripEvery(w, w.(http.Flusher).Flush, `<?xml version="1.0"?><rss version="2.0"><channel>`, r.Context().Done())
		}},
		{"status line dripped", "network_error", func(w http.ResponseWriter, r *http.Request) {
			c, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			done := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, buf); close(done) }()
			dripEvery(c, func() {}, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n", done)
		}},
		{"no answer", "network_error", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
		{"Content-Length longer than the body", "network_error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			_, _ = io.WriteString(w, "<rss><channel>")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}},
		{"gzip bomb of 4 GiB", "too_large", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", strconv.Itoa(4096*len(member)))
			for range 4096 {
				if _, err := w.Write(member); err != nil {
					return
				}
			}
		}},
		{"endless body", "too_large", func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("<item><title>eindeloos</title></item>\n"), 1000)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
	}
}

// TestHostileServersDoNotDelayAlerts runs the daemon with 20 feeds on
// misbehaving servers (stalling for as long as they are let, or sending
// more than max_body_bytes) and one healthy feed whose post leaks a BSN.
// The healthy feed's alert arrives while the stalling servers are still
// being waited for, and every bad poll ends as a failure of its kind.
func TestHostileServersDoNotDelayAlerts(t *testing.T) {
	const bad = 20
	var (
		hanging atomic.Int64 // requests of the bad servers being answered
		feeds   []config.Feed
		kinds   = hostileKinds()
		want    = map[string]string{} // feed id -> fetch result
	)
	for i := range bad {
		k := kinds[i%len(kinds)]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hanging.Add(1)
			defer hanging.Add(-1)
			k.handler(w, r)
		}))
		t.Cleanup(srv.Close)
		id := fmt.Sprintf("vijandig-%02d", i)
		feeds = append(feeds, config.Feed{ID: id, URL: srv.URL + "/feed.rss", Source: "news", Interval: config.Duration(time.Hour)})
		want[id] = k.result
	}
	healthy := newFeedServer(t, map[string]string{"/zorgforum.rss": "shift-2.rss"})
	feeds = append(feeds, healthy.feed("zorgforum", "/zorgforum.rss", "forum"))

	cfg := testConfig(t)
	cfg.Feeds = feeds
	cfg.Ingest.Timeout = config.Duration(hostileTimeout)
	cfg.Ingest.Concurrency = 32
	cfg.Ingest.MaxBodyBytes = 1 << 20
	started := time.Now()
	d := startDaemon(t, cfg)
	ready := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	js := d.jetStream(t)
	cons, err := js.OrderedConsumer(ctx, bus.StreamAlerts, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatal(err)
	}
	var alert alerts.Alert
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(30 * time.Second))
		if err != nil {
			t.Fatalf("no alert for the leaked BSN %v after the daemon started: %v", time.Since(started), err)
		}
		if err := json.Unmarshal(msg.Data(), &alert); err != nil {
			t.Fatal(err)
		}
		if alert.Mention.FeedID == "zorgforum" && alert.Mention.Title == "Lange nachtdienst op de afdeling" {
			break
		}
	}
	arrived := time.Now()
	stillHanging := hanging.Load()
	t.Logf("the alert (%s, %s) arrived %v after the daemon was started, %v after it was ready, with %d requests of the %d misbehaving servers still hanging (ingest.timeout %v)",
		alert.Category, alert.Severity, arrived.Sub(started).Round(time.Millisecond), arrived.Sub(ready).Round(time.Millisecond), stillHanging, bad, hostileTimeout)
	if stillHanging == 0 {
		t.Errorf("no request of the misbehaving servers was still hanging when the alert came: it waited for them")
	}
	if strings.Contains(alert.Snippet, leakedBSN) {
		t.Errorf("the alert's snippet shows the BSN: %q", alert.Snippet)
	}

	// Every bad poll ends, as a failure of its kind.
	deadline := time.Now().Add(time.Minute)
	for {
		failed, pending := fetchResults(t, d), 0
		for id := range want {
			if failed[id] == "" {
				pending++
			}
		}
		if pending == 0 {
			for id, result := range want {
				if failed[id] != result {
					t.Errorf("feed %s: poll counted as %q, want %q", id, failed[id], result)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bad feeds still not polled %v after the start", pending, bad, time.Since(started))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("all bad polls over %v after the daemon was started", time.Since(started).Round(time.Millisecond))
}

// fetchResults reads, from the daemon's metrics, the result of each feed's
// fetches that is not ok (the last one counted, for feeds polled once).
func fetchResults(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	families, err := d.app.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range families {
		if f.GetName() != "mediawatch_feed_fetches_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetCounter().GetValue() == 0 {
				continue
			}
			var feed, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "feed":
					feed = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if result != "ok" {
				out[feed] = result
			}
		}
	}
	return out
}
