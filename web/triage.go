package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
)

// Triage keeps the triage state of alerts and changes it.
type Triage interface {
	Get(alertID string) triage.State
	Status(alertID string) string
	Do(ctx context.Context, alertID string, req triage.Request) (triage.State, error)
}

// maxTriageBody bounds the JSON body of a triage action: a note and two
// names.
const maxTriageBody = 16 << 10

// localUser is who uses a dashboard without any login configured, from
// the daemon's own host (see server.localMode).
const localUser = "local"

// isJSON reports whether the request body is declared JSON. A form on
// another site can post with a browser's cookies, but it cannot send JSON
// without a preflight this server never grants.
func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// triageBody is what a triage action may carry.
type triageBody struct {
	Note     string `json:"note"`
	Assignee string `json:"assignee"`
	To       string `json:"to"`
}

// triageAction serves POST /api/alerts/{id}/{action}.
func (s *server) triageAction(w http.ResponseWriter, r *http.Request) {
	if s.opts.Triage == nil {
		writeError(w, http.StatusServiceUnavailable, "triage is not available")
		return
	}
	user, ok := s.writeAllowed(w, r, true)
	if !ok {
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	if !slices.Contains(triage.Actions, action) {
		writeError(w, http.StatusNotFound, "no such action (want one of "+strings.Join(triage.Actions, ", ")+")")
		return
	}
	a, found := s.opts.Alerts.Get(id)
	if !found {
		writeError(w, http.StatusNotFound, "no such alert")
		return
	}
	var body triageBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTriageBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	st, err := s.doTriage(r, id, triage.Request{
		Action: action, Actor: user, Note: body.Note, Assignee: body.Assignee, To: body.To,
	})
	switch {
	case errors.Is(err, triage.ErrInvalid), errors.Is(err, triage.ErrUnknownAction):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, triage.ErrTransition), errors.Is(err, triage.ErrConflict):
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "alert": toAlertJSON(a, st, true)})
		return
	case err != nil:
		s.opts.Logger.Error("triage action failed", "alert", id, "action", action, "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not store the action, try again")
		return
	}
	writeJSON(w, http.StatusOK, toAlertJSON(a, st, true))
}

// doTriage performs a triage action, from the API or a page, and records it
// in the daemon's log and the audit log (who, what, from which status to
// which; the note stays in the triage stream, where erasure can reach it).
func (s *server) doTriage(r *http.Request, id string, req triage.Request) (triage.State, error) {
	before := s.opts.Triage.Status(id)
	st, err := s.opts.Triage.Do(r.Context(), id, req)
	if err != nil {
		return st, err
	}
	s.opts.Logger.Info("triage", "alert", id, "action", req.Action, "actor", req.Actor, "status", st.Status)
	detail := before + " → " + st.Status
	if req.Assignee != "" {
		detail += ", assignee " + req.Assignee
	}
	if req.To != "" {
		detail += ", to " + req.To
	}
	s.record(r, audit.Event{Kind: audit.KindTriage, Actor: req.Actor, Action: req.Action, Target: id, AlertID: id, Detail: detail})
	return st, nil
}

// alertFilter is the query of GET /api/alerts.
type alertFilter struct {
	statuses, institutions, categories, severities []string
	since                                          time.Time
}

// parseAlertFilter reads status, institution, category, severity (each a
// comma-separated list) and since (RFC 3339 time, or a duration back from
// now such as 24h).
func parseAlertFilter(r *http.Request, now time.Time) (alertFilter, error) {
	v := r.URL.Query()
	var f alertFilter
	list := func(name string, valid []string) ([]string, error) {
		raw := strings.TrimSpace(v.Get(name))
		if raw == "" {
			return nil, nil
		}
		var out []string
		for _, x := range strings.Split(raw, ",") {
			x = strings.TrimSpace(x)
			if valid != nil && !slices.Contains(valid, x) {
				return nil, errors.New(name + ": unknown value " + x + " (want one of " + strings.Join(valid, ", ") + ")")
			}
			out = append(out, x)
		}
		return out, nil
	}
	var err error
	if f.statuses, err = list("status", triage.Statuses); err != nil {
		return f, err
	}
	if f.institutions, err = list("institution", nil); err != nil {
		return f, err
	}
	if f.categories, err = list("category", append(slices.Clone(match.Categories), alerts.CategoryVolumeSpike)); err != nil {
		return f, err
	}
	severities := make([]string, 0, len(match.Severities))
	for _, sv := range match.Severities {
		severities = append(severities, string(sv))
	}
	if f.severities, err = list("severity", severities); err != nil {
		return f, err
	}
	if raw := strings.TrimSpace(v.Get("since")); raw != "" {
		if t, err := time.Parse(time.RFC3339, raw); err == nil {
			f.since = t
		} else if d, err := time.ParseDuration(raw); err == nil && d >= 0 {
			f.since = now.Add(-d)
		} else {
			return f, errors.New("since: want an RFC 3339 time or a duration such as 24h")
		}
	}
	return f, nil
}

func (f alertFilter) keep(a alerts.Alert, status string) bool {
	in := func(list []string, x string) bool { return len(list) == 0 || slices.Contains(list, x) }
	return in(f.statuses, status) && in(f.institutions, a.Institution) && in(f.categories, a.Category) &&
		in(f.severities, string(a.Severity)) && (f.since.IsZero() || !lastSeen(a).Before(f.since))
}

// lastSeen is when the alert's story was last seen: repeats move it on.
func lastSeen(a alerts.Alert) time.Time {
	if a.LastSeen.IsZero() {
		return a.DetectedAt
	}
	return a.LastSeen
}

// alertJSON is an alert as the API shows it: the alert as published, with
// its triage state in place of the status it was published with.
type alertJSON struct {
	alerts.Alert
	Status string      `json:"status"`
	Triage *triageJSON `json:"triage"`
}

type triageJSON struct {
	Assignee    string         `json:"assignee,omitempty"`
	EscalatedTo string         `json:"escalated_to,omitempty"`
	UpdatedAt   time.Time      `json:"updated_at,omitzero"`
	UpdatedBy   string         `json:"updated_by,omitempty"`
	History     []triage.Event `json:"history,omitempty"`
	Actions     []string       `json:"actions"`
}

// toAlertJSON merges an alert with its triage state; the history is shown
// for one alert, not in lists.
func toAlertJSON(a alerts.Alert, st triage.State, history bool) alertJSON {
	out := alertJSON{Alert: a, Status: st.Status, Triage: &triageJSON{
		Assignee: st.Assignee, EscalatedTo: st.EscalatedTo, UpdatedAt: st.UpdatedAt, UpdatedBy: st.UpdatedBy,
		Actions: triage.Available(st),
	}}
	if history {
		out.Triage.History = st.History
	}
	return out
}
