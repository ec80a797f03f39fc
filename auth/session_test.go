package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
)

func TestSessions(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := NewSessions(ctx, natstest.Connect(t, ns), 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id, sess, err := s.Create(ctx, "anna", []string{RoleAnalyst}, "local", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) < 40 || sess.Expires.Sub(sess.Created) != 8*time.Hour {
		t.Errorf("id %q, session %+v", id, sess)
	}
	// Another replica, its own connection, knows the session.
	other, err := NewSessions(ctx, natstest.Connect(t, ns), 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := other.Get(ctx, id, now.Add(time.Hour)); !ok || got.User != "anna" {
		t.Errorf("other replica: %+v %v", got, ok)
	}
	if _, ok := s.Get(ctx, id, now.Add(9*time.Hour)); ok {
		t.Error("session valid after it expired")
	}
	for _, bad := range []string{"", "forged", strings.Repeat("x", 200)} {
		if _, ok := s.Get(ctx, bad, now); ok {
			t.Errorf("Get(%q) found a session", bad)
		}
	}
	// The bucket holds no session id, only hashes of them.
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for k := range keys.Keys() {
		if k == id {
			t.Error("a session id is a key of the bucket")
		}
	}

	// The cookie carries the id, HttpOnly and SameSite=Lax.
	rec := httptest.NewRecorder()
	SetCookie(rec, id, sess, true)
	c := rec.Result().Cookies()[0]
	if c.Name != CookieName || c.Value != id || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v", c)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(c)
	if gotID, got, ok := s.FromRequest(req, now); !ok || gotID != id || got.User != "anna" {
		t.Errorf("FromRequest: %q %+v %v", gotID, got, ok)
	}

	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := other.Get(ctx, id, now); ok {
		t.Error("session valid after logout")
	}
}
