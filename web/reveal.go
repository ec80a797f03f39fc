package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mediawatch/mediawatch/alerts"
)

// ErrNothingToReveal: the alert has no stored post to read evidence from
// (a volume spike, or a post expired or erased).
var ErrNothingToReveal = errors.New("nothing to reveal")

// RevealedFinding is one finding with its evidence as written: personal
// data, shown only to a user allowed to see it.
type RevealedFinding struct {
	Rule        string `json:"rule"`
	Field       string `json:"field"`
	Start       int    `json:"start"`
	End         int    `json:"end"`
	Evidence    string `json:"evidence"`
	Explanation string `json:"explanation"`
}

// Revealer reads an alert's full evidence back, recording who asked and
// why before it answers.
type Revealer interface {
	Reveal(ctx context.Context, a alerts.Alert, actor, reason string) ([]RevealedFinding, error)
}

// reveal serves POST /api/alerts/{id}/reveal with {"reason": "..."}.
func (s *server) reveal(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.opts.Revealer == nil {
		writeError(w, http.StatusServiceUnavailable, "revealing evidence is not available")
		return
	}
	user, ok := s.writeAllowed(w, r, true)
	if !ok {
		return
	}
	a, found := s.opts.Alerts.Get(r.PathValue("id"))
	if !found {
		writeError(w, http.StatusNotFound, "no such alert")
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTriageBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || strings.TrimSpace(body.Reason) == "" {
		writeError(w, http.StatusBadRequest, `a reveal needs a reason: {"reason": "..."}`)
		return
	}
	findings, err := s.opts.Revealer.Reveal(r.Context(), a, user, body.Reason)
	switch {
	case errors.Is(err, ErrNothingToReveal):
		writeError(w, http.StatusGone, err.Error())
		return
	case err != nil:
		s.opts.Logger.Error("reveal failed", "alert", a.ID, "actor", user, "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not reveal (nothing was shown), try again")
		return
	}
	// The log says who saw what, never what they saw.
	s.opts.Logger.Info("evidence revealed", "alert", a.ID, "actor", user, "reason", body.Reason, "findings", len(findings))
	writeJSON(w, http.StatusOK, map[string]any{"alert_id": a.ID, "findings": findings})
}
