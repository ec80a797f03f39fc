package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/prometheus/client_golang/prometheus"
)

// providerLogin stands in for the hospital's identity provider, which no
// test machine reaches: Begin sends the browser straight to the callback,
// Finish answers with who it was told. The OIDC flow itself (state, nonce,
// PKCE, token checks) is tested in package auth against a real provider.
type providerLogin struct {
	who auth.OIDCIdentity
	err error
}

func (p providerLogin) Begin(w http.ResponseWriter, r *http.Request, returnTo string, _ bool) {
	http.Redirect(w, r, "/auth/oidc/callback?code=x&state=y", http.StatusFound)
}

func (p providerLogin) Finish(http.ResponseWriter, *http.Request, bool) (auth.OIDCIdentity, error) {
	return p.who, p.err
}

func TestOIDCLoginStartsASession(t *testing.T) {
	for _, tt := range []struct {
		name     string
		login    providerLogin
		want     int
		location string
	}{
		{"known user", providerLogin{who: auth.OIDCIdentity{Name: "els@uzleuven.example", Roles: []string{"analyst"}, ReturnTo: "/feeds"}}, http.StatusSeeOther, "/feeds"},
		{"no role", providerLogin{who: auth.OIDCIdentity{Name: "stagiair"}, err: fmt.Errorf("oidc: %w", auth.ErrNoRole)}, http.StatusForbidden, ""},
		{"failed", providerLogin{err: fmt.Errorf("oidc: bad state")}, http.StatusForbidden, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newAccessFixture(t, func(o *Options) { o.OIDC = tt.login })
			c := f.browser(t)
			resp, _ := f.do(t, c, http.MethodGet, "/auth/oidc/login?next=/feeds", "")
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("begin: %d", resp.StatusCode)
			}
			resp, body := f.do(t, c, http.MethodGet, resp.Header.Get("Location"), "")
			if resp.StatusCode != tt.want || resp.Header.Get("Location") != tt.location {
				t.Fatalf("callback: %d to %q, want %d to %q", resp.StatusCode, resp.Header.Get("Location"), tt.want, tt.location)
			}
			resp, _ = f.do(t, c, http.MethodGet, "/feeds", "")
			loggedIn := resp.StatusCode == http.StatusOK
			if loggedIn != (tt.want == http.StatusSeeOther) {
				t.Errorf("after the callback the feeds page answers %d", resp.StatusCode)
			}
			if tt.name == "no role" && !strings.Contains(body, "no role in mediawatch") {
				t.Errorf("a user without a role is not told why")
			}
		})
	}
}

