package demo

import (
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, body
}

func TestServerServesFeeds(t *testing.T) {
	s := startServer(t)
	wantType := map[string]string{
		"/news/nl.xml":                  "application/rss+xml; charset=utf-8",
		"/news/be.xml":                  "application/rss+xml; charset=utf-8",
		"/gnews/search.xml":             "application/rss+xml; charset=utf-8",
		"/mastodon/tags/umcutrecht.rss": "application/rss+xml; charset=utf-8",
		"/mastodon/tags/uzleuven.rss":   "application/rss+xml; charset=utf-8",
		"/reddit/search.atom":           "application/atom+xml; charset=utf-8",
		"/forum/feed.atom":              "application/atom+xml; charset=utf-8",
		"/blogs/feed.json":              "application/feed+json; charset=utf-8",
	}
	etags := make(map[string]string)
	for _, f := range Feeds() {
		t.Run(f.ID, func(t *testing.T) {
			url := s.URL(f.Path)
			resp, body := do(t, http.MethodGet, url, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d", url, resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != wantType[f.Path] {
				t.Errorf("Content-Type %q, want %q", got, wantType[f.Path])
			}
			want, err := fs.ReadFile(feedFiles, "feeds"+f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != string(want) {
				t.Errorf("body differs from the embedded file (%d bytes, want %d)", len(body), len(want))
			}
			if _, err := gofeed.NewParser().ParseString(string(body)); err != nil {
				t.Errorf("served body does not parse: %v", err)
			}

			etag := resp.Header.Get("ETag")
			if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 3 {
				t.Fatalf("ETag %q, want a quoted strong validator", etag)
			}
			if other, dup := etags[etag]; dup {
				t.Errorf("ETag %s also used for %s", etag, other)
			}
			etags[etag] = f.Path
			lastModified := resp.Header.Get("Last-Modified")
			if _, err := http.ParseTime(lastModified); err != nil {
				t.Fatalf("Last-Modified %q: %v", lastModified, err)
			}

			conditional := []struct {
				name   string
				header http.Header
				status int
			}{
				{"matching etag", http.Header{"If-None-Match": {etag}}, http.StatusNotModified},
				{"etag in a list", http.Header{"If-None-Match": {`"other", ` + etag}}, http.StatusNotModified},
				{"other etag", http.Header{"If-None-Match": {`"other"`}}, http.StatusOK},
				{"not modified since", http.Header{"If-Modified-Since": {lastModified}}, http.StatusNotModified},
				{"modified since", http.Header{"If-Modified-Since": {"Sun, 01 Nov 2026 00:00:00 GMT"}}, http.StatusOK},
				// If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
				{"etag changed, date not", http.Header{"If-None-Match": {`"other"`}, "If-Modified-Since": {lastModified}}, http.StatusOK},
			}
			for _, c := range conditional {
				resp, body := do(t, http.MethodGet, url, c.header)
				if resp.StatusCode != c.status {
					t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.status)
				}
				if c.status == http.StatusNotModified && len(body) != 0 {
					t.Errorf("%s: 304 with a %d-byte body", c.name, len(body))
				}
				if got := resp.Header.Get("ETag"); got != etag {
					t.Errorf("%s: ETag %q, want %q", c.name, got, etag)
				}
			}

			resp, body = do(t, http.MethodHead, url, nil)
			if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != etag {
				t.Errorf("HEAD: status %d, %d-byte body, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
			}
		})
	}
}

func TestServerRejects(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/news/", http.StatusNotFound},
		{http.MethodGet, "/news/nl.xml.bak", http.StatusNotFound},
		{http.MethodGet, "/feeds/news/nl.xml", http.StatusNotFound},
		{http.MethodGet, "/../demo.go", http.StatusNotFound},
		{http.MethodPost, "/news/nl.xml", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/blogs/feed.json", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, _ := do(t, tt.method, s.URL(tt.path), nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

func TestURL(t *testing.T) {
	s := startServer(t)
	base := "http://" + s.listener.Addr().String()
	tests := []struct{ path, want string }{
		{"/news/nl.xml", base + "/news/nl.xml"},
		{"news/nl.xml", base + "/news/nl.xml"},
		{"//news/nl.xml", base + "/news/nl.xml"},
		{"", base + "/"},
		{"/", base + "/"},
		{"/reddit/search.atom?sort=new", base + "/reddit/search.atom?sort=new"},
	}
	for _, tt := range tests {
		if got := s.URL(tt.path); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestURLOnAllInterfaces(t *testing.T) {
	s, err := Start("0.0.0.0:0")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	url := s.URL("/news/nl.xml")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want a loopback URL", url)
	}
	if resp, _ := do(t, http.MethodGet, url, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
}

func TestStartBadAddress(t *testing.T) {
	for _, addr := range []string{"256.0.0.1:0", "127.0.0.1:-1", "no-port"} {
		s, err := Start(addr)
		if err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded", addr)
			continue
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("Start(%q): error %q does not name the address", addr, err)
		}
	}
}

func TestCloseStopsServer(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := s.URL("/news/nl.xml")
	if resp, _ := do(t, http.MethodGet, url, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("before Close: status %d", resp.StatusCode)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A fresh client, so no kept-alive connection hides the closed listener.
	client := &http.Client{Transport: &http.Transport{}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("GET after Close: status %d, want a connection error", resp.StatusCode)
	}
}

func TestDialHost(t *testing.T) {
	tests := []struct {
		requested string
		bound     net.Addr
		want      string
	}{
		{"127.0.0.1:0", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "127.0.0.1:8080"},
		{"0.0.0.0:0", &net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "127.0.0.1:8080"},
		{":8080", &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "127.0.0.1:8080"},
		{"[::]:0", &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "[::1]:8080"},
		{"[::1]:0", &net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "[::1]:8080"},
		{"192.0.2.7:80", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 80}, "192.0.2.7:80"},
	}
	for _, tt := range tests {
		if got := dialHost(tt.requested, tt.bound); got != tt.want {
			t.Errorf("dialHost(%q, %v) = %q, want %q", tt.requested, tt.bound, got, tt.want)
		}
	}
}
