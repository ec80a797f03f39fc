package app

import (
	"slices"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/web"
)

// segments cuts s, the field of a post, into the pieces the alert page
// shows, in text order and covering all of s: plain text, evidence of the
// alert's own findings (Rule set), and personal data (Masked, with the
// redacted text). Every sensitive finding is masked, of any category or
// institution: the page is for every viewer, and a post that breaks one
// guideline for one hospital can leak a patient's number for the other.
// Where a masked span and evidence overlap, the mask wins.
func segments(s, field string, findings []match.Finding, a alerts.Alert) []web.Segment {
	if s == "" {
		return nil
	}
	type span struct {
		start, end int
		rule       string // evidence of this rule; "" when masked
		masked     bool
	}
	var spans []span
	cuts := []int{0, len(s)}
	for _, f := range findings {
		if f.Field != field || (!f.Sensitive && !ownFinding(a, f)) {
			continue
		}
		start, end := runeSpan(s, f.Start, f.End)
		if start >= end {
			continue // a finding for another version of the field
		}
		sp := span{start: start, end: end, masked: f.Sensitive}
		if !f.Sensitive {
			sp.rule = f.Rule
		}
		spans = append(spans, sp)
		cuts = append(cuts, start, end)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)

	// Each piece between two cuts is wholly inside or outside every span:
	// masked if any masked span covers it, else evidence of the first
	// covering finding (findings come sorted by start, end and rule).
	var out []web.Segment
	var bounds [][2]int // of out's segments, to mask them at the end
	for i := 0; i+1 < len(cuts); i++ {
		from, to := cuts[i], cuts[i+1]
		var piece web.Segment
		for _, sp := range spans {
			if sp.start > from || sp.end < to {
				continue
			}
			if sp.masked {
				piece = web.Segment{Masked: true}
				break
			}
			if piece.Rule == "" {
				piece.Rule = sp.rule
			}
		}
		if n := len(out); n > 0 && out[n-1].Masked == piece.Masked && out[n-1].Rule == piece.Rule {
			bounds[n-1][1] = to
			continue
		}
		out = append(out, piece)
		bounds = append(bounds, [2]int{from, to})
	}
	for i := range out {
		from, to := bounds[i][0], bounds[i][1]
		if !out[i].Masked {
			out[i].Text = s[from:to]
			continue
		}
		// A masked segment is masked as one span, as Redact masks a
		// finding: masking overlapping spans one by one would leave each
		// one's last digits readable, and show more of the number.
		whole := match.Finding{Field: field, Sensitive: true, Start: 0, End: to - from}
		out[i].Text = match.Redact(s[from:to], field, []match.Finding{whole})
	}
	return out
}

// runeSpan clips [start, end) to s and widens it to whole runes, so that
// no segment splits a character (and a mask covers every byte of the
// characters it touches).
func runeSpan(s string, start, end int) (int, int) {
	start, end = max(start, 0), min(end, len(s))
	for start > 0 && start < len(s) && !utf8.RuneStart(s[start]) {
		start--
	}
	for end > 0 && end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return start, end
}
