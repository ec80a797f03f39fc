package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Viewport of the browser tests: a laptop.
const viewWidth, viewHeight = 1280, 900

// actionTimeout bounds one step in the browser (a page load, a query, a
// poll): generous, for a loaded two-core machine.
const actionTimeout = 30 * time.Second

// chromium finds the browser, or skips the test saying why; with
// MEDIAWATCH_BROWSER_TESTS=required it fails instead.
func chromium(t *testing.T) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no browser for the dashboard tests: none of " + strings.Join(names, ", ") + " is on PATH (Debian: apt-get install chromium)"
	if os.Getenv("MEDIAWATCH_BROWSER_TESTS") == "required" {
		t.Fatal(msg + "; MEDIAWATCH_BROWSER_TESTS=required")
	}
	t.Skip(msg)
	return ""
}

// lockedBuffer collects the browser's output, written by the process
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newBrowser starts a headless Chromium that lives until ctx ends or the
// test does; its output is logged when the test fails. The returned context
// is the browser's; tabs are opened from it with newTab.
func newBrowser(ctx context.Context, t *testing.T, path string) context.Context {
	t.Helper()
	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// The sandbox cannot start as root, nor in most CI containers; the
		// pages are the dashboard's own, served on loopback.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(viewWidth, viewHeight),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the browser to exit
		if t.Failed() {
			t.Logf("browser output:\n%s", out)
		}
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v\n%s", path, err, out)
	}
	return bctx
}

// response is one HTTP response the browser received, as the protocol
// reported it.
type response struct {
	url    string
	status int64
	kind   string // resource type, or "redirect"
	csp    string
}

// extraInfo is the raw headers of a response, known by request id only.
type extraInfo struct {
	request network.RequestID
	status  int64
	csp     string
}

// tab is one browser tab with a cookie jar of its own (a browser context):
// one user's session. It records the dialogs that open in it and every
// response it receives.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string

	mu        sync.Mutex
	dialogs   []string
	responses []response
	extra     []extraInfo
	urls      map[network.RequestID][]string
}

// newTab opens a tab in a browser context of its own at the laptop
// viewport. Dialogs are dismissed and recorded.
func newTab(t *testing.T, browser context.Context, base, name string) *tab {
	t.Helper()
	tb := &tab{t: t, base: base, name: name, urls: map[network.RequestID][]string{}}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	tb.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewWidth, viewHeight)); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, fmt.Sprintf("%s dialog %q on %s", ev.Type, ev.Message, ev.URL))
			tb.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return tb
}

// listen runs in the tab's event loop, in the order the browser sent the
// events: it must return fast and send no command.
func (tb *tab) listen(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		tb.urls[ev.RequestID] = append(tb.urls[ev.RequestID], ev.Request.URL)
		if r := ev.RedirectResponse; r != nil {
			tb.responses = append(tb.responses, response{url: r.URL, status: r.Status, kind: "redirect", csp: header(r.Headers, "Content-Security-Policy")})
		}
	case *network.EventResponseReceived:
		r := ev.Response
		tb.responses = append(tb.responses, response{url: r.URL, status: r.Status, kind: string(ev.Type), csp: header(r.Headers, "Content-Security-Policy")})
	case *network.EventResponseReceivedExtraInfo:
		tb.extra = append(tb.extra, extraInfo{request: ev.RequestID, status: ev.StatusCode, csp: header(ev.Headers, "Content-Security-Policy")})
	}
}

// header is the value of a header of the protocol's map, whatever the case
// of its name; repeated headers are joined by newlines.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// step gives one browser step its own deadline; the tab stays usable after
// it.
func (tb *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(tb.ctx, actionTimeout)
}

// do runs actions, failing the test with what on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// load runs actions that make the tab load a page (a navigation, a click
// on a link or a submit button) and waits for it; the result is the page's
// response.
func (tb *tab) load(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
	// Steps that follow address the new document.
	poll[bool](tb, "the page of "+what+" to be loaded", `document.readyState === "complete"`, actionTimeout)
	return resp
}

// open loads a page of the dashboard by its path and checks its status.
func (tb *tab) open(path string, wantStatus int64) *network.Response {
	tb.t.Helper()
	resp := tb.load("open "+path, chromedp.Navigate(tb.base+path))
	if resp.Status != wantStatus {
		tb.t.Fatalf("%s: %s answered %d %s, want %d", tb.name, path, resp.Status, resp.StatusText, wantStatus)
	}
	return resp
}

// path is the path and query of the page the tab shows.
func (tb *tab) path() string {
	tb.t.Helper()
	loc := eval[string](tb, "location.pathname + location.search")
	return loc
}

// eval evaluates a JavaScript expression in the tab's page.
func eval[T any](tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// poll waits until a JavaScript expression is truthy in the page, without
// reloading it, and returns its value.
func poll[T any](tb *tab, what, expr string, timeout time.Duration) T {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, time.Until(deadline)+5*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		switch {
		case err == nil:
			return v
		case staleDocument(err) && time.Now().Before(deadline):
			// The poll went to the document the tab just left; the next
			// one goes to the page now shown.
			tb.t.Logf("%s: waiting for %s: %v; again", tb.name, what, err)
			time.Sleep(25 * time.Millisecond)
		default:
			tb.t.Fatalf("%s: waiting %v for %s: %v", tb.name, timeout, what, err)
		}
	}
}

