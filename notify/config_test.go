package notify

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
)

const exampleYAML = `
receivers:
  - name: comms-slack
    type: slack
    url: https://hooks.slack.example/services/T0/B0/token
    template: "{{.Summary}}"
    timeout: 10s
  - name: comms-teams
    type: teams
    url: https://teams.example/webhook/abc
  - name: press-mattermost
    type: mattermost
    url: https://mattermost.example/hooks/xyz
    retry: {max_attempts: 3, max_elapsed: 30s}
  - name: archive
    type: generic
    url: http://archive.internal:8080/alerts
  - name: privacy-mail
    type: email
    smtp: {host: smtp.example, port: 587, username: x, password_env: SMTP_PASSWORD, from: mediawatch@example, starttls: true}
    to: [privacy@example]
    digest: 1h
    digest_max_severity: medium
  - name: comms-mail
    type: email
    smtp: {host: smtp.example, from: mediawatch@example, tls: true}
    to: [comms@example]
    digest: 0
`

func decodeReceivers(t *testing.T, src string) []ReceiverConfig {
	t.Helper()
	var doc struct {
		Receivers []ReceiverConfig `yaml:"receivers"`
	}
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return doc.Receivers
}

func TestBuildFromYAML(t *testing.T) {
	cfgs := decodeReceivers(t, exampleYAML)
	if cfgs[0].Timeout.D() != 10*time.Second || cfgs[4].Digest.D() != time.Hour || cfgs[5].Digest != 0 || cfgs[2].Retry.MaxElapsed.D() != 30*time.Second {
		t.Fatalf("durations decoded wrong: %+v", cfgs)
	}
	reg := prometheus.NewRegistry()
	rs, err := Build(cfgs, Deps{
		Registerer: reg,
		LookupEnv:  func(k string) (string, bool) { return "pw", k == "SMTP_PASSWORD" },
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	defer CloseAll(t.Context(), rs)
	want := map[string]string{
		"comms-slack": "*notify.webhook", "comms-teams": "*notify.webhook", "press-mattermost": "*notify.webhook",
		"archive": "*notify.webhook", "privacy-mail": "*notify.Digest", "comms-mail": "*notify.email",
	}
	for name, typ := range want {
		r, ok := rs[name]
		if !ok {
			t.Errorf("no receiver %s", name)
			continue
		}
		if got := fmt.Sprintf("%T", r); got != typ {
			t.Errorf("%s is %s, want %s", name, got, typ)
		}
		if r.Name() != name {
			t.Errorf("Name() = %q, want %q", r.Name(), name)
		}
	}
	if e := rs["comms-mail"].(*email); e.port != 465 || !e.implicit {
		t.Errorf("comms-mail: port %d implicit %v, want 465 with TLS", e.port, e.implicit)
	}
	// Every receiver's series exist at zero.
	if got := counter(t, reg, "mediawatch_notifications_sent_total", "privacy-mail", TypeEmail); got != 0 {
		t.Errorf("sent = %v", got)
	}
	if got := counter(t, reg, "mediawatch_notification_duration_seconds", "comms-teams", TypeTeams); got != 0 {
		t.Errorf("duration count = %v", got)
	}
	// A reload builds again on the same registry.
	rs2, err := Build(cfgs[:1], Deps{Registerer: reg})
	if err != nil {
		t.Fatalf("second Build on the same registry: %v", err)
	}
	_ = CloseAll(t.Context(), rs2)
}

// TestBuildReportsEveryProblem gets one error per problem, each naming its
// receiver, and no receivers.
func TestBuildReportsEveryProblem(t *testing.T) {
	cfgs := []ReceiverConfig{
		{Name: "ok", Type: TypeSlack, URL: "https://hooks.example/x"},
		{Name: "pager", Type: "pagerduty", URL: "https://x.example"},
		{Name: "no-url", Type: TypeTeams},
		{Name: "ftp", Type: TypeGeneric, URL: "ftp://files.example/secret-token"},
		{Name: "bad-template", Type: TypeMattermost, URL: "https://mm.example/hooks/x", Template: "{{.Count"},
		{Name: "bad-field", Type: TypeSlack, URL: "https://hooks.example/x", Template: "{{.Institutionn}}"},
		{Name: "mail", Type: TypeEmail, To: []string{"not an address"},
			SMTP: &SMTPConfig{From: "mw@example.org", Username: "u", PasswordEnv: "NOPE", Auth: "cram-md5"}},
		{Name: "mail-no-smtp", Type: TypeEmail, To: []string{"a@example.org"}},
		{Name: "ok", Type: TypeGeneric, URL: "https://x.example"},
		{Name: "neg", Type: TypeGeneric, URL: "https://x.example", Timeout: Duration(-time.Second), Digest: Duration(-time.Hour)},
		{Name: "", Type: TypeGeneric, URL: "https://x.example"},
	}
	rs, err := Build(cfgs, Deps{LookupEnv: func(string) (string, bool) { return "", false }})
	if rs != nil || err == nil {
		t.Fatalf("Build = %v, %v; want no receivers and an error", rs, err)
	}
	msg := err.Error()
	for _, want := range []string{
		`receiver "pager": unknown type "pagerduty" (want one of generic, slack, teams, mattermost, email, nats)`,
		`receiver "no-url": url is required for type teams`,
		`receiver "ftp": url must be an absolute http or https URL`,
		`receiver "bad-template": template: template: bad-template:1: unclosed action`,
		`receiver "bad-field": template: template: bad-field:1:2: executing "bad-field" at <.Institutionn>: can't evaluate field Institutionn`,
		`receiver "mail": to: bad address "not an address"`,
		`receiver "mail": smtp.host is required`,
		`receiver "mail": smtp.auth "cram-md5": want plain or login`,
		`receiver "mail": environment variable NOPE (smtp.password_env) is not set`,
		`receiver "mail-no-smtp": smtp is required for type email`,
		`receiver "ok": name used twice`,
		`receiver "neg": timeout must not be negative`,
		`receiver "neg": digest must not be negative`,
		`receiver "": name is required`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, "secret-token") {
		t.Errorf("error shows a webhook URL:\n%s", msg)
	}
	if t.Failed() {
		t.Logf("error:\n%s", msg)
	}
}

func TestYAMLDurationErrors(t *testing.T) {
	var doc struct {
		Receivers []ReceiverConfig `yaml:"receivers"`
	}
	err := yaml.Unmarshal([]byte("receivers:\n  - name: x\n    timeout: 300\n"), &doc)
	if err == nil || !strings.Contains(err.Error(), `invalid duration "300"`) {
		t.Errorf("err = %v, want a bad duration", err)
	}
}

// TestBuildDefaultsNoDeps builds with zero Deps: no registry, no logger.
func TestBuildDefaultsNoDeps(t *testing.T) {
	rec, srv := newRecorder(t)
	rs, err := Build([]ReceiverConfig{{Name: "g", Type: TypeGeneric, URL: srv.URL}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs["g"].Send(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if len(rec.all()) != 1 {
		t.Error("not sent")
	}
}

// ExampleBuild shows how Build reports every bad receiver at once.
func ExampleBuild() {
	_, err := Build([]ReceiverConfig{
		{Name: "comms-slack", Type: TypeSlack, URL: "https://hooks.slack.example/services/T0/B0/x"},
		{Name: "press", Type: "fax"},
		{Name: "comms-teams", Type: TypeTeams},
		{Name: "privacy-mail", Type: TypeEmail, To: []string{"privacy@example.org"},
			SMTP: &SMTPConfig{Host: "smtp.example.org", From: "mediawatch@example.org"}, Template: "{{.Nope}}"},
	}, Deps{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	fmt.Println(err)
	// Output:
	// receiver "press": unknown type "fax" (want one of generic, slack, teams, mattermost, email, nats)
	// receiver "comms-teams": url is required for type teams
	// receiver "privacy-mail": template: template: privacy-mail:1:2: executing "privacy-mail" at <.Nope>: can't evaluate field Nope in type notify.TemplateData
}
