package notify

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestWebhookPayloads posts the same message to a real server through each
// webhook type and compares the bodies with testdata/<type>.json.
func TestWebhookPayloads(t *testing.T) {
	for _, typ := range []string{TypeGeneric, TypeSlack, TypeTeams, TypeMattermost} {
		t.Run(typ, func(t *testing.T) {
			rec, srv := newRecorder(t)
			r, reg := buildOne(t, ReceiverConfig{Name: "comms-" + typ, Type: typ, URL: srv.URL + "/hook"}, Deps{})
			if err := r.Send(t.Context(), testMessage()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := rec.all()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			golden(t, typ+".json", indentJSON(t, reqs[0].Body))
			if got := counter(t, reg, "mediawatch_notifications_sent_total", "comms-"+typ, typ); got != 1 {
				t.Errorf("sent = %v, want 1", got)
			}
		})
	}
}

// TestGenericCarriesAlertContract checks that the generic webhook's alerts
// are exactly the Alert JSON of the alerts package.
func TestGenericCarriesAlertContract(t *testing.T) {
	rec, srv := newRecorder(t)
	r, _ := buildOne(t, ReceiverConfig{Name: "g", Type: TypeGeneric, URL: srv.URL}, Deps{})
	m := testMessage()
	if err := r.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Version   string            `json:"version"`
		Receiver  string            `json:"receiver"`
		GroupKey  string            `json:"group_key"`
		Alerts    []json.RawMessage `json:"alerts"`
		Truncated int               `json:"truncated"`
	}
	if err := json.Unmarshal(rec.all()[0].Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "1" || got.Receiver != "g" || got.GroupKey != m.GroupKey || got.Truncated != 1 || len(got.Alerts) != 2 {
		t.Fatalf("payload = %+v", got)
	}
	for i, a := range m.Alerts {
		want, _ := json.Marshal(a)
		if string(got.Alerts[i]) != string(want) {
			t.Errorf("alert %d:\n got %s\nwant %s", i, got.Alerts[i], want)
		}
	}
}

func TestCustomTemplate(t *testing.T) {
	cases := []struct {
		typ, tmpl, want string
	}{
		{TypeMattermost, `{{.Count}} for {{.Institution}}: {{range .Alerts}}{{.Title}}; {{end}}`,
			`3 for umc-utrecht, uz-leuven: dagje stage; \<!channel\> \*look\*;`},
		{TypeSlack, `{{range .Alerts}}{{link .PostURL .Title}} {{end}}`,
			`<https://forum.example/t/1?page=2&amp;sort=new|dagje stage> <https://social.example/@x/42|&lt;!channel&gt; *look*>`},
		{TypeGeneric, `{{range .Alerts}}{{link .PostURL .Title}} {{bold .Severity}}|{{end}}`,
			`dagje stage: https://forum.example/t/1?page=2&sort=new critical|<!channel> *look*: https://social.example/@x/42 medium|`},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			rec, srv := newRecorder(t)
			r, _ := buildOne(t, ReceiverConfig{Name: "c", Type: c.typ, URL: srv.URL, Template: c.tmpl}, Deps{})
			if err := r.Send(t.Context(), testMessage()); err != nil {
				t.Fatal(err)
			}
			var p struct {
				Text   string
				Blocks []struct{ Text struct{ Text string } }
			}
			if err := json.Unmarshal(rec.all()[0].Body, &p); err != nil {
				t.Fatal(err)
			}
			got := p.Text
			if c.typ == TypeSlack {
				got = p.Blocks[0].Text.Text
			}
			if got != c.want {
				t.Errorf("text = %q\n want %q", got, c.want)
			}
		})
	}
}

