package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/auth"
)

// SessionStore keeps dashboard logins (auth.Sessions).
type SessionStore interface {
	Create(ctx context.Context, user string, roles []string, via string, now time.Time) (string, auth.Session, error)
	Get(ctx context.Context, id string, now time.Time) (auth.Session, bool)
	Delete(ctx context.Context, id string) error
}

// Authenticator checks local accounts (auth.Users).
type Authenticator interface {
	Authenticate(name, password string) (auth.User, bool)
}

// OIDCLogin runs the login with an OpenID Connect provider (auth.OIDC).
type OIDCLogin interface {
	Begin(w http.ResponseWriter, r *http.Request, returnTo string, secure bool)
	Finish(w http.ResponseWriter, r *http.Request, secure bool) (auth.OIDCIdentity, error)
}

// Ways a request is identified.
const (
	viaSession = "session"
	viaProxy   = "proxy"
	viaLocal   = "local"
)

// Identity is who makes a request and what they may do. The zero Identity
// is nobody.
type Identity struct {
	User  string
	Roles []string
	Via   string
	// sessionID is the cookie's session, for logout.
	sessionID string
}

// Known reports whether the request comes from a user.
func (id Identity) Known() bool { return id.User != "" }

// Can reports whether the user's roles grant p.
func (id Identity) Can(p auth.Permission) bool { return id.Known() && auth.Can(id.Roles, p) }

type identityKey struct{}

// identityOf returns the identity the identify middleware found.
func identityOf(r *http.Request) Identity {
	id, _ := r.Context().Value(identityKey{}).(Identity)
	return id
}

// localMode reports whether the dashboard has no way to log in: no local
// users, no OIDC and no authenticating proxy. It then trusts requests from
// its own host, as the user "local" with every role, and nobody else: the
// default listen address is loopback, and a dashboard opened to the
// network without accounts must not let anyone in.
func (s *server) localMode() bool {
	return s.opts.Users == nil && s.opts.OIDC == nil && s.opts.UserHeader == ""
}

// identify finds who makes the request, in this order: a session cookie,
// an authenticating proxy's header (only from a trusted proxy network), the
// daemon's own host when no login is configured.
func (s *server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.identityFor(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

func (s *server) identityFor(r *http.Request) Identity {
	if s.opts.Sessions != nil {
		if c, err := r.Cookie(auth.CookieName); err == nil {
			if sess, ok := s.opts.Sessions.Get(r.Context(), c.Value, time.Now()); ok {
				return Identity{User: sess.User, Roles: sess.Roles, Via: viaSession, sessionID: c.Value}
			}
		}
	}
	peer, peerOK := peerAddr(r)
	if h := s.opts.UserHeader; h != "" && peerOK && s.trustedProxy(peer) {
		if user := strings.TrimSpace(r.Header.Get(h)); user != "" {
			return Identity{User: user, Roles: s.proxyRoles(r), Via: viaProxy}
		}
	}
	if s.localMode() && peerOK && peer.IsLoopback() {
		return Identity{User: localUser, Roles: auth.Roles(), Via: viaLocal}
	}
	return Identity{}
}

// proxyRoles reads the roles a trusted proxy passes: the values of
// RolesHeader that are mediawatch roles. Without a RolesHeader, a proxied
// user may view and triage, as every proxied user could before roles
// existed; revealing evidence and admin work always need the header.
func (s *server) proxyRoles(r *http.Request) []string {
	if s.opts.RolesHeader == "" {
		return []string{auth.RoleViewer, auth.RoleAnalyst}
	}
	var roles []string
	for _, v := range strings.Split(r.Header.Get(s.opts.RolesHeader), ",") {
		v = strings.TrimSpace(v)
		if slices.Contains(auth.Roles(), v) && !slices.Contains(roles, v) {
			roles = append(roles, v)
		}
	}
	slices.Sort(roles)
	return roles
}

func (s *server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		return a.Unmap(), err == nil
	}
	return ap.Addr().Unmap(), true
}

// clientAddr is the address a login attempt is counted against: the peer,
// or behind a trusted proxy the last address the proxy added to
// X-Forwarded-For (the earlier ones the client can forge).
func (s *server) clientAddr(r *http.Request) string {
	peer, ok := peerAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	if s.trustedProxy(peer) {
		hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		if last, err := netip.ParseAddr(strings.TrimSpace(hops[len(hops)-1])); err == nil {
			return last.Unmap().String()
		}
	}
	return peer.String()
}

// mayReveal reports whether the user has one of the roles that may see
// personal data (http.reveal_roles, default privacy).
func (s *server) mayReveal(id Identity) bool {
	return id.Known() && slices.ContainsFunc(id.Roles, func(r string) bool { return slices.Contains(s.opts.RevealRoles, r) })
}

// secureCookies reports whether cookies get the Secure flag: when the
// request came over TLS, or the dashboard's external URL is https (TLS
// ended at a proxy).
func (s *server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.opts.ExternalURL, "https://")
}

// needs wraps a handler with a permission check. Nobody gets 401 (a page
// sends them to the login form), a user without the permission 403.
func (s *server) needs(p auth.Permission, h http.HandlerFunc) http.HandlerFunc {
	return s.guard(func(id Identity) bool { return id.Can(p) }, h)
}

// needsReveal is needs for the reveal roles.
func (s *server) needsReveal(h http.HandlerFunc) http.HandlerFunc {
	return s.guard(s.mayReveal, h)
}

func (s *server) guard(allowed func(Identity) bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := identityOf(r)
		switch {
		case !id.Known():
			s.unauthenticated(w, r)
		case !allowed(id):
			s.opts.Logger.Warn("refused", "user", id.User, "method", r.Method, "path", r.URL.Path)
			s.failure(w, r, http.StatusForbidden, "Your roles do not allow this.")
		default:
			h(w, r)
		}
	}
}

// unauthenticated answers a request from nobody: an API call gets 401, a
// page the login form (and then the page it asked for).
func (s *server) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		apiMsg := "log in first"
		if s.localMode() {
			apiMsg = "no login is configured: only the daemon's own host may use the dashboard (configure users, http.oidc or an authenticating proxy)"
		}
		writeError(w, http.StatusUnauthorized, apiMsg)
		return
	}
	if s.localMode() {
		s.failure(w, r, http.StatusForbidden, "No login is configured: only the computer mediawatch runs on may open the dashboard.")
		return
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet {
		next = "/"
	}
	http.Redirect(w, r, "/login?next="+urlQueryEscape(next), http.StatusSeeOther)
}

// wantsJSON tells API requests from page requests.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/events"
}
