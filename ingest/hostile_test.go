package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mediawatch/mediawatch/mention"
)

// Limits of the fetcher the hostile servers are fetched with. The timeout
// is short so that the tests of servers that stall are quick.
const (
	hostileMaxBody   = 1 << 20
	hostileMaxHeader = 64 << 10
	hostileTimeout   = 500 * time.Millisecond
	dripInterval     = 100 * time.Millisecond
)

// gzipMember is one gzip member of 1 MiB of zeros, about 1 KB. gzip
// readers read concatenated members as one stream, so 4096 of them are a
// 4 MB body that expands to 4 GiB.
var gzipMember = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return b.Bytes()
})

// hostileServer is a server misbehaving in one way, with the number of its
// requests still being answered.
type hostileServer struct {
	url    string
	active *atomic.Int64
}

// handlerServer serves h over net/http, counting handlers running.
func handlerServer(t testing.TB, h http.HandlerFunc) hostileServer {
	t.Helper()
	var active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return hostileServer{srv.URL + "/feed", &active}
}

// rawServer answers every request with handle writing raw bytes to the
// connection: for what net/http refuses to send, such as a Content-Length
// that lies. The connection is closed when handle returns.
func rawServer(t testing.TB, handle func(c net.Conn)) hostileServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		active atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		open   = map[net.Conn]bool{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[c] = true
			mu.Unlock()
			active.Add(1)
			wg.Go(func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					active.Add(-1)
				}()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return hostileServer{"http://" + ln.Addr().String() + "/feed", &active}
}

// drip writes s one byte per dripInterval until the connection fails or
// stop is closed.
func drip(w io.Writer, s string, stop <-chan struct{}) {
	for i := 0; ; i = (i + 1) % len(s) {
		select {
		case <-stop:
			return
		case <-time.After(dripInterval):
		}
		if _, err := w.Write([]byte{s[i]}); err != nil {
			return
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// holdOpen reads the connection until the client closes it.
func holdOpen(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

type hostileCase struct {
	name  string
	start func(t testing.TB) hostileServer
	// check judges what a fetch of the server returned.
	check func(t *testing.T, resp *Response, err error)
	// result is how the scheduler counts the failed poll.
	result string
}

func wantErr(target error) func(t *testing.T, resp *Response, err error) {
	return func(t *testing.T, resp *Response, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("err = %v, want %v", err, target)
		}
	}
}

func wantErrText(text string) func(t *testing.T, resp *Response, err error) {
	return func(t *testing.T, resp *Response, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), text) {
			t.Errorf("err = %v, want one saying %q", err, text)
		}
	}
}

var hostileCases = []hostileCase{
	{
		name: "gzip bomb of 4 GiB",
		start: func(t testing.TB) hostileServer {
			member := gzipMember()
			return handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Length", strconv.Itoa(4096*len(member)))
				for range 4096 {
					if _, err := w.Write(member); err != nil {
						return
					}
				}
			})
		},
		check:  wantErr(ErrBodyTooLarge),
		result: resultTooLarge,
	},
	{
		name: "endless chunked body",
		start: func(t testing.TB) hostileServer {
			chunk := bytes.Repeat([]byte("<item><title>eindeloos</title></item>\n"), 1000)
			return handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				_, _ = io.WriteString(w, `<?xml version="1.0"?><rss version="2.0"><channel>`)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			})
		},
		check:  wantErr(ErrBodyTooLarge),
		result: resultTooLarge,
	},
	{
		name: "body of one byte per 100 ms",
		start: func(t testing.TB) hostileServer {
			return handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/rss+xml")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				drip(w, `<?xml version="1.0"?><rss version="2.0"><channel><title>druppel</title>`, r.Context().Done())
			})
		},
		check:  wantErr(context.DeadlineExceeded),
		result: resultNetworkError,
	},
	{
		name: "status line of one byte per 100 ms",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				drip(c, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n", nil)
			})
		},
		check:  wantErr(context.DeadlineExceeded),
		result: resultNetworkError,
	},
	{
		name: "no answer",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, holdOpen)
		},
		check:  wantErr(context.DeadlineExceeded),
		result: resultNetworkError,
	},
	{
		name: "Content-Length longer than the body, connection held",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n<rss><channel>")
				holdOpen(c)
			})
		},
		check:  wantErr(context.DeadlineExceeded),
		result: resultNetworkError,
	},
	{
		// The poll fails rather than keep what came: with its validators
		// saved, the rest would never be fetched.
		name: "Content-Length longer than the body, connection closed",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n<rss><channel>")
			})
		},
		check:  wantErr(io.ErrUnexpectedEOF),
		result: resultNetworkError,
	},
	{
		name: "Content-Length of 10 GB",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 10737418240\r\n\r\n<rss>")
				holdOpen(c)
			})
		},
		check:  wantErr(ErrBodyTooLarge),
		result: resultTooLarge,
	},
	{
		// What follows the declared length is not read: the body is the
		// 20 bytes, which do not make a feed.
		name: "Content-Length shorter than the body",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 20\r\nConnection: close\r\n\r\n")
				fmt.Fprint(c, `<?xml version="1.0"?><rss version="2.0"><channel><title>te lang</title></channel></rss>`)
			})
		},
		check: func(t *testing.T, resp *Response, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if got := string(resp.Body); got != `<?xml version="1.0"?` {
				t.Errorf("body %q, want the declared 20 bytes", got)
			}
		},
		result: resultParseError,
	},
	{
		name: "endless headers",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				line := "X-Opvulling: " + strings.Repeat("a", 1000) + "\r\n"
				if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\n"); err != nil {
					return
				}
				for {
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			})
		},
		check:  wantErrText("headers exceeded"),
		result: resultNetworkError,
	},
	{
		name: "endless 103 Early Hints",
		start: func(t testing.TB) hostileServer {
			return rawServer(t, func(c net.Conn) {
				for {
					if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"); err != nil {
						return
					}
				}
			})
		},
		check:  wantErrText("headers exceeded"),
		result: resultNetworkError,
	},
}

