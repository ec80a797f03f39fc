package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/triage"
)

// With a short retention every store forgets the posts after it: the
// streams by their max age, the stories bucket by its TTL, the index by the
// daemon's expiry sweep, which counts what it deleted.
func TestRetentionExpiresEverywhere(t *testing.T) {
	const retention = 2 * time.Second
	cfg := eraseConfig(t)
	cfg.Retention = config.Duration(retention)
	d := startApp(t, app.Options{Config: cfg, Version: "test", Registry: app.NewRegistry("test")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	js, closeJS := connectJS(t, d.app.NATSURL())
	defer closeJS()

	for _, name := range []string{bus.StreamMentions, bus.StreamAlerts, triage.StreamTriage, app.StreamNotifications} {
		str, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := str.CachedInfo().Config.MaxAge; got != retention {
			t.Errorf("%s max age %s, want the retention %s", name, got, retention)
		}
	}
	kv, err := js.KeyValue(ctx, alerts.BucketStories)
	if err != nil {
		t.Fatal(err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status.TTL() != retention {
		t.Errorf("stories TTL %s, want the retention %s (shorter than the story window)", status.TTL(), retention)
	}

	// The posts arrive, are indexed, and leave the index again.
	var indexed float64
	eventually(t, "posts indexed", func() error {
		_, metrics := d.get(t, "/metrics")
		indexed = metricValue(metrics, "mediawatch_index_batch_size_sum ")
		if indexed < 10 {
			return fmt.Errorf("%v documents indexed", indexed)
		}
		return nil
	})
	eventually(t, "index documents expired", func() error {
		_, metrics := d.get(t, "/metrics")
		docs, expired := metricValue(metrics, "mediawatch_index_docs "), metricValue(metrics, "mediawatch_index_expired_total ")
		if docs != 0 || expired != indexed {
			return fmt.Errorf("%v documents left, %v expired of %v indexed", docs, expired, indexed)
		}
		return nil
	})
	code, body := d.get(t, "/api/search?q=dossier")
	if code != 200 || strings.Contains(body, "lange-dienst") || !strings.Contains(body, `"total": 0`) {
		t.Errorf("search after expiry: %d %s", code, body)
	}
	eventually(t, "streams emptied by their max age", func() error {
		for _, name := range []string{bus.StreamMentions, bus.StreamAlerts, app.StreamNotifications} {
			str, err := js.Stream(ctx, name)
			if err != nil {
				return err
			}
			info, err := str.Info(ctx)
			if err != nil {
				return err
			}
			if info.State.Msgs != 0 {
				return fmt.Errorf("%s holds %d messages", name, info.State.Msgs)
			}
		}
		return nil
	})
}
