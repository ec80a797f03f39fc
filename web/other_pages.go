package web

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/silence"
)

// AuditLog is the append-only record of who did what (audit.Log).
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
	Query(ctx context.Context, q audit.Query) ([]audit.Event, error)
}

// staleAfter is how many intervals a feed may go without a successful poll
// before the feeds page marks it stale.
const staleAfter = 3

type feedRow struct {
	ingest.FeedStatus
	Stale bool
}

// feedsPage serves GET /feeds: every feed's health, the troubled first.
func (s *server) feedsPage(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var rows []feedRow
	if s.opts.Feeds != nil {
		for _, f := range s.opts.Feeds.Status() {
			stale := !f.LastSuccess.IsZero() && now.Sub(f.LastSuccess) > staleAfter*f.Interval ||
				f.LastSuccess.IsZero() && !f.LastAttempt.IsZero()
			rows = append(rows, feedRow{FeedStatus: f, Stale: stale})
		}
	}
	rank := func(f feedRow) int {
		switch {
		case !f.Healthy:
			return 0
		case f.Stale:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(rows, func(a, b feedRow) int {
		return cmp.Or(rank(a)-rank(b), strings.Compare(cmp.Or(a.Name, a.ID), cmp.Or(b.Name, b.ID)))
	})
	s.render(w, r, http.StatusOK, "feeds.html", "Feeds", rows)
}

type rulesPageData struct {
	Rules    []RuleInfo
	Title    string
	Text     string
	Findings []TestFinding
	Tested   bool
}

// maxTestText bounds the text pasted into the rules page's test box.
const maxTestText = 64 << 10

// rulesPage serves GET /rules.
func (s *server) rulesPage(w http.ResponseWriter, r *http.Request) {
	s.renderRules(w, r, rulesPageData{})
}

func (s *server) renderRules(w http.ResponseWriter, r *http.Request, d rulesPageData) {
	if s.opts.Rules != nil {
		d.Rules = s.opts.Rules.Rules()
	}
	slices.SortStableFunc(d.Rules, func(a, b RuleInfo) int {
		return cmp.Or(categoryOrder(a.Category)-categoryOrder(b.Category), strings.Compare(a.ID, b.ID))
	})
	s.render(w, r, http.StatusOK, "rules.html", "Rules", d)
}

// rulesTest serves POST /rules/test: what the rules find in a pasted text
// and why. A POST, so that the text (which may hold personal data) stays
// out of URLs and access logs; it changes nothing.
func (s *server) rulesTest(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTestText)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusRequestEntityTooLarge, "The text is too long to test (64 KB at most).")
		return
	}
	d := rulesPageData{Title: r.PostForm.Get("title"), Text: r.PostForm.Get("text"), Tested: true}
	if s.opts.Rules != nil {
		d.Findings = s.opts.Rules.Test(d.Title, d.Text)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.renderRules(w, r, d)
}

type silencesPageData struct {
	Active, Expired []silence.Silence
	Error           string
	Form            silenceBody
	Available       bool
}

// silencesPage serves GET /silences (admins).
func (s *server) silencesPage(w http.ResponseWriter, r *http.Request) {
	s.renderSilences(w, r, http.StatusOK, silencesPageData{})
}

func (s *server) renderSilences(w http.ResponseWriter, r *http.Request, status int, d silencesPageData) {
	d.Available = s.opts.Silences != nil
	if s.opts.Silences != nil {
		now := time.Now()
		for _, sil := range s.opts.Silences.List(false) {
			if sil.EndsAt.After(now) {
				d.Active = append(d.Active, sil)
			} else {
				d.Expired = append(d.Expired, sil)
			}
		}
		slices.SortStableFunc(d.Expired, func(a, b silence.Silence) int { return b.EndsAt.Compare(a.EndsAt) })
		d.Expired = d.Expired[:min(len(d.Expired), 50)]
	}
	s.render(w, r, status, "silences.html", "Silences", d)
}

// silenceCreateForm serves POST /silences, the silences page's form.
func (s *server) silenceCreateForm(w http.ResponseWriter, r *http.Request) {
	if s.opts.Silences == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Silences are not available.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTriageBody)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	f := r.PostForm
	b := silenceBody{Rule: strings.TrimSpace(f.Get("rule")), Author: strings.TrimSpace(f.Get("author")),
		Domain: strings.TrimSpace(f.Get("domain")), Text: strings.TrimSpace(f.Get("text")),
		For: strings.TrimSpace(f.Get("for")), Reason: strings.TrimSpace(f.Get("reason"))}
	_, err := s.makeSilence(r, b, identityOf(r).User)
	switch {
	case errors.Is(err, silence.ErrInvalid):
		s.renderSilences(w, r, http.StatusBadRequest, silencesPageData{Error: err.Error(), Form: b})
	case err != nil:
		s.renderSilences(w, r, http.StatusServiceUnavailable, silencesPageData{Error: "The silence could not be stored. Try again.", Form: b})
	default:
		http.Redirect(w, r, "/silences", http.StatusSeeOther)
	}
}

// silenceExpireForm serves POST /silences/{id}/expire.
func (s *server) silenceExpireForm(w http.ResponseWriter, r *http.Request) {
	if s.opts.Silences == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Silences are not available.")
		return
	}
	_, err := s.endSilence(r, r.PathValue("id"), identityOf(r).User)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		s.failure(w, r, http.StatusNotFound, "There is no such silence.")
	case err != nil:
		s.failure(w, r, http.StatusServiceUnavailable, "The silence could not be expired. Try again.")
	default:
		http.Redirect(w, r, "/silences", http.StatusSeeOther)
	}
}

type auditPageData struct {
	Events []audit.Event
	Kinds  []string
	Kind   string
	Actor  string
	Next   uint64
	Error  string
}

// auditPageSize is the number of records on one page of the audit log.
const auditPageSize = 100

// auditPage serves GET /audit (admins): the audit log, newest first.
func (s *server) auditPage(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	d := auditPageData{Kinds: audit.Kinds(), Kind: v.Get("kind"), Actor: strings.TrimSpace(v.Get("actor"))}
	if !slices.Contains(d.Kinds, d.Kind) {
		d.Kind = ""
	}
	before, _ := strconv.ParseUint(v.Get("before"), 10, 64)
	status := http.StatusOK
	if s.opts.Audit == nil {
		d.Error = "The audit log is not available."
	} else {
		// Filtering by actor reads through other people's records: bound
		// the time it may take.
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		events, err := s.opts.Audit.Query(ctx, audit.Query{Kind: d.Kind, Actor: d.Actor, Before: before, Limit: auditPageSize})
		if err != nil {
			s.opts.Logger.Error("audit log", "err", err)
			status, d.Error = http.StatusServiceUnavailable, "The audit log could not be read right now."
		}
		d.Events = events
		if len(events) == auditPageSize {
			d.Next = events[len(events)-1].Seq
		}
	}
	s.render(w, r, status, "audit.html", "Audit log", d)
}
