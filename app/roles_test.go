package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/match"
)

func TestParseRoles(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want app.Roles
		str  string
	}{
		{"all", app.AllRoles(), "all"},
		{"ingest", app.Roles{Ingest: true}, "ingest"},
		{"match,web", app.Roles{Match: true, Web: true}, "match,web"},
		{" web , ingest", app.Roles{Ingest: true, Web: true}, "ingest,web"},
		{"ingest,match,web", app.AllRoles(), "all"},
	} {
		got, err := app.ParseRoles(tt.in)
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParseRoles(%q) = %+v (%q), %v; want %+v (%q)", tt.in, got, got.String(), err, tt.want, tt.str)
		}
	}
	for _, in := range []string{"", "indexer", "web,,match", "ALL"} {
		if _, err := app.ParseRoles(in); err == nil {
			t.Errorf("ParseRoles(%q): want an error", in)
		}
	}
}

// TestRolesInTwoProcesses: an ingest+match process with the NATS server,
// and a dashboard process (web only) on it. The dashboard indexes through
// a consumer of its own, shows the alerts and the feeds' health from the
// streams and buckets, and the ingest+match process serves no dashboard.
func TestRolesInTwoProcesses(t *testing.T) {
	fs := newFeedServer(t)
	back := testConfig(t, t.TempDir(), fs)
	worker := startApp(t, app.Options{Config: back, Version: "test", Roles: app.Roles{Ingest: true, Match: true}})

	front := quietConfig(t, t.TempDir())
	front.NATS.URL = worker.app.NATSURL()
	front.Feeds = back.Feeds
	dashboard := startApp(t, app.Options{Config: front, Version: "test", Roles: app.Roles{Web: true}})

	// The worker serves what every process serves, and no dashboard.
	for path, want := range map[string]int{"/": http.StatusNotFound, "/api/alerts": http.StatusNotFound, "/healthz": http.StatusOK, "/metrics": http.StatusOK} {
		if code, body := worker.get(t, path); code != want {
			t.Errorf("worker %s: %d, want %d (%.100s)", path, code, want, body)
		}
	}
	if err := dashboard.app.PollNow(t.Context(), "forum"); err == nil {
		t.Error("a web-only process polled a feed")
	}

	eventually(t, "the dashboard shows the worker's patient-data alert", func() error {
		code, body := dashboard.get(t, "/api/alerts?category="+match.CategoryPatientData)
		if code != http.StatusOK || !strings.Contains(body, "lange-dienst") {
			return fmt.Errorf("%d %.200s", code, body)
		}
		return nil
	})
	eventually(t, "the dashboard's own index finds the post", func() error {
		code, body := dashboard.get(t, "/api/search?q="+url.QueryEscape("dossier"))
		if code != http.StatusOK || !strings.Contains(body, "lange-dienst") {
			return fmt.Errorf("%d %.200s", code, body)
		}
		return nil
	})
	eventually(t, "the dashboard shows the feeds' health from the feeds bucket", func() error {
		code, body := dashboard.get(t, "/api/feeds")
		if code != http.StatusOK || !strings.Contains(body, `"id": "forum"`) || strings.Contains(body, `"last_success": "0001-01-01T00:00:00Z"`) {
			return fmt.Errorf("%d %.300s", code, body)
		}
		return nil
	})
}
