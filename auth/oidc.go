package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCCookieName is the cookie that carries a login from Begin to Finish.
const OIDCCookieName = "mediawatch_oidc"

// OIDCCallbackPath is where the provider sends the browser back; the
// redirect URL must end in it.
const OIDCCallbackPath = "/auth/oidc/callback"

// oidcCookiePath scopes the login cookie to the OIDC routes: no other page
// of the dashboard ever sees the state, nonce or PKCE verifier.
const oidcCookiePath = "/auth/oidc"

// oidcLoginTTL is how long a user has at the provider; long enough for a
// password manager and a second factor, short enough that a cookie left in
// a shared browser is soon useless.
const oidcLoginTTL = 10 * time.Minute

// maxReturnTo bounds the path a login returns to, so that the cookie stays
// well under the 4 KiB browsers keep.
const maxReturnTo = 1024

// OIDCConfig is the `http.oidc` section of the config.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL exactly as its discovery document
	// reports it, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0
	// or https://keycloak.example.org/realms/<realm>.
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is <external_url>/auth/oidc/callback, registered with
	// the provider.
	RedirectURL string
	// Scopes requested; default openid, profile, email.
	Scopes []string
	// UsernameClaim names the user; default "preferred_username". When the
	// claim is missing, "email" and then "sub" are used.
	UsernameClaim string
	// RolesClaim holds the user's roles or groups; default "roles" (Entra ID
	// app roles). Keycloak often uses "groups", or a dotted path such as
	// "realm_access.roles" into a nested claim.
	RolesClaim string
	// RoleMap maps a claim value to mediawatch roles. When empty, claim
	// values that are mediawatch role names are taken as they are.
	RoleMap map[string][]string
}

func (c OIDCConfig) scopes() []string {
	if len(c.Scopes) == 0 {
		return []string{oidc.ScopeOpenID, "profile", "email"}
	}
	return c.Scopes
}

func (c OIDCConfig) usernameClaims() []string {
	first := c.UsernameClaim
	if first == "" {
		first = "preferred_username"
	}
	list := []string{first}
	for _, f := range []string{"email", "sub"} {
		if !slices.Contains(list, f) {
			list = append(list, f)
		}
	}
	return list
}

func (c OIDCConfig) rolesClaim() string {
	if c.RolesClaim == "" {
		return "roles"
	}
	return c.RolesClaim
}

// Validate reports every problem with the configuration at once, each
// starting with the key it is about.
func (c OIDCConfig) Validate() []error {
	var errs []error
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		// Plain http would let anyone on the path swap the signing keys;
		// loopback is allowed for tests and a Keycloak on the same host.
		errs = append(errs, fmt.Errorf("issuer: want the provider's https URL, e.g. https://login.microsoftonline.com/<tenant-id>/v2.0 (http only on loopback), got %q", c.Issuer))
	}
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("client_id: required"))
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.Path != OIDCCallbackPath || u.Fragment != "" {
		// The login cookie has Path=/auth/oidc: a callback anywhere else
		// would never receive it.
		errs = append(errs, fmt.Errorf("redirect_url: want an absolute URL ending in %s, e.g. https://mediawatch.example.org%s, got %q", OIDCCallbackPath, OIDCCallbackPath, c.RedirectURL))
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		errs = append(errs, errors.New("scopes: must include openid (without it the provider sends no ID token)"))
	}
	if c.RolesClaim != "" && (strings.TrimSpace(c.RolesClaim) != c.RolesClaim || slices.Contains(strings.Split(c.RolesClaim, "."), "")) {
		errs = append(errs, fmt.Errorf("roles_claim: %q is not a claim name or dotted path such as realm_access.roles", c.RolesClaim))
	}
	keys := make([]string, 0, len(c.RoleMap))
	for k := range c.RoleMap {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" {
			errs = append(errs, errors.New("role_map: empty claim value"))
		}
		if len(c.RoleMap[k]) == 0 {
			errs = append(errs, fmt.Errorf("role_map: %q maps to no role", k))
		}
		for _, r := range c.RoleMap[k] {
			if !slices.Contains(Roles(), r) {
				errs = append(errs, fmt.Errorf("role_map: %q: unknown role %q (want some of %s)", k, r, strings.Join(Roles(), ", ")))
			}
		}
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// OIDCIdentity is who logged in.
type OIDCIdentity struct {
	Name     string
	Roles    []string
	ReturnTo string
}

