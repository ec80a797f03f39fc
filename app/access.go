package app

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/config"
)

// access is who may use the dashboard, as the config says: the local
// accounts, the proxies believed about a user, the login limit and the
// dashboard's time zone. OIDC is not here: it needs the provider, which
// Run asks.
type access struct {
	// users is nil without local accounts. It stays a *auth.Users here
	// and goes into web.Options only when set: a nil pointer in an
	// interface is not a nil interface, and would turn the dashboard's
	// local mode off.
	users          *auth.Users
	trustedProxies []netip.Prefix
	limiter        *auth.Limiter
	timeZone       *time.Location
	// userZones are the accounts' own zones, by lower-case name (names
	// are case-insensitive at login).
	userZones map[string]*time.Location
}

func newAccess(cfg *config.Config) (access, error) {
	var ac access
	h := cfg.HTTP
	if len(cfg.Users) > 0 {
		list := make([]auth.User, 0, len(cfg.Users))
		for i, u := range cfg.Users {
			list = append(list, auth.User{Name: u.Name, PasswordHash: u.PasswordHash, Roles: u.Roles})
			if u.TimeZone == "" {
				continue
			}
			tz, err := time.LoadLocation(u.TimeZone)
			if err != nil {
				return access{}, fmt.Errorf("users[%d] (%s): time_zone %q: %w", i, u.Name, u.TimeZone, err)
			}
			if ac.userZones == nil {
				ac.userZones = map[string]*time.Location{}
			}
			ac.userZones[strings.ToLower(strings.TrimSpace(u.Name))] = tz
		}
		users, err := auth.NewUsers(list)
		if err != nil {
			return access{}, fmt.Errorf("users: %w", err)
		}
		ac.users = users
	}
	ac.trustedProxies = cfg.TrustedProxyNetworks()
	ac.limiter = auth.NewLimiter(h.LoginLimit.Max, h.LoginLimit.Window.D())
	tz, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return access{}, fmt.Errorf("http.time_zone %q: %w", h.TimeZone, err)
	}
	ac.timeZone = tz
	return ac, nil
}

// newOIDC asks the provider for its configuration, when OIDC login is
// configured. A provider that cannot be reached or does not answer as
// configured stops the daemon, as a config error does. Starting without
// the login the hospital set up would lock its staff out, or worse: with
// no other way to log in configured, the dashboard trusts its own host
// with every role, and a reverse proxy on that host would let anyone in.
func newOIDC(ctx context.Context, o config.OIDC) (*auth.OIDC, error) {
	if !o.Enabled() {
		return nil, nil
	}
	p, err := auth.NewOIDC(ctx, auth.OIDCConfig{
		Issuer:        o.Issuer,
		ClientID:      o.ClientID,
		ClientSecret:  o.ClientSecret(),
		RedirectURL:   o.RedirectURL,
		Scopes:        o.Scopes,
		UsernameClaim: o.UsernameClaim,
		RolesClaim:    o.RolesClaim,
		RoleMap:       o.RoleMap,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("http.oidc: issuer %s: %w", o.Issuer, err)
	}
	return p, nil
}
