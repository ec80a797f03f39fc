package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/notify"
	"github.com/nats-io/nats.go"
)

// capture keeps every body that leaves the daemon, by where it went.
type capture struct {
	mu     sync.Mutex
	bodies map[string][]string
}

func (c *capture) add(where, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodies[where] = append(c.bodies[where], body)
}

func (c *capture) snapshot() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]string{}
	for k, v := range c.bodies {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Posts leaking Dutch and Belgian numbers go through the whole daemon; every
// copy that leaves it — every NATS subject outside the internal MENTIONS
// stream and JetStream's own request traffic, and every webhook of every
// type, and the Atom feed — is scanned with the matcher's own validators. Not one valid BSN or
// national number may appear.
func TestNoPersonalNumberLeavesTheDaemon(t *testing.T) {
	fs := newFeedServer(t)
	captured := &capture{bodies: map[string][]string{}}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		captured.add("webhook "+r.URL.Path, string(b))
		w.WriteHeader(http.StatusOK)
		if r.URL.Path == "/teams" {
			_, _ = w.Write([]byte("1")) // what a Teams webhook answers
		}
	}))
	defer hooks.Close()

	cfg := quietConfig(t, t.TempDir())
	cfg.Feeds = []config.Feed{{ID: "leaks", URL: fs.URL + "/leaks.rss", Source: "forum", Interval: config.Duration(time.Hour)}}
	cfg.Receivers = []notify.ReceiverConfig{
		{Name: "generic", Type: notify.TypeGeneric, URL: hooks.URL + "/generic"},
		{Name: "slack", Type: notify.TypeSlack, URL: hooks.URL + "/slack"},
		{Name: "teams", Type: notify.TypeTeams, URL: hooks.URL + "/teams"},
		{Name: "mattermost", Type: notify.TypeMattermost, URL: hooks.URL + "/mattermost"},
		{Name: "press", Type: notify.TypeNATS},
	}
	cfg.Routing = config.Route{Receiver: "generic", Routes: []config.Route{
		{Receiver: "slack", Continue: true}, {Receiver: "teams", Continue: true},
		{Receiver: "mattermost", Continue: true}, {Receiver: "press", Continue: true}, {Receiver: "generic"},
	}}
	shorten(&cfg.Routing)
	// Behind an authenticating proxy that passes the user and their groups.
	cfg.HTTP.UserHeader, cfg.HTTP.RolesHeader = "X-Forwarded-User", "X-Forwarded-Groups"
	// And an Atom feed for the press office, its token from the environment
	// as in production.
	const atomToken = "press-office-token-0123456789abcdef"
	t.Setenv("MEDIAWATCH_TEST_ATOM_TOKEN", atomToken)
	withAtom, err := config.Parse([]byte("http: {atom_feeds: [{name: press, token_env: MEDIAWATCH_TEST_ATOM_TOKEN}]}"), "atom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.AtomFeeds = withAtom.HTTP.AtomFeeds

	d := startDaemon(t, cfg)
	nc, err := nats.Connect(d.app.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.Subscribe(">", func(m *nats.Msg) {
		switch {
		case strings.HasPrefix(m.Subject, "mediawatch.mentions."), // the internal record of the post itself
			strings.HasPrefix(m.Subject, "$JS."), strings.HasPrefix(m.Subject, "_INBOX."): // requests and deliveries
			return
		}
		captured.add("nats "+m.Subject, string(m.Data))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.app.PollNow(context.Background(), "leaks"); err != nil {
		t.Fatal(err)
	}

	// Every receiver has been notified about both institutions.
	eventually(t, "every receiver notified", func() error {
		got := captured.snapshot()
		for _, where := range []string{"webhook /generic", "webhook /slack", "webhook /teams", "webhook /mattermost", "nats mediawatch.notifications.press"} {
			text := strings.Join(got[where], "\n")
			if !strings.Contains(text, "umc-utrecht") || !strings.Contains(text, "uz-leuven") {
				return fmt.Errorf("%s has not had both institutions yet (%d bodies)", where, len(got[where]))
			}
		}
		return nil
	})
	waitIdle(t, d.app.NATSURL())
	resp, err := http.Get("http://" + d.app.HTTPAddr() + "/feeds/alerts.atom?feed=press&token=" + atomToken)
	if err != nil {
		t.Fatal(err)
	}
	atom, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(atom), "umc-utrecht") {
		t.Fatalf("atom feed: %d %.300s", resp.StatusCode, atom)
	}
	captured.add("atom /feeds/alerts.atom", string(atom))
	// And every alert's page, as a viewer (not a privacy officer) sees it:
	// the post in full, its personal data masked.
	for _, a := range readAlerts(t, d.app.NATSURL()) {
		var page string
		eventually(t, "page of alert "+a.alert.ID, func() error {
			req, _ := http.NewRequest(http.MethodGet, "http://"+d.app.HTTPAddr()+"/alerts/"+a.alert.ID, nil)
			req.Header.Set("X-Forwarded-User", "anna@umcutrecht.example")
			req.Header.Set("X-Forwarded-Groups", "viewer")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%d %.300s", resp.StatusCode, b)
			}
			page = string(b)
			return nil
		})
		if a.alert.Mention.Seq != 0 && !strings.Contains(page, `class="post-body"`) {
			t.Errorf("the page of alert %s does not show the post", a.alert.ID)
		}
		captured.add("page /alerts/"+a.alert.ID, page)
	}

	got := captured.snapshot()
	alertsSeen := 0
	for where, bodies := range got {
		if strings.HasPrefix(where, "nats mediawatch.alerts.") {
			alertsSeen += len(bodies)
		}
		for _, body := range bodies {
			if bsns := match.FindBSNs(body); len(bsns) > 0 {
				t.Errorf("%s carries BSN %v: %.300s", where, bsns, body)
			}
			if nns := match.FindBelgianNNs(body); len(nns) > 0 {
				t.Errorf("%s carries national number %v: %.300s", where, nns, body)
			}
		}
	}
	if alertsSeen < 4 {
		t.Errorf("%d alerts seen on NATS, want the 4 leaks", alertsSeen)
	}
	// The evidence is shown only to the privacy officer, only with a
	// reason, and every reveal is on the audit trail first.
	var leak string
	for _, a := range readAlerts(t, d.app.NATSURL()) {
		if a.alert.Institution == "umc-utrecht" && a.alert.Category == match.CategoryPatientData && strings.Contains(a.alert.Mention.URL, "/t/1001") {
			leak = a.alert.ID
		}
	}
	if leak == "" {
		t.Fatal("no alert for the first leak")
	}
	reveal := func(user, groups, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+d.app.HTTPAddr()+"/api/alerts/"+leak+"/reveal", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-User", user)
		req.Header.Set("X-Forwarded-Groups", groups)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := reveal("anna@umcutrecht.example", "comms,press", `{"reason":"curious"}`); code != http.StatusForbidden || strings.Contains(body, "111222333") {
		t.Errorf("reveal by the communications team: %d %s, want 403", code, body)
	}
	if code, _ := reveal("pieter@umcutrecht.example", "privacy", `{}`); code != http.StatusBadRequest {
		t.Errorf("reveal without a reason: %d, want 400", code)
	}
	code, body := reveal("pieter@umcutrecht.example", "staff, privacy", `{"reason":"datalek melden bij de AP"}`)
	if code != http.StatusOK || !strings.Contains(body, "111222333") {
		t.Errorf("reveal by the privacy officer: %d %s, want the BSN", code, body)
	}
	js, closeJS := connectJS(t, d.app.NATSURL())
	defer closeJS()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	auditLog, err := audit.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	records, err := auditLog.Query(ctx, audit.Query{Kind: audit.KindReveal})
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1 {
		t.Fatalf("audit holds %d reveals, want 1: refused reveals show nothing and record nothing", len(records))
	}
	if ev := records[0]; ev.Kind != audit.KindReveal || ev.Action != "reveal" || ev.Actor != "pieter@umcutrecht.example" ||
		ev.AlertID != leak || ev.Reason != "datalek melden bij de AP" || len(ev.Rules) == 0 || ev.Mention == "" {
		t.Errorf("audit record %+v", ev)
	}

	// The check itself finds what it must: the feed as served has them all.
	raw, _ := http.Get(fs.URL + "/leaks.rss")
	b, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	if len(match.FindBSNs(string(b))) < 2 || len(match.FindBelgianNNs(string(b))) < 2 {
		t.Fatalf("the validators do not find the numbers in the feed itself: the test would prove nothing")
	}
}