func hostileFetcher() *Fetcher {
	return testFetcher(FetcherOptions{Timeout: hostileTimeout, MaxBodyBytes: hostileMaxBody, MaxHeaderBytes: hostileMaxHeader})
}

// waitIdle waits until the server answers no request: the fetch that gave
// up closed its connection, and the server noticed.
func waitIdle(t *testing.T, s hostileServer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.active.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d requests 30s after the fetch returned", s.url, s.active.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFetchHostileServers: every fetch of a misbehaving server ends within
// the fetcher's limits (body, headers, timeout), with an error naming the
// URL, allocating about what the body limit allows, and leaves no
// connection behind.
func TestFetchHostileServers(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start(t)
			f := hostileFetcher()
			defer f.CloseIdleConnections()
			var (
				resp *Response
				err  error
			)
			began := time.Now()
			n := allocated(func() { resp, err = f.Fetch(t.Context(), s.url, Conditional{}) })
			t.Logf("ended after %v, allocating %d KB: %v", time.Since(began).Round(time.Millisecond), n>>10, err)
			tc.check(t, resp, err)
			if err != nil && !strings.Contains(err.Error(), s.url) {
				t.Errorf("error %q does not name the URL", err)
			}
			if limit := uint64(4*hostileMaxBody + 8<<20); n > limit {
				t.Errorf("allocated %d KB, want at most %d", n>>10, limit>>10)
			}
			waitIdle(t, s)
		})
	}
}

// BenchmarkFetchHostile measures how long a fetch of each misbehaving
// server takes to end (ns/op) and what it allocates (B/op), with a body
// limit of 1 MiB and a timeout of 500 ms.
func BenchmarkFetchHostile(b *testing.B) {
	for _, tc := range hostileCases {
		b.Run(tc.name, func(b *testing.B) {
			s := tc.start(b)
			f := hostileFetcher()
			defer f.CloseIdleConnections()
			b.ReportAllocs()
			for b.Loop() {
				_, _ = f.Fetch(b.Context(), s.url, Conditional{})
			}
		})
	}
}

// publishWatch records mentions and, at each, how many requests the
// hostile servers were still answering.
type publishWatch struct {
	recordingSink
	stillServing func() int64
	mu           sync.Mutex
	serving      []int64
}

func (p *publishWatch) PublishMention(ctx context.Context, m mention.Mention) error {
	n := p.stillServing()
	p.mu.Lock()
	p.serving = append(p.serving, n)
	p.mu.Unlock()
	return p.recordingSink.PublishMention(ctx, m)
}

