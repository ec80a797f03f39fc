// Package alerts turns findings into alerts for the communications team and
// publishes them on JetStream. Every alert leaves the daemon redacted: the
// full evidence of personal data stays in the MENTIONS stream.
package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

// Status of an alert in triage.
const StatusNew = "new"

// Alert is what the communications team receives: one post, one
// institution, one category. The JSON field names are a contract with
// subscribers outside mediawatch.
type Alert struct {
	// ID is deterministic: the same mention, institution and category give
	// the same id in every process and after every restart, so JetStream
	// deduplicates a re-published alert (it is the Nats-Msg-Id).
	ID          string         `json:"id"`
	Institution string         `json:"institution"`
	Category    string         `json:"category"`
	Severity    match.Severity `json:"severity"`
	// Rules are the ids of the rules that fired, sorted.
	Rules   []string   `json:"rules"`
	Mention MentionRef `json:"mention"`
	// Snippet is a window of the post around the strongest finding, with
	// every span of personal data masked.
	Snippet    string     `json:"snippet"`
	Findings   []Evidence `json:"findings"`
	DetectedAt time.Time  `json:"detected_at"`
	Status     string     `json:"status"`
	// Count and FirstSeen/LastSeen describe grouped repeats; a freshly
	// built alert has Count 1.
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Volume is set on volume_spike alerts, which are about no one post.
	Volume *Volume `json:"volume,omitempty"`
}

// MentionRef points at the post an alert is about.
type MentionRef struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Source    string    `json:"source"`
	Author    string    `json:"author"`
	Title     string    `json:"title"`
	Published time.Time `json:"published"`
	FeedID    string    `json:"feed_id,omitempty"`
	FeedTitle string    `json:"feed_title,omitempty"`
	// Seq is the post's sequence in the MENTIONS stream, where its full
	// text stays: what an authorised reveal reads.
	Seq uint64 `json:"seq,omitempty"`
}

// Evidence is one finding as it may travel: the evidence text is redacted
// when it is personal data.
type Evidence struct {
	Rule        string         `json:"rule"`
	Severity    match.Severity `json:"severity"`
	Field       string         `json:"field"`
	Start       int            `json:"start"`
	End         int            `json:"end"`
	Evidence    string         `json:"evidence"`
	Explanation string         `json:"explanation"`
}

// ID returns the deterministic alert id for a mention, institution and
// category.
func ID(mentionID, institution, category string) string {
	h := sha256.Sum256([]byte(mentionID + "\x00" + institution + "\x00" + category))
	return hex.EncodeToString(h[:16])
}

// MsgID is the alert's Nats-Msg-Id: the id, and for a repeat of a story
// (Count > 1) the count too, so that JetStream stores each repeat once and
// does not drop it as a duplicate of the first.
func (a *Alert) MsgID() string {
	if a.Count > 1 {
		return a.ID + "#" + strconv.Itoa(a.Count)
	}
	return a.ID
}

// Subject is the NATS subject an alert is published on:
// mediawatch.alerts.<institution>.<category>.<severity>.
func (a *Alert) Subject() string {
	return "mediawatch.alerts." + a.Institution + "." + a.Category + "." + string(a.Severity)
}

// BuildOptions tunes Build.
type BuildOptions struct {
	// SnippetLength is the snippet's length in characters (runes).
	SnippetLength int
}

// Build groups the findings of one mention into alerts, one per
// (institution, category), in a stable order. Findings that concern no
// watched institution produce no alert: mediawatch reports on the
// hospitals it watches, not on the internet at large.
func Build(m *mention.Mention, res match.Result, now time.Time, opts BuildOptions) []Alert {
	if opts.SnippetLength <= 0 {
		opts.SnippetLength = 240
	}
	type key struct{ institution, category string }
	groups := map[key][]match.Finding{}
	var keys []key
	for _, f := range res.Findings {
		for _, inst := range f.Institutions {
			k := key{inst, f.Category}
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], f)
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.institution, b.institution); c != 0 {
			return c
		}
		return strings.Compare(a.category, b.category)
	})
	ref := MentionRef{
		ID:        m.ID,
		URL:       m.URL,
		Source:    m.Source,
		Author:    match.Redact(m.Author, "author", res.Findings),
		Title:     match.Redact(m.Title, "title", res.Findings),
		Published: m.Published,
		FeedID:    m.FeedID,
		FeedTitle: match.Redact(m.FeedTitle, "feed_title", res.Findings),
	}
	out := make([]Alert, 0, len(keys))
	for _, k := range keys {
		fs := groups[k]
		a := Alert{
			ID:          ID(m.ID, k.institution, k.category),
			Institution: k.institution,
			Category:    k.category,
			Mention:     ref,
			DetectedAt:  now,
			Status:      StatusNew,
			Count:       1,
			FirstSeen:   now,
			LastSeen:    now,
		}
		strongest := fs[0]
		for _, f := range fs {
			if f.Severity.Rank() > a.Severity.Rank() {
				a.Severity = f.Severity
			}
			if f.Severity.Rank() > strongest.Severity.Rank() {
				strongest = f
			}
			if !slices.Contains(a.Rules, f.Rule) {
				a.Rules = append(a.Rules, f.Rule)
			}
			a.Findings = append(a.Findings, Evidence{
				Rule:        f.Rule,
				Severity:    f.Severity,
				Field:       f.Field,
				Start:       f.Start,
				End:         f.End,
				Evidence:    f.RedactedEvidence(),
				Explanation: f.Explanation,
			})
		}
		slices.Sort(a.Rules)
		a.Snippet = snippet(fieldText(m, strongest.Field), strongest, res.Findings, opts.SnippetLength)
		out = append(out, a)
	}
	return out
}

// fieldText returns the text of a mention field as the matcher names it.
func fieldText(m *mention.Mention, field string) string {
	switch field {
	case "text":
		return m.Text
	case "title":
		return m.Title
	case "author":
		return m.Author
	case "feed_title":
		return m.FeedTitle
	case "url":
		return m.URL
	}
	if i, ok := indexedField(field, "links["); ok && i < len(m.Links) {
		return m.Links[i]
	}
	if i, ok := indexedField(field, "media["); ok && i < len(m.Media) {
		return m.Media[i].Alt
	}
	return ""
}

// indexedField parses "links[3]" or "media[2].alt" given the prefix.
func indexedField(field, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(field, prefix)
	if !ok {
		return 0, false
	}
	end := strings.IndexByte(rest, ']')
	if end <= 0 {
		return 0, false
	}
	n := 0
	for _, c := range rest[:end] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// snippet cuts a window of about length runes around the finding out of
// text, after masking every sensitive span of that field, and marks cuts
// with an ellipsis.
func snippet(text string, around match.Finding, all []match.Finding, length int) string {
	redacted := match.Redact(text, around.Field, all)
	// A mask keeps the number of characters but not of bytes (é becomes *),
	// so the window is placed by rune position.
	startRune := utf8.RuneCountInString(text[:min(max(around.Start, 0), len(text))])
	runes := []rune(redacted)
	if len(runes) <= length {
		return strings.TrimSpace(string(runes))
	}
	from := max(startRune-length/3, 0)
	to := min(from+length, len(runes))
	from = max(to-length, 0)
	s := strings.TrimSpace(string(runes[from:to]))
	if from > 0 {
		s = "…" + s
	}
	if to < len(runes) {
		s += "…"
	}
	return s
}
