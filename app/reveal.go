package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

// revealer reads an alert's post back from the MENTIONS stream, where its
// text is kept: for the alert page, with personal data masked (Post), and
// for a privacy officer, with the evidence as written (Reveal), recording
// who asked before it answers.
type revealer struct {
	js      jetstream.JetStream
	matcher func() *match.Matcher
	audit   *audit.Log
}

var (
	_ web.Revealer = (*revealer)(nil)
	_ web.Posts    = (*revealer)(nil)
)

// mentionOf reads the post of alert a. ErrNothingToReveal: the alert has
// no post (a volume spike), or it expired or was erased, or the sequence
// now holds another post.
func (r *revealer) mentionOf(ctx context.Context, a alerts.Alert) (*mention.Mention, error) {
	if a.Mention.Seq == 0 {
		return nil, fmt.Errorf("alert %s: %w", a.ID, web.ErrNothingToReveal)
	}
	str, err := r.js.Stream(ctx, bus.StreamMentions)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", bus.StreamMentions, err)
	}
	raw, err := str.GetMsg(ctx, a.Mention.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("alert %s: the post has expired or was erased: %w", a.ID, web.ErrNothingToReveal)
	}
	if err != nil {
		return nil, fmt.Errorf("alert %s: read post %d: %w", a.ID, a.Mention.Seq, err)
	}
	var m mention.Mention
	if err := json.Unmarshal(raw.Data, &m); err != nil || m.ID != a.Mention.ID {
		return nil, fmt.Errorf("alert %s: the stored post is not the alert's: %w", a.ID, web.ErrNothingToReveal)
	}
	return &m, nil
}

// ownFinding reports whether f is evidence for alert a: of its category,
// concerning its institution.
func ownFinding(a alerts.Alert, f match.Finding) bool {
	return f.Category == a.Category && slices.Contains(f.Institutions, a.Institution)
}

// Reveal returns the unredacted findings of the alert's category and
// institution in its post. The audit record is stored first: no record, no
// reveal. A reason longer than the audit log takes (audit.MaxReason) is
// refused by the log, and so nothing is revealed.
func (r *revealer) Reveal(ctx context.Context, a alerts.Alert, actor, reason string) ([]web.RevealedFinding, error) {
	m, err := r.mentionOf(ctx, a)
	if err != nil {
		return nil, err
	}
	var out []web.RevealedFinding
	for _, f := range r.matcher().Match(m).Findings {
		if !ownFinding(a, f) {
			continue
		}
		out = append(out, web.RevealedFinding{Rule: f.Rule, Field: f.Field, Start: f.Start, End: f.End, Evidence: f.Evidence, Explanation: f.Explanation})
	}
	err = r.audit.Record(ctx, audit.Event{
		Kind: audit.KindReveal, Action: "reveal", At: time.Now(),
		Actor: actor, AlertID: a.ID, Mention: m.ID, Reason: reason, Rules: a.Rules,
	})
	if err != nil {
		return nil, fmt.Errorf("alert %s: audit record not stored, nothing revealed: %w", a.ID, err)
	}
	return out, nil
}

// Post returns the alert's post as any viewer may see it: the title and
// the text, with every span of personal data masked, whatever rule,
// category or institution found it, and the evidence of the alert's own
// findings marked.
func (r *revealer) Post(ctx context.Context, a alerts.Alert) (web.Post, error) {
	m, err := r.mentionOf(ctx, a)
	if err != nil {
		return web.Post{}, err
	}
	findings := r.matcher().Match(m).Findings
	return web.Post{
		Title: segments(m.Title, match.FieldTitle, findings, a),
		Body:  segments(m.Text, match.FieldText, findings, a),
	}, nil
}
