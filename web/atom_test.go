package web

import (
	"encoding/xml"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	pressToken = "press-0123456789abcdef0123456789"
	allToken   = "all-fedcba9876543210fedcba987654"
	atomNS     = "http://www.w3.org/2005/Atom"
	// Markers of what an alert carries but a feed must not show.
	evidenceMarker    = "EVIDENCE-9f3c"
	explanationMarker = "EXPLANATION-7b1d"
)

var testAtomFeeds = []AtomFeed{
	{Name: "press-uz-leuven", Token: pressToken, Institutions: []string{"uz-leuven"}, Categories: []string{"misinformation"},
		Severities: []string{"high", "critical"}, Statuses: []string{"new", "acknowledged", "assigned", "escalated"}},
	{Name: "all", Token: allToken},
	{Name: "open", Token: ""}, // never served
}

// atomAlerts are four alerts, stored in an order that is not the order of
// when they were last seen: a4, a1, a2, a3 newest first.
func atomAlerts(now time.Time) []alerts.Alert {
	mk := func(id, inst, cat string, sev match.Severity, last time.Duration, count int) alerts.Alert {
		return alerts.Alert{
			ID: id, Institution: inst, Category: cat, Severity: sev, Rules: []string{cat + ".rule_a", cat + ".rule_b"},
			Mention: alerts.MentionRef{ID: "m-" + id, URL: "https://forum.example/t/" + id, Source: "forum", Author: "poster-" + id,
				Title: "Post " + id, Published: now.Add(-last)},
			Snippet:  "snippet of " + id + " with bsn ******818 masked",
			Findings: []alerts.Evidence{{Rule: cat + ".rule_a", Severity: sev, Field: "text", Evidence: evidenceMarker, Explanation: explanationMarker}},
			Status:   alerts.StatusNew, Count: count,
			DetectedAt: now.Add(-last - time.Duration(count-1)*time.Hour), FirstSeen: now.Add(-last - time.Duration(count-1)*time.Hour),
			LastSeen: now.Add(-last),
		}
	}
	return []alerts.Alert{
		mk("a2", "uz-leuven", "misinformation", "high", 2*time.Hour, 3),
		mk("a1", "umc-utrecht", "patient_data", "critical", time.Hour, 1),
		mk("a3", "uz-leuven", "misinformation", "low", 30*time.Hour, 1),
		mk("a4", "uz-leuven", "conduct", "high", 10*time.Minute, 1),
	}
}

// newAtomServer serves the feeds over the real alerts.Recent view and, with
// withTriage, a real triage store on a real JetStream server.
func newAtomServer(t *testing.T, list []alerts.Alert, external string, withTriage bool) *httptest.Server {
	t.Helper()
	recent := alerts.NewRecent(1000)
	for _, a := range list {
		recent.Add(a)
	}
	opts := Options{
		Alerts: recent, AtomFeeds: testAtomFeeds, ExternalURL: external,
		Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Version: "test",
	}
	if withTriage {
		opts.Triage = newTriageStore(t)
	}
	srv := httptest.NewServer(Handler(opts))
	t.Cleanup(srv.Close)
	return srv
}

type fetched struct {
	code   int
	header http.Header
	body   string
}

func fetch(t *testing.T, srv *httptest.Server, path string, header map[string]string) fetched {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{resp.StatusCode, resp.Header, string(b)}
}

func feedURL(name, token, query string) string {
	v := "/feeds/alerts.atom?feed=" + name
	if token != "" {
		v += "&token=" + token
	}
	if query != "" {
		v += "&" + query
	}
	return v
}

