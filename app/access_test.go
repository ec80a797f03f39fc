package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/config"
)

// With local accounts the dashboard is no longer open to its own host: a
// request needs a login, and a login gives a session that works.
func TestDashboardWithUsers(t *testing.T) {
	hash, err := auth.HashPassword("een lang genoeg wachtwoord", auth.Params{Memory: 1024, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := quietConfig(t, t.TempDir())
	cfg.Users = []config.User{{Name: "anna", PasswordHash: hash, Roles: []string{auth.RoleViewer}}}
	d := startDaemon(t, cfg)

	if code, body := d.get(t, "/api/alerts"); code != http.StatusUnauthorized {
		t.Errorf("without a login, from the daemon's own host: %d %s, want 401", code, body)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(password string) *http.Response {
		form := url.Values{"name": {"Anna"}, "password": {password}, "next": {"/"}}
		resp, err := noRedirect.PostForm("http://"+d.app.HTTPAddr()+"/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := login("fout"); hasSession(resp) {
		t.Error("a wrong password got a session")
	}
	resp := login("een lang genoeg wachtwoord")
	if !hasSession(resp) {
		t.Fatalf("login: %d without a session cookie", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.app.HTTPAddr()+"/api/alerts", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	after, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	after.Body.Close()
	if after.StatusCode != http.StatusOK {
		t.Errorf("with the session: %d, want 200", after.StatusCode)
	}
}

func hasSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName && c.Value != "" {
			return true
		}
	}
	return false
}

// A configured OIDC provider that does not answer stops the daemon at
// start, naming the issuer: it does not start without the login the
// hospital set up.
func TestOIDCProviderDownRefusesToStart(t *testing.T) {
	provider := httptest.NewServer(http.NotFoundHandler())
	defer provider.Close()
	t.Setenv("MEDIAWATCH_TEST_OIDC_SECRET", "s3cret")
	withOIDC, err := config.Parse([]byte(`http:
  oidc:
    issuer: `+provider.URL+`/realms/umcu
    client_id: mediawatch
    client_secret_env: MEDIAWATCH_TEST_OIDC_SECRET
    redirect_url: https://mediawatch.example.org/auth/oidc/callback
`), "oidc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := quietConfig(t, t.TempDir())
	cfg.HTTP.OIDC = withOIDC.HTTP.OIDC
	a, err := app.New(app.Options{Config: cfg, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), provider.URL+"/realms/umcu") {
		t.Fatalf("run with the provider down: %v, want an error naming the issuer", err)
	}
	select {
	case <-a.Ready():
		t.Error("the daemon was ready without its login")
	default:
	}
}