// ErrNoRole is returned by Finish for a user the provider vouches for whose
// claims grant no mediawatch role: the dashboard refuses them.
var ErrNoRole = errors.New("oidc: the user has no mediawatch role")

// Why Finish refused a login; wrapped, so that the message says more.
var (
	errOIDCNoLogin  = errors.New("oidc: no login in progress")
	errOIDCState    = errors.New("oidc: bad state")
	errOIDCProvider = errors.New("oidc: the provider refused the login")
	errOIDCExchange = errors.New("oidc: token exchange failed")
	errOIDCToken    = errors.New("oidc: ID token rejected")
	errOIDCNonce    = errors.New("oidc: nonce mismatch")
)

// OIDC logs users in with an OpenID Connect provider, using the
// authorization code flow with PKCE. It keeps nothing between Begin and
// Finish but the browser's cookie, so any dashboard replica can finish a
// login another began; it is safe for concurrent use.
type OIDC struct {
	cfg      OIDCConfig
	client   *http.Client
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// NewOIDC discovers the provider (the issuer's
// /.well-known/openid-configuration) using client for every request to it:
// discovery, the token exchange and the signing keys. A nil client is one
// with a 30s timeout.
func NewOIDC(ctx context.Context, cfg OIDCConfig, client *http.Client) (*OIDC, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("oidc config: %w", errors.Join(errs...))
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	// The provider keeps the client from this context for fetching its
	// keys later, long after ctx is gone.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fmt.Errorf("oidc discovery: the provider calls itself %q, not %q: set issuer to exactly that (for Entra ID, the tenant's id rather than its domain): %w",
				mismatch.Discovered, mismatch.Provided, err)
		}
		return nil, fmt.Errorf("oidc discovery at %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc discovery at %s: %w", cfg.Issuer, err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = authStyle(meta.AuthMethods, cfg.ClientSecret)
	return &OIDC{
		cfg:    cfg,
		client: client,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     ep,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       cfg.scopes(),
		},
		// Checks signature (with the provider's advertised algorithms),
		// issuer, audience and expiry; the nonce is ours to check.
		verifier: p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
	}, nil
}

