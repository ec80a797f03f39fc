package notify

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
)

// TemplateData is what a receiver's text template is executed with. Every
// string taken from an alert is already escaped for the receiver's markup
// (Slack mrkdwn, Markdown for Teams and Mattermost, plain text for e-mail
// and the generic webhook) and has its line breaks and control characters
// replaced by spaces, so a hostile post cannot add formatting, links or
// @-mentions to a message, whatever the template. URLs are http(s) only and
// have the characters that would break a link percent-encoded; an unusable
// URL is empty.
type TemplateData struct {
	Receiver string
	GroupKey string
	// Summary is one line naming count, institution, category and severity,
	// such as "2 mediawatch alerts: umc-utrecht · patient_data · critical".
	Summary string
	// Institution and Category are the distinct values of the alerts, sorted
	// and joined with ", ".
	Institution string
	Category    string
	// Severity is the highest severity in the group.
	Severity string
	// Count is the number of alerts in the group, those left out included.
	Count int
	// Truncated is how many alerts were left out of Alerts.
	Truncated    int
	DashboardURL string
	Alerts       []AlertData
}

// AlertData is one alert as a template sees it.
type AlertData struct {
	ID          string
	Institution string
	Category    string
	Severity    string
	Rules       []string
	Title       string
	Author      string
	Source      string
	Snippet     string
	Findings    []FindingData
	// Count is how many times the alert was seen (grouped repeats).
	Count      int
	DetectedAt time.Time
	FirstSeen  time.Time
	LastSeen   time.Time
	// PostURL links to the post; AlertURL to the alert in the dashboard
	// (empty when the message has no dashboard URL).
	PostURL  string
	AlertURL string
}

// FindingData is one finding of an alert; its evidence is the redacted
// evidence the alert carries.
type FindingData struct {
	Rule        string
	Severity    string
	Field       string
	Evidence    string
	Explanation string
}

// format is the markup a receiver's text is written in.
type format int

const (
	formatPlain    format = iota // e-mail, generic webhook
	formatSlack                  // Slack mrkdwn
	formatMarkdown               // Mattermost and Teams
)

func formatOf(typ string) format {
	switch typ {
	case TypeSlack:
		return formatSlack
	case TypeTeams, TypeMattermost:
		return formatMarkdown
	}
	return formatPlain
}

// Default templates. The chat template serves Slack, Teams and Mattermost:
// bold and link write the receiver's own markup.
const (
	defaultChatTemplate = `{{bold .Summary}}
{{range .Alerts}}
{{bold .Severity}} · {{.Institution}} · {{.Category}} · {{join .Rules ", "}}{{if gt .Count 1}} · seen {{.Count}} times{{end}}
{{if .Title}}{{.Title}}: {{end}}{{.Snippet}}
{{link .PostURL "Open post"}}{{if .AlertURL}} · {{link .AlertURL "Open in dashboard"}}{{end}}
{{end}}{{if .Truncated}}
…and {{.Truncated}} more {{plural .Truncated "alert" "alerts"}} not listed{{if .DashboardURL}}: {{link .DashboardURL "dashboard"}}{{end}}
{{end}}`

	defaultPlainTemplate = `{{.Summary}}
{{range .Alerts}}
[{{.Severity}}] {{.Institution}} / {{.Category}}{{if gt .Count 1}} (seen {{.Count}} times){{end}}
Rules:     {{join .Rules ", "}}
{{if .Title}}Title:     {{.Title}}
{{end}}Snippet:   {{.Snippet}}
Post:      {{.PostURL}}
{{if .AlertURL}}Dashboard: {{.AlertURL}}
{{end}}{{end}}{{if .Truncated}}
...and {{.Truncated}} more {{plural .Truncated "alert" "alerts"}} not listed{{if .DashboardURL}}: {{.DashboardURL}}{{end}}
{{end}}`

	defaultSubjectTemplate = `[mediawatch] {{.Severity}} {{.Category}} – {{.Institution}} ({{.Count}} {{plural .Count "alert" "alerts"}})`
)

