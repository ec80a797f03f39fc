package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
)

// Segment is a piece of a post's text: plain, or evidence of a finding
// (Rule set), or personal data masked for the viewer (Masked).
type Segment struct {
	Text   string
	Rule   string
	Masked bool
}

// Post is an alert's post as a viewer may see it: text only (never the
// feed's HTML), personal data masked, the evidence marked.
type Post struct {
	Title []Segment
	Body  []Segment
}

// Posts reads the post an alert is about. ErrNothingToReveal: there is no
// post (a volume spike) or it expired or was erased.
type Posts interface {
	Post(ctx context.Context, a alerts.Alert) (Post, error)
}

// RuleBook lists the rules and tests a text against them (the matcher the
// daemon runs).
type RuleBook interface {
	Rules() []RuleInfo
	Test(title, text string) []TestFinding
}

// RuleInfo describes one rule for the rules page.
type RuleInfo struct {
	ID, Description, Category, Severity string
	// Guideline is the line of the hospital's social-media guideline the
	// rule enforces, quoted.
	Guideline  string
	Keywords   []string
	Institutes []string
}

// TestFinding is what a rule found in a tested text and why.
type TestFinding struct {
	Rule, Category, Severity, Field, Evidence, Explanation string
	Institutions                                           []string
}

type alertPageData struct {
	Alert     alerts.Alert
	State     triage.State
	Actions   []string
	Post      Post
	PostError string
	Revealed  []RevealedFinding
	Reason    string
	Rules     []RuleInfo
	Related   []relatedGroup
	Error     string
	URL       string
	Available bool
}

type relatedGroup struct {
	Label string
	Hits  []index.Hit
	Other []alerts.Alert
}

// alertPage serves GET /alerts/{id}.
func (s *server) alertPage(w http.ResponseWriter, r *http.Request) {
	s.renderAlert(w, r, http.StatusOK, nil, "", "")
}

// renderAlert renders an alert's page, with the evidence revealed when
// revealed is set (and the page then never cached), or an error from an
// action the user just tried.
func (s *server) renderAlert(w http.ResponseWriter, r *http.Request, status int, revealed []RevealedFinding, reason, actionErr string) {
	a, ok := s.opts.Alerts.Get(r.PathValue("id"))
	if !ok {
		s.failure(w, r, http.StatusNotFound, "There is no such alert (it may have expired).")
		return
	}
	d := alertPageData{Alert: a, State: triage.NewState(a.ID), Revealed: revealed, Reason: reason, Error: actionErr,
		URL: safeURL(a.Mention.URL), Available: s.opts.Triage != nil}
	if s.opts.Triage != nil {
		d.State = s.opts.Triage.Get(a.ID)
		d.Actions = triage.Available(d.State)
	}
	if s.opts.Posts != nil && a.Mention.Seq != 0 {
		post, err := s.opts.Posts.Post(r.Context(), a)
		switch {
		case errors.Is(err, ErrNothingToReveal):
			d.PostError = "The post is no longer stored (expired or erased)."
		case err != nil:
			s.opts.Logger.Error("read post", "alert", a.ID, "err", err)
			d.PostError = "The post could not be read right now."
		default:
			d.Post = post
		}
	}
	if s.opts.Rules != nil {
		for _, ri := range s.opts.Rules.Rules() {
			if slices.Contains(a.Rules, ri.ID) {
				d.Rules = append(d.Rules, ri)
			}
		}
	}
	d.Related = s.related(r.Context(), a)
	if revealed != nil {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.render(w, r, status, "alert.html", "Alert", d)
}

// related finds what else is known about the alert's post: other alerts on
// it, other mentions of the same URL, and the author's other posts.
func (s *server) related(ctx context.Context, a alerts.Alert) []relatedGroup {
	var out []relatedGroup
	if a.Mention.ID != "" {
		var others []alerts.Alert
		key := alerts.NormaliseURL(a.Mention.URL)
		for _, o := range s.opts.Alerts.List(maxQueueAlerts) {
			if o.ID != a.ID && (o.Mention.ID == a.Mention.ID || (key != "" && alerts.NormaliseURL(o.Mention.URL) == key)) {
				others = append(others, o)
			}
		}
		if len(others) > 0 {
			out = append(out, relatedGroup{Label: "Other alerts on this post", Other: others})
		}
	}
	if s.opts.Searcher == nil || a.Mention.ID == "" {
		return out
	}
	search := func(label string, q index.Query) {
		q.Size = 10
		res, err := s.opts.Searcher.Search(ctx, q)
		if err != nil {
			return
		}
		var hits []index.Hit
		for _, h := range res.Hits {
			if h.ID != a.Mention.ID {
				hits = append(hits, h)
			}
		}
		if len(hits) > 0 {
			out = append(out, relatedGroup{Label: label, Hits: hits})
		}
	}
	if a.Mention.URL != "" {
		search("Other mentions of the same address", index.Query{URL: a.Mention.URL})
	}
	if a.Mention.Author != "" {
		search("More by this author", index.Query{Author: a.Mention.Author})
	}
	return out
}

// alertAction serves POST /alerts/{id}/act, the action buttons of the
// alert page (a form; no script needed).
func (s *server) alertAction(w http.ResponseWriter, r *http.Request) {
	if s.opts.Triage == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Triage is not available.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTriageBody)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	id := r.PathValue("id")
	if _, ok := s.opts.Alerts.Get(id); !ok {
		s.failure(w, r, http.StatusNotFound, "There is no such alert (it may have expired).")
		return
	}
	f := r.PostForm
	req := triage.Request{Action: f.Get("action"), Actor: identityOf(r).User, Note: f.Get("note"),
		Assignee: strings.TrimSpace(f.Get("assignee")), To: strings.TrimSpace(f.Get("to"))}
	_, err := s.doTriage(r, id, req)
	switch {
	case err == nil:
		http.Redirect(w, r, "/alerts/"+id, http.StatusSeeOther)
	case errors.Is(err, triage.ErrInvalid), errors.Is(err, triage.ErrUnknownAction):
		s.renderAlert(w, r, http.StatusBadRequest, nil, "", err.Error())
	case errors.Is(err, triage.ErrTransition), errors.Is(err, triage.ErrConflict):
		s.renderAlert(w, r, http.StatusConflict, nil, "", "Someone else changed this alert in the meantime; here it is as it is now.")
	default:
		s.opts.Logger.Error("triage action failed", "alert", id, "action", req.Action, "err", err)
		s.renderAlert(w, r, http.StatusServiceUnavailable, nil, "", "The action could not be stored. Try again.")
	}
}

