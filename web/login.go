package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/auth"
)

// maxLoginForm bounds a login form: a name and a password.
const maxLoginForm = 4 << 10

type loginPage struct {
	Next     string
	Name     string
	Error    string
	Local    bool // local accounts configured
	OIDC     bool
	Disabled bool // no way to log in is configured
}

// localPath keeps a "next" address on this site: a path, not //host or a
// scheme, so a login link cannot send a user elsewhere afterwards. Control
// characters are refused too: browsers drop a tab from "/\t/evil.example"
// and go to //evil.example.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsFunc(next, unicode.IsControl) {
		return "/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	if identityOf(r).Via == viaSession {
		http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginPage{Next: localPath(r.URL.Query().Get("next"))})
}

func (s *server) renderLogin(w http.ResponseWriter, r *http.Request, status int, p loginPage) {
	p.Local = s.opts.Users != nil
	p.OIDC = s.opts.OIDC != nil
	p.Disabled = !p.Local && !p.OIDC
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "login.html", "Log in", p)
}

// login checks a local account. A wrong password, an unknown name and a
// refused attempt all answer alike, after the same work.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	next := localPath(r.PostForm.Get("next"))
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if s.opts.Users == nil || s.opts.Sessions == nil {
		s.renderLogin(w, r, http.StatusNotFound, loginPage{Next: next, Error: "Local accounts are not configured."})
		return
	}
	addr, now := s.clientAddr(r), time.Now()
	if !s.opts.LoginLimiter.Allowed(name, addr, now) {
		s.metrics.login(loginLocal, loginRefused)
		s.auditLogin(r, name, "refused", "too many failed attempts from "+addr)
		s.renderLogin(w, r, http.StatusTooManyRequests, loginPage{Next: next, Name: name, Error: "Too many failed attempts. Wait a few minutes and try again."})
		return
	}
	user, ok := s.opts.Users.Authenticate(name, r.PostForm.Get("password"))
	if !ok {
		s.opts.LoginLimiter.Failed(name, addr, now)
		s.metrics.login(loginLocal, loginFailed)
		s.auditLogin(r, name, "failed", "wrong name or password from "+addr)
		s.renderLogin(w, r, http.StatusUnauthorized, loginPage{Next: next, Name: name, Error: "Wrong name or password."})
		return
	}
	s.startSession(w, r, user.Name, user.Roles, loginLocal, next)
}

func (s *server) startSession(w http.ResponseWriter, r *http.Request, user string, roles []string, via, next string) {
	// A session that existed before login is not carried over: whoever
	// planted a cookie learns nothing from the new one.
	if old, err := r.Cookie(auth.CookieName); err == nil {
		_ = s.opts.Sessions.Delete(r.Context(), old.Value)
	}
	id, sess, err := s.opts.Sessions.Create(r.Context(), user, roles, via, time.Now())
	if err != nil {
		s.opts.Logger.Error("login: store session", "user", user, "err", err)
		s.metrics.login(via, loginFailed)
		s.failure(w, r, http.StatusServiceUnavailable, "Logging in is not possible right now. Try again in a moment.")
		return
	}
	auth.SetCookie(w, id, sess, s.secureCookies(r))
	s.metrics.login(via, loginOK)
	s.auditLogin(r, user, "login", "via "+via+" from "+s.clientAddr(r))
	s.opts.Logger.Info("login", "user", user, "via", via)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	if id.sessionID != "" {
		if err := s.opts.Sessions.Delete(r.Context(), id.sessionID); err != nil {
			s.opts.Logger.Error("logout", "user", id.User, "err", err)
		}
		s.auditLogin(r, id.User, "logout", "")
	}
	auth.ClearCookie(w, s.secureCookies(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *server) oidcBegin(w http.ResponseWriter, r *http.Request) {
	if s.opts.OIDC == nil {
		s.failure(w, r, http.StatusNotFound, "Login with the hospital's account is not configured.")
		return
	}
	s.opts.OIDC.Begin(w, r, localPath(r.URL.Query().Get("next")), s.secureCookies(r))
}

func (s *server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.opts.OIDC == nil || s.opts.Sessions == nil {
		s.failure(w, r, http.StatusNotFound, "Login with the hospital's account is not configured.")
		return
	}
	who, err := s.opts.OIDC.Finish(w, r, s.secureCookies(r))
	if err != nil {
		s.opts.Logger.Warn("oidc login refused", "err", err)
		s.auditLogin(r, cut(who.Name, 64), "failed", "oidc: "+cut(err.Error(), 200))
		msg, result := "The login with the hospital's account failed. Try again.", loginFailed
		if errors.Is(err, auth.ErrNoRole) {
			msg, result = "Your account has no role in mediawatch. Ask an administrator for one.", loginRefused
		}
		s.metrics.login(loginOIDC, result)
		s.renderLogin(w, r, http.StatusForbidden, loginPage{Next: "/", Error: msg})
		return
	}
	s.startSession(w, r, who.Name, who.Roles, loginOIDC, localPath(who.ReturnTo))
}

// auditLogin records a login event; a failure to record is logged, not
// shown: the login itself is in the daemon's log either way.
func (s *server) auditLogin(r *http.Request, actor, action, detail string) {
	if actor == "" {
		actor = "(none)"
	}
	s.record(r, audit.Event{Kind: audit.KindLogin, Actor: cut(actor, 64), Action: action, Detail: detail})
}

// record appends an event to the audit log.
func (s *server) record(r *http.Request, e audit.Event) {
	if s.opts.Audit == nil {
		return
	}
	e.At = time.Now().UTC()
	if err := s.opts.Audit.Record(r.Context(), e); err != nil {
		s.metrics.auditFailed()
		s.opts.Logger.Error("audit record failed", "kind", e.Kind, "actor", e.Actor, "action", e.Action, "err", err)
	}
}

// cut shortens s to at most n runes.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
