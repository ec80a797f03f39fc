package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

// The audit trail of reveals: one message per reveal, kept a year.
const (
	StreamAudit   = "AUDIT"
	SubjectReveal = "mediawatch.audit.reveal"
	auditMaxAge   = 365 * 24 * time.Hour
)

// RevealEvent is the audit record of one reveal. The JSON field names are
// a contract with whoever reviews the trail.
type RevealEvent struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	AlertID string    `json:"alert_id"`
	Mention string    `json:"mention_id"`
	Reason  string    `json:"reason"`
	Rules   []string  `json:"rules"`
}

// revealer reads the full evidence of an alert back from the MENTIONS
// stream, where the post's text is kept, and records who asked before it
// answers.
type revealer struct {
	js      jetstream.JetStream
	matcher func() *match.Matcher
}

func ensureAuditStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamAudit,
		Description: "Audit trail: every reveal of personal data, with who, when and why.",
		Subjects:    []string{"mediawatch.audit.>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      auditMaxAge,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", StreamAudit, err)
	}
	return nil
}

// Reveal returns the unredacted findings of the alert's category and
// institution in its post. The audit record is stored first: no record, no
// reveal.
func (r *revealer) Reveal(ctx context.Context, a alerts.Alert, actor, reason string) ([]web.RevealedFinding, error) {
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
		return nil, fmt.Errorf("alert %s: read post: %w", a.ID, err)
	}
	var m mention.Mention
	if err := json.Unmarshal(raw.Data, &m); err != nil || m.ID != a.Mention.ID {
		return nil, fmt.Errorf("alert %s: the stored post is not the alert's: %w", a.ID, web.ErrNothingToReveal)
	}
	var out []web.RevealedFinding
	for _, f := range r.matcher().Match(&m).Findings {
		if f.Category != a.Category || !containsString(f.Institutions, a.Institution) {
			continue
		}
		out = append(out, web.RevealedFinding{Rule: f.Rule, Field: f.Field, Start: f.Start, End: f.End, Evidence: f.Evidence, Explanation: f.Explanation})
	}
	ev := RevealEvent{At: time.Now().UTC(), Actor: actor, AlertID: a.ID, Mention: m.ID, Reason: strings.TrimSpace(reason), Rules: a.Rules}
	data, _ := json.Marshal(ev)
	if _, err := r.js.Publish(ctx, SubjectReveal, data, jetstream.WithExpectStream(StreamAudit)); err != nil {
		return nil, fmt.Errorf("alert %s: audit record not stored, nothing revealed: %w", a.ID, err)
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