// staleDocument reports an error of a step sent to the JavaScript context
// of a document the tab has left or is leaving: right after a page load,
// the browser can still be replacing it.
func staleDocument(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") || strings.Contains(msg, "Execution context was destroyed")
}

// reloadUntil loads path until a JavaScript expression is truthy on it: for
// what the daemon does in the background (indexing, the first poll's
// alerts) and a page shows only when it is loaded again.
func (tb *tab) reloadUntil(what, path, expr string, timeout time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tb.open(path, http.StatusOK)
		if eval[bool](tb, "!!("+expr+")") {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: %s not on %s after %v", tb.name, what, path, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// login logs in through the form and lands on the queue.
func (tb *tab) login(user string) {
	tb.t.Helper()
	tb.open("/login", http.StatusOK)
	resp := tb.load("log in as "+user,
		chromedp.SendKeys(chromedp.ID("name"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
	)
	if resp.Status != http.StatusOK || tb.path() != "/" {
		tb.t.Fatalf("%s: login as %s ended on %s with %d, want the queue", tb.name, user, tb.path(), resp.Status)
	}
}

// screenshot saves the whole page as a PNG in dir.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	ctx, cancel := tb.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("%s: screenshot %s: %v", tb.name, name, err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot: %s", file)
}

// text is the page's visible text.
func (tb *tab) text() string {
	tb.t.Helper()
	return eval[string](tb, "document.body.innerText")
}

// html is the page's markup as the browser holds it now.
func (tb *tab) html() string {
	tb.t.Helper()
	return eval[string](tb, "document.documentElement.outerHTML")
}

// has reports whether a CSS selector matches on the page now.
func (tb *tab) has(selector string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf("document.querySelector(%q) !== null", selector))
}

// noDialogs fails the test if a JavaScript dialog opened in the tab.
func (tb *tab) noDialogs() {
	tb.t.Helper()
	for _, d := range tb.dialogsSeen() {
		tb.t.Errorf("%s: a %s", tb.name, d)
	}
}

// dialogsSeen are the dialogs that opened in the tab so far.
func (tb *tab) dialogsSeen() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return slices.Clone(tb.dialogs)
}

// cspProblems lists every response from the dashboard that came without a
// Content-Security-Policy of default-src 'none', and counts the responses
// it looked at by kind.
func (tb *tab) cspProblems() (problems []string, kinds map[string]int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	const want = "default-src 'none'"
	ours := func(u string) bool { return strings.HasPrefix(u, tb.base+"/") || u == tb.base }
	kinds = map[string]int{}
	for _, r := range tb.responses {
		if !ours(r.url) {
			continue
		}
		kinds[r.kind]++
		if !strings.Contains(r.csp, want) {
			problems = append(problems, fmt.Sprintf("%s response %d for %s has Content-Security-Policy %q, want %s", r.kind, r.status, r.url, r.csp, want))
		}
	}
	for _, x := range tb.extra {
		if !slices.ContainsFunc(tb.urls[x.request], ours) {
			continue
		}
		kinds["raw headers"]++
		if !strings.Contains(x.csp, want) {
			problems = append(problems, fmt.Sprintf("response %d to %v arrived with Content-Security-Policy %q, want %s", x.status, tb.urls[x.request], x.csp, want))
		}
	}
	return problems, kinds
}

// pageProblemsJS lists what a page must never hold: a set window.__xss,
// event handler or style attributes, script, data or vbscript URLs in any
// URL attribute, and elements the dashboard never renders (frames,
// objects, images, SVG, base, scripts other than its own).
const pageProblemsJS = `(() => {
  const problems = [];
  if (typeof window.__xss !== "undefined") problems.push("window.__xss is " + String(window.__xss));
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "cite", "srcset", "ping", "manifest", "codebase"];
  const never = ["iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math", "base", "img", "image", "video", "audio", "source", "style", "portal", "template"];
  const short = el => el.outerHTML.slice(0, 160);
  for (const el of document.querySelectorAll("*")) {
    const name = el.localName;
    if (never.includes(name)) problems.push("element " + short(el));
    if (name === "script" && !(el.getAttribute("src") === "/static/app.js" && el.nonce)) problems.push("script " + short(el));
    if (name === "link" && !(el.rel === "stylesheet" && el.getAttribute("href") === "/static/style.css")) problems.push("link " + short(el));
    if (name === "meta" && el.hasAttribute("http-equiv")) problems.push("meta " + short(el));
    for (const a of el.attributes) {
      const n = a.name.toLowerCase();
      const v = a.value.replace(/[\u0000-\u0020]+/g, "").toLowerCase();
      if (n.startsWith("on")) problems.push("handler attribute " + n + " on " + short(el));
      if (n === "style" || n === "srcdoc") problems.push(n + " attribute on " + short(el));
      if (urlAttrs.includes(n) && /^(javascript|data|vbscript):/.test(v)) problems.push(n + "=" + a.value + " on " + short(el));
    }
  }
  return problems;
})()`

// checkPage fails the test for anything a hostile feed could have put into
// the page (see pageProblemsJS) and for any dialog so far.
func (tb *tab) checkPage(what string) {
	tb.t.Helper()
	for _, p := range eval[[]string](tb, pageProblemsJS) {
		tb.t.Errorf("%s: %s (%s): %s", tb.name, what, tb.path(), p)
	}
	tb.noDialogs()
}