// The feed as a reader sees it.
type (
	testFeed struct {
		XMLName  xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
		ID       string      `xml:"id"`
		Title    string      `xml:"title"`
		Subtitle string      `xml:"subtitle"`
		Updated  string      `xml:"updated"`
		Author   string      `xml:"author>name"`
		Links    []testLink  `xml:"link"`
		Entries  []testEntry `xml:"entry"`
	}
	testLink struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	}
	testEntry struct {
		ID         string     `xml:"id"`
		Title      string     `xml:"title"`
		Updated    string     `xml:"updated"`
		Links      []testLink `xml:"link"`
		Categories []struct {
			Scheme string `xml:"scheme,attr"`
			Term   string `xml:"term,attr"`
		} `xml:"category"`
		Content struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"content"`
	}
)

// parseFeed checks that body is well-formed XML, every element of it in
// the Atom namespace (but the content's, which is text), and decodes it.
func parseFeed(t *testing.T, body string) testFeed {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(body))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, body)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space != atomNS {
			t.Errorf("element %s is not in the Atom namespace", se.Name.Local)
		}
	}
	var f testFeed
	if err := xml.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("decode feed: %v\n%s", err, body)
	}
	return f
}

func entryIDs(f testFeed) string {
	var ids []string
	for _, e := range f.Entries {
		// urn:mediawatch:alert:<id>:<count>
		parts := strings.Split(e.ID, ":")
		ids = append(ids, parts[len(parts)-2])
	}
	return strings.Join(ids, ",")
}

func TestAtomFeedTokens(t *testing.T) {
	srv := newAtomServer(t, atomAlerts(time.Now()), "", false)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	tests := []struct {
		name   string
		path   string
		header map[string]string
		want   int
	}{
		{"token in the query", feedURL("press-uz-leuven", pressToken, ""), nil, http.StatusOK},
		{"bearer token", feedURL("press-uz-leuven", "", ""), bearer(pressToken), http.StatusOK},
		{"bearer, any case", feedURL("all", "", ""), map[string]string{"Authorization": "bearer  " + allToken}, http.StatusOK},
		{"no token", feedURL("press-uz-leuven", "", ""), nil, http.StatusUnauthorized},
		{"wrong token", feedURL("press-uz-leuven", pressToken[:len(pressToken)-1]+"X", ""), nil, http.StatusUnauthorized},
		{"token's prefix", feedURL("press-uz-leuven", pressToken[:24], ""), nil, http.StatusUnauthorized},
		{"another feed's token", feedURL("press-uz-leuven", allToken, ""), nil, http.StatusUnauthorized},
		{"wrong bearer token", feedURL("all", "", ""), bearer(pressToken), http.StatusUnauthorized},
		{"basic authentication", feedURL("all", "", ""), map[string]string{"Authorization": "Basic " + allToken}, http.StatusUnauthorized},
		{"unknown feed", feedURL("press-umc-utrecht", pressToken, ""), nil, http.StatusUnauthorized},
		{"no feed", "/feeds/alerts.atom?token=" + allToken, nil, http.StatusUnauthorized},
		{"feed without a token, no token", feedURL("open", "", ""), nil, http.StatusUnauthorized},
		{"feed without a token, empty bearer", feedURL("open", "", ""), bearer(""), http.StatusUnauthorized},
		{"bad filter before authentication", feedURL("all", "nope", "severity=urgent"), nil, http.StatusUnauthorized},
		{"bad filter after authentication", feedURL("all", allToken, "severity=urgent"), nil, http.StatusBadRequest},
	}
	var refused []fetched
	for _, tt := range tests {
		got := fetch(t, srv, tt.path, tt.header)
		if got.code != tt.want {
			t.Errorf("%s: %d, want %d (%s)", tt.name, got.code, tt.want, got.body)
			continue
		}
		switch got.code {
		case http.StatusOK:
			if ct := got.header.Get("Content-Type"); ct != "application/atom+xml; charset=utf-8" {
				t.Errorf("%s: Content-Type %q", tt.name, ct)
			}
			parseFeed(t, got.body)
		case http.StatusUnauthorized:
			if !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("%s: WWW-Authenticate %q", tt.name, got.header.Get("WWW-Authenticate"))
			}
			refused = append(refused, got)
		}
	}
	// An unknown feed and a wrong token get the same answer, so that feed
	// names cannot be probed.
	for _, r := range refused[1:] {
		if r.body != refused[0].body || r.header.Get("Content-Type") != refused[0].header.Get("Content-Type") {
			t.Errorf("refusals differ: %q and %q", refused[0].body, r.body)
		}
	}
}

// TestAtomTokensComparedInConstantTime reads atom.go: the feed and token
// are checked with crypto/subtle, and never with ==, != or a library
// comparison that stops at the first difference.
func TestAtomTokensComparedInConstantTime(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "atom.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The int a constant-time comparison returns is no secret.
	var compared func(e ast.Expr) bool
	compared = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.CallExpr:
			return types.ExprString(e.Fun) == "subtle.ConstantTimeCompare"
		case *ast.BinaryExpr:
			return e.Op == token.AND && compared(e.X) && compared(e.Y)
		case *ast.ParenExpr:
			return compared(e.X)
		}
		return false
	}
	secret := func(e ast.Expr) bool {
		if compared(e) {
			return false
		}
		s := strings.ToLower(types.ExprString(e))
		return strings.Contains(s, "token") || strings.Contains(s, "sum") || strings.Contains(s, "given")
	}
	emptyString := func(e ast.Expr) bool {
		lit, ok := e.(*ast.BasicLit)
		return ok && lit.Value == `""`
	}
	constantTime := 0
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (secret(n.X) || secret(n.Y)) && !emptyString(n.X) && !emptyString(n.Y) {
				t.Errorf("%s: %s compares a secret with %s", fset.Position(n.Pos()), types.ExprString(n), n.Op)
			}
		case *ast.CallExpr:
			name := types.ExprString(n.Fun)
			if name == "subtle.ConstantTimeCompare" && len(n.Args) == 2 && secret(n.Args[0]) && secret(n.Args[1]) {
				constantTime++
			}
			if slices.Contains([]string{"bytes.Equal", "bytes.Compare", "strings.Compare", "strings.EqualFold", "slices.Equal", "reflect.DeepEqual"}, name) {
				for _, a := range n.Args {
					if secret(a) {
						t.Errorf("%s: %s compares a secret", fset.Position(n.Pos()), types.ExprString(n))
					}
				}
			}
		}
		return true
	})
	if constantTime < 2 {
		t.Errorf("%d subtle.ConstantTimeCompare calls on the feed name and token, want 2", constantTime)
	}
}

func TestAtomFeedFilters(t *testing.T) {
	srv := newAtomServer(t, atomAlerts(time.Now()), "", true)
	check := func(step, feed, token, query, want string) {
		t.Helper()
		got := fetch(t, srv, feedURL(feed, token, query), nil)
		if got.code != http.StatusOK {
			t.Errorf("%s: %s %s: %d %s", step, feed, query, got.code, got.body)
			return
		}
		if ids := entryIDs(parseFeed(t, got.body)); ids != want {
			t.Errorf("%s: %s ?%s: %q, want %q", step, feed, query, ids, want)
		}
	}
	tests := []struct{ feed, token, query, want string }{
		{"press-uz-leuven", pressToken, "", "a2"},
		{"all", allToken, "", "a4,a1,a2,a3"},
		{"all", allToken, "institution=uz-leuven", "a4,a2,a3"},
		{"all", allToken, "since=3h", "a4,a1,a2"},
		{"all", allToken, "since=" + time.Now().Add(-90*time.Minute).UTC().Format(time.RFC3339), "a4,a1"},
		{"all", allToken, "severity=high,critical&category=misinformation,conduct", "a4,a2"},
		{"all", allToken, "status=new", "a4,a1,a2,a3"},
		// A query narrows a feed's own filter and never widens it.
		{"press-uz-leuven", pressToken, "institution=umc-utrecht", ""},
		{"press-uz-leuven", pressToken, "severity=low", ""},
		{"press-uz-leuven", pressToken, "category=conduct", ""},
		{"press-uz-leuven", pressToken, "status=resolved", ""},
		{"press-uz-leuven", pressToken, "since=1h", ""},
		{"press-uz-leuven", pressToken, "severity=high&status=new", "a2"},
	}
	for _, tt := range tests {
		check("before triage", tt.feed, tt.token, tt.query, tt.want)
	}

	// The triage state counts: acknowledged is still in the press feed,
	// resolved is not.
	if code, body := post(t, srv, "/api/alerts/a2/ack", `{}`, nil); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, body)
	}
	check("acknowledged", "press-uz-leuven", pressToken, "", "a2")
	check("acknowledged", "press-uz-leuven", pressToken, "status=new", "")
	check("acknowledged", "all", allToken, "status=new", "a4,a1,a3")
	if code, body := post(t, srv, "/api/alerts/a2/resolve", `{"note":"rebutted"}`, nil); code != http.StatusOK {
		t.Fatalf("resolve: %d %s", code, body)
	}
	check("resolved", "press-uz-leuven", pressToken, "", "")
	check("resolved", "all", allToken, "status=resolved", "a2")
}

func TestAtomFeedShape(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
	list := atomAlerts(now)
	// A volume spike: no post, no URL.
	spike := alerts.VolumeAlert("uz-leuven", alerts.Volume{Count: 40, Baseline: 4, WindowSeconds: 3600}, now.Add(-5*time.Hour))
	list = append(list, spike)
	srv := newAtomServer(t, list, "https://mediawatch.example.org/", false)
	got := fetch(t, srv, feedURL("all", allToken, ""), nil)
	if got.code != http.StatusOK {
		t.Fatalf("%d %s", got.code, got.body)
	}
	if !strings.HasPrefix(got.body, `<?xml version="1.0" encoding="UTF-8"?>`) {
		t.Errorf("no XML declaration: %.60s", got.body)
	}
	f := parseFeed(t, got.body)
	if f.ID != "urn:mediawatch:feed:all" || f.Title != "mediawatch alerts: all" || f.Author != "mediawatch" {
		t.Errorf("feed id %q, title %q, author %q", f.ID, f.Title, f.Author)
	}
	// The feed's updated is its newest entry's.
	if want := now.Add(-10 * time.Minute).Format(time.RFC3339); f.Updated != want {
		t.Errorf("feed updated %q, want %q", f.Updated, want)
	}
	if len(f.Links) != 1 || f.Links[0].Rel != "alternate" || f.Links[0].Href != "https://mediawatch.example.org/" {
		t.Errorf("feed links %+v", f.Links)
	}
	if strings.Contains(got.body, allToken) {
		t.Error("the feed quotes its own token")
	}
	if ids := entryIDs(f); ids != "a4,a1,a2,"+spike.ID+",a3" {
		t.Fatalf("entries %s", ids)
	}

	a2 := f.Entries[2]
	if a2.ID != "urn:mediawatch:alert:a2:3" {
		t.Errorf("id %q, want the alert id and its count", a2.ID)
	}
	if a2.Title != "[high] uz-leuven · misinformation: Post a2 (seen 3 times)" {
		t.Errorf("title %q", a2.Title)
	}
	if want := now.Add(-2 * time.Hour).Format(time.RFC3339); a2.Updated != want {
		t.Errorf("updated %q, want %q (last seen)", a2.Updated, want)
	}
	wantLinks := []testLink{{"alternate", "https://forum.example/t/a2"}, {"related", "https://mediawatch.example.org/api/alerts/a2"}}
	if !slices.Equal(a2.Links, wantLinks) {
		t.Errorf("links %+v, want %+v", a2.Links, wantLinks)
	}
	var cats []string
	for _, c := range a2.Categories {
		cats = append(cats, c.Scheme+"="+c.Term)
	}
	if want := "urn:mediawatch:institution=uz-leuven,urn:mediawatch:category=misinformation,urn:mediawatch:severity=high,urn:mediawatch:status=new"; strings.Join(cats, ",") != want {
		t.Errorf("categories %s", cats)
	}
	if a2.Content.Type != "html" {
		t.Errorf("content type %q", a2.Content.Type)
	}
	for _, want := range []string{
		"snippet of a2 with bsn ******818 masked",
		"misinformation.rule_a, misinformation.rule_b",
		"Seen: 3 times, first 2026-11-23 10:30 UTC, last 2026-11-23 12:30 UTC",
		"Status: new",
		`<a href="https://forum.example/t/a2">Post a2</a>`,
		"Source: forum, by poster-a2",
		`<a href="https://mediawatch.example.org/api/alerts/a2">`,
	} {
		if !strings.Contains(a2.Content.Text, want) {
			t.Errorf("content lacks %q:\n%s", want, a2.Content.Text)
		}
	}
	// Only what every alert carries: never the findings' evidence.
	for _, leak := range []string{evidenceMarker, explanationMarker} {
		if strings.Contains(got.body, leak) {
			t.Errorf("the feed shows %q from the findings", leak)
		}
	}

	// The spike has no post: its title says what it is, and its link is
	// the alert in the dashboard.
	sp := f.Entries[3]
	if !strings.HasPrefix(sp.Title, "[high] uz-leuven · volume_spike: 40 mentions in the last 1h0m0s") ||
		len(sp.Links) != 1 || sp.Links[0].Rel != "alternate" || sp.Links[0].Href != "https://mediawatch.example.org/api/alerts/"+spike.ID {
		t.Errorf("spike entry: %q %+v", sp.Title, sp.Links)
	}

	// Without http.external_url there is no dashboard link.
	srv = newAtomServer(t, list, "", false)
	f = parseFeed(t, fetch(t, srv, feedURL("all", allToken, ""), nil).body)
	if len(f.Links) != 0 || len(f.Entries[2].Links) != 1 || len(f.Entries[3].Links) != 0 || strings.Contains(f.Entries[2].Content.Text, "/api/alerts/") {
		t.Errorf("links without external_url: %+v %+v %+v", f.Links, f.Entries[2].Links, f.Entries[3].Links)
	}
}

func TestAtomFeedNewest100(t *testing.T) {
	now := time.Now().UTC()
	var list []alerts.Alert
	for i := range 150 {
		list = append(list, alerts.Alert{ID: "x" + strconv.Itoa(i), Institution: "uz-leuven", Category: "conduct", Severity: "low",
			Count: 1, LastSeen: now.Add(time.Duration(i-150) * time.Minute)})
	}
	// A repeat of the oldest story comes to the top.
	list[0].Count, list[0].LastSeen = 2, now
	srv := newAtomServer(t, list, "", false)
	f := parseFeed(t, fetch(t, srv, feedURL("all", allToken, ""), nil).body)
	if len(f.Entries) != 100 {
		t.Fatalf("%d entries, want 100", len(f.Entries))
	}
	if f.Entries[0].ID != "urn:mediawatch:alert:x0:2" || f.Entries[1].ID != "urn:mediawatch:alert:x149:1" || f.Entries[99].ID != "urn:mediawatch:alert:x51:1" {
		t.Errorf("entries %s … %s, %s", f.Entries[0].ID, f.Entries[1].ID, f.Entries[99].ID)
	}
}

func TestAtomFeedConditionalGet(t *testing.T) {
	srv := newAtomServer(t, atomAlerts(time.Now()), "", true)
	path := feedURL("press-uz-leuven", pressToken, "")
	first := fetch(t, srv, path, nil)
	etag, lastModified := first.header.Get("ETag"), first.header.Get("Last-Modified")
	if first.code != http.StatusOK || etag == "" || lastModified == "" {
		t.Fatalf("first GET: %d, ETag %q, Last-Modified %q", first.code, etag, lastModified)
	}
	if cc := first.header.Get("Cache-Control"); !strings.Contains(cc, "private") {
		t.Errorf("Cache-Control %q: a URL with a token must not be kept by shared caches", cc)
	}
	again := fetch(t, srv, path, nil)
	if again.body != first.body || again.header.Get("ETag") != etag {
		t.Error("the same feed twice differs")
	}
	for _, h := range []map[string]string{
		{"If-None-Match": etag},
		{"If-None-Match": `"other", ` + etag},
		{"If-Modified-Since": lastModified},
		{"Authorization": "Bearer " + pressToken, "If-None-Match": etag},
	} {
		p := path
		if h["Authorization"] != "" {
			p = feedURL("press-uz-leuven", "", "")
		}
		if got := fetch(t, srv, p, h); got.code != http.StatusNotModified || got.body != "" {
			t.Errorf("%v: %d with %d bytes, want 304 and nothing", h, got.code, len(got.body))
		}
	}
	if got := fetch(t, srv, path, map[string]string{"If-None-Match": `"other"`}); got.code != http.StatusOK {
		t.Errorf("another ETag: %d, want 200", got.code)
	}
	// A bad token gets no 304, whatever it sends.
	if got := fetch(t, srv, feedURL("press-uz-leuven", allToken, ""), map[string]string{"If-None-Match": etag}); got.code != http.StatusUnauthorized {
		t.Errorf("wrong token with the ETag: %d, want 401", got.code)
	}

	// A triage action changes the entry (its status), so the feed is sent
	// again; the clock is moved past the second of Last-Modified first.
	time.Sleep(1100 * time.Millisecond)
	if code, body := post(t, srv, "/api/alerts/a2/ack", `{}`, nil); code != http.StatusOK {
		t.Fatalf("ack: %d %s", code, body)
	}
	changed := fetch(t, srv, path, map[string]string{"If-None-Match": etag})
	if changed.code != http.StatusOK || changed.header.Get("ETag") == etag || !strings.Contains(changed.body, "Status: acknowledged") {
		t.Fatalf("after ack: %d, ETag %q (was %q)", changed.code, changed.header.Get("ETag"), etag)
	}
	if got := fetch(t, srv, path, map[string]string{"If-Modified-Since": lastModified}); got.code != http.StatusOK {
		t.Errorf("after ack, If-Modified-Since the old time: %d, want 200", got.code)
	}

	// An alert leaving the feed (resolved) is a change too, for readers
	// that only send If-Modified-Since.
	lastModified = changed.header.Get("Last-Modified")
	time.Sleep(1100 * time.Millisecond)
	if code, body := post(t, srv, "/api/alerts/a2/resolve", `{}`, nil); code != http.StatusOK {
		t.Fatalf("resolve: %d %s", code, body)
	}
	gone := fetch(t, srv, path, map[string]string{"If-Modified-Since": lastModified})
	if gone.code != http.StatusOK || len(parseFeed(t, gone.body).Entries) != 0 {
		t.Errorf("after resolve, If-Modified-Since: %d, want 200 and no entries", gone.code)
	}
	if got := fetch(t, srv, path, map[string]string{"If-None-Match": gone.header.Get("ETag")}); got.code != http.StatusNotModified {
		t.Errorf("empty feed, same ETag: %d, want 304", got.code)
	}
}

func TestAtomFeedHostileContent(t *testing.T) {
	hostile := []string{
		`</content><script>alert(1)</script>`,
		`]]><!-- --><![CDATA[ & &amp; &#0; "' <x:y xmlns:x="urn:x"/>`,
		"control\x00\x01\x07\x0b\x0c\x1b[31m\x7f\u0085\u2028\ufffe characters",
		"invalid UTF-8 \xff\xfe\xc3\x28 \xed\xa0\x80 end",
	}
	now := time.Now().UTC()
	var list []alerts.Alert
	for i, h := range hostile {
		list = append(list, alerts.Alert{
			ID: "h" + strconv.Itoa(i) + h, Institution: "uz-leuven" + h, Category: "conduct" + h, Severity: match.Severity("high" + h),
			Rules:   []string{"rule" + h},
			Mention: alerts.MentionRef{URL: "javascript:alert(1)//" + h, Source: "forum" + h, Author: h, Title: h},
			Snippet: h, Count: 1, FirstSeen: now, LastSeen: now.Add(-time.Duration(i) * time.Minute),
		})
	}
	list = append(list, alerts.Alert{ID: "link", Institution: "uz-leuven", Category: "conduct", Severity: "high", Count: 1, LastSeen: now.Add(-time.Hour),
		Mention: alerts.MentionRef{URL: `https://forum.example/t?a=1&b="><script>x</script>`, Title: hostile[0]}})
	srv := newAtomServer(t, list, "https://mediawatch.example.org", false)
	got := fetch(t, srv, feedURL("all", allToken, ""), nil)
	if got.code != http.StatusOK {
		t.Fatalf("%d %s", got.code, got.body)
	}
	if strings.Contains(got.body, "<script") || strings.Contains(got.body, "</content><") {
		t.Errorf("markup from a post came through unescaped:\n%s", got.body)
	}
	f := parseFeed(t, got.body) // well-formed: the decoder takes it
	if len(f.Entries) != len(list) {
		t.Fatalf("%d entries, want %d", len(f.Entries), len(list))
	}
	for i, e := range f.Entries[:len(hostile)] {
		for _, l := range e.Links {
			if !strings.HasPrefix(l.Href, "https://mediawatch.example.org/api/alerts/") {
				t.Errorf("entry %d links to %q", i, l.Href)
			}
		}
		// The content is HTML in which the post's text is only text.
		if strings.Contains(e.Content.Text, "<script") || strings.Contains(e.Content.Text, `href="javascript`) {
			t.Errorf("entry %d content carries markup or a script link:\n%s", i, e.Content.Text)
		}
		for _, r := range e.Title + e.Content.Text {
			if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
				t.Errorf("entry %d: control character %U reached the reader", i, r)
			}
		}
	}
	// What XML can carry arrives as it was written.
	if want := "[high] uz-leuven · conduct: " + hostile[0]; f.Entries[len(hostile)].Title != want {
		t.Errorf("title %q, want %q", f.Entries[len(hostile)].Title, want)
	}
	if !strings.Contains(f.Entries[0].Content.Text, "&lt;/content&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("snippet not escaped as HTML text:\n%s", f.Entries[0].Content.Text)
	}
	if l := f.Entries[len(hostile)].Links; len(l) == 0 || l[0].Href != `https://forum.example/t?a=1&b="><script>x</script>` {
		t.Errorf("a web link with markup in it is kept, escaped: %+v", l)
	}
}
