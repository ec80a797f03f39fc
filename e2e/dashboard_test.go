package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/config"
)

// testTimeout bounds each browser test as a whole.
const testTimeout = 3 * time.Minute

// leakedBSN is the citizen service number of the leaked post in
// testdata/feeds/shift-2.rss; it passes the 11-check.
const leakedBSN = "234567818"

// A shift on the dashboard: an analyst has the queue open when a post
// leaking a patient's BSN comes in; the row appears without a reload. The
// alert shows the evidence with the number masked, to the viewer too, who
// cannot reveal it; the privacy officer can, with a reason that lands in
// the audit log first; the analyst acknowledges and resolves it; search
// finds the post. In English and in Dutch, on a laptop and on a phone.
func TestShift(t *testing.T) {
	browserPath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	shots := artifactsDir(t)

	feeds := newFeedServer(t, map[string]string{"/zorgforum.rss": "shift-1.rss"})
	cfg := testConfig(t)
	cfg.Feeds = []config.Feed{feeds.feed("zorgforum", "/zorgforum.rss", "forum")}
	d := startDaemon(t, cfg)
	browser := newBrowser(ctx, t, browserPath)

	// The analyst logs in and has the queue open, with the two alerts of the
	// feed's first poll.
	an := newTab(t, browser, d.base, analyst)
	an.login(analyst)
	an.reloadUntil("the first poll's two alerts", "/", `document.querySelectorAll("#queue tbody tr[data-id]").length >= 2`, actionTimeout)
	poll[bool](an, "the live updates to connect", `document.getElementById("live-status").dataset.state === "live"`, actionTimeout)
	an.do("mark the page and watch the queue", chromedp.Evaluate[chromedp.Void](`(() => {
		window.__noReload = 1;
		const body = document.querySelector("#queue tbody");
		new MutationObserver(() => {
			if (!window.__rowAt && body.querySelector("tr[data-id]") && body.innerText.includes("Lange nachtdienst")) {
				window.__rowAt = Date.now();
			}
		}).observe(body, {childList: true, subtree: true});
	})()`))

	// A post leaking a BSN arrives.
	feeds.serve("/zorgforum.rss", "shift-2.rss")
	polled := time.Now()
	if err := d.app.PollNow(ctx, "zorgforum"); err != nil {
		t.Fatalf("poll: %v", err)
	}
	pollTook := time.Since(polled)
	id := poll[string](an, "the new alert's row", `(() => {
		const row = [...document.querySelectorAll("#queue tbody tr[data-id]")].find(r => r.innerText.includes("Lange nachtdienst"));
		return row ? row.dataset.id : "";
	})()`, 20*time.Second)
	rowAt := eval[int64](an, "window.__rowAt")
	t.Logf("live: the new alert's row was in the open queue %v after PollNow began (the poll itself, fetch to MENTIONS, took %v)",
		time.UnixMilli(rowAt).Sub(polled).Round(time.Millisecond), pollTook.Round(time.Millisecond))
	if !eval[bool](an, "window.__noReload === 1") {
		t.Fatal("the queue page was reloaded to show the new alert; want it added live")
	}
	row := fmt.Sprintf(`#queue tbody tr[data-id=%q]`, id)
	if !an.has(row + ".fresh.sev-critical.st-new") {
		t.Errorf("new row: %s", eval[string](an, fmt.Sprintf("document.querySelector(%q).outerHTML", row)))
	}
	if status := eval[string](an, `document.getElementById("live-status").innerText`); !strings.Contains(status, "New alert:") || !strings.Contains(status, "Lange nachtdienst") {
		t.Errorf("the live status says %q; want the new alert announced", status)
	}
	if strings.Contains(an.html(), leakedBSN) {
		t.Fatal("the queue shows the leaked BSN")
	}
	an.screenshot(shots, "shift-queue-en")

	// Its page: the evidence marked, the number masked.
	an.load("open the new alert", chromedp.Click(chromedp.CSS(row+" a.open")))
	if got := an.path(); got != "/alerts/"+id {
		t.Fatalf("the row's link led to %s", got)
	}
	checkRedacted := func(tb *tab) {
		t.Helper()
		if !tb.has(".post-body mark.evidence") {
			t.Errorf("%s: the post shows no evidence marked", tb.name)
		}
		if !tb.has(".post-body .masked") {
			t.Errorf("%s: the post shows no masked personal data", tb.name)
		}
		if strings.Contains(tb.text(), leakedBSN) || strings.Contains(tb.html(), leakedBSN) {
			t.Errorf("%s: the alert page shows the BSN", tb.name)
		}
	}
	checkRedacted(an)
	if an.has(".reveal-form") {
		t.Error("the analyst is offered to reveal the evidence; only the privacy role may")
	}
	an.screenshot(shots, "shift-alert-en")

	// The same in Dutch, chosen with the language switch.
	an.load("switch to Dutch", chromedp.Evaluate[chromedp.Void](`(() => {
		const sel = document.getElementById("pref-lang");
		sel.value = "nl";
		sel.dispatchEvent(new Event("change", {bubbles: true}));
	})()`))
	if lang := eval[string](an, "document.documentElement.lang"); lang != "nl" {
		t.Fatalf("after switching to Dutch <html lang=%q>", lang)
	}
	if got := an.path(); got != "/alerts/"+id {
		t.Errorf("the language switch went to %s, want back to the alert", got)
	}
	for _, want := range []string{"Meldingen", "Het bericht", "Geschiedenis", "Bevestigen"} {
		if txt := an.text(); !strings.Contains(txt, want) {
			t.Errorf("Dutch alert page lacks %q:\n%s", want, txt)
		}
	}
	checkRedacted(an)
	an.screenshot(shots, "shift-alert-nl")
	an.load("back to the queue", chromedp.Click(chromedp.CSS(`nav a[href="/"]`)))
	if h1 := eval[string](an, `document.querySelector("h1").innerText`); !strings.Contains(h1, "Meldingen") {
		t.Errorf("Dutch queue heading %q, want Meldingen", h1)
	}
	if !an.has(row) {
		t.Error("the new alert is not in the queue after a reload")
	}
	an.screenshot(shots, "shift-queue-nl")

	// On a phone the queue fits the screen: no sideways scrolling.
	an.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	an.open("/", http.StatusOK)
	fit := eval[map[string]float64](an, `({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})`)
	if fit["scroll"] > fit["inner"] || fit["inner"] > 390 {
		t.Errorf("queue on a 390×844 phone: %v CSS pixels wide in a viewport of %v; want no horizontal scrolling", fit["scroll"], fit["inner"])
	}
	an.screenshot(shots, "shift-queue-phone")
	an.do("laptop viewport", chromedp.EmulateViewport(viewWidth, viewHeight))

	// The viewer sees the alert redacted, cannot reveal, and the server
	// refuses a reveal posted from the page all the same.
	vw := newTab(t, browser, d.base, viewer)
	vw.login(viewer)
	vw.open("/alerts/"+id, http.StatusOK)
	checkRedacted(vw)
	if vw.has(".reveal-form") || vw.has(`form[action$="/act"]`) {
		t.Error("the viewer is offered to reveal or triage")
	}
	refused := eval[map[string]any](vw, fmt.Sprintf(`fetch("/alerts/%s/reveal", {
		method: "POST", credentials: "same-origin",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "reason=x",
	}).then(async r => ({status: r.status, body: await r.text()}))`, id), chromedp.EvalAwaitPromise)
	if refused["status"] != float64(http.StatusForbidden) {
		t.Errorf("reveal posted by the viewer: %v, want 403", refused["status"])
	}
	if body, _ := refused["body"].(string); strings.Contains(body, leakedBSN) {
		t.Error("the refused reveal shows the BSN")
	}

	// The privacy officer reveals it, for a reason that is audited.
	po := newTab(t, browser, d.base, privacyOfficer)
	po.login(privacyOfficer)
	po.open("/alerts/"+id, http.StatusOK)
	checkRedacted(po)
	if po.has(`form[action$="/act"]`) {
		t.Error("the privacy officer is offered triage actions")
	}
	const reason = "Melding datalek aan de functionaris gegevensbescherming"
	resp := po.load("reveal the evidence",
		chromedp.SendKeys(chromedp.ID("reason"), reason),
		chromedp.Click(chromedp.CSS(".reveal-form button[type=submit]")),
	)
	if resp.Status != http.StatusOK || !strings.Contains(header(resp.Headers, "Cache-Control"), "no-store") {
		t.Errorf("reveal: %d with Cache-Control %q, want 200 and no-store", resp.Status, header(resp.Headers, "Cache-Control"))
	}
	if revealed := eval[string](po, `[...document.querySelectorAll("td.revealed")].map(td => td.innerText).join(" ")`); !strings.Contains(revealed, leakedBSN) {
		t.Errorf("revealed evidence %q lacks the BSN", revealed)
	}
	if txt := po.text(); !strings.Contains(txt, reason) {
		t.Errorf("the revealed page does not say why it shows the evidence:\n%s", txt)
	}
	js := d.jetStream(t)
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	rec, err := lastMsg[audit.Event](actx, js, audit.Stream, audit.SubjectPrefix+audit.KindReveal)
	acancel()
	if err != nil {
		t.Fatalf("audit record of the reveal: %v", err)
	}
	if rec.Actor != privacyOfficer || rec.AlertID != id || rec.Reason != reason || rec.Action != "reveal" {
		t.Errorf("audit record %+v, want the reveal of %s by %s for %q", rec, id, privacyOfficer, reason)
	}

	// The analyst acknowledges and resolves it, in Dutch.
	an.open("/alerts/"+id, http.StatusOK)
	an.load("acknowledge", chromedp.Click(chromedp.CSS(`form[action$="/act"] button[data-key=a]`)))
	if !an.has(".status-line .status.st-acknowledged") {
		t.Fatalf("after acknowledging, status line %q", eval[string](an, `document.querySelector(".status-line").innerText`))
	}
	const note = "Forum gevraagd het bericht te verwijderen; verwijderd om 11:02."
	an.load("resolve with a note",
		chromedp.SendKeys(chromedp.ID("note-resolve"), note),
		chromedp.Click(chromedp.CSS(`form:has(#note-resolve) button[type=submit]`)),
	)
	if !an.has(".status-line .status.st-resolved") {
		t.Errorf("after resolving, status line %q", eval[string](an, `document.querySelector(".status-line").innerText`))
	}
	history := eval[string](an, `document.querySelector("ol.history") ? document.querySelector("ol.history").innerText : ""`)
	if !strings.Contains(history, note) || !strings.Contains(history, analyst) {
		t.Errorf("history %q lacks the note by %s", history, analyst)
	}
	if an.has(`form[action$="/act"]`) {
		t.Error("a resolved alert still offers actions")
	}

	// Search finds the post by a word of it, highlighted.
	an.reloadUntil("a highlighted hit", "/search?q=bloedafname", `document.querySelector(".hit .fragment mark")`, actionTimeout)
	if marked := eval[string](an, `document.querySelector(".hit .fragment mark").innerText`); !strings.EqualFold(marked, "bloedafname") {
		t.Errorf("search highlights %q, want bloedafname", marked)
	}
	if strings.Contains(an.html(), leakedBSN) {
		t.Error("the search results show the BSN")
	}
	for _, tb := range []*tab{an, vw, po} {
		tb.noDialogs()
	}
}

