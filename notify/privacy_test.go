package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

// leakingAlerts runs posts that leak a BSN and Belgian national numbers
// through the shipped rules and the alerts package, as the daemon does.
func leakingAlerts(t *testing.T) (built []alerts.Alert, secrets []string) {
	t.Helper()
	rules, err := match.LoadRules(match.DefaultRules())
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	m, err := match.Compile(rules, []match.Institution{
		{ID: "umc-utrecht", Name: "UMC Utrecht", Aliases: []string{"UMCU", "WKZ"}},
		{ID: "uz-leuven", Name: "UZ Leuven", Aliases: []string{"UZ Gasthuisberg"}},
	})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	posts := []*mention.Mention{
		{ID: "p-1", Source: "forum", URL: "https://forum.example/t/9", Author: "nachtdienst",
			Title: "Burgerservicenummer: 9441.17.715, opgenomen in het UMCU sinds gisteren",
			Text:  "Patiënt op kamer 4 (BSN 123.456.782) ligt al 3 dagen te wachten op de SEH van het UMC Utrecht"},
		{ID: "p-2", Source: "mastodon", URL: "https://social.example/@a/1", Author: "a",
			Text: "Rijksregisternummer 85.07.30-033.28 staat gewoon op de foto van die opnamebrief van UZ Leuven 🙈 en ook patiënt INSZ 85073003328"},
	}
	detected := detectedAt()
	var out []alerts.Alert
	for _, p := range posts {
		p.Published = detected
		secrets = append(secrets, match.FindBSNs(p.Title+" "+p.Text)...)
		secrets = append(secrets, match.FindBelgianNNs(p.Title+" "+p.Text)...)
		out = append(out, alerts.Build(p, m.Match(p), detected, alerts.BuildOptions{})...)
	}
	if len(secrets) < 4 {
		t.Fatalf("the posts hold %d valid numbers, want at least 4: %v", len(secrets), secrets)
	}
	masked := 0
	for _, a := range out {
		for _, f := range a.Findings {
			if strings.Contains(f.Evidence, "*") {
				masked++
			}
		}
	}
	if masked < 3 {
		t.Fatalf("%d findings with masked evidence in %d alerts, want at least 3: the rules did not fire as expected", masked, len(out))
	}
	return out, secrets
}

// everything is a template that prints every field an alert hands to it.
const everything = `{{.Summary}} {{.GroupKey}}{{range .Alerts}}
{{.ID}} {{.Institution}} {{.Category}} {{.Severity}} {{join .Rules ","}} {{.Title}} {{.Author}} {{.Source}} {{.Snippet}} {{.PostURL}} {{.AlertURL}}
{{range .Findings}}{{.Rule}} {{.Severity}} {{.Field}} {{.Evidence}} {{.Explanation}}
{{end}}{{end}}`

// TestNoPersonalNumbersLeave sends alerts built from leaking posts through
// every receiver type, with the default template and with one that prints
// every field, and checks that no valid BSN or Belgian national number is
// in any webhook body or e-mail.
func TestNoPersonalNumbersLeave(t *testing.T) {
	as, secrets := leakingAlerts(t)
	msg := Message{Receiver: "r", GroupKey: "privacy", Alerts: as, DashboardURL: "https://mediawatch.example"}

	// Control: the check finds a number that is not masked.
	leaky := as[0]
	leaky.Findings = append([]alerts.Evidence(nil), leaky.Findings...)
	leaky.Findings[0].Evidence = secrets[0]
	w, _ := buildOne(t, ReceiverConfig{Name: "control", Type: TypeTeams, URL: "https://x.example", Template: everything}, Deps{})
	body, err := w.(*webhook).payload(Message{Alerts: []alerts.Alert{leaky}})
	if err != nil {
		t.Fatal(err)
	}
	if len(match.FindBSNs(string(body)))+len(match.FindBelgianNNs(string(body))) == 0 {
		t.Fatalf("control: an unmasked %s in the payload is not found:\n%s", secrets[0], body)
	}

	for _, tmpl := range []string{"", everything} {
		var captured []string
		for _, typ := range []string{TypeGeneric, TypeSlack, TypeTeams, TypeMattermost} {
			rec, srv := newRecorder(t)
			r, _ := buildOne(t, ReceiverConfig{Name: typ, Type: typ, URL: srv.URL, Template: tmpl}, Deps{})
			if err := r.Send(t.Context(), msg); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
			body := rec.all()[0].Body
			captured = append(captured, string(body), jsonStrings(t, body))
		}
		ms := newMailServer(t, mailServerOptions{})
		cfg := ms.config("mail")
		cfg.Template = tmpl
		r, _ := buildOne(t, cfg, ms.deps())
		if err := r.Send(t.Context(), msg); err != nil {
			t.Fatalf("email: %v", err)
		}
		for _, m := range ms.received() {
			captured = append(captured, string(m.Data), m.Subject, m.TextBody)
		}

		for i, c := range captured {
			if !strings.Contains(c, "umc-utrecht") && !strings.Contains(c, "uz-leuven") {
				t.Errorf("template %q, body %d: the alerts are not in it:\n%s", tmpl, i, c)
			}
			if got := match.FindBSNs(c); len(got) > 0 {
				t.Errorf("template %q, body %d: valid BSNs %v:\n%s", tmpl, i, got, c)
			}
			if got := match.FindBelgianNNs(c); len(got) > 0 {
				t.Errorf("template %q, body %d: valid Belgian national numbers %v:\n%s", tmpl, i, got, c)
			}
			for _, s := range secrets {
				if strings.Contains(c, s) || strings.Contains(c, digitsOnly(s)) {
					t.Errorf("template %q, body %d: contains %s", tmpl, i, s)
				}
			}
		}
	}
}

// jsonStrings returns every string in a JSON document, decoded, one per
// line, so escapes cannot hide a number from the check.
func jsonStrings(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			b.WriteString(x)
			b.WriteByte('\n')
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
