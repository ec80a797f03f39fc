package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/xml"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/triage"
)

// AtomFeed is one Atom feed of alerts, served on
// GET /feeds/alerts.atom?feed=<Name>&token=<Token> to a feed reader.
type AtomFeed struct {
	Name string
	// Token is the feed's secret, already resolved (config reads it from
	// the environment). A feed without one is never served.
	Token string
	// The feed's filters; an empty list lets every value through. Query
	// parameters narrow them further, never widen them.
	Institutions, Categories, Severities, Statuses []string
}

const (
	// atomMaxEntries is how many alerts a feed shows, newest first.
	atomMaxEntries  = 100
	atomContentType = "application/atom+xml; charset=utf-8"
	// atomSnippetTitle is how much of the snippet names an untitled post.
	atomSnippetTitle = 80
)

// atomFeeds serves GET /feeds/alerts.atom.
type atomFeeds struct {
	opts     Options
	feeds    []atomFeedKey
	external string // http.external_url without its trailing slash
	content  *template.Template
	// started stands in for the time of the newest entry in a feed that
	// has none, so that an empty feed keeps its ETag while the process
	// runs.
	started time.Time
}

// atomFeedKey is a feed with what the request is checked against: hashes
// of its name and token, so that every comparison is of equal lengths and
// takes the same time whatever was sent.
type atomFeedKey struct {
	name     string
	nameSum  [sha256.Size]byte
	tokenSum [sha256.Size]byte
	filter   alertFilter
}

func newAtomFeeds(opts Options) *atomFeeds {
	h := &atomFeeds{
		opts:     opts,
		external: strings.TrimRight(opts.ExternalURL, "/"),
		content:  template.Must(template.New("content").Parse(atomContentHTML)),
		started:  time.Now().UTC().Truncate(time.Second),
	}
	for _, f := range opts.AtomFeeds {
		if f.Token == "" {
			if opts.Logger != nil {
				opts.Logger.Warn("atom feed without a token is not served", "feed", f.Name)
			}
			continue
		}
		filter := alertFilter{statuses: f.Statuses, institutions: f.Institutions, categories: f.Categories, severities: f.Severities}
		h.feeds = append(h.feeds, atomFeedKey{
			name:     f.Name,
			nameSum:  sha256.Sum256([]byte(f.Name)),
			tokenSum: sha256.Sum256([]byte(f.Token)),
			filter:   filter,
		})
	}
	return h
}

