package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/audit"
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

// writeAllowed checks what every state-changing API request must pass on
// top of the route's permission and the cross-origin protection: a JSON
// body (a form on another site cannot send one without a preflight this
// server never grants). It returns the user to record as the actor.
func (s *server) writeAllowed(w http.ResponseWriter, r *http.Request, needJSON bool) (string, bool) {
	if needJSON && !isJSON(r) {
		writeError(w, http.StatusUnsupportedMediaType, "send the request as application/json")
		return "", false
	}
	return identityOf(r).User, true
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
	created, err := s.makeSilence(r, b, user)
	switch {
	case errors.Is(err, silence.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "could not store the silence, try again")
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

// makeSilence creates a silence from the API or the silences page and
// records it. An invalid one is silence.ErrInvalid.
func (s *server) makeSilence(r *http.Request, b silenceBody, user string) (silence.Silence, error) {
	sil := silence.Silence{Rule: b.Rule, Author: b.Author, Domain: b.Domain, Text: b.Text, StartsAt: b.StartsAt,
		EndsAt: b.EndsAt, Reason: b.Reason, CreatedBy: user}
	if strings.TrimSpace(b.For) != "" {
		d, err := time.ParseDuration(b.For)
		if err != nil || d <= 0 || !b.EndsAt.IsZero() {
			return silence.Silence{}, fmt.Errorf("%w: for: want a positive duration such as 48h, and no ends_at with it", silence.ErrInvalid)
		}
		start := b.StartsAt
		if start.IsZero() {
			start = time.Now().UTC()
			sil.StartsAt = start
		}
		sil.EndsAt = start.Add(d)
	}
	created, err := s.opts.Silences.Create(r.Context(), sil)
	if err != nil {
		if !errors.Is(err, silence.ErrInvalid) {
			s.opts.Logger.Error("silence not stored", "err", err)
		}
		return created, err
	}
	s.opts.Logger.Info("silence created", "silence", created.ID, "by", user, "rule", created.Rule, "author", created.Author,
		"domain", created.Domain, "text", created.Text, "ends_at", created.EndsAt, "reason", created.Reason)
	s.record(r, audit.Event{Kind: audit.KindSilence, Actor: user, Action: "create", Target: created.ID,
		Reason: created.Reason, Detail: describeSilence(created)})
	return created, nil
}

// describeSilence says what a silence matches, for the audit log.
func describeSilence(sil silence.Silence) string {
	var parts []string
	for _, kv := range [][2]string{{"rule", sil.Rule}, {"author", sil.Author}, {"domain", sil.Domain}, {"text", sil.Text}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+strconv.Quote(kv[1]))
		}
	}
	return strings.Join(parts, " ") + " until " + sil.EndsAt.UTC().Format(time.RFC3339)
}

// endSilence expires a silence and records it.
func (s *server) endSilence(r *http.Request, id, user string) (silence.Silence, error) {
	sil, err := s.opts.Silences.Expire(r.Context(), id)
	if err != nil {
		if !errors.Is(err, silence.ErrNotFound) {
			s.opts.Logger.Error("silence not expired", "err", err)
		}
		return sil, err
	}
	s.opts.Logger.Info("silence expired", "silence", sil.ID, "by", user)
	s.record(r, audit.Event{Kind: audit.KindSilence, Actor: user, Action: "expire", Target: sil.ID, Detail: describeSilence(sil)})
	return sil, nil
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
	sil, err := s.endSilence(r, r.PathValue("id"), user)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such silence")
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "could not expire the silence, try again")
		return
	}
	writeJSON(w, http.StatusOK, sil)
}