// defaultTemplate returns the default text template of a receiver type.
func defaultTemplate(typ string) string {
	if formatOf(typ) == formatPlain {
		return defaultPlainTemplate
	}
	return defaultChatTemplate
}

// renderer turns messages into text for one receiver type.
type renderer struct {
	format format
	tmpl   *template.Template
	// maxRunes caps the rendered text; 0 means no cap.
	maxRunes int
}

// newRenderer parses text (the default template of typ when empty) and
// checks it by executing it on sample data, so a template that names a
// field TemplateData does not have fails at configuration time.
func newRenderer(name, typ, text string, maxRunes int) (*renderer, error) {
	if text == "" {
		text = defaultTemplate(typ)
	}
	r := &renderer{format: formatOf(typ), maxRunes: maxRunes}
	t, err := template.New(name).Funcs(r.funcs()).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	r.tmpl = t
	if _, err := r.render(sampleMessage()); err != nil {
		return nil, err
	}
	return r, nil
}

// render executes the template for m.
func (r *renderer) render(m Message) (string, error) {
	var b bytes.Buffer
	if err := r.tmpl.Execute(&b, r.data(m)); err != nil {
		return "", err
	}
	s := strings.TrimSpace(b.String())
	if r.maxRunes > 0 {
		s = truncateRunes(s, r.maxRunes)
	}
	return s, nil
}

func (r *renderer) funcs() template.FuncMap {
	return template.FuncMap{
		"join":  strings.Join,
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"truncate": func(n int, s string) string {
			return truncateRunes(s, n)
		},
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
		"bold": func(s string) string {
			switch r.format {
			case formatSlack:
				return "*" + s + "*"
			case formatMarkdown:
				return "**" + s + "**"
			}
			return s
		},
		// link writes a link to u labelled text in the receiver's markup;
		// text is expected to be escaped already (template data is), u to be
		// a URL from the template data. Without a URL it is the label alone.
		"link": func(u, text string) string {
			if u == "" {
				return text
			}
			switch r.format {
			case formatSlack:
				return "<" + strings.ReplaceAll(u, "&", "&amp;") + "|" + text + ">"
			case formatMarkdown:
				return "[" + text + "](" + u + ")"
			}
			return text + ": " + u
		},
	}
}

// data builds the template data for m, escaped for r's markup.
func (r *renderer) data(m Message) TemplateData {
	esc := func(s string) string { return escape(r.format, s) }
	var insts, cats []string
	for _, a := range m.Alerts {
		if !slices.Contains(insts, a.Institution) {
			insts = append(insts, a.Institution)
		}
		if !slices.Contains(cats, a.Category) {
			cats = append(cats, a.Category)
		}
	}
	slices.Sort(insts)
	slices.Sort(cats)
	dash := safeURL(m.DashboardURL)
	d := TemplateData{
		Receiver:     esc(m.Receiver),
		GroupKey:     esc(m.GroupKey),
		Institution:  esc(strings.Join(insts, ", ")),
		Category:     esc(strings.Join(cats, ", ")),
		Severity:     esc(string(highest(m.Alerts))),
		Count:        len(m.Alerts) + max(m.Truncated, 0),
		Truncated:    max(m.Truncated, 0),
		DashboardURL: dash,
		Alerts:       make([]AlertData, 0, len(m.Alerts)),
	}
	d.Summary = summary(d)
	for _, a := range m.Alerts {
		ad := AlertData{
			ID:          esc(a.ID),
			Institution: esc(a.Institution),
			Category:    esc(a.Category),
			Severity:    esc(string(a.Severity)),
			Title:       esc(a.Mention.Title),
			Author:      esc(a.Mention.Author),
			Source:      esc(a.Mention.Source),
			Snippet:     esc(a.Snippet),
			Count:       a.Count,
			DetectedAt:  a.DetectedAt,
			FirstSeen:   a.FirstSeen,
			LastSeen:    a.LastSeen,
			PostURL:     safeURL(a.Mention.URL),
			AlertURL:    alertURL(dash, a.ID),
		}
		for _, rule := range a.Rules {
			ad.Rules = append(ad.Rules, esc(rule))
		}
		for _, f := range a.Findings {
			ad.Findings = append(ad.Findings, FindingData{
				Rule:        esc(f.Rule),
				Severity:    esc(string(f.Severity)),
				Field:       esc(f.Field),
				Evidence:    esc(f.Evidence),
				Explanation: esc(f.Explanation),
			})
		}
		d.Alerts = append(d.Alerts, ad)
	}
	return d
}

