package ingest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func testFetcher(opts FetcherOptions) *Fetcher {
	if opts.AllowPrivate == nil {
		opts.AllowPrivate = loopback
	}
	return NewFetcher(opts)
}

func TestAddressAllowed(t *testing.T) {
	tests := []struct {
		ip    string
		allow []string
		want  bool
	}{
		{"127.0.0.1", nil, false},
		{"127.8.9.10", nil, false},
		{"::1", nil, false},
		{"10.0.0.1", nil, false},
		{"10.255.255.255", nil, false},
		{"172.16.0.1", nil, false},
		{"172.31.255.254", nil, false},
		{"172.32.0.1", nil, true},
		{"192.168.1.1", nil, false},
		{"169.254.169.254", nil, false},
		{"100.64.0.1", nil, false},
		{"100.127.255.254", nil, false},
		{"100.128.0.1", nil, true},
		{"fc00::1", nil, false},
		{"fd12:3456::1", nil, false},
		{"fe80::1", nil, false},
		{"::ffff:127.0.0.1", nil, false},
		{"::ffff:10.1.2.3", nil, false},
		{"::ffff:8.8.8.8", nil, true},
		{"0.0.0.0", nil, false},
		{"::", nil, false},
		{"224.0.0.1", nil, false},
		{"ff02::1", nil, false},
		{"255.255.255.255", nil, false},
		{"8.8.8.8", nil, true},
		{"2001:4860:4860::8888", nil, true},
		{"127.0.0.1", []string{"127.0.0.0/8"}, true},
		{"::ffff:127.0.0.1", []string{"127.0.0.0/8"}, true},
		{"127.0.0.2", []string{"127.0.0.1/32"}, false},
		{"10.1.2.3", []string{"10.1.0.0/16"}, true},
		{"10.2.0.1", []string{"10.1.0.0/16"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.ip+"/"+strings.Join(tt.allow, ","), func(t *testing.T) {
			var allow []netip.Prefix
			for _, p := range tt.allow {
				allow = append(allow, netip.MustParsePrefix(p))
			}
			if got := addressAllowed(netip.MustParseAddr(tt.ip), allow); got != tt.want {
				t.Errorf("addressAllowed(%s, %v) = %v, want %v", tt.ip, tt.allow, got, tt.want)
			}
		})
	}
}

// countingServer counts the requests it receives.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestFetchRefusesPrivateAddress(t *testing.T) {
	srv, requests := countingServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

	_, err := NewFetcher(FetcherOptions{}).Fetch(t.Context(), srv.URL, Conditional{})
	if !errors.Is(err, ErrPrivateAddress) {
		t.Fatalf("Fetch without AllowPrivate: err = %v, want ErrPrivateAddress", err)
	}
	if !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q does not name the URL %s", err, srv.URL)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("server received %d requests, want 0", n)
	}

	resp, err := testFetcher(FetcherOptions{}).Fetch(t.Context(), srv.URL, Conditional{})
	if err != nil {
		t.Fatalf("Fetch with 127.0.0.0/8 allowed: %v", err)
	}
	if string(resp.Body) != "ok" || requests.Load() != 1 {
		t.Errorf("body %q after %d requests, want \"ok\" after 1", resp.Body, requests.Load())
	}
}

func TestFetchRefusesRedirectToPrivateAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	var internalRequests atomic.Int64
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalRequests.Add(1)
		fmt.Fprint(w, "secret")
	}))
	internal.Listener.Close()
	internal.Listener = ln
	internal.Start()
	t.Cleanup(internal.Close)

	redirector, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/internal":
			http.Redirect(w, r, internal.URL+"/metadata", http.StatusFound)
		case "/file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}
	})

	f := NewFetcher(FetcherOptions{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	_, err = f.Fetch(t.Context(), redirector.URL+"/internal", Conditional{})
	if !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("redirect to 127.0.0.2: err = %v, want ErrPrivateAddress", err)
	}
	if n := internalRequests.Load(); n != 0 {
		t.Errorf("internal server received %d requests, want 0", n)
	}

	_, err = f.Fetch(t.Context(), redirector.URL+"/file", Conditional{})
	if !errors.Is(err, errScheme) {
		t.Errorf("redirect to file://: err = %v, want the scheme error", err)
	}
	if _, err := f.Fetch(t.Context(), "ftp://example.org/feed", Conditional{}); !errors.Is(err, errScheme) {
		t.Errorf("ftp URL: err = %v, want the scheme error", err)
	}
}