// authenticate returns the feed the request names, if its token is the
// feed's. An unknown feed and a wrong token get the same answer, and
// every configured feed is compared in constant time, so neither names nor
// tokens can be probed.
func (h *atomFeeds) authenticate(r *http.Request) (*atomFeedKey, bool) {
	q := r.URL.Query()
	given := q.Get("token")
	if given == "" {
		given = bearerToken(r.Header.Get("Authorization"))
	}
	if given == "" {
		return nil, false
	}
	nameSum := sha256.Sum256([]byte(q.Get("feed")))
	tokenSum := sha256.Sum256([]byte(given))
	var found *atomFeedKey
	for i := range h.feeds {
		f := &h.feeds[i]
		if subtle.ConstantTimeCompare(nameSum[:], f.nameSum[:])&subtle.ConstantTimeCompare(tokenSum[:], f.tokenSum[:]) == 1 {
			found = f
		}
	}
	return found, found != nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header, or "".
func bearerToken(header string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(rest)
}

func (h *atomFeeds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	feed, ok := h.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mediawatch feeds"`)
		writeError(w, http.StatusUnauthorized, "unknown feed or wrong token")
		return
	}
	query, err := parseAlertFilter(r, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	items, modified := h.selectAlerts(feed.filter, query)
	body, err := h.render(feed.name, describeFilter(feed.filter, query), items)
	if err != nil {
		h.opts.Logger.Error("render atom feed", "feed", feed.name, "err", err)
		writeError(w, http.StatusInternalServerError, "could not render the feed")
		return
	}
	sum := sha256.Sum256(body)
	hd := w.Header()
	hd.Set("Content-Type", atomContentType)
	hd.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	// The URL carries a secret: no shared cache may keep the answer, and
	// a reader revalidates every time (cheaply, with If-None-Match).
	hd.Set("Cache-Control", "private, no-cache")
	hd.Set("Vary", "Authorization")
	// ServeContent answers If-None-Match and If-Modified-Since with 304.
	http.ServeContent(w, r, "", modified, bytes.NewReader(body))
}

// atomItem is an alert in a feed with its triage state.
type atomItem struct {
	alert alerts.Alert
	state triage.State
}

// selectAlerts returns the newest alerts that pass both filters, newest
// first, and when the feed last changed. That time errs on the late side:
// it also counts alerts that a triage action or the passing of time took
// out of the feed (statuses and since are left out of it), so that a
// reader that only sends If-Modified-Since does not miss an alert leaving
// the feed.
func (h *atomFeeds) selectAlerts(feed, query alertFilter) ([]atomItem, time.Time) {
	scopeFeed, scopeQuery := feed, query
	scopeFeed.statuses, scopeFeed.since = nil, time.Time{}
	scopeQuery.statuses, scopeQuery.since = nil, time.Time{}
	var items []atomItem
	modified := h.started
	for _, a := range h.opts.Alerts.List(maxListed) {
		if !scopeFeed.keep(a, "") || !scopeQuery.keep(a, "") {
			continue
		}
		st := triage.NewState(a.ID)
		if h.opts.Triage != nil {
			st = h.opts.Triage.Get(a.ID)
		}
		modified = latest(modified, lastSeen(a), st.UpdatedAt)
		if feed.keep(a, st.Status) && query.keep(a, st.Status) {
			items = append(items, atomItem{alert: a, state: st})
		}
	}
	// A repeat of a story moves up: the feed is ordered by when each alert
	// was last seen, not by when it was first stored.
	slices.SortStableFunc(items, func(x, y atomItem) int { return lastSeen(y.alert).Compare(lastSeen(x.alert)) })
	return items[:min(len(items), atomMaxEntries)], modified
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// The feed as encoding/xml writes it (RFC 4287). Every value goes through
// the encoder, which escapes markup and replaces what XML cannot carry
// (control characters, invalid UTF-8) with U+FFFD.
type (
	atomXMLFeed struct {
		XMLName   xml.Name         `xml:"http://www.w3.org/2005/Atom feed"`
		ID        string           `xml:"id"`
		Title     atomXMLText      `xml:"title"`
		Subtitle  *atomXMLText     `xml:"subtitle,omitempty"`
		Updated   string           `xml:"updated"`
		Author    atomXMLPerson    `xml:"author"`
		Generator atomXMLGenerator `xml:"generator"`
		Links     []atomXMLLink    `xml:"link"`
		Entries   []atomXMLEntry   `xml:"entry"`
	}
	atomXMLText struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	}
	atomXMLPerson struct {
		Name string `xml:"name"`
	}
	atomXMLGenerator struct {
		Version string `xml:"version,attr,omitempty"`
		Name    string `xml:",chardata"`
	}
	atomXMLLink struct {
		Rel   string `xml:"rel,attr"`
		Type  string `xml:"type,attr,omitempty"`
		Href  string `xml:"href,attr"`
		Title string `xml:"title,attr,omitempty"`
	}
	atomXMLCategory struct {
		Scheme string `xml:"scheme,attr"`
		Term   string `xml:"term,attr"`
	}
	atomXMLEntry struct {
		ID         string            `xml:"id"`
		Title      atomXMLText       `xml:"title"`
		Updated    string            `xml:"updated"`
		Links      []atomXMLLink     `xml:"link"`
		Categories []atomXMLCategory `xml:"category"`
		Content    atomXMLText       `xml:"content"`
	}
)

// atomContentHTML is an entry's content: only what the alert carries for
// everyone (the redacted snippet, the rules, the count) and its triage
// status, never the evidence. html/template escapes every value for HTML,
// and encoding/xml escapes the result again for the feed.
const atomContentHTML = `<p><strong>{{.Severity}}</strong> · {{.Institution}} · {{.Category}}</p>
{{- with .Snippet}}
<blockquote><p>{{.}}</p></blockquote>
{{- end}}
<ul>
<li>Post: {{if .PostURL}}<a href="{{.PostURL}}">{{.PostTitle}}</a>{{else}}{{.PostTitle}}{{end}}</li>
{{- if or .Source .Author}}
<li>Source: {{.Source}}{{with .Author}}, by {{.}}{{end}}</li>
{{- end}}
{{- with .Rules}}
<li>Rules: {{.}}</li>
{{- end}}
<li>Seen: {{.Count}} {{if eq .Count 1}}time{{else}}times{{end}}, first {{.FirstSeen}}, last {{.LastSeen}}</li>
<li>Status: {{.Status}}{{with .EscalatedTo}} (escalated to {{.}}){{end}}</li>
{{- with .AlertURL}}
<li>Alert: <a href="{{.}}">{{.}}</a></li>
{{- end}}
</ul>`

type atomContentData struct {
	Severity, Institution, Category, Snippet string
	PostURL, PostTitle, Source, Author       string
	Rules                                    string
	Count                                    int
	FirstSeen, LastSeen                      string
	Status, EscalatedTo                      string
	AlertURL                                 string
}

func (h *atomFeeds) render(name, subtitle string, items []atomItem) ([]byte, error) {
	feed := atomXMLFeed{
		ID:        "urn:mediawatch:feed:" + name,
		Title:     atomXMLText{Type: "text", Text: "mediawatch alerts: " + name},
		Author:    atomXMLPerson{Name: "mediawatch"},
		Generator: atomXMLGenerator{Name: "mediawatch", Version: h.opts.Version},
		Entries:   make([]atomXMLEntry, 0, len(items)),
	}
	if subtitle != "" {
		feed.Subtitle = &atomXMLText{Type: "text", Text: subtitle}
	}
	if h.external != "" {
		feed.Links = append(feed.Links, atomXMLLink{Rel: "alternate", Type: "text/html", Href: h.external + "/"})
	}
	// The feed's own updated is its newest entry's, so that its body, and
	// with it its ETag, changes only when its entries do.
	updated := time.Time{}
	var buf bytes.Buffer
	for _, it := range items {
		a, st := it.alert, it.state
		updated = latest(updated, lastSeen(a), st.UpdatedAt)
		e := atomXMLEntry{
			ID:      "urn:mediawatch:alert:" + a.ID + ":" + strconv.Itoa(max(a.Count, 1)),
			Title:   atomXMLText{Type: "text", Text: atomEntryTitle(a)},
			Updated: atomTime(lastSeen(a)),
			Categories: []atomXMLCategory{
				{Scheme: "urn:mediawatch:institution", Term: a.Institution},
				{Scheme: "urn:mediawatch:category", Term: a.Category},
				{Scheme: "urn:mediawatch:severity", Term: string(a.Severity)},
				{Scheme: "urn:mediawatch:status", Term: st.Status},
			},
		}
		post := ""
		if isWebURL(a.Mention.URL) {
			post = a.Mention.URL
			e.Links = append(e.Links, atomXMLLink{Rel: "alternate", Type: "text/html", Href: post})
		}
		alertURL := ""
		if h.external != "" {
			alertURL = h.external + "/api/alerts/" + url.PathEscape(a.ID)
			rel := "related"
			if post == "" {
				rel = "alternate"
			}
			e.Links = append(e.Links, atomXMLLink{Rel: rel, Href: alertURL, Title: "the alert in mediawatch"})
		}
		postTitle := a.Mention.Title
		if postTitle == "" {
			postTitle = "(untitled)"
		}
		buf.Reset()
		if err := h.content.Execute(&buf, atomContentData{
			Severity: string(a.Severity), Institution: a.Institution, Category: a.Category, Snippet: a.Snippet,
			PostURL: post, PostTitle: postTitle, Source: a.Mention.Source, Author: a.Mention.Author,
			Rules: strings.Join(a.Rules, ", "), Count: max(a.Count, 1),
			FirstSeen: atomStamp(a.FirstSeen), LastSeen: atomStamp(lastSeen(a)),
			Status: st.Status, EscalatedTo: st.EscalatedTo, AlertURL: alertURL,
		}); err != nil {
			return nil, err
		}
		e.Content = atomXMLText{Type: "html", Text: buf.String()}
		feed.Entries = append(feed.Entries, e)
	}
	if updated.IsZero() {
		updated = h.started
	}
	feed.Updated = atomTime(updated)
	var out bytes.Buffer
	out.WriteString(xml.Header)
	enc := xml.NewEncoder(&out)
	enc.Indent("", "  ")
	if err := enc.Encode(feed); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// describeFilter says in words which alerts a feed holds: for each field,
// the values both filters let through.
func describeFilter(feed, query alertFilter) string {
	both := func(a, b []string) []string {
		switch {
		case len(a) == 0:
			return b
		case len(b) == 0:
			return a
		}
		out := []string{}
		for _, x := range a {
			if slices.Contains(b, x) {
				out = append(out, x)
			}
		}
		return out
	}
	var parts []string
	for _, f := range []struct {
		name       string
		feed, into []string
	}{
		{"institution", feed.institutions, query.institutions},
		{"category", feed.categories, query.categories},
		{"severity", feed.severities, query.severities},
		{"status", feed.statuses, query.statuses},
	} {
		switch vals := both(f.feed, f.into); {
		case vals == nil:
		case len(vals) == 0:
			parts = append(parts, f.name+" (none)")
		default:
			parts = append(parts, f.name+" "+strings.Join(vals, ", "))
		}
	}
	if since := latest(feed.since, query.since); !since.IsZero() {
		parts = append(parts, "last seen since "+atomTime(since))
	}
	if len(parts) == 0 {
		return ""
	}
	return "Alerts with " + strings.Join(parts, "; ")
}

// atomEntryTitle names severity, institution and category, then the post:
// its title, or the start of the snippet when it has none.
func atomEntryTitle(a alerts.Alert) string {
	post := strings.Join(strings.Fields(a.Mention.Title), " ")
	if post == "" {
		post = strings.Join(strings.Fields(a.Snippet), " ")
		if utf8.RuneCountInString(post) > atomSnippetTitle {
			post = string([]rune(post)[:atomSnippetTitle]) + "…"
		}
	}
	if post == "" {
		post = "(untitled)"
	}
	title := "[" + string(a.Severity) + "] " + a.Institution + " · " + a.Category + ": " + post
	if a.Count > 1 {
		title += " (seen " + strconv.Itoa(a.Count) + " times)"
	}
	return title
}

// isWebURL reports whether raw is an absolute http or https URL: the only
// links a feed hands to a reader (a post's URL comes from a hostile feed
// and could be javascript:).
func isWebURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func atomStamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
