package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Roles, from least to most trusted; a user has a set of them.
const (
	// RoleViewer sees alerts with personal data redacted.
	RoleViewer = "viewer"
	// RoleAnalyst triages: acknowledges, assigns, resolves, escalates.
	RoleAnalyst = "analyst"
	// RolePrivacy may reveal the evidence of an alert (audited).
	RolePrivacy = "privacy"
	// RoleAdmin manages feeds, rules, users and silences.
	RoleAdmin = "admin"
)

// Roles lists every role.
func Roles() []string { return []string{RoleViewer, RoleAnalyst, RolePrivacy, RoleAdmin} }

// Permission is something a request may need.
type Permission int

// The permissions, and the roles that grant them.
const (
	PermView   Permission = iota // every role
	PermTriage                   // analyst, admin
	PermReveal                   // privacy
	PermAdmin                    // admin
)

// Can reports whether any of the roles grants the permission. Revealing
// personal data is the privacy officer's alone: an admin who needs it must
// be given the privacy role too, so that the grant is explicit.
func Can(roles []string, p Permission) bool {
	has := func(r string) bool { return slices.Contains(roles, r) }
	switch p {
	case PermView:
		return slices.ContainsFunc(roles, func(r string) bool { return slices.Contains(Roles(), r) })
	case PermTriage:
		return has(RoleAnalyst) || has(RoleAdmin)
	case PermReveal:
		return has(RolePrivacy)
	case PermAdmin:
		return has(RoleAdmin)
	}
	return false
}

// User is a local account.
type User struct {
	Name         string
	PasswordHash string
	Roles        []string
}

// Users authenticates local accounts.
type Users struct {
	byName map[string]User
	// dummy is a hash no password matches, checked for unknown names so
	// that they take as long as a wrong password: the timing tells an
	// attacker nothing about which names exist.
	dummy string
}

// NewUsers checks the accounts: names unique and non-empty, hashes
// well-formed argon2id, roles known. Every problem is reported.
func NewUsers(list []User) (*Users, error) {
	var errs []error
	u := &Users{byName: map[string]User{}}
	for i, usr := range list {
		name := strings.TrimSpace(usr.Name)
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("user %d: no name", i))
			continue
		case u.byName[strings.ToLower(name)].Name != "":
			errs = append(errs, fmt.Errorf("user %q: defined twice", name))
			continue
		}
		if err := CheckHash(usr.PasswordHash); err != nil {
			errs = append(errs, fmt.Errorf("user %q: password_hash: %w (make one with `mediawatch user add`)", name, err))
		}
		if len(usr.Roles) == 0 {
			errs = append(errs, fmt.Errorf("user %q: no roles (want some of %s)", name, strings.Join(Roles(), ", ")))
		}
		for _, r := range usr.Roles {
			if !slices.Contains(Roles(), r) {
				errs = append(errs, fmt.Errorf("user %q: unknown role %q (want %s)", name, r, strings.Join(Roles(), ", ")))
			}
		}
		usr.Name = name
		u.byName[strings.ToLower(name)] = usr
	}
	dummy, err := HashPassword("no password matches this", DefaultParams())
	if err != nil {
		errs = append(errs, err)
	}
	u.dummy = dummy
	return u, errors.Join(errs...)
}

// Authenticate returns the user when the name (case-insensitive) and
// password match. Unknown names and wrong passwords take the same path
// and the same time.
func (u *Users) Authenticate(name, password string) (User, bool) {
	usr, known := u.byName[strings.ToLower(strings.TrimSpace(name))]
	hash := u.dummy
	if known {
		hash = usr.PasswordHash
	}
	ok, err := VerifyPassword(hash, password)
	if !known || err != nil || !ok {
		return User{}, false
	}
	return usr, true
}

// Limiter refuses logins after too many failures: per account name and per
// client address, Max failures in Window, so that guessing one account's
// password from many addresses is as slow as guessing many from one.
type Limiter struct {
	Max    int
	Window time.Duration

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewLimiter allows max failed logins per key in window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{Max: max, Window: window, failures: map[string][]time.Time{}}
}

// Allowed reports whether a login for the name from the address may be
// tried now.
func (l *Limiter) Allowed(name, addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range []string{"name:" + strings.ToLower(name), "addr:" + addr} {
		if len(l.recent(k, now)) >= l.Max {
			return false
		}
	}
	return true
}

// Failed records a failed login.
func (l *Limiter) Failed(name, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Someone spraying made-up names must not grow the map without end:
	// when it is large, forget what has aged out of the window.
	if len(l.failures) >= sweepAt {
		for k := range l.failures {
			l.recent(k, now)
		}
	}
	for _, k := range []string{"name:" + strings.ToLower(name), "addr:" + addr} {
		list := append(l.recent(k, now), now)
		// Only the last Max failures decide; older ones are dead weight.
		if len(list) > l.Max {
			list = list[len(list)-l.Max:]
		}
		l.failures[k] = list
	}
}

// sweepAt is the number of tracked names and addresses above which a failed
// login first drops the ones whose failures have all aged out.
const sweepAt = 10000

// recent returns the key's failures within the window, dropping older
// ones; l.mu is held.
func (l *Limiter) recent(key string, now time.Time) []time.Time {
	list := l.failures[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= l.Window {
		i++
	}
	if i == len(list) {
		delete(l.failures, key)
		return nil
	}
	list = list[i:]
	l.failures[key] = list
	return list
}
