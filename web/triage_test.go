package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// newTriageServer serves the API over a real triage store on a real
// JetStream server, with three alerts detected an hour, a day and a week
// ago.
func newTriageServer(t *testing.T, userHeader string) (*httptest.Server, http.Handler) {
	t.Helper()
	store := newTriageStore(t)
	now := time.Now()
	recent := alerts.NewRecent(10)
	for _, a := range []alerts.Alert{
		{ID: "old", Institution: "umc-utrecht", Category: "conduct", Severity: "medium", DetectedAt: now.Add(-7 * 24 * time.Hour)},
		{ID: "day", Institution: "uz-leuven", Category: "misinformation", Severity: "high", DetectedAt: now.Add(-24 * time.Hour)},
		{ID: "hour", Institution: "umc-utrecht", Category: "patient_data", Severity: "critical", DetectedAt: now.Add(-time.Hour)},
	} {
		a.Status, a.Count = alerts.StatusNew, 1
		recent.Add(a)
	}
	h := Handler(Options{
		Alerts: recent, Triage: store, UserHeader: userHeader,
		Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Version: "test",
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

// newTriageStore is a real triage store on a JetStream server of the
// test's own, followed until the test ends.
func newTriageStore(t testing.TB) *triage.Store {
	t.Helper()
	return triageStoreOn(t, natstest.Connect(t, natstest.StartJetStream(t)))
}

// triageStoreOn is a real triage store on js, followed until the test ends.
func triageStoreOn(t testing.TB, js jetstream.JetStream) *triage.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := triage.EnsureStream(ctx, js, 24*time.Hour, 1); err != nil {
		t.Fatal(err)
	}
	store, err := triage.NewStore(js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	natstest.Follow(t, store.Follow)
	return store
}

type apiAlert struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Triage struct {
		Assignee    string         `json:"assignee"`
		EscalatedTo string         `json:"escalated_to"`
		UpdatedBy   string         `json:"updated_by"`
		History     []triage.Event `json:"history"`
		Actions     []string       `json:"actions"`
	} `json:"triage"`
}

func post(t *testing.T, srv *httptest.Server, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func decodeAlert(t *testing.T, body string) apiAlert {
	t.Helper()
	var a apiAlert
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return a
}

func TestTriageActionsFromTheDaemonsHost(t *testing.T) {
	srv, _ := newTriageServer(t, "")
	code, body := post(t, srv, "/api/alerts/hour/ack", `{"note":"looking at it"}`, nil)
	if code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, body)
	}
	a := decodeAlert(t, body)
	if a.Status != triage.StatusAcknowledged || a.Triage.UpdatedBy != localUser || len(a.Triage.History) != 1 || a.Triage.History[0].Note != "looking at it" {
		t.Errorf("after ack: %+v", a)
	}
	if strings.Contains(strings.Join(a.Triage.Actions, ","), triage.ActionAck) {
		t.Errorf("ack still offered after ack: %v", a.Triage.Actions)
	}

	tests := []struct {
		path, body string
		want       int
	}{
		{"/api/alerts/hour/ack", `{}`, http.StatusConflict},                             // acknowledged already
		{"/api/alerts/hour/assign", `{}`, http.StatusBadRequest},                        // nobody to assign to
		{"/api/alerts/hour/escalate", `{"to":"board"}`, http.StatusBadRequest},          // no such contact
		{"/api/alerts/hour/assign", `{"assignee":"bram","x":1}`, http.StatusBadRequest}, // unknown field
		{"/api/alerts/hour/reopen", `{}`, http.StatusNotFound},                          // no such action
		{"/api/alerts/nope/ack", `{}`, http.StatusNotFound},                             // no such alert
		{"/api/alerts/hour/assign", `{"assignee":"bram"}`, http.StatusOK},
		{"/api/alerts/hour/escalate", `{"to":"privacy","note":"BSN in the photo"}`, http.StatusOK},
		{"/api/alerts/hour/resolve", ``, http.StatusOK}, // an empty body is an empty object
		{"/api/alerts/hour/false-positive", `{}`, http.StatusConflict},
	}
	for _, tt := range tests {
		if code, body := post(t, srv, tt.path, tt.body, nil); code != tt.want {
			t.Errorf("POST %s %s: %d, want %d (%s)", tt.path, tt.body, code, tt.want, body)
		}
	}
	resp, err := http.Get(srv.URL + "/api/alerts/hour")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	a = decodeAlert(t, string(b))
	if a.Status != triage.StatusResolved || a.Triage.Assignee != "bram" || a.Triage.EscalatedTo != triage.EscalatePrivacy ||
		len(a.Triage.History) != 4 || len(a.Triage.Actions) != 0 {
		t.Errorf("after the lifecycle: %+v", a)
	}
}

func TestTriageNeedsAUser(t *testing.T) {
	srv, _ := newTriageServer(t, "X-Forwarded-User")
	if code, body := post(t, srv, "/api/alerts/day/ack", `{}`, nil); code != http.StatusUnauthorized {
		t.Errorf("no user header behind a proxy: %d %s, want 401", code, body)
	}
	code, body := post(t, srv, "/api/alerts/day/ack", `{}`, map[string]string{"X-Forwarded-User": "anna@uzleuven.example"})
	if code != http.StatusOK || decodeAlert(t, body).Triage.UpdatedBy != "anna@uzleuven.example" {
		t.Errorf("with the proxy's user: %d %s", code, body)
	}
	if code, _ := post(t, srv, "/api/alerts/day/assign", `{"assignee":"x"}`, map[string]string{"X-Forwarded-User": "anna", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site request: %d, want 403", code)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/alerts/day/assign", strings.NewReader(`{"assignee":"x"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Forwarded-User", "anna")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form post: %v %v, want 415", resp.StatusCode, err)
	}

	// Without a proxy, a request from another host is refused.
	_, open := newTriageServer(t, "")
	rec := httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/api/alerts/day/ack", bytes.NewBufferString(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "203.0.113.7:51234"
	open.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("from another host without a proxy: %d, want 401", rec.Code)
	}
}

func TestAlertListFilters(t *testing.T) {
	srv, _ := newTriageServer(t, "")
	if code, body := post(t, srv, "/api/alerts/day/ack", `{}`, nil); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, body)
	}
	tests := []struct {
		query string
		want  string // ids, newest first
		code  int
	}{
		{"", "hour,day,old", http.StatusOK},
		{"?status=new", "hour,old", http.StatusOK},
		{"?status=acknowledged,resolved", "day", http.StatusOK},
		{"?institution=umc-utrecht", "hour,old", http.StatusOK},
		{"?category=patient_data,misinformation", "hour,day", http.StatusOK},
		{"?severity=critical", "hour", http.StatusOK},
		{"?since=36h", "hour,day", http.StatusOK},
		{"?since=" + time.Now().Add(-2*time.Hour).UTC().Format(time.RFC3339), "hour", http.StatusOK},
		{"?limit=1", "hour", http.StatusOK},
		{"?status=closed", "", http.StatusBadRequest},
		{"?severity=urgent", "", http.StatusBadRequest},
		{"?since=last+week", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + "/api/alerts" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s: %d, want %d (%s)", tt.query, resp.StatusCode, tt.code, b)
			continue
		}
		if tt.code != http.StatusOK {
			continue
		}
		var list struct{ Alerts []apiAlert }
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range list.Alerts {
			ids = append(ids, a.ID)
		}
		if got := strings.Join(ids, ","); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.query, got, tt.want)
		}
	}
}
