// Package demo bundles an offline corpus of feeds about UMC Utrecht and UZ
// Leuven and a local HTTP server that serves them the way real publishers
// do, so the whole daemon can be run end to end without internet.
//
// The corpus is hand-written: ordinary news and chatter, items that break the
// hospitals' social-media guidelines, and deliberate hard negatives. Which is
// which is recorded in expectations.yaml, labelled by a human before any
// detection rule existed, so the labels can be used to measure the rules.
package demo

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed feeds
var feedFiles embed.FS

// Feed is one feed of the corpus.
type Feed struct {
	// ID is the feed's identifier in config and in Expectation.FeedID.
	ID string
	// Name is the feed's human-readable name.
	Name string
	// Path is the URL path on the demo server, e.g. "/news/nl.xml".
	Path string
	// Source is the kind of source (news, mastodon, reddit, forum, blog), as
	// in mention.Mention.Source.
	Source string
}

// Feeds returns the feeds of the corpus, sorted by ID.
func Feeds() []Feed {
	return []Feed{
		{ID: "be-news", Name: "Leuvense Koerier", Path: "/news/be.xml", Source: "news"},
		{ID: "blogs", Name: "Zorgblogs", Path: "/blogs/feed.json", Source: "blog"},
		{ID: "forum", Name: "Geneeskundeforum", Path: "/forum/feed.atom", Source: "forum"},
		{ID: "gnews", Name: "Nieuwszoeker: UMC Utrecht OR UZ Leuven", Path: "/gnews/search.xml", Source: "news"},
		{ID: "mastodon-umcutrecht", Name: "Mastodon #umcutrecht", Path: "/mastodon/tags/umcutrecht.rss", Source: "mastodon"},
		{ID: "mastodon-uzleuven", Name: "Mastodon #uzleuven", Path: "/mastodon/tags/uzleuven.rss", Source: "mastodon"},
		{ID: "nl-news", Name: "Utrechts Dagblad", Path: "/news/nl.xml", Source: "news"},
		{ID: "reddit", Name: "Reddit search: umc utrecht OR uz leuven", Path: "/reddit/search.atom", Source: "reddit"},
	}
}

// corpusModified reports when the corpus was last edited. Embedded files
// carry no modification time, and a fixed date keeps Last-Modified stable
// across restarts, as it would be for an unchanged feed on a real server.
func corpusModified() time.Time {
	return time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC)
}

// document is one embedded feed, ready to serve.
type document struct {
	body        []byte
	etag        string
	contentType string
}

// contentType returns the media type real publishers send for a feed file
// with the given extension.
func contentType(ext string) (string, bool) {
	switch ext {
	case ".xml", ".rss":
		return "application/rss+xml; charset=utf-8", true
	case ".atom":
		return "application/atom+xml; charset=utf-8", true
	case ".json":
		return "application/feed+json; charset=utf-8", true
	}
	return "", false
}

// loadDocuments reads every feed of Feeds from the embedded files.
func loadDocuments() (map[string]document, error) {
	docs := make(map[string]document)
	for _, f := range Feeds() {
		body, err := fs.ReadFile(feedFiles, "feeds"+f.Path)
		if err != nil {
			return nil, fmt.Errorf("demo: feed %s: %w", f.ID, err)
		}
		ctype, ok := contentType(path.Ext(f.Path))
		if !ok {
			return nil, fmt.Errorf("demo: feed %s: no content type for %q", f.ID, f.Path)
		}
		sum := sha256.Sum256(body)
		docs[f.Path] = document{
			body:        body,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			contentType: ctype,
		}
	}
	return docs, nil
}

// Server serves the corpus over HTTP on a local address.
type Server struct {
	listener net.Listener
	host     string // host:port for URL
	http     *http.Server
	done     chan struct{}
	serveErr error
}

// Start listens on addr (e.g. "127.0.0.1:0" for a free port) and serves the
// corpus until Close. It answers conditional requests (If-None-Match,
// If-Modified-Since) with 304, like the feed servers the fetcher meets in
// production.
func Start(addr string) (*Server, error) {
	docs, err := loadDocuments()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: listen on %s: %w", addr, err)
	}
	s := &Server{
		listener: ln,
		host:     dialHost(addr, ln.Addr()),
		http: &http.Server{
			Handler:           handler(docs),
			ReadHeaderTimeout: 5 * time.Second,
			// Connection-level noise from a fixture server is of no use to
			// anyone; it must not go to the process-wide logger.
			ErrorLog: log.New(io.Discard, "", 0),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
	}()
	return s, nil
}

func handler(docs map[string]document) http.Handler {
	modified := corpusModified()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", doc.contentType)
		h.Set("ETag", doc.etag)
		h.Set("Cache-Control", "public, max-age=60")
		// ServeContent evaluates If-None-Match and If-Modified-Since against
		// the headers set above and answers 304 when they match.
		http.ServeContent(w, r, "", modified, bytes.NewReader(doc.body))
	})
}

// URL returns the absolute URL of p on the server, e.g.
// s.URL("/news/nl.xml"). A missing leading slash is added.
func (s *Server) URL(p string) string {
	return "http://" + s.host + "/" + strings.TrimLeft(p, "/")
}

// dialHost returns the host:port clients use to reach a listener bound to
// addr. A listener on all interfaces is reached through loopback, of the
// family the caller asked for.
func dialHost(requested string, bound net.Addr) string {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return bound.String()
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		return bound.String()
	}
	reqHost, _, _ := net.SplitHostPort(requested)
	if ip := net.ParseIP(reqHost); ip != nil && ip.To4() == nil {
		return net.JoinHostPort("::1", port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// Close stops the server at once, closing open connections, and waits until
// it no longer serves.
func (s *Server) Close() error {
	err := s.http.Close()
	<-s.done
	return errors.Join(err, s.serveErr)
}

// feedByID reports the feed with the given id.
func feedByID(id string) (Feed, bool) {
	feeds := Feeds()
	i, ok := slices.BinarySearchFunc(feeds, id, func(f Feed, id string) int { return strings.Compare(f.ID, id) })
	if !ok {
		return Feed{}, false
	}
	return feeds[i], true
}
