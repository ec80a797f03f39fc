package app_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
)

// A rule added after the fact finds what it would have caught: the daemon
// stores a post no shipped rule fires on; a rescan with the new rule raises
// exactly one alert for it, and a second rescan raises none.
func TestRescanPublishesOnlyNewAlerts(t *testing.T) {
	dataDir := t.TempDir()
	cfg := quietConfig(t, dataDir)
	cfg.Feeds = []config.Feed{{ID: "buurt", URL: serveFeed(t, "testdata/rescan/feed.rss"), Source: "news", Interval: config.Duration(time.Hour)}}
	d := startDaemon(t, cfg)
	if err := d.app.PollNow(context.Background(), "buurt"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, d.app.NATSURL())
	alertsBefore := readAlerts(t, d.app.NATSURL())
	if len(alertsBefore) != 0 {
		t.Fatalf("the shipped rules raised %d alerts on the test feed, want none", len(alertsBefore))
	}

	withRule := *cfg
	withRule.Rules.Dirs = []string{"testdata/rules/good"}
	logger := slog.New(slog.DiscardHandler)
	ctx := context.Background()

	// The daemon is running: the rescan talks to its server at nats.listen.
	withRule.NATS.Listen = strings.TrimPrefix(d.app.NATSURL(), "nats://")
	res, err := app.Rescan(ctx, &withRule, time.Hour, logger)
	if err != nil {
		t.Fatalf("rescan: %v", err)
	}
	if want := (app.RescanResult{Mentions: 2, AlertsNew: 1}); res != want {
		t.Errorf("first rescan = %+v, want %+v", res, want)
	}
	stored := readAlerts(t, d.app.NATSURL())
	if len(stored) != 1 {
		t.Fatalf("ALERTS holds %d alerts after the rescan, want 1", len(stored))
	}
	a := stored[0].alert
	if a.Institution != "umc-utrecht" || a.Category != match.CategoryConduct || strings.Join(a.Rules, ",") != "conduct.parking_rant" {
		t.Errorf("alert = %s/%s %v, want umc-utrecht/conduct by conduct.parking_rant", a.Institution, a.Category, a.Rules)
	}
	if stored[0].msgID != a.ID {
		t.Errorf("Nats-Msg-Id %q, alert id %q", stored[0].msgID, a.ID)
	}

	// Daemon stopped: the rescan runs the embedded server on the data dir
	// itself, and finds the alert it published before.
	d.shutdown(t)
	withRule.NATS.Listen = cfg.NATS.Listen
	res, err = app.Rescan(ctx, &withRule, time.Hour, logger)
	if err != nil {
		t.Fatalf("second rescan: %v", err)
	}
	if want := (app.RescanResult{Mentions: 2, AlertsKnown: 1}); res != want {
		t.Errorf("second rescan = %+v, want %+v", res, want)
	}

	// A window that ends before anything was stored reads nothing.
	time.Sleep(50 * time.Millisecond)
	res, err = app.Rescan(ctx, &withRule, time.Millisecond, logger)
	if err != nil {
		t.Fatalf("rescan of an empty window: %v", err)
	}
	if res != (app.RescanResult{}) {
		t.Errorf("rescan of an empty window = %+v, want nothing", res)
	}
}

func TestRescanRefusesBadInput(t *testing.T) {
	cfg := quietConfig(t, t.TempDir())
	tests := []struct {
		name    string
		dirs    []string
		since   time.Duration
		wantErr string
	}{
		{"no period", nil, 0, "since must be positive"},
		{"broken rule", []string{"testdata/rules/broken"}, time.Hour, "testdata/rules/broken/parking.yaml:9"},
		{"failing examples", []string{"testdata/rules/failing"}, time.Hour, "testdata/rules/failing/parking.yaml:14"},
		{"no streams yet", nil, time.Hour, "stream ALERTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *cfg
			c.Rules.Dirs = tt.dirs
			_, err := app.Rescan(context.Background(), &c, tt.since, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
