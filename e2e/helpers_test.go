// Package e2e runs the whole daemon (embedded NATS with JetStream, the Bleve
// index, ingest from feeds served by the test, the dashboard) and drives its
// dashboard from a real headless Chromium, as the people who use it do.
//
// The browser tests skip when no Chromium or Chrome is installed, unless
// MEDIAWATCH_BROWSER_TESTS=required, which makes them fail instead (CI sets
// it). Screenshots go to MEDIAWATCH_ARTIFACTS, or a temporary directory.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/auth"
	"github.com/mediawatch/mediawatch/config"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The dashboard's accounts, one per role, all with the same password.
const (
	analyst        = "analyst"
	privacyOfficer = "privacy-officer"
	viewer         = "viewer"
	admin          = "admin"

	password = "correct horse battery staple"
)

// cheapHash keeps logins fast: the format's parameters, only smaller.
var cheapHash = auth.Params{Memory: 8 * 1024, Time: 1, Threads: 1}

// testConfig is a daemon on loopback with free ports, its data in a
// temporary directory, no feeds yet, the index flushed often, and the four
// accounts.
func testConfig(tb testing.TB) *config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.StoreDir = ""
	cfg.Index.Path = ""
	cfg.Index.FlushInterval = config.Duration(50 * time.Millisecond)
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Ingest.AllowPrivateNetworks = []string{"127.0.0.0/8"}
	cfg.Feeds = nil
	for _, u := range []struct {
		name string
		role string
	}{{analyst, auth.RoleAnalyst}, {privacyOfficer, auth.RolePrivacy}, {viewer, auth.RoleViewer}, {admin, auth.RoleAdmin}} {
		hash, err := auth.HashPassword(password, cheapHash)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Users = append(cfg.Users, config.User{Name: u.name, PasswordHash: hash, Roles: []string{u.role}})
	}
	return cfg
}

// feedServer serves files of testdata/feeds, each under a path of its own;
// a test switches a path to another file to make new posts appear.
type feedServer struct {
	*httptest.Server
	tb    testing.TB
	mu    sync.Mutex
	files map[string]string // path -> file name in testdata/feeds
	types map[string]string // path -> Content-Type, when not the default
}

func newFeedServer(tb testing.TB, files map[string]string) *feedServer {
	tb.Helper()
	fs := &feedServer{tb: tb, files: map[string]string{}, types: map[string]string{}}
	for path, name := range files {
		fs.serve(path, name)
	}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		name, ok := fs.files[r.URL.Path]
		ctype := fs.types[r.URL.Path]
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		body, err := os.ReadFile(filepath.Join("testdata", "feeds", name))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if ctype == "" {
			ctype = "application/xml; charset=utf-8"
		}
		// Always the whole feed: items seen before must not come back as
		// new alerts.
		w.Header().Set("Content-Type", ctype)
		_, _ = w.Write(body)
	}))
	tb.Cleanup(fs.Close)
	return fs
}

// serve makes path answer with the file name of testdata/feeds.
func (fs *feedServer) serve(path, name string) {
	fs.tb.Helper()
	if _, err := os.Stat(filepath.Join("testdata", "feeds", name)); err != nil {
		fs.tb.Fatal(err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files[path] = name
}

// contentType makes path answer with this Content-Type.
func (fs *feedServer) contentType(path, ctype string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.types[path] = ctype
}

// feed is a configured feed on the feed server, polled only when the test
// says so (after the scheduler's first poll at start).
func (fs *feedServer) feed(id, path, source string) config.Feed {
	return config.Feed{ID: id, URL: fs.URL + path, Source: source, Interval: config.Duration(time.Hour)}
}

// daemon is one running App.
type daemon struct {
	app  *app.App
	base string // http://127.0.0.1:port
	stop context.CancelFunc
	done chan error
}

// startDaemon runs the daemon until the test ends.
func startDaemon(tb testing.TB, cfg *config.Config) *daemon {
	tb.Helper()
	a, err := app.New(app.Options{Config: cfg, Version: "e2e"})
	if err != nil {
		tb.Fatalf("app.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{app: a, stop: cancel, done: make(chan error, 1)}
	go func() { d.done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-d.done:
		cancel()
		tb.Fatalf("daemon stopped before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		tb.Fatal("daemon not ready after 60s")
	}
	d.base = "http://" + a.HTTPAddr()
	tb.Cleanup(func() {
		d.stop()
		select {
		case err := <-d.done:
			if err != nil {
				tb.Errorf("daemon stopped with error: %v", err)
			}
		case <-time.After(60 * time.Second):
			tb.Error("daemon did not stop within 60s")
		}
	})
	return d
}

// client returns an HTTP client logged in as user, through the login form
// as a browser posts it.
func (d *daemon) client(tb testing.TB, user string) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"name": {user}, "password": {password}, "next": {"/"}}
	req, err := http.NewRequest(http.MethodPost, d.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		tb.Fatalf("login as %s: %s, want 303", user, resp.Status)
	}
	return c
}

// jetStream connects a JetStream client of the test's own to the daemon's
// NATS server, closed when the test ends.
func (d *daemon) jetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(d.app.NATSURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// lastMsg reads the last message on subject of stream, decoded from JSON.
func lastMsg[T any](ctx context.Context, js jetstream.JetStream, stream, subject string) (T, error) {
	var v T
	str, err := js.Stream(ctx, stream)
	if err != nil {
		return v, fmt.Errorf("stream %s: %w", stream, err)
	}
	msg, err := str.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return v, fmt.Errorf("stream %s, last message on %s: %w", stream, subject, err)
	}
	if err := json.Unmarshal(msg.Data, &v); err != nil {
		return v, fmt.Errorf("stream %s, last message on %s: %w", stream, subject, err)
	}
	return v, nil
}

// artifactsDir is where screenshots go: $MEDIAWATCH_ARTIFACTS, or a
// directory of the test's own.
func artifactsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("MEDIAWATCH_ARTIFACTS")
	if dir == "" {
		return tb.TempDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}