// summary is the one-line description of a group, from its escaped data.
func summary(d TemplateData) string {
	noun := "alerts"
	if d.Count == 1 {
		noun = "alert"
	}
	s := fmt.Sprintf("%d mediawatch %s", d.Count, noun)
	var parts []string
	for _, p := range []string{d.Institution, d.Category, d.Severity} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, " · ")
	}
	return s
}

// alertURL links to one alert in the dashboard: its page lists the alerts
// and opens the one named by the alert parameter.
func alertURL(dashboard, id string) string {
	if dashboard == "" || id == "" {
		return ""
	}
	return strings.TrimRight(dashboard, "/") + "/?alert=" + url.QueryEscape(id)
}

// escape makes s safe to put into text of format f: control characters and
// line breaks become spaces; for Slack &, < and > become entities (which
// also defuses <!channel> and <@U123>); for Markdown the characters that
// start formatting or links are backslash-escaped and an @ is followed by
// a zero-width space so no @-mention (@channel, @all) can fire.
func escape(f format, s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		if c == utf8.RuneError || unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			b.WriteByte(' ')
			continue
		}
		switch f {
		case formatSlack:
			switch c {
			case '&':
				b.WriteString("&amp;")
				continue
			case '<':
				b.WriteString("&lt;")
				continue
			case '>':
				b.WriteString("&gt;")
				continue
			}
		case formatMarkdown:
			switch c {
			case '\\', '`', '*', '_', '~', '[', ']', '(', ')', '<', '>', '|', '#':
				b.WriteByte('\\')
			case '@':
				b.WriteString("@\u200b")
				continue
			}
		}
		b.WriteRune(c)
	}
	return b.String()
}

// safeURL returns raw if it is an absolute http or https URL, without user
// information and with the characters that could end a link in any markup
// percent-encoded, and "" otherwise (javascript:, relative or unparsable
// URLs are not linked).
func safeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || strings.ContainsFunc(raw, unicode.IsControl) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	if strings.ContainsAny(u.Host, "<>|()\"'` \\@") {
		return ""
	}
	u.User = nil
	s := u.String()
	// The origin (scheme://host) ends at the first /, ? or # after "://".
	end := len(u.Scheme) + len("://")
	if i := strings.IndexAny(s[end:], "/?#"); i >= 0 {
		end += i
	} else {
		end = len(s)
	}
	var b strings.Builder
	b.WriteString(s[:end])
	for _, c := range s[end:] {
		switch c {
		case '<', '>', '|', '(', ')', '"', '\'', '`', ' ', '\\', '[', ']':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// truncateRunes cuts s to at most n runes, ending it with an ellipsis when
// it was cut.
func truncateRunes(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// sampleMessage exercises every field a template can use; templates are
// checked on it when they are configured.
func sampleMessage() Message {
	t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return Message{
		Receiver:     "sample",
		GroupKey:     "sample",
		Truncated:    1,
		DashboardURL: "https://mediawatch.example",
		Alerts: []alerts.Alert{{
			ID: "0123456789abcdef", Institution: "umc-utrecht", Category: match.CategoryPatientData,
			Severity: match.SeverityHigh, Rules: []string{"patient_data.room_bed"},
			Mention: alerts.MentionRef{ID: "m", URL: "https://forum.example/t/1", Source: "forum", Author: "a", Title: "t", Published: t},
			Snippet: "kamer **", Findings: []alerts.Evidence{{Rule: "patient_data.room_bed", Severity: match.SeverityHigh, Field: "text", Evidence: "kamer **", Explanation: "room"}},
			DetectedAt: t, Status: alerts.StatusNew, Count: 2, FirstSeen: t, LastSeen: t,
		}},
	}
}
