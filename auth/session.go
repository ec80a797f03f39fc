package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketSessions holds the dashboard sessions, so that every dashboard
// replica knows them and a restart logs nobody out.
const BucketSessions = "mediawatch_sessions"

// CookieName is the session cookie.
const CookieName = "mediawatch_session"

// Session is one logged-in user.
type Session struct {
	User    string    `json:"user"`
	Roles   []string  `json:"roles"`
	Via     string    `json:"via"` // "local" or "oidc"
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// Sessions keeps sessions in a key-value bucket. The cookie carries a
// random id; the bucket is keyed by the id's hash, so that whoever can read
// the bucket still cannot take over a session.
type Sessions struct {
	kv       jetstream.KeyValue
	lifetime time.Duration
}

// NewSessions creates or opens the bucket; a session lasts lifetime from
// login (the bucket's TTL removes what logout did not).
func NewSessions(ctx context.Context, js jetstream.JetStream, lifetime time.Duration) (*Sessions, error) {
	if lifetime <= 0 {
		return nil, errors.New("session lifetime must be positive")
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketSessions,
		Description: "Dashboard sessions, keyed by the hash of the cookie's id.",
		TTL:         lifetime,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketSessions, err)
	}
	return &Sessions{kv: kv, lifetime: lifetime}, nil
}

func sessionKey(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// Create starts a session for a user who has just proved who they are and
// returns the id for the cookie.
func (s *Sessions) Create(ctx context.Context, user string, roles []string, via string, now time.Time) (string, Session, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Session{}, fmt.Errorf("session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	sess := Session{User: user, Roles: roles, Via: via, Created: now.UTC(), Expires: now.UTC().Add(s.lifetime)}
	data, _ := json.Marshal(sess)
	if _, err := s.kv.Create(ctx, sessionKey(id), data); err != nil {
		return "", Session{}, fmt.Errorf("store session: %w", err)
	}
	return id, sess, nil
}

// Get returns the session of an id if it exists and has not expired.
func (s *Sessions) Get(ctx context.Context, id string, now time.Time) (Session, bool) {
	if id == "" || len(id) > 128 {
		return Session{}, false
	}
	e, err := s.kv.Get(ctx, sessionKey(id))
	if err != nil {
		return Session{}, false
	}
	var sess Session
	if json.Unmarshal(e.Value(), &sess) != nil || !now.Before(sess.Expires) {
		return Session{}, false
	}
	return sess, true
}

// Delete ends a session (logout).
func (s *Sessions) Delete(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	if err := s.kv.Purge(ctx, sessionKey(id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// SetCookie writes the session cookie: HttpOnly, SameSite=Lax, Secure when
// the dashboard is served over TLS, expiring with the session.
func SetCookie(w http.ResponseWriter, id string, sess Session, secure bool) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: id, Path: "/", Expires: sess.Expires, MaxAge: int(time.Until(sess.Expires).Seconds()),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearCookie removes the session cookie.
func ClearCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// FromRequest returns the session of the request's cookie, with its id.
func (s *Sessions) FromRequest(r *http.Request, now time.Time) (string, Session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return "", Session{}, false
	}
	sess, ok := s.Get(r.Context(), c.Value, now)
	return c.Value, sess, ok
}
