package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testKeys are generated once: RSA key generation is slow under -race.
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var keys [2]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// testIdP is a small but real OpenID Connect provider: discovery, JWKS,
// an authorize endpoint that checks what the client sends and redirects
// back, and a token endpoint that authenticates the client, spends the
// code once, checks PKCE and returns an RS256-signed ID token. Its fields
// are set before it starts and only read after; codes and tokens are
// guarded by mu.
type testIdP struct {
	issuer      string // the URL it serves on
	clientID    string
	secret      string // empty: a public client
	redirectURL string
	// authMethods is token_endpoint_auth_methods_supported; the token
	// endpoint accepts only those.
	authMethods []string
	key         *rsa.PrivateKey // published in the JWKS
	signKey     *rsa.PrivateKey // signs ID tokens; another key forges them
	// claims override the ID token's defaults; a nil value removes one.
	claims map[string]any
	// discoveredIssuer, when set, is what discovery calls the issuer.
	discoveredIssuer string
	// authorizeError makes the authorize endpoint refuse, as when the user
	// cancels or is not assigned to the application.
	authorizeError string

	mu     sync.Mutex
	codes  map[string]testGrant
	issued []string // every token handed out, to check no error shows one
}

type testGrant struct {
	challenge, nonce, redirect string
}

func (p *testIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		iss := p.issuer
		if p.discoveredIssuer != "" {
			iss = p.discoveredIssuer
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                iss,
			"authorization_endpoint":                p.issuer + "/authorize",
			"token_endpoint":                        p.issuer + "/token",
			"jwks_uri":                              p.issuer + "/jwks",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported":      []string{"S256"},
			"token_endpoint_auth_methods_supported": p.authMethods,
		})
	case "/jwks":
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
		}})
	case "/authorize":
		p.authorize(w, r)
	case "/token":
		p.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var problems []string
	check := func(ok bool, what string) {
		if !ok {
			problems = append(problems, what)
		}
	}
	check(q.Get("response_type") == "code", "response_type")
	check(q.Get("client_id") == p.clientID, "client_id")
	check(q.Get("redirect_uri") == p.redirectURL, "redirect_uri")
	check(slices.Contains(strings.Fields(q.Get("scope")), "openid"), "scope")
	check(q.Get("code_challenge_method") == "S256", "code_challenge_method")
	check(len(q.Get("code_challenge")) == 43, "code_challenge")
	check(q.Get("state") != "", "state")
	check(q.Get("nonce") != "", "nonce")
	if len(problems) > 0 {
		// Never redirect with an unchecked redirect_uri.
		http.Error(w, "bad authorization request: "+strings.Join(problems, ", "), http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if p.authorizeError != "" {
		back.Set("error", p.authorizeError)
		back.Set("error_description", "The user cancelled the sign-in.")
	} else {
		code := randomToken()
		p.mu.Lock()
		p.codes[code] = testGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		back.Set("code", code)
	}
	http.Redirect(w, r, p.redirectURL+"?"+back.Encode(), http.StatusFound)
}

func (p *testIdP) token(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		// debug stands for whatever else a provider puts in an error body.
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc, "debug": "provider-body-marker"})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		fail(http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	// Client authentication, only by an advertised method.
	id, secret, basic := r.BasicAuth()
	method := "client_secret_post"
	switch {
	case basic:
		method = "client_secret_basic"
		// RFC 6749 2.3.1: both are form-encoded before Basic.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	default:
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case p.secret == "":
		if basic || id != p.clientID || secret != "" {
			fail(http.StatusUnauthorized, "invalid_client", "public client: client_id in the form only")
			return
		}
	case !slices.Contains(p.authMethods, method):
		fail(http.StatusUnauthorized, "invalid_client", method+" is not supported")
		return
	case id != p.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.secret)) != 1:
		fail(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		fail(http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, ok := p.codes[code]
	delete(p.codes, code) // a code is good once, whatever happens next
	p.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "invalid_grant", "unknown or spent code")
		return
	}
	if r.PostForm.Get("redirect_uri") != g.redirect {
		fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		fail(http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}

	now := time.Now()
	claims := map[string]any{
		"iss":   p.issuer,
		"sub":   "u-1234",
		"aud":   p.clientID,
		"iat":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
		"nonce": g.nonce,
	}
	for k, v := range p.claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	payload, _ := json.Marshal(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p.signKey, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		fail(http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	idToken, _ := jws.CompactSerialize()
	access := randomToken()
	p.mu.Lock()
	p.issued = append(p.issued, idToken, access)
	p.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": idToken,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type finishResult struct {
	id  OIDCIdentity
	err error
}

// oidcEnv is a provider and a dashboard that logs in with it: Begin at
// /auth/oidc/login, Finish at the callback.
type oidcEnv struct {
	idp     *testIdP
	app     string // the dashboard's URL
	results chan finishResult
}

func unstarted(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	t.Cleanup(s.Close)
	return s, "http://" + s.Listener.Addr().String()
}

// startIdP starts a provider for a dashboard at appURL, with opt's
// settings made before it starts, so that its handlers only read them.
func startIdP(t *testing.T, appURL string, opt func(*testIdP)) *testIdP {
	t.Helper()
	keys := testKeys()
	p := &testIdP{
		clientID: "mediawatch", secret: "s3cret/+&=",
		redirectURL: appURL + OIDCCallbackPath,
		authMethods: []string{"client_secret_basic", "client_secret_post"},
		key:         keys[0], signKey: keys[0],
		claims: map[string]any{}, codes: map[string]testGrant{},
	}
	srv, srvURL := unstarted(t, p)
	p.issuer = srvURL
	if opt != nil {
		opt(p)
	}
	srv.Start()
	return p
}

// newOIDCEnv starts a provider and a dashboard that logs in with it.
func newOIDCEnv(t *testing.T, idpOpt func(*testIdP), cfgOpt func(*OIDCConfig)) *oidcEnv {
	t.Helper()
	e := &oidcEnv{results: make(chan finishResult, 4)}
	appSrv, appURL := unstarted(t, nil)
	e.app = appURL
	e.idp = startIdP(t, appURL, idpOpt)

	cfg := OIDCConfig{Issuer: e.idp.issuer, ClientID: e.idp.clientID, ClientSecret: e.idp.secret, RedirectURL: e.idp.redirectURL}
	if cfgOpt != nil {
		cfgOpt(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := NewOIDC(ctx, cfg, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("NewOIDC: %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/oidc/login", func(w http.ResponseWriter, r *http.Request) {
		o.Begin(w, r, r.URL.Query().Get("return"), false)
	})
	mux.HandleFunc("GET "+OIDCCallbackPath, func(w http.ResponseWriter, r *http.Request) {
		id, err := o.Finish(w, r, false)
		e.results <- finishResult{id, err}
		if err != nil {
			http.Error(w, "login refused", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "welcome")
	})
	appSrv.Config.Handler = mux
	appSrv.Start()
	return e
}

// oidcFlow is one browser going through a login.
type oidcFlow struct {
	e        *oidcEnv
	client   *http.Client
	callback *url.URL     // where the provider sent the browser back
	cookie   *http.Cookie // the login cookie as Begin set it
}

// get requests u and returns what the callback handler saw.
func (f *oidcFlow) get(t *testing.T, u string) finishResult {
	t.Helper()
	resp, err := f.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	select {
	case res := <-f.e.results:
		return res
	default:
		t.Fatalf("the callback was never reached: %s from %s: %s", resp.Status, resp.Request.URL, body)
		return finishResult{}
	}
}

// setLoginCookie replaces the browser's login cookie.
func (f *oidcFlow) setLoginCookie(value string) {
	f.client.Jar.SetCookies(f.callback, []*http.Cookie{{Name: OIDCCookieName, Value: value, Path: "/auth/oidc"}})
}

func (f *oidcFlow) loginCookie() *http.Cookie {
	for _, c := range f.client.Jar.Cookies(f.callback) {
		if c.Name == OIDCCookieName {
			return c
		}
	}
	return nil
}

func TestOIDCFlow(t *testing.T) {
	entraRoles := func(roles ...any) func(*testIdP) {
		return func(p *testIdP) {
			p.claims["preferred_username"] = "an.peeters@hospital.example"
			p.claims["roles"] = roles
		}
	}
	cases := []struct {
		name     string
		idp      func(*testIdP)
		cfg      func(*OIDCConfig)
		returnTo string
		// tamper runs when the provider sends the browser back, before
		// the callback is requested.
		tamper func(t *testing.T, f *oidcFlow)
		// replay runs after a successful callback; then the callback is
		// requested again, and that second answer is the one checked.
		replay func(t *testing.T, f *oidcFlow)

		wantName, wantReturn string
		wantRoles            []string
		wantErr              error
		wantMsg              string
	}{
		{
			name:     "entra app roles",
			idp:      entraRoles("analyst", "viewer"),
			returnTo: "/alerts?status=new",
			wantName: "an.peeters@hospital.example", wantRoles: []string{"analyst", "viewer"}, wantReturn: "/alerts?status=new",
		},
		{
			name:     "roles sorted, each once, unknown ones dropped",
			idp:      entraRoles("viewer", "admin", "superuser", "admin", 42),
			wantName: "an.peeters@hospital.example", wantRoles: []string{"admin", "viewer"}, wantReturn: "/",
		},
		{
			name: "keycloak realm roles at a dotted path",
			idp: func(p *testIdP) {
				p.claims["preferred_username"] = "jdevos"
				p.claims["realm_access"] = map[string]any{"roles": []string{"offline_access", "privacy", "uma_authorization", "viewer"}}
			},
			cfg:      func(c *OIDCConfig) { c.RolesClaim = "realm_access.roles" },
			wantName: "jdevos", wantRoles: []string{"privacy", "viewer"}, wantReturn: "/",
		},
		{
			name: "keycloak groups through role_map",
			idp: func(p *testIdP) {
				p.claims["preferred_username"] = "jdevos"
				p.claims["groups"] = []string{"/communicatie", "/dpo", "/admin"}
			},
			cfg: func(c *OIDCConfig) {
				c.RolesClaim = "groups"
				// "/admin" is not mapped: with a role_map, claim values
				// that happen to be role names count for nothing.
				c.RoleMap = map[string][]string{"/communicatie": {RoleAnalyst, RoleViewer}, "/dpo": {RolePrivacy, RoleViewer}}
			},
			wantName: "jdevos", wantRoles: []string{"analyst", "privacy", "viewer"}, wantReturn: "/",
		},
		{
			name: "claim name with dots taken as it is",
			idp: func(p *testIdP) {
				p.claims["preferred_username"] = "jdevos"
				p.claims["https://mediawatch.example.org/roles"] = "admin"
			},
			cfg:      func(c *OIDCConfig) { c.RolesClaim = "https://mediawatch.example.org/roles" },
			wantName: "jdevos", wantRoles: []string{"admin"}, wantReturn: "/",
		},
		{
			name:     "user name falls back to email",
			idp:      func(p *testIdP) { p.claims["email"] = "dpo@hospital.example"; p.claims["roles"] = []string{"privacy"} },
			wantName: "dpo@hospital.example", wantRoles: []string{"privacy"}, wantReturn: "/",
		},
		{
			name: "an unverified email does not name the user",
			idp: func(p *testIdP) {
				p.claims["email"] = "dpo@hospital.example"
				p.claims["email_verified"] = false
				p.claims["roles"] = []string{"privacy"}
			},
			wantName: "u-1234", wantRoles: []string{"privacy"}, wantReturn: "/",
		},
		{
			name:     "user name falls back to sub",
			idp:      func(p *testIdP) { p.claims["roles"] = []string{"viewer"} },
			wantName: "u-1234", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name: "configured user name claim",
			idp: func(p *testIdP) {
				p.claims["upn"] = "apeeters@hospital.example"
				p.claims["preferred_username"] = "x"
				p.claims["roles"] = []string{"viewer"}
			},
			cfg:      func(c *OIDCConfig) { c.UsernameClaim = "upn" },
			wantName: "apeeters@hospital.example", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name: "client_secret_post when the provider only offers that",
			idp: func(p *testIdP) {
				p.authMethods = []string{"client_secret_post"}
				p.claims["roles"] = []string{"viewer"}
			},
			wantName: "u-1234", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name:     "public client with PKCE only",
			idp:      func(p *testIdP) { p.secret = ""; p.claims["roles"] = []string{"viewer"} },
			wantName: "u-1234", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name:     "returnTo protocol-relative becomes /",
			idp:      entraRoles("viewer"),
			returnTo: "//evil.example",
			wantName: "an.peeters@hospital.example", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name:     "returnTo absolute URL becomes /",
			idp:      entraRoles("viewer"),
			returnTo: "https://evil.example",
			wantName: "an.peeters@hospital.example", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name:     "returnTo with a backslash becomes /",
			idp:      entraRoles("viewer"),
			returnTo: `/\evil.example`,
			wantName: "an.peeters@hospital.example", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name:     "returnTo rewritten in the cookie is checked again",
			idp:      entraRoles("viewer"),
			returnTo: "/alerts",
			tamper: func(t *testing.T, f *oidcFlow) {
				l, err := decodeOIDCLogin(f.cookie.Value)
				if err != nil {
					t.Fatal(err)
				}
				l.ReturnTo = "//evil.example"
				f.setLoginCookie(l.encode())
			},
			wantName: "an.peeters@hospital.example", wantRoles: []string{"viewer"}, wantReturn: "/",
		},
		{
			name: "wrong state",
			idp:  entraRoles("viewer"),
			tamper: func(t *testing.T, f *oidcFlow) {
				q := f.callback.Query()
				q.Set("state", randomToken())
				f.callback.RawQuery = q.Encode()
			},
			wantErr: errOIDCState, wantMsg: "bad state",
		},
		{
			name: "no state",
			idp:  entraRoles("viewer"),
			tamper: func(t *testing.T, f *oidcFlow) {
				q := f.callback.Query()
				q.Del("state")
				f.callback.RawQuery = q.Encode()
			},
			wantErr: errOIDCState, wantMsg: "bad state",
		},
		{
			name:    "missing cookie",
			idp:     entraRoles("viewer"),
			tamper:  func(t *testing.T, f *oidcFlow) { f.client.Jar, _ = cookiejar.New(nil) },
			wantErr: errOIDCNoLogin, wantMsg: "cookie is missing",
		},
		{
			name:    "malformed cookie",
			idp:     entraRoles("viewer"),
			tamper:  func(t *testing.T, f *oidcFlow) { f.setLoginCookie("not-a-login") },
			wantErr: errOIDCNoLogin, wantMsg: "malformed",
		},
		{
			name: "cookie older than ten minutes",
			idp:  entraRoles("viewer"),
			tamper: func(t *testing.T, f *oidcFlow) {
				l, _ := decodeOIDCLogin(f.cookie.Value)
				l.Issued = time.Now().Add(-11 * time.Minute).Unix()
				f.setLoginCookie(l.encode())
			},
			wantErr: errOIDCNoLogin, wantMsg: "more than 10m0s ago",
		},
		{
			name: "replayed callback finds the cookie spent",
			idp:  entraRoles("viewer"),
			replay: func(t *testing.T, f *oidcFlow) {
				if c := f.loginCookie(); c != nil {
					t.Errorf("login cookie still set after Finish: %v", c)
				}
			},
			wantErr: errOIDCNoLogin, wantMsg: "cookie is missing",
		},
		{
			name: "replayed callback with a saved cookie finds the code spent",
			idp:  entraRoles("viewer"),
			replay: func(t *testing.T, f *oidcFlow) {
				f.setLoginCookie(f.cookie.Value)
			},
			wantErr: errOIDCExchange, wantMsg: "invalid_grant: unknown or spent code",
		},
		{
			name: "PKCE verifier not the one challenged",
			idp:  entraRoles("viewer"),
			tamper: func(t *testing.T, f *oidcFlow) {
				l, _ := decodeOIDCLogin(f.cookie.Value)
				l.Verifier = randomToken()
				f.setLoginCookie(l.encode())
			},
			wantErr: errOIDCExchange, wantMsg: "PKCE verification failed",
		},
		{
			name:    "wrong client secret",
			idp:     entraRoles("viewer"),
			cfg:     func(c *OIDCConfig) { c.ClientSecret = "guess" },
			wantErr: errOIDCExchange, wantMsg: "401 Unauthorized: invalid_client",
		},
		{
			name:    "nonce mismatch",
			idp:     func(p *testIdP) { p.claims["roles"] = []string{"viewer"}; p.claims["nonce"] = randomToken() },
			wantErr: errOIDCNonce, wantMsg: "nonce mismatch",
		},
		{
			name:    "no nonce",
			idp:     func(p *testIdP) { p.claims["roles"] = []string{"viewer"}; p.claims["nonce"] = nil },
			wantErr: errOIDCNonce, wantMsg: "nonce mismatch",
		},
		{
			name: "expired token",
			idp: func(p *testIdP) {
				p.claims["roles"] = []string{"viewer"}
				p.claims["exp"] = time.Now().Add(-time.Minute).Unix()
			},
			wantErr: errOIDCToken, wantMsg: "expired",
		},
		{
			name:    "wrong audience",
			idp:     func(p *testIdP) { p.claims["roles"] = []string{"viewer"}; p.claims["aud"] = "another-app" },
			wantErr: errOIDCToken, wantMsg: `expected audience "mediawatch"`,
		},
		{
			name: "several audiences, issued to another client",
			idp: func(p *testIdP) {
				p.claims["roles"] = []string{"viewer"}
				p.claims["aud"] = []string{"mediawatch", "another-app"}
				p.claims["azp"] = "another-app"
			},
			wantErr: errOIDCToken, wantMsg: `issued to client "another-app"`,
		},
		{
			name: "wrong issuer",
			idp: func(p *testIdP) {
				p.claims["roles"] = []string{"viewer"}
				p.claims["iss"] = "https://login.example.net"
			},
			wantErr: errOIDCToken, wantMsg: "issued by a different provider",
		},
		{
			name:    "signed with a key the provider does not publish",
			idp:     func(p *testIdP) { p.claims["roles"] = []string{"viewer"}; p.signKey = testKeys()[1] },
			wantErr: errOIDCToken, wantMsg: "signature",
		},
		{
			name:    "provider refuses: access_denied",
			idp:     func(p *testIdP) { p.authorizeError = "access_denied" },
			wantErr: errOIDCProvider, wantMsg: "the provider refused the login: access_denied: The user cancelled the sign-in.",
		},
		{
			name:     "no mapped role",
			idp:      entraRoles("nurse", "Admin"),
			wantName: "an.peeters@hospital.example", wantReturn: "/",
			wantErr: ErrNoRole, wantMsg: `"an.peeters@hospital.example" (claim roles has ["nurse" "Admin"])`,
		},
		{
			name:     "no roles claim at all",
			idp:      func(p *testIdP) { p.claims["preferred_username"] = "jdevos" },
			cfg:      func(c *OIDCConfig) { c.RolesClaim = "realm_access.roles" },
			wantName: "jdevos", wantReturn: "/",
			wantErr: ErrNoRole,
		},
		{
			name: "groups none of which are mapped",
			idp:  func(p *testIdP) { p.claims["groups"] = []string{"/verpleging", "admin"} },
			cfg: func(c *OIDCConfig) {
				c.RolesClaim = "groups"
				c.RoleMap = map[string][]string{"/communicatie": {RoleAnalyst}}
			},
			wantName: "u-1234", wantReturn: "/",
			wantErr: ErrNoRole,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newOIDCEnv(t, tc.idp, tc.cfg)
			jar, _ := cookiejar.New(nil)
			f := &oidcFlow{e: e}
			stopAtCallback := tc.tamper != nil || tc.replay != nil
			f.client = &http.Client{
				Jar: jar, Timeout: 10 * time.Second,
				CheckRedirect: func(req *http.Request, via []*http.Request) error {
					if strings.HasPrefix(req.URL.String(), e.app+OIDCCallbackPath) {
						f.callback = req.URL
						f.cookie = f.loginCookie()
						if stopAtCallback {
							return http.ErrUseLastResponse
						}
					}
					if len(via) >= 10 {
						return errors.New("too many redirects")
					}
					return nil
				},
			}
			login := e.app + "/auth/oidc/login?" + url.Values{"return": {tc.returnTo}}.Encode()
			var res finishResult
			if !stopAtCallback {
				res = f.get(t, login)
				if c := f.loginCookie(); c != nil {
					t.Errorf("login cookie still set after Finish: %v", c)
				}
			} else {
				resp, err := f.client.Get(login)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if f.callback == nil || f.cookie == nil {
					t.Fatalf("the provider did not send the browser back with the login cookie set: %s", resp.Status)
				}
				if tc.tamper != nil {
					tc.tamper(t, f)
				}
				res = f.get(t, f.callback.String())
				if tc.replay != nil {
					if res.err != nil {
						t.Fatalf("first callback: %v", res.err)
					}
					tc.replay(t, f)
					res = f.get(t, f.callback.String())
				}
			}

			if tc.wantErr == nil && res.err != nil {
				t.Fatalf("Finish: %v", res.err)
			}
			if tc.wantErr != nil && !errors.Is(res.err, tc.wantErr) {
				t.Fatalf("Finish: got error %v, want %v", res.err, tc.wantErr)
			}
			if res.err != nil {
				msg := res.err.Error()
				if !strings.Contains(msg, tc.wantMsg) {
					t.Errorf("error %q does not say %q", msg, tc.wantMsg)
				}
				if strings.Contains(msg, "provider-body-marker") {
					t.Errorf("error %q repeats the provider's response body", msg)
				}
				e.idp.mu.Lock()
				for _, tok := range e.idp.issued {
					if strings.Contains(msg, tok) {
						t.Errorf("error %q contains a token", msg)
					}
				}
				e.idp.mu.Unlock()
			}
			if res.id.Name != tc.wantName || !slices.Equal(res.id.Roles, tc.wantRoles) || res.id.ReturnTo != tc.wantReturn {
				t.Errorf("identity = %+v, want name %q, roles %q, returnTo %q", res.id, tc.wantName, tc.wantRoles, tc.wantReturn)
			}
		})
	}
}

// TestOIDCBegin checks the cookie and the authorization request: the
// state, nonce and PKCE challenge sent are the ones kept.
func TestOIDCBegin(t *testing.T) {
	e := newOIDCEnv(t, nil, nil)
	for _, secure := range []bool{true, false} {
		t.Run(fmt.Sprint("secure=", secure), func(t *testing.T) {
			o := beginOIDC(t, e)
			rec := httptest.NewRecorder()
			o.Begin(rec, httptest.NewRequest("GET", "/auth/oidc/login", nil), "/alerts/42", secure)
			resp := rec.Result()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want 302", resp.StatusCode)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			cookies := resp.Cookies()
			if len(cookies) != 1 || cookies[0].Name != OIDCCookieName {
				t.Fatalf("cookies %v, want one %s", cookies, OIDCCookieName)
			}
			c := cookies[0]
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/auth/oidc" || c.Secure != secure || c.MaxAge != 600 {
				t.Errorf("cookie %v: want HttpOnly, SameSite=Lax, Path=/auth/oidc, Secure=%v, Max-Age=600", c, secure)
			}
			l, err := decodeOIDCLogin(c.Value)
			if err != nil {
				t.Fatal(err)
			}
			if l.ReturnTo != "/alerts/42" {
				t.Errorf("returnTo %q", l.ReturnTo)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != e.idp.issuer+"/authorize" {
				t.Errorf("redirected to %s", got)
			}
			q := loc.Query()
			sum := sha256.Sum256([]byte(l.Verifier))
			want := map[string]string{
				"response_type":         "code",
				"client_id":             "mediawatch",
				"redirect_uri":          e.app + OIDCCallbackPath,
				"scope":                 "openid email groups",
				"state":                 l.State,
				"nonce":                 l.Nonce,
				"code_challenge":        base64.RawURLEncoding.EncodeToString(sum[:]),
				"code_challenge_method": "S256",
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if strings.Contains(loc.RawQuery, l.Verifier) {
				t.Error("the PKCE verifier itself was sent to the authorize endpoint")
			}
		})
	}
	t.Run("fresh values every time", func(t *testing.T) {
		o := beginOIDC(t, e)
		seen := map[string]bool{}
		for range 3 {
			rec := httptest.NewRecorder()
			o.Begin(rec, httptest.NewRequest("GET", "/auth/oidc/login", nil), "/", false)
			l, err := decodeOIDCLogin(rec.Result().Cookies()[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{l.State, l.Nonce, l.Verifier} {
				if seen[v] || len(v) < 43 {
					t.Fatalf("value %q repeated or short", v)
				}
				seen[v] = true
			}
		}
	})
}

// beginOIDC makes another client of e's provider, for calling Begin
// directly.
func beginOIDC(t *testing.T, e *oidcEnv) *OIDC {
	t.Helper()
	o, err := NewOIDC(context.Background(), OIDCConfig{
		Issuer: e.idp.issuer, ClientID: "mediawatch", ClientSecret: "s3cret/+&=",
		RedirectURL: e.app + OIDCCallbackPath, Scopes: []string{"openid", "email", "groups"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestNewOIDCErrors(t *testing.T) {
	t.Run("issuer mismatch", func(t *testing.T) {
		p := startIdP(t, "https://mediawatch.example.org", func(p *testIdP) { p.discoveredIssuer = "https://login.example.net/tenant-guid/v2.0" })
		_, err := NewOIDC(context.Background(), OIDCConfig{
			Issuer: p.issuer, ClientID: "mediawatch", RedirectURL: p.redirectURL,
		}, nil)
		if err == nil || !strings.Contains(err.Error(), `calls itself "https://login.example.net/tenant-guid/v2.0"`) {
			t.Fatalf("got %v, want the issuer the provider reports", err)
		}
	})
	t.Run("no provider", func(t *testing.T) {
		s := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(s.Close)
		_, err := NewOIDC(context.Background(), OIDCConfig{
			Issuer: s.URL, ClientID: "mediawatch", RedirectURL: "https://mw.example.org" + OIDCCallbackPath,
		}, s.Client())
		if err == nil || !strings.Contains(err.Error(), "oidc discovery at "+s.URL) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("invalid config", func(t *testing.T) {
		_, err := NewOIDC(context.Background(), OIDCConfig{Issuer: "http://idp.example.org"}, nil)
		if err == nil || !strings.Contains(err.Error(), "issuer:") || !strings.Contains(err.Error(), "client_id:") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestOIDCConfigValidate(t *testing.T) {
	good := OIDCConfig{
		Issuer:      "https://login.microsoftonline.com/2f1c7a9e-0000-4000-8000-000000000000/v2.0",
		ClientID:    "0d5f7c1e",
		RedirectURL: "https://mediawatch.example.org/auth/oidc/callback",
	}
	cases := []struct {
		name string
		edit func(c *OIDCConfig)
		want []string // one substring per expected error, in order
	}{
		{name: "entra", edit: func(c *OIDCConfig) {}},
		{name: "keycloak with role map", edit: func(c *OIDCConfig) {
			c.Issuer = "https://sso.hospital.example/realms/staff"
			c.Scopes = []string{"openid", "profile", "groups"}
			c.RolesClaim = "realm_access.roles"
			c.RoleMap = map[string][]string{"/dpo": {"privacy", "viewer"}}
		}},
		{name: "local keycloak over http", edit: func(c *OIDCConfig) {
			c.Issuer = "http://localhost:8080/realms/dev"
			c.RedirectURL = "http://localhost:8081/auth/oidc/callback"
		}},
		{name: "http on 127.0.0.1", edit: func(c *OIDCConfig) { c.Issuer = "http://127.0.0.1:9000" }},
		{name: "http on ::1", edit: func(c *OIDCConfig) { c.Issuer = "http://[::1]:9000/realms/x" }},
		{name: "http elsewhere", edit: func(c *OIDCConfig) { c.Issuer = "http://sso.hospital.example/realms/staff" }, want: []string{"issuer: want the provider's https URL"}},
		{name: "no issuer", edit: func(c *OIDCConfig) { c.Issuer = "" }, want: []string{"issuer:"}},
		{name: "issuer without scheme", edit: func(c *OIDCConfig) { c.Issuer = "login.microsoftonline.com/x/v2.0" }, want: []string{"issuer:"}},
		{name: "issuer with query", edit: func(c *OIDCConfig) { c.Issuer = "https://idp.example/?tenant=x" }, want: []string{"issuer:"}},
		{name: "no client id", edit: func(c *OIDCConfig) { c.ClientID = " " }, want: []string{"client_id: required"}},
		{name: "relative redirect", edit: func(c *OIDCConfig) { c.RedirectURL = "/auth/oidc/callback" }, want: []string{"redirect_url:"}},
		{name: "redirect elsewhere", edit: func(c *OIDCConfig) { c.RedirectURL = "https://mediawatch.example.org/callback" }, want: []string{"redirect_url: want an absolute URL ending in /auth/oidc/callback"}},
		{name: "redirect with a trailing slash", edit: func(c *OIDCConfig) { c.RedirectURL = "https://mediawatch.example.org/auth/oidc/callback/" }, want: []string{"redirect_url:"}},
		{name: "redirect not http", edit: func(c *OIDCConfig) { c.RedirectURL = "ftp://mediawatch.example.org/auth/oidc/callback" }, want: []string{"redirect_url:"}},
		{name: "scopes without openid", edit: func(c *OIDCConfig) { c.Scopes = []string{"profile", "email"} }, want: []string{"scopes: must include openid"}},
		{name: "roles claim with an empty segment", edit: func(c *OIDCConfig) { c.RolesClaim = "realm_access..roles" }, want: []string{"roles_claim:"}},
		{name: "role map to unknown roles", edit: func(c *OIDCConfig) {
			c.RoleMap = map[string][]string{"/b": {"viewer", "root"}, "/a": {"superuser"}, "/c": {}}
		}, want: []string{`role_map: "/a": unknown role "superuser"`, `role_map: "/b": unknown role "root"`, `role_map: "/c" maps to no role`}},
		{name: "everything wrong at once", edit: func(c *OIDCConfig) {
			*c = OIDCConfig{Issuer: "http://idp.example", Scopes: []string{"email"}, RoleMap: map[string][]string{"x": {"boss"}}}
		}, want: []string{"issuer:", "client_id:", "redirect_url:", "scopes:", `role_map: "x": unknown role "boss"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.RoleMap = maps.Clone(good.RoleMap)
			tc.edit(&c)
			errs := c.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("error %d %q does not say %q", i, errs[i], want)
				}
			}
		})
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                                    "/",
		"/alerts?status=new#top":               "/alerts?status=new#top",
		"":                                     "/",
		"alerts":                               "/",
		"//evil.example":                       "/",
		"https://evil.example":                 "/",
		`/\evil.example`:                       "/",
		"/%0d%0aSet-Cookie:x":                  "/%0d%0aSet-Cookie:x", // still encoded: harmless
		"/a\r\nSet-Cookie: x":                  "/",
		"/" + strings.Repeat("a", maxReturnTo): "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
