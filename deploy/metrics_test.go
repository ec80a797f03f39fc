package deploy

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
)

const checkFeed = "deploy-check"

const checkFeedBody = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Stadsnieuws</title><link>https://news.example.org/</link><description>Nieuws</description>
<item>
<title>Nieuwe vleugel van het UMC Utrecht geopend</title>
<link>https://news.example.org/umc-utrecht-vleugel</link>
<guid>https://news.example.org/umc-utrecht-vleugel</guid>
<pubDate>Mon, 02 Mar 2026 09:00:00 +0000</pubDate>
<description>Het UMC Utrecht opende vandaag een nieuwe vleugel voor kinderen.</description>
</item>
</channel></rss>`

// Every metric the dashboard and the alert rules read is one the daemon
// exports: a real daemon, with one feed it has polled, is scraped.
func TestMetricsExist(t *testing.T) {
	used := map[string][]string{} // metric -> where it is read
	exprs := loadDashboard(t).exprs()
	maps.Copy(exprs, ruleExprs(t))
	for where, expr := range exprs {
		for _, name := range metricNames(expr) {
			used[name] = append(used[name], where)
		}
	}

	families := scrapeDaemon(t)
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(used)) {
		if name == "up" { // Prometheus's own, per target
			continue
		}
		if !exported(families, name) {
			missing = append(missing, name)
			slices.Sort(used[name])
			t.Errorf("%s is not in the daemon's /metrics; read by:\n\t%s", name, strings.Join(used[name], "\n\t"))
		}
	}
	t.Logf("%d metric names checked against a live scrape; missing: %v", len(used), missing)
}

// exported reports whether a scrape has a metric of this name, counting a
// histogram's _bucket, _sum and _count series and a summary's _sum and
// _count.
func exported(families map[string]*dto.MetricFamily, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		f, ok := families[base]
		if !ok {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			return true
		case dto.MetricType_SUMMARY:
			return suffix != "_bucket"
		}
	}
	return false
}

// scrapeDaemon runs the daemon with one feed on a NATS server of its own, as
// the compose file and Kubernetes do (ingest then shares the feeds through
// leases), waits until it has polled the feed, and returns its /metrics.
func scrapeDaemon(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })

	feeds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, checkFeedBody)
	}))
	t.Cleanup(feeds.Close)

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.URL = ns.ClientURL()
	cfg.Index.Path = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Ingest.AllowPrivateNetworks = []string{"127.0.0.0/8"}
	cfg.Feeds = []config.Feed{{ID: checkFeed, Name: "Stadsnieuws", URL: feeds.URL + "/nieuws.rss", Source: "news", Interval: config.Duration(time.Hour)}}

	a, err := app.New(app.Options{Config: cfg, Version: "deploy-test"})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop within 30s")
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon not ready after 60s")
	}

	// The first poll is due once the process holds the feed's lease.
	deadline := time.Now().Add(60 * time.Second)
	for {
		families, err := scrape("http://" + a.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if counterValue(families, "mediawatch_feed_fetches_total", map[string]string{"feed": checkFeed, "result": "ok"}) >= 1 {
			return families
		}
		if time.Now().After(deadline) {
			t.Fatalf("feed %s not polled successfully within 60s", checkFeed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s\n%s", url, resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return families, nil
}

// counterValue is the value of the counter series with these labels, or -1.
func counterValue(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	for _, m := range families[name].GetMetric() {
		match := true
		for _, lp := range m.GetLabel() {
			if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
				match = false
			}
		}
		if match {
			return m.GetCounter().GetValue()
		}
	}
	return -1
}