// TestWebhookFailures runs each failure against a real server.
func TestWebhookFailures(t *testing.T) {
	cases := []struct {
		name      string
		typ       string
		responses []response
		requests  int
		wantErr   string // "" for success
		permanent bool
		retries   float64
	}{
		{name: "500 then 200 is retried once", typ: TypeGeneric,
			responses: []response{{status: 500, body: "oops"}, {status: 200}}, requests: 2, retries: 1},
		{name: "503 then 502 then 200", typ: TypeSlack,
			responses: []response{{status: 503}, {status: 502}, {status: 200}}, requests: 3, retries: 2},
		{name: "400 is not retried", typ: TypeSlack,
			responses: []response{{status: 400, body: "invalid_payload"}}, requests: 1,
			wantErr: `receiver "hook": permanent failure: status 400: POST http://127.0.0.1`, permanent: true},
		{name: "404 is not retried", typ: TypeMattermost,
			responses: []response{{status: 404, body: "no such hook"}}, requests: 1, wantErr: "status 404", permanent: true},
		{name: "429 then 200", typ: TypeTeams,
			responses: []response{{status: 429, header: map[string]string{"Retry-After": "0"}}, {status: 200}}, requests: 2, retries: 1},
		{name: "Teams throttling inside a 200", typ: TypeTeams,
			responses: []response{{status: 200, body: "Microsoft Teams endpoint returned HTTP error 429 with ContextId ..."}, {status: 200, body: "1"}},
			requests:  2, retries: 1},
		{name: "500 every time gives up after the attempts", typ: TypeGeneric,
			responses: []response{{status: 500}}, requests: 3, retries: 2, wantErr: `receiver "hook" (generic): giving up after 3 attempts: POST http://127.0.0.1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, srv := newRecorder(t, c.responses...)
			r, reg := buildOne(t, ReceiverConfig{Name: "hook", Type: c.typ, URL: srv.URL + "/secret-token", Retry: fastRetry()}, Deps{})
			err := r.Send(t.Context(), testMessage())
			if n := len(rec.all()); n != c.requests {
				t.Errorf("%d requests, want %d", n, c.requests)
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
				}
				if strings.Contains(err.Error(), "secret-token") {
					t.Errorf("error leaks the webhook URL: %v", err)
				}
				if IsPermanent(err) != c.permanent {
					t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), c.permanent)
				}
				if got := counter(t, reg, "mediawatch_notifications_failed_total", "hook", c.typ); got != 1 {
					t.Errorf("failed = %v, want 1", got)
				}
			}
			if got := counter(t, reg, "mediawatch_notification_retries_total", "hook", c.typ); got != c.retries {
				t.Errorf("retries = %v, want %v", got, c.retries)
			}
			if got := counter(t, reg, "mediawatch_notification_duration_seconds", "hook", c.typ); got != 1 {
				t.Errorf("duration observations = %v, want 1", got)
			}
		})
	}
}

// TestConnectionErrorRetried posts to a port nobody listens on.
func TestConnectionErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, reg := buildOne(t, ReceiverConfig{Name: "down", Type: TypeSlack, URL: "http://" + addr + "/services/T0/B0/secret-token", Retry: fastRetry()}, Deps{})
	err = r.Send(t.Context(), testMessage())
	if err == nil || IsPermanent(err) {
		t.Fatalf("err = %v, want a recoverable error after the retries", err)
	}
	if !strings.Contains(err.Error(), `receiver "down"`) || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("err = %v: want it to name the receiver and not the URL", err)
	}
	if got := counter(t, reg, "mediawatch_notification_retries_total", "down", TypeSlack); got != 2 {
		t.Errorf("retries = %v, want 2", got)
	}
}

// TestCanceledContext returns at once with the context's error.
func TestCanceledContext(t *testing.T) {
	rec, srv := newRecorder(t)
	r, _ := buildOne(t, ReceiverConfig{Name: "c", Type: TypeGeneric, URL: srv.URL}, Deps{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := r.Send(ctx, testMessage())
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err = %v, want context canceled", err)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests after cancel", n)
	}
}

func TestUserAgent(t *testing.T) {
	rec, srv := newRecorder(t)
	client := &http.Client{}
	r, _ := buildOne(t, ReceiverConfig{Name: "c", Type: TypeGeneric, URL: srv.URL}, Deps{HTTPClient: client})
	if err := r.Send(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if ua := rec.all()[0].Header.Get("User-Agent"); ua != "mediawatch-notify" {
		t.Errorf("User-Agent = %q", ua)
	}
}
