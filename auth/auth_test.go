package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// cheap keeps the tests fast; the parameters travel in the hash, so a hash
// made cheaply verifies the same way.
var cheap = Params{Memory: 1024, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hash %q is not in the PHC format", h)
	}
	h2, _ := HashPassword("correct horse battery staple", cheap)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{
		{"correct horse battery staple", true},
		{"Correct horse battery staple", false},
		{"", false},
	} {
		if ok, err := VerifyPassword(h, tt.password); err != nil || ok != tt.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tt.password, ok, err, tt.want)
		}
	}
	if _, err := HashPassword("", cheap); err == nil {
		t.Error("an empty password was hashed")
	}
}

func TestBadHashes(t *testing.T) {
	good, _ := HashPassword("pw", cheap)
	parts := strings.Split(good, "$")
	for _, bad := range []string{
		"",
		"plaintext",
		"$2a$10$abcdefghijklmnopqrstuu5y1MmYlWvqh0Q5dvD2xbvYdL8QeA1i", // bcrypt
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		"$argon2id$v=19$m=0,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=1024,t=1,p=1,x=2$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=1024,t=1,p=1$***$" + parts[5],
		"$argon2id$v=19$m=1024,t=1,p=1$" + parts[4] + "$c2hvcnQ",
	} {
		if _, err := VerifyPassword(bad, "pw"); !errors.Is(err, ErrBadHash) {
			t.Errorf("VerifyPassword(%q): err = %v, want ErrBadHash", bad, err)
		}
	}
}

func FuzzVerifyPassword(f *testing.F) {
	good, _ := HashPassword("pw", cheap)
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Fuzz(func(t *testing.T, hash, password string) {
		if p, err := parseHash(hash); err == nil && (p.params.Memory > 8*1024 || p.params.Time > 2) {
			return // a valid but costly hash: not what fuzzing is for
		}
		ok, err := VerifyPassword(hash, password)
		if err != nil && ok {
			t.Errorf("VerifyPassword(%q) = true with error %v", hash, err)
		}
	})
}

func TestUsers(t *testing.T) {
	h, _ := HashPassword("geheim-wachtwoord", cheap)
	users, err := NewUsers([]User{
		{Name: "Anna", PasswordHash: h, Roles: []string{RoleAnalyst}},
		{Name: "pieter", PasswordHash: h, Roles: []string{RoleViewer, RolePrivacy}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := users.Authenticate("anna", "geheim-wachtwoord"); !ok || u.Name != "Anna" {
		t.Errorf("anna with her password: %+v %v", u, ok)
	}
	for _, tt := range []struct{ name, password string }{
		{"anna", "wrong"}, {"nobody", "geheim-wachtwoord"}, {"", ""},
	} {
		if u, ok := users.Authenticate(tt.name, tt.password); ok {
			t.Errorf("Authenticate(%q, %q) let %+v in", tt.name, tt.password, u)
		}
	}

	_, err = NewUsers([]User{
		{Name: "", PasswordHash: h, Roles: []string{RoleViewer}},
		{Name: "bram", PasswordHash: "hunter2", Roles: []string{RoleViewer}},
		{Name: "carla", PasswordHash: h, Roles: []string{"superuser"}},
		{Name: "dirk", PasswordHash: h},
		{Name: "Anna", PasswordHash: h, Roles: []string{RoleViewer}},
		{Name: "anna", PasswordHash: h, Roles: []string{RoleViewer}},
	})
	for _, want := range []string{"user 0: no name", `user "bram": password_hash`, `user "carla": unknown role "superuser"`, `user "dirk": no roles`, `user "anna": defined twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestCan(t *testing.T) {
	tests := []struct {
		roles []string
		perm  Permission
		want  bool
	}{
		{[]string{RoleViewer}, PermView, true},
		{[]string{RoleViewer}, PermTriage, false},
		{[]string{RoleAnalyst}, PermTriage, true},
		{[]string{RoleAnalyst}, PermReveal, false},
		{[]string{RoleAdmin}, PermReveal, false}, // reveal is granted explicitly
		{[]string{RoleAdmin}, PermAdmin, true},
		{[]string{RolePrivacy}, PermReveal, true},
		{[]string{"guest"}, PermView, false},
		{nil, PermView, false},
	}
	for _, tt := range tests {
		if got := Can(tt.roles, tt.perm); got != tt.want {
			t.Errorf("Can(%v, %d) = %v, want %v", tt.roles, tt.perm, got, tt.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(3, time.Minute)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if !l.Allowed("anna", "203.0.113.7", t0) {
			t.Fatalf("attempt %d refused", i)
		}
		l.Failed("anna", "203.0.113.7", t0.Add(time.Duration(i)*time.Second))
	}
	if l.Allowed("ANNA", "198.51.100.1", t0.Add(5*time.Second)) {
		t.Error("a fourth try at the account from another address was allowed")
	}
	if l.Allowed("bram", "203.0.113.7", t0.Add(5*time.Second)) {
		t.Error("a fourth try from the address at another account was allowed")
	}
	if !l.Allowed("bram", "198.51.100.1", t0.Add(5*time.Second)) {
		t.Error("an unrelated login was refused")
	}
	if !l.Allowed("anna", "203.0.113.7", t0.Add(2*time.Minute)) {
		t.Error("still refused after the window")
	}
}

// TestLimiterForgetsSprayedNames: failures for thousands of made-up names
// age out of memory instead of piling up.
func TestLimiterForgetsSprayedNames(t *testing.T) {
	l := NewLimiter(3, time.Minute)
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i := range 3 * sweepAt {
		// One new name every 10 ms from rotating addresses: after a
		// minute the early ones have aged out.
		now := start.Add(time.Duration(i) * 10 * time.Millisecond)
		l.Failed(fmt.Sprintf("user%d", i), fmt.Sprintf("192.0.2.%d", i%200), now)
	}
	l.mu.Lock()
	n := len(l.failures)
	l.mu.Unlock()
	// Within the last minute: 6,000 names plus 200 addresses at most,
	// plus what arrived since the last sweep.
	if n > sweepAt+6200 {
		t.Errorf("%d keys tracked after spraying %d names, want the aged-out ones forgotten", n, 3*sweepAt)
	}
	if l.Allowed("user0", "198.51.100.1", start.Add(time.Hour)) != true {
		t.Error("an account is still refused an hour after its one failure")
	}
}
