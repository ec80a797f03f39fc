package app

import (
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/mediawatch/mediawatch/web"
)

// ruleBook shows the rules page the matcher in force: after a reload, the
// reloaded rules.
type ruleBook struct {
	matcher func() *match.Matcher
}

var _ web.RuleBook = ruleBook{}

// Rules describes every rule in force, sorted by id.
func (b ruleBook) Rules() []web.RuleInfo {
	rules := b.matcher().Rules()
	out := make([]web.RuleInfo, 0, len(rules))
	for _, r := range rules {
		out = append(out, web.RuleInfo{
			ID:          r.ID,
			Description: r.Description,
			Category:    r.Category,
			Severity:    string(r.Severity),
			Guideline:   guideline(r.Policy),
			Keywords:    r.Keywords,
			Institutes:  r.Institutions,
		})
	}
	return out
}

// guideline is the quoted line of the guideline with the document it is
// from, which is how a reader checks the quote.
func guideline(p match.Policy) string {
	quote, file := strings.TrimSpace(p.Quote), strings.TrimSpace(p.File)
	switch {
	case quote == "":
		return ""
	case file == "":
		return quote
	}
	return quote + " — " + file
}

// testSource is the source of a tested text, so that it can never be
// taken for a post from a feed.
const testSource = "test"

// Test runs the rules in force on a pasted title and text, as if they were
// a post, and returns every finding in the matcher's order (field, then
// position, then rule). The evidence is returned as matched: the person
// testing pasted it and sees their own text.
func (b ruleBook) Test(title, text string) []web.TestFinding {
	m := &mention.Mention{ID: testSource, Source: testSource, FeedID: testSource, Title: title, Text: text, Published: time.Now().UTC()}
	res := b.matcher().Match(m)
	out := make([]web.TestFinding, 0, len(res.Findings))
	for _, f := range res.Findings {
		out = append(out, web.TestFinding{
			Rule: f.Rule, Category: f.Category, Severity: string(f.Severity), Field: f.Field,
			Evidence: f.Evidence, Explanation: f.Explanation, Institutions: slices.Clone(f.Institutions),
		})
	}
	return out
}