func TestQueueFiltersAndCounts(t *testing.T) {
	f := newAccessFixture(t)
	c := f.loggedIn(t, auth.RoleViewer)
	_, body := f.do(t, c, http.MethodGet, "/?category=logo_misuse", "")
	if !strings.Contains(body, `data-id="lg1"`) || strings.Contains(body, `data-id="pd1"`) {
		t.Errorf("category filter: want lg1 only")
	}
	// The category facet counts ignore the category filter itself: both
	// categories keep their count of one.
	for _, want := range []string{`category=patient_data">patient data</a> <span class="n">1</span>`, `category=logo_misuse" aria-current="true">logo misuse</a> <span class="n">1</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("facet %q missing", want)
		}
	}
	// A viewer gets no checkboxes: bulk acknowledge is triage.
	if strings.Contains(body, `name="id"`) {
		t.Error("a viewer sees the bulk-acknowledge checkboxes")
	}
	f.store.Do(context.Background(), "lg1", triage.Request{Action: triage.ActionResolve, Actor: "x", Note: "done"})
	_, body = f.do(t, c, http.MethodGet, "/", "")
	if strings.Contains(body, `data-id="lg1"`) {
		t.Error("a resolved alert is still in the open queue")
	}
	_, body = f.do(t, c, http.MethodGet, "/?status=resolved", "")
	if !strings.Contains(body, `data-id="lg1"`) {
		t.Error("the resolved alert is not under status=resolved")
	}
}

// TestTriageByForm runs an alert through its life with the page's forms,
// as a browser without script would.
func TestTriageByForm(t *testing.T) {
	f := newAccessFixture(t)
	c := f.loggedIn(t, auth.RoleAnalyst)
	for _, step := range []struct {
		form url.Values
		want int
	}{
		{url.Values{"action": {"ack"}}, http.StatusSeeOther},
		{url.Values{"action": {"ack"}}, http.StatusConflict},
		{url.Values{"action": {"escalate"}, "to": {"board"}}, http.StatusBadRequest},
		{url.Values{"action": {"escalate"}, "to": {"privacy"}}, http.StatusSeeOther},
		{url.Values{"action": {"resolve"}, "note": {"Bericht verwijderd na contact met de auteur"}}, http.StatusSeeOther},
	} {
		if resp := f.postForm(t, c, "/alerts/pd1/act", step.form); resp.StatusCode != step.want {
			t.Errorf("%v: %d, want %d", step.form, resp.StatusCode, step.want)
		}
	}
	_, body := f.do(t, c, http.MethodGet, "/alerts/pd1", "")
	for _, want := range []string{"Bericht verwijderd na contact met de auteur", "This alert is closed.", "analyst-user"} {
		if !strings.Contains(body, want) {
			t.Errorf("alert page after resolving lacks %q", want)
		}
	}
}

func TestRevealPage(t *testing.T) {
	f := newAccessFixture(t)
	c := f.loggedIn(t, auth.RolePrivacy)
	_, body := f.do(t, c, http.MethodGet, "/alerts/pd1", "")
	if !strings.Contains(body, `action="/alerts/pd1/reveal"`) || strings.Contains(body, "123456782") {
		t.Fatal("the alert page should offer the reveal form and show no evidence")
	}
	if resp := f.postForm(t, c, "/alerts/pd1/reveal", url.Values{"reason": {"  "}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("reveal without a reason: %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/alerts/pd1/reveal", strings.NewReader("reason=klacht+2026-118"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(raw)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "123456782") || !strings.Contains(page, "klacht 2026-118") {
		t.Errorf("reveal: %d, evidence shown %v", resp.StatusCode, strings.Contains(page, "123456782"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("a page with revealed evidence has Cache-Control %q, want no-store", cc)
	}
	// The language switch on it comes back to the alert's page, which a
	// GET can show, not to the form's address.
	if !strings.Contains(page, `name="next" value="/alerts/pd1"`) {
		t.Error("the switch on the revealed page does not come back to /alerts/pd1")
	}
}

func TestLanguageFromHeaderAndSwitch(t *testing.T) {
	f := newAccessFixture(t)
	c := f.loggedIn(t, auth.RoleViewer)
	_, body := f.do(t, c, http.MethodGet, "/", "", "Accept-Language", "nl-BE,nl;q=0.9,en;q=0.5")
	if !strings.Contains(body, `<html lang="nl">`) || !strings.Contains(body, ">Meldingen<") {
		t.Error("Accept-Language nl-BE: want the Dutch dashboard")
	}
	resp := f.postForm(t, c, "/preferences", url.Values{"lang": {"en"}, "tz": {"Europe/Brussels"}, "next": {"/feeds"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/feeds" {
		t.Fatalf("preferences: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = f.do(t, c, http.MethodGet, "/", "", "Accept-Language", "nl-BE,nl;q=0.9")
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `value="Europe/Brussels" selected`) {
		t.Error("after switching to English in Brussels time the page is not")
	}
	// The switch cannot send the user to another site.
	resp = f.postForm(t, c, "/preferences", url.Values{"lang": {"nl"}, "next": {"//evil.example/x"}})
	if resp.Header.Get("Location") != "/" {
		t.Errorf("preferences next=//evil.example: redirect to %q", resp.Header.Get("Location"))
	}
}

// BenchmarkQueuePage renders the queue over 10,000 alerts, the number a
// busy month holds, with their triage states from a real store.
func BenchmarkQueuePage(b *testing.B) {
	store := newTriageStore(b)
	recent := alerts.NewRecent(maxQueueAlerts)
	start := time.Now().Add(-30 * 24 * time.Hour)
	insts := []string{"umc-utrecht", "uz-leuven"}
	for i := range 10000 {
		recent.Add(alerts.Alert{
			ID: fmt.Sprintf("a%05d", i), Institution: insts[i%2], Category: match.Categories[i%len(match.Categories)],
			Severity: match.Severities[i%len(match.Severities)], Rules: []string{"conduct.swearing"}, Count: 1 + i%3,
			Mention: alerts.MentionRef{ID: fmt.Sprintf("m%05d", i), URL: "https://example.org/p/" + fmt.Sprint(i), Source: []string{"news", "forum", "mastodon"}[i%3],
				Author: fmt.Sprintf("author%d", i%97), Title: "Bericht over het ziekenhuis nummer " + fmt.Sprint(i)},
			Snippet: strings.Repeat("Een tekst van een bericht op sociale media. ", 5), DetectedAt: start.Add(time.Duration(i) * 4 * time.Minute),
		})
	}
	h := Handler(Options{Alerts: recent, Triage: store, Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	for _, path := range []string{"/", "/?status=all&category=conduct&period=720h"} {
		b.Run(strings.ReplaceAll(path, "/", "_"), func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.RemoteAddr = "127.0.0.1:5000"
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		})
	}
}
