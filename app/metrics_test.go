package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/match"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// operationsMetrics are the metric families the operations dashboard and
// alert rules use; each must be on /metrics of a daemon that has run.
// The dashboard's own (mediawatch_http_*, mediawatch_logins_total,
// mediawatch_live_streams, mediawatch_audit_record_failures_total) are
// tested in package web.
var operationsMetrics = []string{
	"mediawatch_build_info",

	// ingest
	"mediawatch_feed_fetches_total",
	"mediawatch_feed_fetch_duration_seconds",
	"mediawatch_feed_last_success_timestamp_seconds",
	"mediawatch_feed_consecutive_failures",
	"mediawatch_feed_interval_seconds",
	"mediawatch_feed_backoff_seconds",
	"mediawatch_feed_next_poll_timestamp_seconds",
	"mediawatch_feed_items_parsed_total",
	"mediawatch_items_ingested_total",

	// match
	"mediawatch_mentions_total",
	"mediawatch_mentions_malformed_total",
	"mediawatch_findings_total",
	"mediawatch_pipeline_lag_seconds",
	"mediawatch_rules_loaded",
	"mediawatch_rules_reloads_total",
	"mediawatch_rules_last_reload_successful",
	"mediawatch_rules_last_reload_success_timestamp_seconds",

	// alerts on JetStream
	"mediawatch_alerts_published_total",
	"mediawatch_alert_publish_failures_total",
	"mediawatch_alert_publish_duration_seconds",
	"mediawatch_alert_publish_backlog",

	// index
	"mediawatch_index_batch_size",
	"mediawatch_index_batch_duration_seconds",
	"mediawatch_index_docs",
	"mediawatch_index_size_bytes",
	"mediawatch_index_errors_total",
	"mediawatch_index_expired_total",
	"mediawatch_index_expiry_failures_total",

	// NATS
	"mediawatch_nats_connected",
	"mediawatch_nats_reconnects_total",

	// notifications
	"mediawatch_notify_alerts_received_total",
	"mediawatch_notify_groups",
	"mediawatch_notify_groups_sent_total",
	"mediawatch_notifications_sent_total",
	"mediawatch_notification_duration_seconds",

	// triage and silences
	"mediawatch_triage_alerts",
	"mediawatch_triage_actions_total",
	"mediawatch_triage_conflicts_total",
	"mediawatch_silences_active",

	// runtime
	"go_goroutines",
	"process_cpu_seconds_total",
}

// freeTextLabels may hold any text: build and runtime versions, and the
// dashboard's route, which is a ServeMux pattern ("GET /alerts/{id}") and
// so has as many values as there are routes.
var freeTextLabels = []string{"version", "goversion", "route"}

// A daemon that has fetched, matched, indexed and alerted exposes every
// stage on /metrics, in a form promtool accepts, with label values that
// come from the configuration and the code rather than from the posts.
func TestMetricsScrape(t *testing.T) {
	fs := newFeedServer(t)
	cfg := testConfig(t, t.TempDir(), fs)
	d := startDaemon(t, cfg)
	eventually(t, "patient_data alert for umc-utrecht", func() error {
		if _, ok := findAlert(readAlerts(t, d.app.NATSURL()), "umc-utrecht", match.CategoryPatientData); !ok {
			return errors.New("not in ALERTS yet")
		}
		return nil
	})
	waitIdle(t, d.app.NATSURL())
	// Scrape once every stage has had its say: a notification delivered
	// and a batch indexed.
	var (
		scrape   string
		families map[string]*dto.MetricFamily
	)
	eventually(t, "a notification sent and the index written", func() error {
		code, body := d.get(t, "/metrics")
		if code != 200 {
			return fmt.Errorf("/metrics: %d", code)
		}
		parser := expfmt.NewTextParser(model.LegacyValidation)
		parsed, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("the scrape does not parse: %v\n%s", err, body)
		}
		scrape, families = body, parsed
		for _, name := range []string{"mediawatch_notifications_sent_total", "mediawatch_notify_groups_sent_total", "mediawatch_index_batch_size"} {
			if total(parsed[name]) == 0 {
				return fmt.Errorf("%s is still 0", name)
			}
		}
		return nil
	})

	t.Run("promtool", func(t *testing.T) {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			if os.Getenv("MEDIAWATCH_PROMTOOL") == "required" {
				t.Fatalf("promtool is required (MEDIAWATCH_PROMTOOL=required) but not found: %v", err)
			}
			t.Skipf("promtool not on PATH (%v); set MEDIAWATCH_PROMTOOL=required to make this a failure", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(scrape)
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("families", func(t *testing.T) {
		for _, name := range operationsMetrics {
			if mf, ok := families[name]; !ok || len(mf.GetMetric()) == 0 {
				t.Errorf("/metrics has no %s", name)
			}
		}
	})

	t.Run("bounded labels", func(t *testing.T) {
		for name, mf := range families {
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if slices.Contains(freeTextLabels, lp.GetName()) {
						continue
					}
					if v := lp.GetValue(); strings.Contains(v, "://") || strings.ContainsAny(v, " \t\n") || strings.HasPrefix(v, "www.") {
						t.Errorf("%s{%s=%q}: a label value that looks like a URL or free text", name, lp.GetName(), v)
					}
				}
			}
		}
		// The feeds are labelled by their configured ids.
		for _, f := range cfg.Feeds {
			if !strings.Contains(scrape, fmt.Sprintf(`mediawatch_feed_interval_seconds{feed=%q} 3600`, f.ID)) {
				t.Errorf("no interval series for feed %s", f.ID)
			}
		}
	})
}

// total adds up the counters of a family, or the observations of a
// histogram.
func total(mf *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}