// TestSchedulerHostileServersTogether polls 20 misbehaving servers and one
// healthy feed at once. The healthy feed's items are published while the
// stalling servers are still being waited for; every bad poll fails within
// its limits, counted for what it was; memory is bounded; and once the
// polls are over no goroutine is left behind.
func TestSchedulerHostileServersTogether(t *testing.T) {
	const bad = 20
	const timeout = 3 * time.Second
	healthy := newFeedServer(t, "rss.xml", "application/rss+xml", true)
	feeds := []FeedSpec{{ID: "healthy", URL: healthy.URL, Source: "news", Interval: time.Hour}}
	var servers []hostileServer
	wantResult := map[string]string{}
	for i := range bad {
		tc := hostileCases[i%len(hostileCases)]
		s := tc.start(t)
		servers = append(servers, s)
		id := fmt.Sprintf("bad-%02d", i)
		feeds = append(feeds, FeedSpec{ID: id, URL: s.url, Source: "news", Interval: time.Hour})
		wantResult[id] = tc.result
	}
	stillServing := func() int64 {
		var n int64
		for _, s := range servers {
			n += s.active.Load()
		}
		return n
	}
	sink := &publishWatch{stillServing: stillServing}
	fetcher := testFetcher(FetcherOptions{Timeout: timeout, MaxBodyBytes: hostileMaxBody, MaxHeaderBytes: hostileMaxHeader})
	s, err := NewScheduler(SchedulerOptions{
		Feeds: feeds, Fetcher: fetcher, Store: NewMemoryStore(), Sink: sink,
		Registerer: prometheus.NewRegistry(), Concurrency: 32,
	})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	goroutines := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- s.Run(ctx) }()

	// Wait for every feed's first poll to be over.
	deadline := time.Now().Add(60 * time.Second)
	for {
		polled := 0
		for _, st := range s.Status() {
			if !st.LastSuccess.IsZero() || st.ConsecutiveFailures > 0 {
				polled++
			}
		}
		if polled == len(feeds) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d feeds polled after 60s", polled, len(feeds))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("all %d polls over after %v", len(feeds), time.Since(began).Round(time.Millisecond))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if got := sink.titles(); !slices.Equal(got, rssTitlesOldestFirst) {
		t.Errorf("published %q, want the healthy feed's %q", got, rssTitlesOldestFirst)
	}
	sink.mu.Lock()
	serving := slices.Clone(sink.serving)
	sink.mu.Unlock()
	if len(serving) == 0 || slices.Min(serving) == 0 {
		t.Errorf("hostile requests still being answered at each publish: %v; want the healthy feed published while they stall", serving)
	}

	for _, st := range s.Status() {
		if st.ID == "healthy" {
			if st.ConsecutiveFailures != 0 || st.ItemsSeen != 3 {
				t.Errorf("healthy feed: %+v", st)
			}
			continue
		}
		if st.ConsecutiveFailures != 1 || !strings.Contains(st.LastError, st.URL) || !strings.Contains(st.LastError, st.ID) {
			t.Errorf("%s: %d failures, last error %q; want one, naming the feed and its URL", st.ID, st.ConsecutiveFailures, st.LastError)
		}
		if got := feedMetric(t, s, "mediawatch_feed_fetches_total", st.ID, wantResult[st.ID]); got != 1 {
			t.Errorf("%s: %s polls %v, want 1 (last error %q)", st.ID, wantResult[st.ID], got, st.LastError)
		}
	}

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MB in all, for %d hostile servers of at most %d MB each", allocated>>20, bad, hostileMaxBody>>20)
	if limit := uint64(bad*4*hostileMaxBody + 64<<20); allocated > limit {
		t.Errorf("allocated %d MB, want at most %d", allocated>>20, limit>>20)
	}

	// No goroutine left: not the fetches', not the servers' for them (the
	// servers themselves were running before).
	fetcher.CloseIdleConnections()
	for _, srv := range servers {
		waitIdle(t, srv)
	}
	deadline = time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > goroutines {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the polls:\n%s", runtime.NumGoroutine(), goroutines, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap in use %d MB before, %d MB after", before.HeapInuse>>20, after.HeapInuse>>20)
	if after.HeapInuse > before.HeapInuse+32<<20 {
		t.Errorf("heap in use grew from %d MB to %d MB", before.HeapInuse>>20, after.HeapInuse>>20)
	}
}
