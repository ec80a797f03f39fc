// Package ingest turns configured feeds into mentions: it fetches feeds over
// HTTP with its own hardened client, parses them with gofeed behind input
// guards, normalises every item to a mention.Mention and hands new items to a
// Sink, remembering per feed what it has already seen.
package ingest

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fetcher defaults, applied where FetcherOptions leaves a field zero.
const (
	DefaultMaxBodyBytes          = 16 << 20
	DefaultMaxRedirects          = 5
	DefaultMaxRetryAfter         = time.Hour
	DefaultPerHostConcurrency    = 2
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 20 * time.Second
	DefaultFetchTimeout          = 60 * time.Second
	// DefaultMaxHeaderBytes bounds a response's headers, all 1xx responses
	// before it included; net/http would allow 10 MB.
	DefaultMaxHeaderBytes = 1 << 20
)

// feedAccept lists the media types feeds are served as, preferred first.
const feedAccept = "application/rss+xml, application/atom+xml, application/feed+json, " +
	"application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"

var (
	// ErrBodyTooLarge means a response body, after decompression, exceeded
	// FetcherOptions.MaxBodyBytes.
	ErrBodyTooLarge = errors.New("response body too large")
	// ErrPrivateAddress means a fetch would have connected to a private,
	// loopback, link-local or otherwise internal address that is not in
	// FetcherOptions.AllowPrivate.
	ErrPrivateAddress = errors.New("refusing to connect to a non-public address")
	// errScheme is returned for URLs (or redirects) that are not http or https.
	errScheme = errors.New("only http and https URLs are fetched")
)

// HTTPError is a response status other than 2xx and 304.
type HTTPError struct {
	Status int
	// RetryAfter is the server's Retry-After (seconds or HTTP date), capped
	// at FetcherOptions.MaxRetryAfter; zero when absent or unparsable.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// FetcherOptions configures a Fetcher. Zero fields take the Default* values.
type FetcherOptions struct {
	// UserAgent is sent on every request; default
	// "mediawatch/<version> (+https://github.com/mediawatch/mediawatch)".
	UserAgent string

	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	// Timeout bounds a whole fetch, including redirects and reading the body
	// but not the wait for a per-host slot, which only ctx bounds.
	Timeout time.Duration

	// MaxBodyBytes caps the body after decompression, so a small gzip bomb
	// cannot expand past it.
	MaxBodyBytes int64
	MaxRedirects int
	// MaxRetryAfter caps the Retry-After a server may ask for.
	MaxRetryAfter      time.Duration
	PerHostConcurrency int

	// MaxHeaderBytes bounds the response headers.
	MaxHeaderBytes int64

	// AllowPrivate lists prefixes that may be dialled even though they are
	// private, loopback, link-local, CGNAT, ULA, unspecified or multicast.
	AllowPrivate []netip.Prefix

	// Resolver looks up host names; nil means net.DefaultResolver. Whatever
	// it answers, the address guard judges the address each connection is
	// actually made to.
	Resolver *net.Resolver
}

// Conditional carries validators from the previous successful fetch so the
// server can answer 304 Not Modified.
type Conditional struct {
	ETag, LastModified string
}

// Response is a successful (2xx) or not-modified (304) fetch.
type Response struct {
	NotModified bool
	Status      int
	Body        []byte
	// ETag and LastModified are the validators to send next time; on a 304
	// without new validators they repeat the ones sent.
	ETag, LastModified string
	FinalURL           string
	ContentType        string
}

// Fetcher fetches feeds over HTTP(S). It is safe for concurrent use.
type Fetcher struct {
	opts   FetcherOptions
	client *http.Client
	hosts  *hostLimiter
}

// NewFetcher returns a Fetcher with opts, zero fields defaulted.
func NewFetcher(opts FetcherOptions) *Fetcher {
	opts = opts.withDefaults()
	f := &Fetcher{opts: opts, hosts: newHostLimiter(opts.PerHostConcurrency)}
	dialer := &net.Dialer{
		Timeout:  opts.DialTimeout,
		Resolver: opts.Resolver,
		// Checking in Control sees the address actually being connected to,
		// after DNS resolution, for the first request and every redirect
		// alike, which closes the DNS-rebinding gap a pre-flight lookup has.
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDialAddress(address, opts.AllowPrivate)
		},
	}
	transport := &http.Transport{
		// No proxy from the environment: a proxy would dial on our behalf
		// and bypass the address guard.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  opts.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: opts.MaxHeaderBytes,
		// We decompress ourselves so the body cap counts decompressed bytes.
		DisableCompression:  true,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: opts.PerHostConcurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	f.client = &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > opts.MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", opts.MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to %q: %w", req.URL.Redacted(), errScheme)
			}
			return nil
		},
	}
	return f
}

// CloseIdleConnections closes the kept-alive connections not in use, as
// when the fetcher is done with.
func (f *Fetcher) CloseIdleConnections() {
	f.client.CloseIdleConnections()
}

func (o FetcherOptions) withDefaults() FetcherOptions {
	if o.UserAgent == "" {
		o.UserAgent = "mediawatch/" + moduleVersion() + " (+https://github.com/mediawatch/mediawatch)"
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultFetchTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxRedirects <= 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.PerHostConcurrency <= 0 {
		o.PerHostConcurrency = DefaultPerHostConcurrency
	}
	return o
}

func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "dev"
}

