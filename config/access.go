package config

import (
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/auth"
)

// userNamePattern keeps account names to what reads well in the audit log
// and fits in a header: letters, digits and . _ @ -.
var userNamePattern = regexp.MustCompile(`^[\p{L}\p{N}._@-]{1,64}$`)

// oidcCallbackPath is where the provider sends the browser back; the
// dashboard serves it.
const oidcCallbackPath = "/auth/oidc/callback"

// access checks who may use the dashboard: users, proxies, sessions, OIDC.
func (c *checker) access(cfg *Config) {
	h := cfg.HTTP
	for i, s := range h.TrustedProxies {
		if _, err := parseNetwork(s); err != nil {
			c.addf(path{"http", "trusted_proxies", i}, "%v", err)
		}
	}
	if len(h.TrustedProxies) > 0 && h.UserHeader == "" {
		c.addf(path{"http", "trusted_proxies"}, "set http.user_header too: trusted proxies name the user in it")
	}
	if h.SessionLifetime < Duration(5*time.Minute) || h.SessionLifetime > Duration(7*24*time.Hour) {
		c.addf(path{"http", "session_lifetime"}, "must be from 5m to 168h, got %s", h.SessionLifetime)
	}
	c.atLeast(path{"http", "login_limit", "max"}, int64(h.LoginLimit.Max), 1)
	c.positive(path{"http", "login_limit", "window"}, h.LoginLimit.Window)
	c.timeZone(path{"http", "time_zone"}, h.TimeZone, false)
	for i, r := range h.RevealRoles {
		if !slices.Contains(auth.Roles(), r) {
			c.addf(path{"http", "reveal_roles", i}, "unknown role %q (want some of %s)", r, strings.Join(auth.Roles(), ", "))
		}
	}
	// An oidc section with anything in it is meant to work: check it all,
	// so that a forgotten issuer does not silently leave login off.
	if o := h.OIDC; o.Enabled() || o.ClientID != "" || o.ClientSecretEnv != "" || o.RedirectURL != "" || len(o.RoleMap) > 0 {
		c.oidc(o)
	}
	c.users(cfg.Users)
}

// timeZone accepts an IANA zone name the binary knows (it embeds the zone
// database, so this does not depend on the machine).
func (c *checker) timeZone(p path, name string, optional bool) {
	if name == "" && optional {
		return
	}
	if name == "" || name == "Local" {
		c.addf(p, "want an IANA time zone such as Europe/Amsterdam or Europe/Brussels")
		return
	}
	if _, err := time.LoadLocation(name); err != nil {
		c.addf(p, "unknown time zone %q (want e.g. Europe/Amsterdam or Europe/Brussels)", name)
	}
}

func (c *checker) users(users []User) {
	first := map[string]int{}
	for i, u := range users {
		p := path{"users", i}
		name := strings.TrimSpace(u.Name)
		switch {
		case name == "":
			c.addf(p.child("name"), "a user needs a name")
		case !userNamePattern.MatchString(name):
			c.addf(p.child("name"), "%q is not a valid name (1 to 64 of letters, digits, . _ @ and -)", name)
		default:
			key := strings.ToLower(name)
			if j, ok := first[key]; ok {
				c.addf(p.child("name"), "user %q is already defined by users[%d]%s", name, j, c.lineNote(path{"users", j}))
			} else {
				first[key] = i
			}
		}
		if err := auth.CheckHash(u.PasswordHash); err != nil {
			c.addf(p.child("password_hash"), "%v (make one with `mediawatch user add`)", err)
		}
		if len(u.Roles) == 0 {
			c.addf(p.child("roles"), "a user needs at least one role (%s)", strings.Join(auth.Roles(), ", "))
		}
		for j, r := range u.Roles {
			if !slices.Contains(auth.Roles(), r) {
				c.addf(p.child("roles").child(j), "unknown role %q (want some of %s)", r, strings.Join(auth.Roles(), ", "))
			}
		}
		c.timeZone(p.child("time_zone"), u.TimeZone, true)
	}
}

func (c *checker) oidc(o OIDC) {
	p := path{"http", "oidc"}
	if u, err := url.Parse(o.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		c.addf(p.child("issuer"), "want the provider's https URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0 (http only on loopback), got %q", o.Issuer)
	}
	c.nonEmpty(p.child("client_id"), o.ClientID)
	switch {
	case o.ClientSecretEnv == "":
		c.addf(p.child("client_secret_env"), "name the environment variable that holds the client secret")
	case !envNamePattern.MatchString(o.ClientSecretEnv):
		c.addf(p.child("client_secret_env"), "%q is not an environment variable name", o.ClientSecretEnv)
	case o.secret == "":
		c.addf(p.child("client_secret_env"), "environment variable %s is empty or not set; it must hold the client secret", o.ClientSecretEnv)
	}
	if u, err := url.Parse(o.RedirectURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Path != oidcCallbackPath {
		c.addf(p.child("redirect_url"), "want an absolute URL ending in %s, e.g. https://mediawatch.example.org%s, got %q", oidcCallbackPath, oidcCallbackPath, o.RedirectURL)
	}
	if len(o.Scopes) > 0 && !slices.Contains(o.Scopes, "openid") {
		c.addf(p.child("scopes"), "must include openid")
	}
	groups := make([]string, 0, len(o.RoleMap))
	for g := range o.RoleMap {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		if len(o.RoleMap[g]) == 0 {
			c.addf(p.child("role_map").child(g), "maps to no role")
		}
		for _, r := range o.RoleMap[g] {
			if !slices.Contains(auth.Roles(), r) {
				c.addf(p.child("role_map").child(g), "unknown role %q (want some of %s)", r, strings.Join(auth.Roles(), ", "))
			}
		}
	}
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}
