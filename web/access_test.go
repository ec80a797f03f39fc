package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/silence"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/prometheus/client_golang/prometheus"
)

// testPassword is every test account's password.
const testPassword = "correct horse battery staple"

// cheapHash keeps the tests fast: the parameters are the format's, only
// smaller.
var cheapHash = auth.Params{Memory: 8 * 1024, Time: 1, Threads: 1}

// accessFixture is a dashboard with local accounts for each role, sessions,
// triage, silences and the audit log on a JetStream server of the test's
// own.
type accessFixture struct {
	srv    *httptest.Server
	audit  *audit.Log
	store  *triage.Store
	recent *alerts.Recent
}

// revealedBy is a Revealer that answers with fixed evidence: the reveal
// path itself (stream read, audit first) is app's and tested there.
type revealedBy struct{}

func (revealedBy) Reveal(_ context.Context, a alerts.Alert, _, _ string) ([]RevealedFinding, error) {
	return []RevealedFinding{{Rule: "patient_data.bsn", Field: "text", Evidence: "123456782"}}, nil
}

func newAccessFixture(t *testing.T, mutate ...func(*Options)) *accessFixture {
	t.Helper()
	ns := natstest.StartJetStream(t)
	js := natstest.Connect(t, ns)
	store := triageStoreOn(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sessions, err := auth.NewSessions(ctx, js, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	sil, err := silence.NewStore(ctx, js, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	natstest.Follow(t, func(ctx context.Context) error { return sil.Follow(ctx, ready) })
	<-ready
	var list []auth.User
	for _, role := range auth.Roles() {
		hash, err := auth.HashPassword(testPassword, cheapHash)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, auth.User{Name: role + "-user", PasswordHash: hash, Roles: []string{role}})
	}
	users, err := auth.NewUsers(list)
	if err != nil {
		t.Fatal(err)
	}
	recent := alerts.NewRecent(100)
	now := time.Now()
	for _, a := range []alerts.Alert{
		{ID: "pd1", Institution: "umc-utrecht", Category: "patient_data", Severity: "critical", Rules: []string{"patient_data.bsn"},
			Mention: alerts.MentionRef{ID: "m1", Seq: 1, URL: "javascript:alert(document.cookie)", Source: "forum",
				Title: `<script>alert("title")</script> kamer 12`, Author: `<img src=x onerror=alert("author")>`},
			Snippet: `BSN [redacted] <b onmouseover=alert("snippet")>hier</b>`, DetectedAt: now.Add(-time.Hour)},
		{ID: "lg1", Institution: "uz-leuven", Category: "logo_misuse", Severity: "low", Rules: []string{"logo_misuse.advertising"},
			Mention: alerts.MentionRef{ID: "m2", URL: "https://shop.example/uz-leuven-korting", Source: "news", Title: "Korting met UZ Leuven logo"},
			Snippet: "Nu met het logo van UZ Leuven", DetectedAt: now.Add(-2 * time.Hour)},
	} {
		a.Status, a.Count = alerts.StatusNew, 1
		recent.Add(a)
	}
	opts := Options{
		Alerts: recent, Triage: store, Silences: sil, Audit: log, Sessions: sessions, Users: users,
		Revealer: revealedBy{}, RevealRoles: []string{auth.RolePrivacy},
		LoginLimiter: auth.NewLimiter(3, time.Minute),
		Gatherer:     prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Version: "test",
	}
	for _, m := range mutate {
		m(&opts)
	}
	srv := httptest.NewServer(Handler(opts))
	t.Cleanup(srv.Close)
	return &accessFixture{srv: srv, audit: log, store: store, recent: recent}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see them.
func (f *accessFixture) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// loggedIn returns a browser with a session for the role's account.
func (f *accessFixture) loggedIn(t *testing.T, role string) *http.Client {
	t.Helper()
	c := f.browser(t)
	resp := f.postForm(t, c, "/login", url.Values{"name": {role + "-user"}, "password": {testPassword}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %s: %d", role, resp.StatusCode)
	}
	return c
}

// postForm posts a form as a same-origin browser page would.
func (f *accessFixture) postForm(t *testing.T, c *http.Client, path string, form url.Values, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (f *accessFixture) do(t *testing.T, c *http.Client, method, path, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLoginLogout(t *testing.T) {
	f := newAccessFixture(t)
	c := f.browser(t)

	resp, _ := f.do(t, c, http.MethodGet, "/?status=all", "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2F%3Fstatus%3Dall" {
		t.Fatalf("anonymous queue: %d to %q, want the login form with the page to return to", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := f.do(t, c, http.MethodGet, "/login?next=/", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Fatalf("login form: %d", resp.StatusCode)
	}

	// A wrong password and an unknown name answer alike.
	wrong := f.postForm(t, c, "/login", url.Values{"name": {"analyst-user"}, "password": {"guess"}})
	unknown := f.postForm(t, c, "/login", url.Values{"name": {"nobody"}, "password": {"guess"}})
	if wrong.StatusCode != http.StatusUnauthorized || unknown.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password %d, unknown name %d; want 401 both", wrong.StatusCode, unknown.StatusCode)
	}
	if len(c.Jar.Cookies(mustURL(t, f.srv.URL))) != 0 {
		t.Error("a failed login set a cookie")
	}

	resp = f.postForm(t, c, "/login", url.Values{"name": {"Analyst-User"}, "password": {testPassword}, "next": {"/feeds"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/feeds" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookie := findCookie(resp, auth.CookieName)
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain http", cookie)
	}
	resp, body = f.do(t, c, http.MethodGet, "/", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "analyst-user") {
		t.Fatalf("queue after login: %d", resp.StatusCode)
	}

	resp = f.postForm(t, c, "/logout", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	// The old cookie is worthless now, even if someone kept it.
	stale := f.browser(t)
	stale.Jar.SetCookies(mustURL(t, f.srv.URL), []*http.Cookie{{Name: auth.CookieName, Value: cookie.Value}})
	if resp, _ := f.do(t, stale, http.MethodGet, "/", ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("queue with a logged-out session: %d, want a redirect to the login form", resp.StatusCode)
	}

	events, err := f.audit.Query(context.Background(), audit.Query{Kind: audit.KindLogin})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	want := "analyst-user:logout analyst-user:login nobody:failed analyst-user:failed"
	if got := strings.Join(actions, " "); got != want {
		t.Errorf("audit log of logins (newest first) = %q, want %q", got, want)
	}
}

func TestLoginIsRateLimited(t *testing.T) {
	f := newAccessFixture(t)
	c := f.browser(t)
	for i := range 3 {
		if resp := f.postForm(t, c, "/login", url.Values{"name": {"admin-user"}, "password": {"guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	// Now even the right password waits: the guesser must not learn it.
	if resp := f.postForm(t, c, "/login", url.Values{"name": {"admin-user"}, "password": {testPassword}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 3 failures: %d, want 429", resp.StatusCode)
	}
	// Another account from the same address is refused too (3 failures
	// from this address).
	if resp := f.postForm(t, c, "/login", url.Values{"name": {"viewer-user"}, "password": {testPassword}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another account from the same address: %d, want 429", resp.StatusCode)
	}
}

// TestRolesPerRoute checks each route against each role: viewers read,
// analysts triage, privacy officers reveal, admins keep silences and read
// the audit log.
func TestRolesPerRoute(t *testing.T) {
	f := newAccessFixture(t)
	clients := map[string]*http.Client{"": f.browser(t)}
	for _, role := range auth.Roles() {
		clients[role] = f.loggedIn(t, role)
	}
	const (
		ok     = http.StatusOK
		moved  = http.StatusSeeOther
		denied = http.StatusForbidden
		anon   = http.StatusUnauthorized
	)
	type check struct {
		method, path string
		form         url.Values
		json         string
		want         map[string]int // role → status
	}
	all := func(code int) map[string]int {
		return map[string]int{"": moved, "viewer": code, "analyst": code, "privacy": code, "admin": code}
	}
	checks := []check{
		{"GET", "/", nil, "", all(ok)},
		{"GET", "/alerts/lg1", nil, "", all(ok)},
		{"GET", "/search", nil, "", all(ok)},
		{"GET", "/feeds", nil, "", all(ok)},
		{"GET", "/rules", nil, "", all(ok)},
		{"GET", "/silences", nil, "", map[string]int{"": moved, "viewer": denied, "analyst": denied, "privacy": denied, "admin": ok}},
		{"GET", "/audit", nil, "", map[string]int{"": moved, "viewer": denied, "analyst": denied, "privacy": denied, "admin": ok}},
		{"POST", "/alerts/pd1/reveal", url.Values{"reason": {"complaint 2026-118"}}, "", map[string]int{"": moved, "viewer": denied, "analyst": denied, "privacy": ok, "admin": denied}},
		{"POST", "/alerts/lg1/act", url.Values{"action": {"assign"}, "assignee": {"bram"}}, "", map[string]int{"": moved, "viewer": denied, "analyst": moved, "privacy": denied, "admin": moved}},
		{"POST", "/silences", url.Values{"rule": {"logo_misuse.advertising"}, "for": {"1h"}, "reason": {"campaign"}}, "", map[string]int{"": moved, "viewer": denied, "analyst": denied, "privacy": denied, "admin": moved}},
		{"GET", "/api/alerts", nil, "", map[string]int{"": anon, "viewer": ok, "analyst": ok, "privacy": ok, "admin": ok}},
		{"POST", "/api/alerts/pd1/reveal", nil, `{"reason":"complaint"}`, map[string]int{"": anon, "viewer": denied, "analyst": denied, "privacy": ok, "admin": denied}},
		{"POST", "/api/alerts/pd1/assign", nil, `{"assignee":"bram"}`, map[string]int{"": anon, "viewer": denied, "analyst": ok, "privacy": denied, "admin": ok}},
		{"POST", "/api/silences", nil, `{"rule":"conduct.swearing","for":"1h","reason":"test"}`, map[string]int{"": anon, "viewer": denied, "analyst": denied, "privacy": denied, "admin": http.StatusCreated}},
	}
	for _, ck := range checks {
		for _, role := range append([]string{""}, auth.Roles()...) {
			var resp *http.Response
			switch {
			case ck.form != nil:
				resp = f.postForm(t, clients[role], ck.path, ck.form)
			case ck.json != "":
				resp, _ = f.do(t, clients[role], ck.method, ck.path, ck.json, "Content-Type", "application/json")
			default:
				resp, _ = f.do(t, clients[role], ck.method, ck.path, "")
			}
			if want := ck.want[role]; resp.StatusCode != want {
				t.Errorf("%s %s as %q: %d, want %d", ck.method, ck.path, role, resp.StatusCode, want)
			}
		}
	}
	// What the analysts and the admin did is in the audit log.
	events, err := f.audit.Query(context.Background(), audit.Query{Kind: audit.KindTriage})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[len(events)-1].Actor != "analyst-user" || events[len(events)-1].Action != "assign" || events[len(events)-1].AlertID != "lg1" {
		t.Errorf("triage audit records: %+v", events)
	}
	if events, _ := f.audit.Query(context.Background(), audit.Query{Kind: audit.KindSilence}); len(events) != 2 {
		t.Errorf("silence audit records: %d, want 2 (page and API)", len(events))
	}
}

// TestCrossOriginWritesRefused: a page on another site cannot make a
// logged-in browser change anything, form or fetch.
func TestCrossOriginWritesRefused(t *testing.T) {
	f := newAccessFixture(t)
	c := f.loggedIn(t, auth.RoleAnalyst)
	form := url.Values{"id": {"lg1"}, "next": {"/"}}
	for _, h := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
	} {
		if resp := f.postForm(t, c, "/alerts/ack", form, h...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("bulk acknowledge with %v: %d, want 403", h, resp.StatusCode)
		}
	}
	resp, _ := f.do(t, c, http.MethodPost, "/api/alerts/lg1/ack", `{}`, "Content-Type", "application/json", "Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API write from another origin: %d, want 403", resp.StatusCode)
	}
	if got := f.store.Status("lg1"); got != triage.StatusNew {
		t.Errorf("after refused requests the alert is %s", got)
	}
	if resp := f.postForm(t, c, "/alerts/ack", form); resp.StatusCode != http.StatusSeeOther || f.store.Status("lg1") != triage.StatusAcknowledged {
		t.Errorf("same-origin bulk acknowledge: %d, status %s", resp.StatusCode, f.store.Status("lg1"))
	}
}

// TestProxyHeadersOnlyFromTrustedNetworks: a user header from anywhere but
// the configured proxy is ignored.
func TestProxyHeadersOnlyFromTrustedNetworks(t *testing.T) {
	var h http.Handler
	f := newAccessFixture(t, func(o *Options) {
		o.UserHeader, o.RolesHeader = "X-Forwarded-User", "X-Forwarded-Roles"
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
		h = Handler(*o)
	})
	_ = f
	for _, tt := range []struct {
		remote string
		want   int
	}{
		{"10.0.0.5:4000", http.StatusOK},
		{"10.0.1.5:4000", http.StatusUnauthorized},
		{"127.0.0.1:4000", http.StatusUnauthorized},
		{"[::ffff:10.0.0.5]:4000", http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/alerts", nil)
		req.RemoteAddr = tt.remote
		req.Header.Set("X-Forwarded-User", "mallory")
		req.Header.Set("X-Forwarded-Roles", "viewer, admin, superuser")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("from %s: %d, want %d", tt.remote, rec.Code, tt.want)
		}
	}
	// Roles are the header's values that are roles.
	req := httptest.NewRequest(http.MethodGet, "/audit", nil)
	req.RemoteAddr = "10.0.0.5:4000"
	req.Header.Set("X-Forwarded-User", "anna")
	req.Header.Set("X-Forwarded-Roles", "viewer")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("audit log as a proxied viewer: %d, want 403", rec.Code)
	}
}

// TestLocalModeTrustsOnlyItsOwnHost: with no way to log in, the dashboard
// serves its own host and nobody else.
func TestLocalModeTrustsOnlyItsOwnHost(t *testing.T) {
	var h http.Handler
	newAccessFixture(t, func(o *Options) {
		o.Users, o.Sessions = nil, nil
		h = Handler(*o)
	})
	for _, tt := range []struct {
		remote string
		want   int
	}{{"127.0.0.1:4000", http.StatusOK}, {"[::1]:4000", http.StatusOK}, {"192.0.2.9:4000", http.StatusForbidden}} {
		req := httptest.NewRequest(http.MethodGet, "/audit", nil)
		req.RemoteAddr = tt.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("audit log from %s: %d, want %d", tt.remote, rec.Code, tt.want)
		}
	}
}

var scriptNonce = regexp.MustCompile(`<script [^>]*nonce="([^"]+)"`)

// TestHeadersOnEveryResponse: pages, errors, JSON, static files, the login
// form and refusals all carry the CSP (with a fresh nonce that the page's
// script uses) and the other headers.
func TestHeadersOnEveryResponse(t *testing.T) {
	f := newAccessFixture(t)
	anon, admin := f.browser(t), f.loggedIn(t, auth.RoleAdmin)
	seen := map[string]bool{}
	for _, tt := range []struct {
		c      *http.Client
		method string
		path   string
	}{
		{anon, "GET", "/login"}, {anon, "GET", "/"}, {anon, "GET", "/api/alerts"}, {anon, "GET", "/static/app.js"},
		{admin, "GET", "/"}, {admin, "GET", "/alerts/pd1"}, {admin, "GET", "/alerts/nope"}, {admin, "GET", "/no/such/page"},
		{admin, "GET", "/search?q=%22unclosed"}, {admin, "GET", "/feeds"}, {admin, "GET", "/rules"}, {admin, "GET", "/silences"},
		{admin, "GET", "/audit"}, {admin, "POST", "/alerts/pd1/reveal"}, {admin, "DELETE", "/"}, {anon, "GET", "/healthz"},
	} {
		resp, body := f.do(t, tt.c, tt.method, tt.path, "", "Sec-Fetch-Site", "same-origin")
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'nonce-", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s (%d): CSP %q lacks %q", tt.method, tt.path, resp.StatusCode, csp, want)
			}
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if h.Get(k) != v {
				t.Errorf("%s %s (%d): %s = %q", tt.method, tt.path, resp.StatusCode, k, h.Get(k))
			}
		}
		if m := scriptNonce.FindStringSubmatch(body); m != nil {
			if !strings.Contains(csp, "'nonce-"+m[1]+"'") {
				t.Errorf("%s: the page's script nonce %q is not the header's", tt.path, m[1])
			}
			if seen[m[1]] {
				t.Errorf("%s: nonce %q used twice", tt.path, m[1])
			}
			seen[m[1]] = true
		}
	}
	if len(seen) < 8 {
		t.Errorf("only %d pages carried a script nonce", len(seen))
	}
}

// TestPagesShowHostileContentAsText: titles, authors, snippets and links
// from feeds reach every page escaped, and javascript: never becomes a
// link.
func TestPagesShowHostileContentAsText(t *testing.T) {
	f := newAccessFixture(t)
	c := f.loggedIn(t, auth.RolePrivacy)
	for _, path := range []string{"/", "/?status=all", "/alerts/pd1", "/alerts/lg1"} {
		resp, body := f.do(t, c, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		for _, bad := range []string{"<script>alert", "<img src=x", "<b onmouseover", `href="javascript:`, `src="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q unescaped", path, bad)
			}
		}
		if path == "/alerts/pd1" && !strings.Contains(body, "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt; kamer 12") {
			t.Errorf("%s does not show the hostile title as text", path)
		}
		if path == "/alerts/lg1" && !strings.Contains(body, `href="https://shop.example/uz-leuven-korting" rel="noopener noreferrer"`) {
			t.Errorf("%s: the post's https link is missing or lacks rel=noopener noreferrer", path)
		}
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
