package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/silence"
	"github.com/prometheus/client_golang/prometheus"
)

func newSilenceServer(t *testing.T) *httptest.Server {
	t.Helper()
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := silence.NewStore(ctx, js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	natstest.Follow(t, func(ctx context.Context) error { return store.Follow(ctx, ready) })
	<-ready
	srv := httptest.NewServer(Handler(Options{Silences: store, Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSilencesAPI(t *testing.T) {
	srv := newSilenceServer(t)
	code, body := post(t, srv, "/api/silences", `{"author":"kortingskoning","for":"48h","reason":"spam account, reported"}`, nil)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var created silence.Silence
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	if created.CreatedBy != localUser || created.EndsAt.Sub(created.StartsAt) != 48*time.Hour || created.ID == "" {
		t.Errorf("created %+v", created)
	}
	for _, bad := range []string{
		`{"for":"1h","reason":"matches nothing"}`,
		`{"author":"x","for":"1h"}`,
		`{"author":"x","for":"soon","reason":"r"}`,
		`{"author":"x","for":"1h","ends_at":"2030-01-01T00:00:00Z","reason":"r"}`,
		`{"author":"x","for":"1h","reason":"r","owner":"me"}`,
	} {
		if code, body := post(t, srv, "/api/silences", bad, nil); code != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", bad, code, body)
		}
	}
	list := func(query string) []silence.Silence {
		resp, err := http.Get(srv.URL + "/api/silences" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct{ Silences []silence.Silence }
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out.Silences
	}
	if got := list("?active=true"); len(got) != 1 || got[0].ID != created.ID {
		t.Errorf("active silences: %+v", got)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/silences/"+created.ID, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("expire: %v %v", err, resp.StatusCode)
	}
	resp.Body.Close()
	if got := list("?active=true"); len(got) != 0 {
		t.Errorf("still active after expiry: %+v", got)
	}
	if got := list(""); len(got) != 1 || !strings.Contains(got[0].Reason, "spam") {
		t.Errorf("expired silence not listed: %+v", got)
	}
	req, _ = http.NewRequest(http.MethodDelete, srv.URL+"/api/silences/nope", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("expire unknown: %v %v, want 404", err, resp.StatusCode)
	}
}