func TestFetchStopsAfterMaxRedirects(t *testing.T) {
	srv, requests := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		http.Redirect(w, r, fmt.Sprintf("/loop?n=%d", n+1), http.StatusFound)
	})
	_, err := testFetcher(FetcherOptions{MaxRedirects: 3}).Fetch(t.Context(), srv.URL+"/loop", Conditional{})
	if err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("err = %v, want a redirect limit error", err)
	}
	if n := requests.Load(); n != 4 {
		t.Errorf("server received %d requests, want 4 (the first and 3 redirects)", n)
	}
}

func TestFetchConditional(t *testing.T) {
	const etag = `"v1-8a3f"`
	const lastModified = "Mon, 16 Nov 2026 08:00:00 GMT"
	var got struct {
		sync.Mutex
		ifNoneMatch, ifModifiedSince, userAgent, accept []string
	}
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		got.ifNoneMatch = append(got.ifNoneMatch, r.Header.Get("If-None-Match"))
		got.ifModifiedSince = append(got.ifModifiedSince, r.Header.Get("If-Modified-Since"))
		got.userAgent = append(got.userAgent, r.Header.Get("User-Agent"))
		got.accept = append(got.accept, r.Header.Get("Accept"))
		got.Unlock()
		switch r.URL.Path {
		case "/etag":
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
		case "/modified":
			if r.Header.Get("If-Modified-Since") == lastModified {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("Last-Modified", lastModified)
		}
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		fmt.Fprint(w, "<rss/>")
	})
	f := testFetcher(FetcherOptions{})

	tests := []struct {
		path string
		want Conditional
	}{
		{"/etag", Conditional{ETag: etag}},
		{"/modified", Conditional{LastModified: lastModified}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			first, err := f.Fetch(t.Context(), srv.URL+tt.path, Conditional{})
			if err != nil {
				t.Fatal(err)
			}
			if first.NotModified || first.Status != 200 || string(first.Body) != "<rss/>" {
				t.Fatalf("first fetch = %+v, want 200 with body", first)
			}
			if first.ETag != tt.want.ETag || first.LastModified != tt.want.LastModified {
				t.Errorf("validators = (%q, %q), want (%q, %q)", first.ETag, first.LastModified, tt.want.ETag, tt.want.LastModified)
			}
			if first.ContentType != "application/rss+xml; charset=utf-8" || first.FinalURL != srv.URL+tt.path {
				t.Errorf("ContentType %q FinalURL %q", first.ContentType, first.FinalURL)
			}

			second, err := f.Fetch(t.Context(), srv.URL+tt.path, Conditional{ETag: first.ETag, LastModified: first.LastModified})
			if err != nil {
				t.Fatal(err)
			}
			if !second.NotModified || second.Status != http.StatusNotModified || len(second.Body) != 0 {
				t.Errorf("second fetch = %+v, want 304 Not Modified", second)
			}
			if second.ETag != tt.want.ETag || second.LastModified != tt.want.LastModified {
				t.Errorf("validators after 304 = (%q, %q), want them kept", second.ETag, second.LastModified)
			}
		})
	}

	got.Lock()
	defer got.Unlock()
	wantINM := []string{"", etag, "", ""}
	wantIMS := []string{"", "", "", lastModified}
	for i := range wantINM {
		if got.ifNoneMatch[i] != wantINM[i] || got.ifModifiedSince[i] != wantIMS[i] {
			t.Errorf("request %d sent If-None-Match %q If-Modified-Since %q, want %q %q",
				i, got.ifNoneMatch[i], got.ifModifiedSince[i], wantINM[i], wantIMS[i])
		}
	}
	for i, ua := range got.userAgent {
		if !strings.HasPrefix(ua, "mediawatch/") || !strings.Contains(got.accept[i], "application/rss+xml") {
			t.Errorf("request %d: User-Agent %q Accept %q", i, ua, got.accept[i])
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 30 ", 30 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"7200", time.Hour},
		{"99999999999999999", time.Hour},
		{"Mon, 16 Nov 2026 12:10:00 GMT", 10 * time.Minute},
		{"Monday, 16-Nov-26 12:00:45 GMT", 45 * time.Second},
		{"Mon, 16 Nov 2026 18:00:00 GMT", time.Hour},
		{"Mon, 16 Nov 2026 11:00:00 GMT", 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.header, now, time.Hour); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestFetchRetryAfter(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		status, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if ra := r.URL.Query().Get("retry_after"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(status)
	})
	f := testFetcher(FetcherOptions{MaxRetryAfter: 30 * time.Minute})
	inTenMinutes := time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat)

	tests := []struct {
		name       string
		status     int
		retryAfter string
		min, max   time.Duration
	}{
		{"429 seconds", 429, "90", 90 * time.Second, 90 * time.Second},
		{"503 seconds capped", 503, "86400", 30 * time.Minute, 30 * time.Minute},
		{"503 date", 503, inTenMinutes, 9 * time.Minute, 10 * time.Minute},
		{"500 without header", 500, "", 0, 0},
		{"404", 404, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := fmt.Sprintf("%s/?status=%d&retry_after=%s", srv.URL, tt.status, strings.ReplaceAll(tt.retryAfter, " ", "+"))
			_, err := f.Fetch(t.Context(), u, Conditional{})
			var herr *HTTPError
			if !errors.As(err, &herr) {
				t.Fatalf("err = %v, want *HTTPError", err)
			}
			if herr.Status != tt.status {
				t.Errorf("Status = %d, want %d", herr.Status, tt.status)
			}
			if herr.RetryAfter < tt.min || herr.RetryAfter > tt.max {
				t.Errorf("RetryAfter = %s, want within [%s, %s]", herr.RetryAfter, tt.min, tt.max)
			}
			if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), strconv.Itoa(tt.status)) {
				t.Errorf("error %q should name the URL and status", err)
			}
		})
	}
}