// Fetch GETs rawURL, sending cond as If-None-Match / If-Modified-Since. It
// returns a *HTTPError for statuses other than 2xx and 304, and errors
// matching ErrBodyTooLarge or ErrPrivateAddress; every error names rawURL.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, cond Conditional) (*Response, error) {
	resp, err := f.fetch(ctx, rawURL, cond)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", rawURL, err)
	}
	return resp, nil
}

func (f *Fetcher) fetch(ctx context.Context, rawURL string, cond Conditional) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errScheme
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}

	release, err := f.hosts.acquire(ctx, strings.ToLower(u.Host))
	if err != nil {
		return nil, err
	}
	defer release()

	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", feedAccept)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	if cond.ETag != "" {
		req.Header.Set("If-None-Match", cond.ETag)
	}
	if cond.LastModified != "" {
		req.Header.Set("If-Modified-Since", cond.LastModified)
	}

	resp, err := f.client.Do(req)
	if err != nil {
		// *url.Error repeats method and URL, which our wrapping already names.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, err
	}
	defer resp.Body.Close()

	out := &Response{
		Status:       resp.StatusCode,
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		FinalURL:     resp.Request.URL.String(),
		ContentType:  resp.Header.Get("Content-Type"),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		out.NotModified = true
		if out.ETag == "" {
			out.ETag = cond.ETag
		}
		if out.LastModified == "" {
			out.LastModified = cond.LastModified
		}
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, &HTTPError{
			Status:     resp.StatusCode,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now(), f.opts.MaxRetryAfter),
		}
	}

	if resp.ContentLength > f.opts.MaxBodyBytes && resp.Header.Get("Content-Encoding") == "" {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds %d bytes", ErrBodyTooLarge, resp.ContentLength, f.opts.MaxBodyBytes)
	}
	body, err := readBody(resp, f.opts.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	out.Body = body
	return out, nil
}

// readBody reads the decompressed body, failing with ErrBodyTooLarge as soon
// as more than limit bytes come out of the decompressor.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	var r io.Reader = resp.Body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		// "deflate" is meant to be zlib-wrapped, but some servers send raw
		// DEFLATE; a zlib stream starts with a CMF byte whose low nibble is 8.
		br := bufio.NewReader(resp.Body)
		head, _ := br.Peek(2)
		if len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("deflate body: %w", err)
			}
			defer zr.Close()
			r = zr
		} else {
			fr := flate.NewReader(br)
			defer fr.Close()
			r = fr
		}
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}

	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes after decompression", ErrBodyTooLarge, limit)
	}
	return body, nil
}

// parseRetryAfter reads a Retry-After value given as delta-seconds or as an
// HTTP date relative to now, capped at limit. Unparsable or past values give 0.
func parseRetryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(limit/time.Second) {
			return limit
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), limit)
}

// inReservedRange reports whether ip is in a range that netip.Addr's
// predicates do not cover but that must never be reached from a feed URL.
func inReservedRange(ip netip.Addr) bool {
	for _, p := range [...]string{
		"0.0.0.0/8",      // "this network"
		"100.64.0.0/10",  // CGNAT shared address space
		"192.0.0.0/24",   // IETF protocol assignments
		"198.18.0.0/15",  // benchmarking
		"240.0.0.0/4",    // reserved, including broadcast
		"64:ff9b:1::/48", // local-use NAT64
	} {
		if netip.MustParsePrefix(p).Contains(ip) {
			return true
		}
	}
	return false
}

// addressAllowed decides whether a connection to ip may be made: public
// unicast addresses always, anything else only inside allow. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry.
func addressAllowed(ip netip.Addr, allow []netip.Prefix) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return false
	}
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	return !inReservedRange(ip)
}

func checkDialAddress(address string, allow []netip.Prefix) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %q: %w", address, ErrPrivateAddress)
	}
	if !addressAllowed(ap.Addr(), allow) {
		return fmt.Errorf("dial %s: %w", ap.Addr().Unmap(), ErrPrivateAddress)
	}
	return nil
}

// hostLimiter bounds concurrent fetches per host. Entries exist only while in
// use, so the map stays as small as the set of hosts being fetched.
type hostLimiter struct {
	limit int
	mu    sync.Mutex
	hosts map[string]*hostSlot
}

type hostSlot struct {
	sem   chan struct{}
	users int
}

func newHostLimiter(limit int) *hostLimiter {
	return &hostLimiter{limit: limit, hosts: make(map[string]*hostSlot)}
}

func (l *hostLimiter) acquire(ctx context.Context, host string) (release func(), err error) {
	l.mu.Lock()
	slot, ok := l.hosts[host]
	if !ok {
		slot = &hostSlot{sem: make(chan struct{}, l.limit)}
		l.hosts[host] = slot
	}
	slot.users++
	l.mu.Unlock()

	done := func() {
		l.mu.Lock()
		slot.users--
		if slot.users == 0 {
			delete(l.hosts, host)
		}
		l.mu.Unlock()
	}
	select {
	case slot.sem <- struct{}{}:
		return func() { <-slot.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, fmt.Errorf("waiting for a connection slot to %s: %w", host, ctx.Err())
	}
}
