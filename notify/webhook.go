package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
)

// Limits of the chat services, with some margin: Slack takes at most 3000
// characters in a section and 50 blocks in a message, Mattermost 16383
// characters in a post, a Teams webhook message at most 28 KB.
const (
	slackMaxText        = 12000
	slackMaxSection     = 2900
	slackMaxBlocks      = 50
	mattermostMaxText   = 16000
	teamsMaxText        = 16000
	responseBodyExcerpt = 200
)

// webhook posts a JSON payload to an HTTP endpoint: the generic webhook and
// the Slack, Teams and Mattermost incoming webhooks.
type webhook struct {
	sender
	url     string
	origin  string // scheme://host of url, the only part of it that is logged
	client  *http.Client
	timeout time.Duration
	render  *renderer
	encode  func(w *webhook, m Message, text string) any
}

func (w *webhook) Name() string { return w.name }

// Send posts the payload of m, retrying recoverable failures.
func (w *webhook) Send(ctx context.Context, m Message) error {
	body, perr := w.payload(m)
	return w.run(ctx, func(ctx context.Context) error {
		if perr != nil {
			return perr
		}
		return w.post(ctx, body)
	})
}

// payload renders m and encodes it as the receiver type's JSON.
func (w *webhook) payload(m Message) ([]byte, error) {
	text, err := w.render.render(m)
	if err != nil {
		return nil, w.permanent(0, fmt.Errorf("render template: %w", err))
	}
	b, err := json.Marshal(w.encode(w, m, text))
	if err != nil {
		return nil, w.permanent(0, fmt.Errorf("encode payload: %w", err))
	}
	return b, nil
}

// post makes one attempt.
func (w *webhook) post(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return w.permanent(0, fmt.Errorf("POST %s: %w", w.origin, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "mediawatch-notify")
	resp, err := w.client.Do(req)
	if err != nil {
		// A *url.Error names the whole URL, and a webhook URL is a secret
		// (Slack's and Teams' carry their token): keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		err = fmt.Errorf("POST %s: %w", w.origin, err)
		if isCertificateError(err) {
			return w.permanent(0, err)
		}
		return err
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	detail := fmt.Errorf("POST %s: %s: %s", w.origin, resp.Status, bodyExcerpt(excerpt))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		// Teams connectors answer a throttled post with 200 and the error
		// in the body.
		if w.typ == TypeTeams && bytes.Contains(excerpt, []byte("HTTP error 429")) {
			return &retryableError{err: fmt.Errorf("POST %s: throttled: %s", w.origin, bodyExcerpt(excerpt))}
		}
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &retryableError{err: detail, after: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return w.permanent(resp.StatusCode, detail)
}

// bodyExcerpt is the start of a response body, fit for a log line.
func bodyExcerpt(b []byte) string {
	s := strings.TrimSpace(escape(formatPlain, string(b)))
	if s == "" {
		return "(empty body)"
	}
	return truncateRunes(s, responseBodyExcerpt)
}

// origin returns scheme://host of a URL, for errors and logs.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// genericPayload is the body of the generic webhook; alerts are the Alert
// JSON contract of the alerts package.
type genericPayload struct {
	Version   string         `json:"version"`
	Receiver  string         `json:"receiver"`
	GroupKey  string         `json:"group_key"`
	Alerts    []alerts.Alert `json:"alerts"`
	Truncated int            `json:"truncated"`
	Text      string         `json:"text"`
}

func encodeGeneric(w *webhook, m Message, text string) any {
	as := m.Alerts
	if as == nil {
		as = []alerts.Alert{}
	}
	return genericPayload{
		Version:   "1",
		Receiver:  w.name,
		GroupKey:  m.GroupKey,
		Alerts:    as,
		Truncated: max(m.Truncated, 0),
		Text:      text,
	}
}

// Slack incoming webhook: text is the notification fallback, blocks the
// message (https://api.slack.com/messaging/webhooks).
type slackPayload struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func encodeSlack(w *webhook, m Message, text string) any {
	p := slackPayload{Text: w.render.data(m).Summary}
	for _, chunk := range splitLines(text, slackMaxSection) {
		if len(p.Blocks) == slackMaxBlocks {
			break
		}
		p.Blocks = append(p.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: chunk}})
	}
	if p.Blocks == nil {
		p.Blocks = []slackBlock{}
	}
	return p
}

// Microsoft Teams incoming webhook (or Workflows webhook): a message with
// one Adaptive Card attachment.
type teamsPayload struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string             `json:"$schema"`
	Type    string             `json:"type"`
	Version string             `json:"version"`
	MSTeams map[string]string  `json:"msteams,omitempty"`
	Body    []teamsTextBlock   `json:"body"`
	Actions []teamsOpenURLItem `json:"actions,omitempty"`
}

type teamsTextBlock struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Wrap    bool   `json:"wrap"`
	Weight  string `json:"weight,omitempty"`
	Size    string `json:"size,omitempty"`
	Spacing string `json:"spacing,omitempty"`
}

type teamsOpenURLItem struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// encodeTeams puts every line of the text in a TextBlock of its own (Teams
// joins the lines of one TextBlock), the first in bold, a blank line
// becoming spacing before the next block.
func encodeTeams(w *webhook, m Message, text string) any {
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		MSTeams: map[string]string{"width": "Full"},
		Body:    []teamsTextBlock{},
	}
	spacing := ""
	for line := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(line) == "" {
			spacing = "Medium"
			continue
		}
		b := teamsTextBlock{Type: "TextBlock", Text: line, Wrap: true, Spacing: spacing}
		if len(card.Body) == 0 {
			b.Weight, b.Size = "Bolder", "Medium"
		}
		card.Body = append(card.Body, b)
		spacing = ""
	}
	d := w.render.data(m)
	if len(d.Alerts) == 1 && d.Alerts[0].PostURL != "" {
		card.Actions = append(card.Actions, teamsOpenURLItem{Type: "Action.OpenUrl", Title: "Open post", URL: d.Alerts[0].PostURL})
	}
	if len(d.Alerts) == 1 && d.Alerts[0].AlertURL != "" {
		card.Actions = append(card.Actions, teamsOpenURLItem{Type: "Action.OpenUrl", Title: "Open in dashboard", URL: d.Alerts[0].AlertURL})
	} else if len(d.Alerts) != 1 && d.DashboardURL != "" {
		card.Actions = append(card.Actions, teamsOpenURLItem{Type: "Action.OpenUrl", Title: "Open dashboard", URL: d.DashboardURL})
	}
	return teamsPayload{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content:     card,
		}},
	}
}

// Mattermost incoming webhook: Markdown text
// (https://developers.mattermost.com/integrate/webhooks/incoming/).
type mattermostPayload struct {
	Text string `json:"text"`
}

func encodeMattermost(_ *webhook, _ Message, text string) any {
	return mattermostPayload{Text: text}
}

// splitLines cuts text into chunks of at most n runes, at line breaks where
// it can.
func splitLines(text string, n int) []string {
	var chunks []string
	var cur strings.Builder
	curRunes := 0
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			chunks = append(chunks, s)
		}
		cur.Reset()
		curRunes = 0
	}
	for line := range strings.SplitSeq(text, "\n") {
		r := []rune(line)
		for len(r) > n {
			flush()
			chunks = append(chunks, string(r[:n]))
			r = r[n:]
		}
		if curRunes+len(r)+1 > n {
			flush()
		}
		if curRunes > 0 {
			cur.WriteByte('\n')
			curRunes++
		}
		cur.WriteString(string(r))
		curRunes += len(r)
	}
	flush()
	return chunks
}
