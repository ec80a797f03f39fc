package app

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/config"
)

// testHash is a password hash cheap enough for tests.
var testHash = func() string {
	h, err := auth.HashPassword("een lang genoeg wachtwoord", auth.Params{Memory: 1024, Time: 1, Threads: 1})
	if err != nil {
		panic(err)
	}
	return h
}()

// The dashboard's access from the config: no accounts leave Users nil (so
// the dashboard's local mode stays on), a user header without
// trusted_proxies believes loopback only, as config.Parse would set.
func TestNewAccess(t *testing.T) {
	cfg := config.Default()
	ac, err := newAccess(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ac.users != nil || ac.trustedProxies != nil || ac.limiter == nil || ac.timeZone.String() != "Europe/Amsterdam" {
		t.Errorf("defaults: %+v", ac)
	}
	cfg.HTTP.UserHeader = "X-Forwarded-User"
	if ac, err = newAccess(cfg); err != nil {
		t.Fatal(err)
	}
	if len(ac.trustedProxies) != 2 || !ac.trustedProxies[0].Contains(netip.MustParseAddr("127.0.0.1")) || !ac.trustedProxies[1].Contains(netip.IPv6Loopback()) {
		t.Errorf("trusted proxies with a user header: %v, want loopback", ac.trustedProxies)
	}
	cfg.HTTP.TrustedProxies = []string{}
	if ac, err = newAccess(cfg); err != nil || len(ac.trustedProxies) != 0 {
		t.Errorf("trusted_proxies set empty: %v (%v), want none", ac.trustedProxies, err)
	}
	cfg.Users = []config.User{
		{Name: "Anna", PasswordHash: testHash, Roles: []string{"viewer"}, TimeZone: "Europe/Brussels"},
		{Name: "pieter", PasswordHash: testHash, Roles: []string{"privacy"}},
	}
	if ac, err = newAccess(cfg); err != nil {
		t.Fatal(err)
	}
	if ac.users == nil || len(ac.userZones) != 1 || ac.userZones["anna"].String() != "Europe/Brussels" {
		t.Errorf("users %v, zones %v: want both accounts and Anna's zone by lower-case name", ac.users, ac.userZones)
	}
	cfg.Users[1].TimeZone = "Europe/Nowhere"
	if _, err := newAccess(cfg); err == nil || !strings.Contains(err.Error(), "pieter") {
		t.Errorf("an unknown zone of a user: %v, want an error naming the user", err)
	}
	cfg.Users = nil
	cfg.HTTP.TimeZone = "Europe/Nowhere"
	if _, err := newAccess(cfg); err == nil {
		t.Error("an unknown time zone was accepted")
	}
}