// How many alerts the hostile feeds make: six from xss-rss.xml (its last
// post breaks two guidelines), four from xss-atom.xml.
const hostileRSSAlerts, hostileAtomAlerts = 6, 4

// A markup payload for the forms: it would set window.__xss or open a
// dialog if the page ever let it run.
const payload = `"'></textarea></title><script>window.__xss=1</script><img src=x onerror=alert(1)><svg onload=window.__xss=1><a href="javascript:alert(1)">x</a>`

// Hostile feeds put markup and script URLs in every field of their posts.
// On no page of the dashboard may any of it run or become markup: the
// queue (rendered by the server and added live), every alert (revealed
// too), search results and their facets, the feeds page with a hostile
// parse error, the rules page's test form, the audit log. Every response
// the browser gets from the dashboard carries the strict CSP.
func TestHostileFeeds(t *testing.T) {
	browserPath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	shots := artifactsDir(t)

	feeds := newFeedServer(t, map[string]string{
		"/xss.rss":    "xss-rss.xml",
		"/xss.atom":   "empty-atom.xml",
		"/broken.xml": "xss-broken.xml",
	})
	// The parse error of a document that is not a feed quotes its
	// Content-Type, and the feeds page shows the error.
	feeds.contentType("/broken.xml", `text/html; charset="<script>window.__xss=1</script>"; x="<img src=x onerror=alert(1)>"`)
	cfg := testConfig(t)
	cfg.Feeds = []config.Feed{
		feeds.feed("xss-rss", "/xss.rss", "forum"),
		feeds.feed("xss-atom", "/xss.atom", "news"),
		feeds.feed("broken", "/broken.xml", "news"),
	}
	cfg.Feeds[0].Name = `Zorgforum <script>window.__xss=1</script>`
	d := startDaemon(t, cfg)
	browser := newBrowser(ctx, t, browserPath)

	po := newTab(t, browser, d.base, privacyOfficer)
	po.login(privacyOfficer)
	rows := `document.querySelectorAll("#queue tbody tr[data-id]").length`
	po.reloadUntil("the RSS feed's alerts", "/?status=all", fmt.Sprintf("%s >= %d", rows, hostileRSSAlerts), actionTimeout)
	po.checkPage("queue")

	// The Atom feed's posts come in while the queue is open: their rows
	// arrive over the event stream and the page's script adds them.
	poll[bool](po, "the live updates to connect", `document.getElementById("live-status").dataset.state === "live"`, actionTimeout)
	feeds.serve("/xss.atom", "xss-atom.xml")
	if err := d.app.PollNow(ctx, "xss-atom"); err != nil {
		t.Fatalf("poll: %v", err)
	}
	poll[bool](po, "the Atom feed's alerts, live", fmt.Sprintf("%s >= %d", rows, hostileRSSAlerts+hostileAtomAlerts), 20*time.Second)
	po.checkPage("queue with rows added live")
	po.screenshot(shots, "hostile-queue-live")
	po.open("/?status=all", http.StatusOK)
	po.checkPage("queue")
	ids := eval[[]string](po, `[...document.querySelectorAll("#queue tbody tr[data-id]")].map(r => r.dataset.id)`)
	if len(ids) != hostileRSSAlerts+hostileAtomAlerts {
		t.Errorf("%d alerts from the hostile feeds, want %d", len(ids), hostileRSSAlerts+hostileAtomAlerts)
	}
	if !strings.Contains(po.text(), "<script>window.__xss=1</script>") {
		t.Error("the queue does not show the posts' markup as text")
	}

	// Every alert, and its evidence revealed with a hostile reason.
	revealed := 0
	for _, id := range ids {
		po.open("/alerts/"+id, http.StatusOK)
		po.checkPage("alert " + id)
		if !po.has(".reveal-form") {
			continue
		}
		po.load("reveal "+id,
			chromedp.SetValue(chromedp.ID("reason"), payload),
			chromedp.Click(chromedp.CSS(".reveal-form button[type=submit]")),
		)
		po.checkPage("alert " + id + " revealed")
		revealed++
	}
	if revealed == 0 {
		t.Error("no alert page offered to reveal its evidence")
	}

	// Search: words of the posts and of the payloads, so that highlights
	// fall inside the markup; the facets (hostile authors among them); and
	// hostile queries.
	po.reloadUntil("the indexed posts", "/search?q=xsstest", `document.querySelector(".hit")`, actionTimeout)
	po.checkPage("search")
	facets := eval[[]string](po, `[...document.querySelectorAll(".filters a")].map(a => a.getAttribute("href")).filter(h => h.includes("author="))`)
	if len(facets) == 0 {
		t.Error("the search page shows no author facet")
	}
	for _, q := range []string{"script", "onerror", "href", "svg", "iframe", "alert", "window", "textarea"} {
		po.open("/search?q="+q, http.StatusOK)
		po.checkPage("search " + q)
		if !po.has(".hit .fragment mark, .hit h3 mark") {
			t.Errorf("search %q highlights nothing:\n%s", q, po.text())
		}
	}
	for _, href := range facets {
		po.open(href, http.StatusOK)
		po.checkPage("search facet")
	}
	for _, path := range []string{
		"/search?q=" + url.QueryEscape(payload) + "&author=" + url.QueryEscape(payload) + "&from=" + url.QueryEscape(payload),
		"/?institution=" + url.QueryEscape(payload) + "&category=" + url.QueryEscape(payload) + "&status=" + url.QueryEscape(payload),
		"/alerts/" + url.QueryEscape(payload),
	} {
		po.load("open "+path, chromedp.Navigate(d.base+path))
		po.checkPage("hostile address")
	}

	// The feeds page, with the hostile Content-Type in the broken feed's
	// error.
	po.reloadUntil("the broken feed's error", "/feeds", `[...document.querySelectorAll(".error-text")].some(td => td.innerText.includes("<script>"))`, actionTimeout)
	po.checkPage("feeds")

	// The rules page's test form, given the payload and a leak.
	po.open("/rules", http.StatusOK)
	po.load("test a hostile text",
		chromedp.SetValue(chromedp.ID("t-title"), payload),
		chromedp.SetValue(chromedp.ID("t-text"), payload+" Patiënt van het UMC Utrecht, bsn "+leakedBSN+", ligt op de afdeling. "+payload),
		chromedp.Click(chromedp.CSS(`form[action="/rules/test"] button[type=submit]`)),
	)
	po.checkPage("rules test")
	if !po.has("table.findings") {
		t.Error("the rules test found nothing in a post leaking a BSN")
	}
	if got := eval[string](po, `document.getElementById("t-text").value`); !strings.HasPrefix(got, payload) {
		t.Errorf("the test form gives back %q, want the text as entered", got)
	}

	// The admin: a failed login with a hostile name, then the audit log that
	// records it and the reveals' hostile reasons, and the silences.
	ad := newTab(t, browser, d.base, admin)
	ad.open("/login", http.StatusOK)
	ad.load("log in with a hostile name",
		chromedp.SetValue(chromedp.ID("name"), payload),
		chromedp.SendKeys(chromedp.ID("password"), "wrong password"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
	ad.checkPage("failed login")
	ad.login(admin)
	ad.open("/audit", http.StatusOK)
	ad.checkPage("audit log")
	if !strings.Contains(ad.text(), "<script>window.__xss=1</script>") {
		t.Error("the audit log does not show the hostile reason and name as text")
	}
	ad.screenshot(shots, "hostile-audit")
	ad.open("/audit?actor="+url.QueryEscape(payload), http.StatusOK)
	ad.checkPage("audit log by a hostile actor")
	ad.open("/silences", http.StatusOK)
	ad.checkPage("silences")

	// Every response from the dashboard carried the CSP: pages, the
	// stylesheet and script, the event stream, redirects, error pages.
	kinds := map[string]int{}
	for _, tb := range []*tab{po, ad} {
		tb.noDialogs()
		problems, seen := tb.cspProblems()
		for _, p := range problems {
			t.Errorf("%s: %s", tb.name, p)
		}
		for k, n := range seen {
			kinds[k] += n
		}
	}
	t.Logf("responses checked for the CSP: %v", kinds)
	for _, k := range []string{"Document", "Stylesheet", "Script", "EventSource", "redirect", "raw headers"} {
		if kinds[k] == 0 {
			t.Errorf("no %s response was seen; the CSP check did not cover it", k)
		}
	}

	// The checks see an attack when there is one: a script link planted in
	// a page, a dialog opened by script, a response without the CSP (the
	// feed server's).
	ctl := newTab(t, browser, feeds.URL, "control")
	ctl.open("/xss.rss", http.StatusOK)
	if problems, _ := ctl.cspProblems(); len(problems) == 0 {
		t.Error("the CSP check misses a response without the header")
	}
	ctl = newTab(t, browser, d.base, "control")
	ctl.open("/login", http.StatusOK)
	ctl.do("plant a script link and open a dialog", chromedp.Evaluate[chromedp.Void](`(() => {
		const a = document.createElement("a");
		a.setAttribute("href", "javascript:window.__xss=1");
		document.body.appendChild(a);
		window.__xss = 1;
		setTimeout(() => alert("planted"), 0);
	})()`))
	if problems := strings.Join(eval[[]string](ctl, pageProblemsJS), "\n"); !strings.Contains(problems, "href=javascript:window.__xss=1") || !strings.Contains(problems, "window.__xss is 1") {
		t.Errorf("the page check misses a planted javascript: link or window.__xss: %q", problems)
	}
	for deadline := time.Now().Add(actionTimeout); len(ctl.dialogsSeen()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dialog check misses an alert()")
		}
	}
}