// revealPage serves POST /alerts/{id}/reveal: the alert page with the
// evidence in clear, for a reason that goes into the audit log first.
func (s *server) revealPage(w http.ResponseWriter, r *http.Request) {
	if s.opts.Revealer == nil {
		s.failure(w, r, http.StatusServiceUnavailable, "Revealing evidence is not available.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTriageBody)
	if err := r.ParseForm(); err != nil {
		s.failure(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	a, ok := s.opts.Alerts.Get(r.PathValue("id"))
	if !ok {
		s.failure(w, r, http.StatusNotFound, "There is no such alert (it may have expired).")
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if reason == "" || utf8.RuneCountInString(reason) > maxRevealReason {
		s.renderAlert(w, r, http.StatusBadRequest, nil, "", "Say why you need to see the evidence (up to 500 characters).")
		return
	}
	user := identityOf(r).User
	findings, err := s.opts.Revealer.Reveal(r.Context(), a, user, reason)
	switch {
	case errors.Is(err, ErrNothingToReveal):
		s.renderAlert(w, r, http.StatusGone, nil, "", "The post is no longer stored (expired or erased).")
		return
	case err != nil:
		s.opts.Logger.Error("reveal failed", "alert", a.ID, "actor", user, "err", err)
		s.renderAlert(w, r, http.StatusServiceUnavailable, nil, "", "Nothing was revealed: the audit record could not be stored. Try again.")
		return
	}
	s.opts.Logger.Info("evidence revealed", "alert", a.ID, "actor", user, "reason", reason, "findings", len(findings))
	if findings == nil {
		findings = []RevealedFinding{}
	}
	s.renderAlert(w, r, http.StatusOK, findings, reason, "")
}

// maxRevealReason bounds a reveal's reason: the audit log keeps it.
const maxRevealReason = 500

// categoryOrder sorts categories as the guidelines list them.
func categoryOrder(c string) int {
	if i := slices.Index(match.Categories, c); i >= 0 {
		return i
	}
	return len(match.Categories)
}
