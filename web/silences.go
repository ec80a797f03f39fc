package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/silence"
)

// Silences keeps the silences.
type Silences interface {
	List(activeOnly bool) []silence.Silence
	Create(ctx context.Context, s silence.Silence) (silence.Silence, error)
	Expire(ctx context.Context, id string) (silence.Silence, error)
}

// silenceBody is what POST /api/silences takes: the matchers, a reason,
// and either ends_at or a duration ("for": "48h"); starts_at defaults to
// now.
type silenceBody struct {
	Rule     string    `json:"rule"`
	Author   string    `json:"author"`
	Domain   string    `json:"domain"`
	Text     string    `json:"text"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	For      string    `json:"for"`
	Reason   string    `json:"reason"`
}

func (s *server) listSilences(w http.ResponseWriter, r *http.Request) {
	if s.opts.Silences == nil {
		writeJSON(w, http.StatusOK, map[string]any{"silences": []silence.Silence{}})
		return
	}
	active := r.URL.Query().Get("active") == "true"
	writeJSON(w, http.StatusOK, map[string]any{"silences": s.opts.Silences.List(active)})
}

// writeAllowed checks what every state-changing request must pass: JSON
// only (so no cross-site form can send it), not cross-site, and a user.
func (s *server) writeAllowed(w http.ResponseWriter, r *http.Request, needJSON bool) (string, bool) {
	if needJSON && !isJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "send the request as application/json")
		return "", false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		writeError(w, http.StatusForbidden, "cross-site request refused")
		return "", false
	}
	user, ok := s.actor(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "no authenticated user: put mediawatch behind an authenticating proxy and set http.user_header, or act from the daemon's own host")
		return "", false
	}
	return user, true
}

func (s *server) createSilence(w http.ResponseWriter, r *http.Request) {
	if s.opts.Silences == nil {
		writeError(w, http.StatusServiceUnavailable, "silences are not available")
		return
	}
	user, ok := s.writeAllowed(w, r, true)
	if !ok {
		return
	}
	var b silenceBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTriageBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	sil := silence.Silence{Rule: b.Rule, Author: b.Author, Domain: b.Domain, Text: b.Text, StartsAt: b.StartsAt,
		EndsAt: b.EndsAt, Reason: b.Reason, CreatedBy: user}
	if strings.TrimSpace(b.For) != "" {
		d, err := time.ParseDuration(b.For)
		if err != nil || d <= 0 || !b.EndsAt.IsZero() {
			writeError(w, http.StatusBadRequest, "for: want a positive duration such as 48h, and no ends_at with it")
			return
		}
		start := b.StartsAt
		if start.IsZero() {
			start = time.Now().UTC()
			sil.StartsAt = start
		}
		sil.EndsAt = start.Add(d)
	}
	created, err := s.opts.Silences.Create(r.Context(), sil)
	switch {
	case errors.Is(err, silence.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.opts.Logger.Error("silence not stored", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not store the silence, try again")
		return
	}
	s.opts.Logger.Info("silence created", "silence", created.ID, "by", user, "rule", created.Rule, "author", created.Author,
		"domain", created.Domain, "text", created.Text, "ends_at", created.EndsAt, "reason", created.Reason)
	writeJSON(w, http.StatusCreated, created)
}

func (s *server) expireSilence(w http.ResponseWriter, r *http.Request) {
	if s.opts.Silences == nil {
		writeError(w, http.StatusServiceUnavailable, "silences are not available")
		return
	}
	user, ok := s.writeAllowed(w, r, false)
	if !ok {
		return
	}
	sil, err := s.opts.Silences.Expire(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such silence")
		return
	case err != nil:
		s.opts.Logger.Error("silence not expired", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not expire the silence, try again")
		return
	}
	s.opts.Logger.Info("silence expired", "silence", sil.ID, "by", user)
	writeJSON(w, http.StatusOK, sil)
}