// authStyle picks how the client authenticates to the token endpoint from
// what the provider advertises, rather than letting oauth2 guess: guessing
// retries a failed exchange the other way, sending the one-time code twice.
func authStyle(methods []string, secret string) oauth2.AuthStyle {
	switch {
	case secret == "":
		// A public client: PKCE alone protects the code; the client id
		// goes in the form.
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		// client_secret_basic is the default when nothing is advertised.
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// oidcLogin is what the login cookie carries from Begin to Finish. It is
// only ever sent to /auth/oidc, HttpOnly, and lives 10 minutes.
type oidcLogin struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Issued   int64  `json:"t"` // Unix seconds; checked as well as the cookie's own expiry
}

func (l oidcLogin) encode() string {
	data, _ := json.Marshal(l)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeOIDCLogin(s string) (oidcLogin, error) {
	var l oidcLogin
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return l, err
	}
	if l.State == "" || l.Nonce == "" || l.Verifier == "" {
		return l, errors.New("incomplete")
	}
	return l, nil
}

func randomToken() string {
	var b [32]byte
	// crypto/rand.Read does not fail (it crashes the program instead).
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// localPath returns p when it is a path on this site, and "/" otherwise, so
// that a login can never be turned into a redirect elsewhere. "//host" and
// "/\host" are refused: browsers take both for another host.
func localPath(p string) string {
	if len(p) == 0 || len(p) > maxReturnTo || p[0] != '/' || strings.HasPrefix(p, "//") ||
		strings.ContainsRune(p, '\\') || strings.ContainsFunc(p, unicode.IsControl) {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// Begin redirects the browser to the provider. It stores random state,
// nonce and a PKCE verifier, plus returnTo (a local path only; anything
// else becomes "/"), in a short-lived cookie "mediawatch_oidc" that is
// HttpOnly, SameSite=Lax, Path=/auth/oidc, Secure when secure is true.
//
// SameSite=Lax, not Strict: the provider's redirect back is a cross-site
// top-level navigation, which Strict would send without the cookie.
func (o *OIDC) Begin(w http.ResponseWriter, r *http.Request, returnTo string, secure bool) {
	l := oidcLogin{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: localPath(returnTo),
		Issued:   time.Now().Unix(),
	}
	http.SetCookie(w, &http.Cookie{
		Name: OIDCCookieName, Value: l.encode(), Path: oidcCookiePath,
		MaxAge: int(oidcLoginTTL.Seconds()), Expires: time.Now().Add(oidcLoginTTL),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
	// The redirect carries a fresh state; no cache may replay it.
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, o.oauth.AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier)), http.StatusFound)
}

// Finish handles the callback at /auth/oidc/callback: it checks the state
// against the cookie, handles an error from the provider, exchanges the
// code with the PKCE verifier, verifies the ID token (signature, issuer,
// audience, expiry) and its nonce, clears the cookie, and returns who
// logged in. A user whose claims map to no mediawatch role gets ErrNoRole,
// with the identity's Name and ReturnTo set so that the refusal can be
// logged. Error messages never contain a token.
func (o *OIDC) Finish(w http.ResponseWriter, r *http.Request, secure bool) (OIDCIdentity, error) {
	c, err := r.Cookie(OIDCCookieName)
	if err != nil {
		return OIDCIdentity{}, fmt.Errorf("%w: the %s cookie is missing or expired (start the login again)", errOIDCNoLogin, OIDCCookieName)
	}
	// One callback per Begin, whatever its outcome: a state that has been
	// presented once, right or wrong, is spent.
	http.SetCookie(w, &http.Cookie{
		Name: OIDCCookieName, Value: "", Path: oidcCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
	l, err := decodeOIDCLogin(c.Value)
	if err != nil {
		return OIDCIdentity{}, fmt.Errorf("%w: malformed %s cookie", errOIDCNoLogin, OIDCCookieName)
	}
	// The browser drops the cookie after 10 minutes; this holds for one
	// that kept it anyway.
	if age := time.Since(time.Unix(l.Issued, 0)); age > oidcLoginTTL || age < -time.Minute {
		return OIDCIdentity{}, fmt.Errorf("%w: the login began more than %s ago (start the login again)", errOIDCNoLogin, oidcLoginTTL)
	}
	q := r.URL.Query()
	// The state ties the callback to the browser that began the login,
	// so that nobody can log a victim in with the attacker's code.
	if st := q.Get("state"); st == "" || subtle.ConstantTimeCompare([]byte(st), []byte(l.State)) != 1 {
		return OIDCIdentity{}, fmt.Errorf("%w: the callback's state does not match this browser's login", errOIDCState)
	}
	if e := q.Get("error"); e != "" {
		msg := clip(e, 64)
		if d := q.Get("error_description"); d != "" {
			msg += ": " + clip(d, 300)
		}
		return OIDCIdentity{}, fmt.Errorf("%w: %s", errOIDCProvider, msg)
	}
	code := q.Get("code")
	if code == "" {
		return OIDCIdentity{}, fmt.Errorf("%w: the callback has no code", errOIDCExchange)
	}
	ctx := oidc.ClientContext(r.Context(), o.client)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return OIDCIdentity{}, fmt.Errorf("%w: %w", errOIDCExchange, exchangeError(err))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return OIDCIdentity{}, fmt.Errorf("%w: the token response has no id_token (is openid among the scopes?)", errOIDCExchange)
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return OIDCIdentity{}, fmt.Errorf("%w: %w", errOIDCToken, err)
	}
	// The nonce ties the ID token to this login: a token issued for
	// another one cannot be slipped in.
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.Nonce)) != 1 {
		return OIDCIdentity{}, fmt.Errorf("%w: the ID token was not issued for this login", errOIDCNonce)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return OIDCIdentity{}, fmt.Errorf("%w: claims: %w", errOIDCToken, err)
	}
	// With several audiences the token must have been issued to us
	// (OpenID Connect Core 3.1.3.7, items 4 and 5).
	if azp, ok := claims["azp"].(string); ok && azp != o.cfg.ClientID {
		return OIDCIdentity{}, fmt.Errorf("%w: issued to client %q (azp), not %q", errOIDCToken, azp, o.cfg.ClientID)
	} else if !ok && len(idt.Audience) > 1 {
		return OIDCIdentity{}, fmt.Errorf("%w: several audiences and no azp claim", errOIDCToken)
	}
	id := OIDCIdentity{ReturnTo: localPath(l.ReturnTo)}
	for _, name := range o.cfg.usernameClaims() {
		// An address the provider says it has not verified could be
		// anyone's: it does not name the user.
		if name == "email" && claims["email_verified"] == false {
			continue
		}
		if s, ok := claims[name].(string); ok && strings.TrimSpace(s) != "" {
			id.Name = strings.TrimSpace(s)
			break
		}
	}
	if id.Name == "" {
		return OIDCIdentity{}, fmt.Errorf("%w: no user name in claims %s", errOIDCToken, strings.Join(o.cfg.usernameClaims(), ", "))
	}
	values := claimStrings(claims, o.cfg.rolesClaim())
	id.Roles = o.mapRoles(values)
	if len(id.Roles) == 0 {
		return id, fmt.Errorf("%w: %q (claim %s has %s)", ErrNoRole, id.Name, o.cfg.rolesClaim(), clip(fmt.Sprintf("%q", values), 300))
	}
	return id, nil
}

// mapRoles turns claim values into mediawatch roles: known roles only,
// sorted and each once.
func (o *OIDC) mapRoles(values []string) []string {
	var roles []string
	for _, v := range values {
		if len(o.cfg.RoleMap) > 0 {
			roles = append(roles, o.cfg.RoleMap[v]...)
		} else {
			roles = append(roles, v)
		}
	}
	roles = slices.DeleteFunc(roles, func(r string) bool { return !slices.Contains(Roles(), r) })
	slices.Sort(roles)
	return slices.Compact(roles)
}

// claimStrings returns the strings of a claim: a list of strings or a
// single one. name is looked up as it is first (claim names may contain
// dots, e.g. namespaced URLs), then as a dotted path into nested objects.
func claimStrings(claims map[string]any, name string) []string {
	v, ok := claims[name]
	if !ok {
		var cur any = claims
		for _, part := range strings.Split(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			if cur, ok = m[part]; !ok {
				return nil
			}
		}
		v = cur
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// exchangeError describes a failed token request by its status and the
// provider's error code, leaving out the response body: it is the
// provider's to fill and need not be safe to log.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err
	}
	msg := "the token endpoint answered"
	if re.Response != nil {
		msg += " " + re.Response.Status
	}
	if re.ErrorCode != "" {
		msg += ": " + clip(re.ErrorCode, 64)
		if re.ErrorDescription != "" {
			msg += ": " + clip(re.ErrorDescription, 300)
		}
	}
	return errors.New(msg)
}

// clip shortens text from the provider, or from whoever crafted the
// callback URL, and drops control characters, so that it is safe in a log
// line.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