func gzipped(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zlibbed(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFetchBodyCap(t *testing.T) {
	const limit = 64 << 10
	atLimit := bytes.Repeat([]byte("a"), limit)
	overLimit := bytes.Repeat([]byte("a"), limit+1)
	bomb := gzipped(t, make([]byte, 16<<20)) // 16 MiB of zeros in ~16 KiB

	tests := []struct {
		name     string
		encoding string
		body     []byte
		chunked  bool
		want     []byte // nil: want ErrBodyTooLarge
	}{
		{"at limit", "", atLimit, false, atLimit},
		{"over limit with Content-Length", "", overLimit, false, nil},
		{"over limit chunked", "", overLimit, true, nil},
		{"gzip within limit", "gzip", gzipped(t, atLimit), false, atLimit},
		{"gzip expanding past limit", "gzip", gzipped(t, overLimit), false, nil},
		{"gzip bomb", "gzip", bomb, false, nil},
		{"deflate within limit", "deflate", zlibbed(t, atLimit), false, atLimit},
		{"deflate bomb", "deflate", zlibbed(t, make([]byte, 8<<20)), false, nil},
	}
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("case"))
		tt := tests[i]
		if tt.encoding != "" {
			w.Header().Set("Content-Encoding", tt.encoding)
		}
		if !tt.chunked {
			w.Header().Set("Content-Length", strconv.Itoa(len(tt.body)))
		}
		_, _ = w.Write(tt.body)
	})
	f := testFetcher(FetcherOptions{MaxBodyBytes: limit})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := f.Fetch(t.Context(), fmt.Sprintf("%s/?case=%d", srv.URL, i), Conditional{})
			if tt.want == nil {
				if !errors.Is(err, ErrBodyTooLarge) {
					t.Fatalf("err = %v, want ErrBodyTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(resp.Body, tt.want) {
				t.Errorf("body has %d bytes, want %d", len(resp.Body), len(tt.want))
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		fmt.Fprint(w, "<rss>")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	_, err := testFetcher(FetcherOptions{Timeout: 100 * time.Millisecond}).Fetch(t.Context(), srv.URL, Conditional{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error from a stalled body", err)
	}
}

func TestFetchPerHostLimit(t *testing.T) {
	const limit = 2
	var (
		inFlight, peak atomic.Int64
		release        = make(chan struct{})
	)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		fmt.Fprint(w, "ok")
	})
	f := testFetcher(FetcherOptions{PerHostConcurrency: limit})

	const fetches = 8
	var wg sync.WaitGroup
	errs := make(chan error, fetches)
	for range fetches {
		wg.Go(func() {
			_, err := f.Fetch(t.Context(), srv.URL, Conditional{})
			errs <- err
		})
	}
	// Wait until the limit is reached, then give the other fetches ample
	// opportunity to exceed it before letting requests complete.
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < limit && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if got := inFlight.Load(); got != limit {
		t.Errorf("%d requests in flight while all %d fetches wait, want exactly %d", got, fetches, limit)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p > limit {
		t.Errorf("peak concurrency %d, want at most %d", p, limit)
	}
}

func TestFetchHostSlotWaitHonoursContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f := testFetcher(FetcherOptions{PerHostConcurrency: 1})
	go func() { _, _ = f.Fetch(context.Background(), srv.URL, Conditional{}) }()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		_, err := f.Fetch(ctx, srv.URL, Conditional{})
		cancel()
		if err != nil && strings.Contains(err.Error(), "connection slot") {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want it to wrap the context error", err)
			}
			return
		}
	}
	t.Fatal("second fetch never waited for the host slot")
}

func TestHostLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newHostLimiter(2)
		releaseA1, err := l.acquire(t.Context(), "a.example")
		if err != nil {
			t.Fatal(err)
		}
		releaseA2, err := l.acquire(t.Context(), "a.example")
		if err != nil {
			t.Fatal(err)
		}
		releaseB, err := l.acquire(t.Context(), "b.example")
		if err != nil {
			t.Fatalf("another host must not wait for a.example: %v", err)
		}

		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		start := time.Now()
		_, err = l.acquire(ctx, "a.example")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Minute {
			t.Fatalf("third acquire = %v after %s, want a deadline error after waiting the full minute", err, time.Since(start))
		}

		acquired := make(chan func())
		go func() {
			release, err := l.acquire(t.Context(), "a.example")
			if err != nil {
				t.Error(err)
			}
			acquired <- release
		}()
		synctest.Wait()
		select {
		case <-acquired:
			t.Fatal("acquired a third slot while two are held")
		default:
		}
		releaseA1()
		releaseA3 := <-acquired
		releaseA2()
		releaseA3()
		releaseB()

		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.hosts) != 0 {
			t.Errorf("%d host entries left after every slot was released", len(l.hosts))
		}
	})
}

// listenOn starts srv on addr, or skips the test where the address cannot
// be listened on (127.0.0.2 needs Linux; ::1 needs IPv6).
func listenOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchRefusesNonPublicTargets fetches every kind of address a feed URL
// must not reach, directly and through a redirect from a server the
// fetcher may reach (on 127.0.0.2, the only address allowed). The servers
// on loopback targets receive nothing. The other targets cannot be served
// by a test; for them the guard's error is the proof, as the guard runs
// on the socket before it connects. Every target is on the test's own
// port, so that a broken guard reaches no real service (a cloud metadata
// endpoint above all).
func TestFetchRefusesNonPublicTargets(t *testing.T) {
	var targetRequests atomic.Int64
	target := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetRequests.Add(1)
		fmt.Fprint(w, "internal")
	})
	v4 := listenOn(t, "127.0.0.1:0", target)
	_, port, _ := net.SplitHostPort(v4.Listener.Addr().String())
	v6URL := ""
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln.Close()
		v6URL = listenOn(t, "[::1]:0", target).URL + "/"
	}
	redirector, redirects := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	redirector.Close()
	redirector = listenOn(t, "127.0.0.2:0", redirector.Config.Handler)

	f := NewFetcher(FetcherOptions{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Timeout: 10 * time.Second})
	tests := []struct {
		name, url string
		// resolves: a host name, which may also fail to resolve.
		resolves bool
	}{
		{"loopback 127.0.0.1", "http://127.0.0.1:" + port + "/", false},
		{"loopback ::1", v6URL, false},
		{"private 10/8", "http://10.0.0.1:" + port + "/", false},
		{"private 172.16/12", "http://172.16.0.1:" + port + "/", false},
		{"private 172.31", "http://172.31.255.254:" + port + "/", false},
		{"private 192.168/16", "http://192.168.1.1:" + port + "/", false},
		{"cloud metadata 169.254.169.254", "http://169.254.169.254:" + port + "/", false},
		{"CGNAT 100.64/10", "http://100.64.0.1:" + port + "/", false},
		{"unique local fc00::/7", "http://[fc00::1]:" + port + "/", false},
		{"unique local fd00:ec2::254", "http://[fd00:ec2::254]:" + port + "/", false},
		{"link-local fe80::1", "http://[fe80::1]:" + port + "/", false},
		{"IPv4-mapped ::ffff:127.0.0.1", "http://[::ffff:127.0.0.1]:" + port + "/", false},
		{"unspecified 0.0.0.0", "http://0.0.0.0:" + port + "/", false},
		{"unspecified ::", "http://[::]:" + port + "/", false},
		{"localhost", "http://localhost:" + port + "/", true},
		{"short form 127.1", "http://127.1:" + port + "/", true},
		{"decimal 2130706433", "http://2130706433:" + port + "/", true},
		{"hex 0x7f000001", "http://0x7f000001:" + port + "/", true},
	}
	for _, tt := range tests {
		if tt.url == "" {
			continue // no IPv6
		}
		for _, via := range []string{"direct", "redirect"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				u := tt.url
				if via == "redirect" {
					u = redirector.URL + "/?to=" + url.QueryEscape(tt.url)
				}
				before := redirects.Load()
				_, err := f.Fetch(t.Context(), u, Conditional{})
				var dnsErr *net.DNSError
				switch {
				case errors.Is(err, ErrPrivateAddress):
				case tt.resolves && errors.As(err, &dnsErr):
				default:
					t.Errorf("err = %v, want ErrPrivateAddress", err)
				}
				if err != nil && !strings.Contains(err.Error(), u) {
					t.Errorf("error %q does not name the URL", err)
				}
				if via == "redirect" && redirects.Load() != before+1 {
					t.Errorf("the allowed server got %d requests, want 1", redirects.Load()-before)
				}
			})
		}
	}
	if n := targetRequests.Load(); n != 0 {
		t.Errorf("the loopback targets received %d requests, want 0", n)
	}

	for _, u := range []string{"file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://example.org/feed", "javascript:alert(1)", "data:text/xml,<rss/>"} {
		if _, err := f.Fetch(t.Context(), u, Conditional{}); !errors.Is(err, errScheme) {
			t.Errorf("%s: err = %v, want the scheme error", u, err)
		}
		if _, err := f.Fetch(t.Context(), redirector.URL+"/?to="+url.QueryEscape(u), Conditional{}); !errors.Is(err, errScheme) {
			t.Errorf("redirect to %s: err = %v, want the scheme error", u, err)
		}
	}
}

// rebindingDNS is a DNS server for one name whose A record changes between
// lookups: the first answer after a reset is first, every later one then.
type rebindingDNS struct {
	name        string
	first, then net.IP
	lookups     atomic.Int64
	addr        string
}

func newRebindingDNS(t *testing.T, name string, first, then net.IP) *rebindingDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &rebindingDNS{name: name, first: first.To4(), then: then.To4(), addr: pc.LocalAddr().String()}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := d.answer(buf[:n]); out != nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return d
}

func (d *rebindingDNS) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true},
		Questions: []dnsmessage.Question{q},
	}
	switch {
	case !strings.EqualFold(q.Name.String(), d.name):
		resp.RCode = dnsmessage.RCodeNameError
	case q.Type == dnsmessage.TypeA:
		ip := d.then
		if d.lookups.Add(1) == 1 {
			ip = d.first
		}
		resp.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
			Body:   &dnsmessage.AResource{A: [4]byte(ip)},
		}}
	}
	out, err := resp.Pack()
	if err != nil {
		return nil
	}
	return out
}

// resolver is a resolver asking only this server.
func (d *rebindingDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", d.addr)
	}}
}

// TestFetchDNSRebinding: a host name that resolves to an allowed address
// and then to a refused one. The guard judges the address each connection
// is made to, after that connection's own lookup, so the second answer is
// refused whether it comes on the next fetch or on a redirect within the
// same fetch: no lookup made earlier to check the name can be raced.
func TestFetchDNSRebinding(t *testing.T) {
	// The allowed "public" server and the internal one share a port, so
	// that only the address the name resolves to tells them apart.
	var (
		public, internal *httptest.Server
		internalRequests atomic.Int64
	)
	for range 10 {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("cannot listen on 127.0.0.2: %v", err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln2, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			ln.Close()
			continue
		}
		public = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A new connection, and so a new lookup, for every request.
			w.Header().Set("Connection", "close")
			if r.URL.Path == "/redirect" {
				http.Redirect(w, r, "/feed", http.StatusFound)
				return
			}
			w.Header().Set("Content-Type", "application/rss+xml")
			_, _ = w.Write(readTestdata(t, "rss.xml"))
		}))
		public.Listener.Close()
		public.Listener = ln
		public.Start()
		internal = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			internalRequests.Add(1)
			fmt.Fprint(w, "internal")
		}))
		internal.Listener.Close()
		internal.Listener = ln2
		internal.Start()
		t.Cleanup(public.Close)
		t.Cleanup(internal.Close)
		break
	}
	if public == nil {
		t.Fatal("found no port free on both 127.0.0.1 and 127.0.0.2")
	}
	_, port, _ := net.SplitHostPort(public.Listener.Addr().String())
	const name = "feeds.rebind.example."
	dns := newRebindingDNS(t, name, net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 1))
	f := NewFetcher(FetcherOptions{
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")},
		Resolver:     dns.resolver(),
	})
	base := "http://" + strings.TrimSuffix(name, ".") + ":" + port

	resp, err := f.Fetch(t.Context(), base+"/feed", Conditional{})
	if err != nil {
		t.Fatalf("first fetch, the name resolving to 127.0.0.2: %v", err)
	}
	if !bytes.Contains(resp.Body, []byte("Utrechts Nieuwsblad")) {
		t.Fatalf("first fetch got %q, want the feed", resp.Body)
	}
	if _, err := f.Fetch(t.Context(), base+"/feed", Conditional{}); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("second fetch, the name now resolving to 127.0.0.1: err = %v, want ErrPrivateAddress", err)
	}

	dns.lookups.Store(0)
	if _, err := f.Fetch(t.Context(), base+"/redirect", Conditional{}); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("redirect to the same name, resolving to 127.0.0.1 the second time: err = %v, want ErrPrivateAddress", err)
	}
	if n := dns.lookups.Load(); n < 2 {
		t.Errorf("%d lookups during the redirected fetch, want one per connection", n)
	}
	if n := internalRequests.Load(); n != 0 {
		t.Errorf("the internal server received %d requests, want 0", n)
	}
}
