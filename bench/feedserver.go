package bench

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxHosts is how many listeners the feed server spreads its feeds over.
// The fetcher limits requests per host (ingest.per_host_concurrency), as
// it should for real publishers; several hosts make the feeds look like
// the many publishers they stand for.
const maxHosts = 16

// feedInfo is one synthetic feed and what the server keeps of it.
type feedInfo struct {
	index                      int
	id, name, source, format   string
	lang, host, path, url, ext string

	mu    sync.Mutex
	count int            // posts released when doc was rendered
	doc   []byte         // the document for count (with the cache)
	frags map[int][]byte // rendered items by post number (with the cache)

	polls    int
	lastPoll time.Time
	// seen is how many posts the last document the daemon got listed;
	// skipped how many of those it never saw listed, because they left
	// the window between two polls.
	seen, skipped int
}

// formats of the synthetic feeds, by position in a cycle of twenty: news
// sites' RSS, Mastodon tag feeds, Reddit search (Atom) and blog
// aggregators (JSON Feed).
func formatOf(i int) (format, source string) {
	switch r := i % 20; {
	case r < 8:
		return "rss", "news"
	case r < 13:
		return "mastodon", "mastodon"
	case r < 17:
		return "atom", "reddit"
	}
	return "json", "blog"
}

// feedServer serves the synthetic feeds on loopback listeners. Posts are
// numbered; post n belongs to feed n mod feeds and is released at
// start + n/rate (all at start when rate is 0). A document lists the
// feed's newest released posts, at most window of them (all when 0), and
// answers a conditional GET for an unchanged list with 304.
type feedServer struct {
	gen      *generator
	feeds    []*feedInfo
	items    int
	rate     float64
	window   int
	interval time.Duration
	base     time.Time
	posts    []*post // pre-generated posts, by number; nil: made on demand

	servers []*http.Server
	done    sync.WaitGroup

	start atomic.Pointer[time.Time]
	first atomic.Int64 // unix nanoseconds of the first request

	// cache keeps each feed's document and rendered items between polls;
	// a scale run renders every response afresh instead, so that ten
	// thousand feeds' documents do not count towards the daemon's memory.
	cache bool

	mu         sync.Mutex
	delays     []time.Duration // of each poll after the first, after it was due
	firstRound time.Duration   // from the start to the last feed's first poll
	served     atomic.Int64    // 200 responses
	notMod     atomic.Int64    // 304 responses
}

type feedServerOptions struct {
	feeds, items int
	rate         float64
	window       int
	interval     time.Duration
	// cache: see feedServer.cache.
	cache bool
}

// startFeedServer listens and lays out the feeds; it serves them once use
// has given it a generator.
func startFeedServer(opts feedServerOptions) (*feedServer, error) {
	s := &feedServer{
		items: opts.items, rate: opts.rate, window: opts.window, interval: opts.interval, cache: opts.cache,
		base: time.Now().UTC().Truncate(time.Second),
	}
	hosts := min(maxHosts, opts.feeds)
	var lns []net.Listener
	for range hosts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("bench: feed server: %w", err)
		}
		lns = append(lns, ln)
	}
	for i := range opts.feeds {
		format, source := formatOf(i)
		lang := "nl"
		if i%5 >= 3 {
			lang = "en"
		}
		f := &feedInfo{
			index: i, format: format, source: source, lang: lang,
			id:    fmt.Sprintf("bench-%05d", i),
			host:  fmt.Sprintf("%s-%d.example", source, i%97),
			frags: map[int][]byte{},
		}
		f.name = fmt.Sprintf("Synthetic %s feed %d", source, i)
		f.ext = map[string]string{"rss": ".xml", "mastodon": ".rss", "atom": ".atom", "json": ".json"}[format]
		f.path = "/feeds/" + strconv.Itoa(i) + f.ext
		f.url = "http://" + lns[i%hosts].Addr().String() + f.path
		s.feeds = append(s.feeds, f)
	}
	for _, ln := range lns {
		srv := &http.Server{
			Handler:           http.HandlerFunc(s.serve),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(io.Discard, "", 0),
		}
		s.servers = append(s.servers, srv)
		s.done.Go(func() { _ = srv.Serve(ln) })
	}
	return s, nil
}

// use sets the generator of the posts; with pregenerate every post is
// made now rather than when a feed is first asked for.
func (s *feedServer) use(gen *generator, pregenerate bool) {
	s.gen = gen
	if pregenerate {
		s.posts = make([]*post, s.items)
		for n := range s.posts {
			s.posts[n] = s.makePost(n)
		}
	}
}

// begin starts the release clock; requests before it see empty feeds.
func (s *feedServer) begin(at time.Time) { s.start.Store(&at) }

// prerender renders every feed's document as it will first be served, so
// that the measurement does not include writing the feeds.
func (s *feedServer) prerender(at time.Time) {
	for _, f := range s.feeds {
		f.mu.Lock()
		f.count = s.released(f, at)
		f.doc = s.render(f, f.count)
		f.mu.Unlock()
	}
}

func (s *feedServer) close(ctx context.Context) {
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	s.done.Wait()
}

// releasedTotal is how many posts are out at t.
func (s *feedServer) releasedTotal(t time.Time) int {
	start := s.start.Load()
	if start == nil {
		return 0
	}
	if s.rate <= 0 {
		return s.items
	}
	if t.Before(*start) {
		return 0
	}
	return min(s.items, int(t.Sub(*start).Seconds()*s.rate)+1)
}

// postsOf is how many posts feed f has in all.
func (s *feedServer) postsOf(f *feedInfo) int {
	if s.items <= f.index {
		return 0
	}
	return (s.items-1-f.index)/len(s.feeds) + 1
}

// servable is how many posts the daemon has been served, and whether
// every feed has been served all of its posts.
func (s *feedServer) servable() (n, skipped int, complete bool) {
	complete = true
	for _, f := range s.feeds {
		f.mu.Lock()
		n += f.seen - f.skipped
		skipped += f.skipped
		complete = complete && f.seen == s.postsOf(f)
		f.mu.Unlock()
	}
	return n, skipped, complete
}

// released is how many of feed f's posts are out at t.
func (s *feedServer) released(f *feedInfo, t time.Time) int {
	total := s.releasedTotal(t)
	if total <= f.index {
		return 0
	}
	return (total-1-f.index)/len(s.feeds) + 1
}

func (s *feedServer) postNumber(f *feedInfo, k int) int { return f.index + k*len(s.feeds) }

// publishedAt is when post n came out: its release time when posts are
// paced, else a time in the recent past, in number order.
func (s *feedServer) publishedAt(n int) time.Time {
	if s.rate > 0 {
		if start := s.start.Load(); start != nil {
			return start.Add(time.Duration(float64(n) / s.rate * float64(time.Second)))
		}
	}
	return s.base.Add(-time.Duration(s.items-n) * 10 * time.Second)
}

func (s *feedServer) makePost(n int) *post {
	f := s.feeds[n%len(s.feeds)]
	return s.gen.post(n, f, s.publishedAt(n))
}

func (s *feedServer) post(n int) *post {
	if s.posts != nil {
		return s.posts[n]
	}
	return s.makePost(n)
}

func (s *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.first.CompareAndSwap(0, now.UnixNano())
	i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/feeds/"), pathExt(r.URL.Path)))
	if err != nil || i < 0 || i >= len(s.feeds) || r.Method != http.MethodGet || s.start.Load() == nil {
		http.NotFound(w, r)
		return
	}
	f := s.feeds[i]
	f.mu.Lock()
	s.notePoll(f, now)
	count := s.released(f, now)
	if s.window > 0 {
		f.skipped += max(0, count-s.window-f.seen)
	}
	f.seen = count
	etag := etagOf(f, count)
	if r.Header.Get("If-None-Match") == etag {
		f.mu.Unlock()
		s.notMod.Add(1)
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var doc []byte
	if s.cache {
		if count != f.count || f.doc == nil {
			f.doc, f.count = s.render(f, count), count
		}
		doc = f.doc
	} else {
		doc = s.render(f, count)
	}
	f.mu.Unlock()

	w.Header().Set("ETag", etag)
	s.served.Add(1)
	w.Header().Set("Content-Type", contentTypes[f.format])
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	_, _ = w.Write(doc)
}

func pathExt(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[i:]
	}
	return ""
}

var contentTypes = map[string]string{
	"rss":      "application/rss+xml; charset=utf-8",
	"mastodon": "application/rss+xml; charset=utf-8",
	"atom":     "application/atom+xml; charset=utf-8",
	"json":     "application/feed+json; charset=utf-8",
}

// notePoll records a poll and how long after it was due it came: the first
// is due when the clock starts, each next one an interval after the last.
func (s *feedServer) notePoll(f *feedInfo, now time.Time) {
	start := s.start.Load()
	if start == nil {
		return
	}
	first := f.polls == 0
	due := f.lastPoll.Add(s.interval)
	f.polls++
	f.lastPoll = now
	s.mu.Lock()
	defer s.mu.Unlock()
	if first {
		s.firstRound = max(s.firstRound, now.Sub(*start))
		return
	}
	s.delays = append(s.delays, max(now.Sub(due), 0))
}

// pollStats counts the polls done, and those due by end minus grace that
// were not done.
type pollStats struct {
	done, due, missed int
	delays            []time.Duration
	firstRound        time.Duration
}

func (s *feedServer) pollStats(end time.Time, grace time.Duration) pollStats {
	var st pollStats
	for _, f := range s.feeds {
		f.mu.Lock()
		st.done += f.polls
		next := f.lastPoll.Add(s.interval)
		if f.polls == 0 {
			if start := s.start.Load(); start != nil {
				next = *start
			}
		}
		for ; !next.After(end.Add(-grace)); next = next.Add(s.interval) {
			st.missed++
		}
		f.mu.Unlock()
	}
	st.due = st.done + st.missed
	s.mu.Lock()
	st.delays = slices.Clone(s.delays)
	st.firstRound = s.firstRound
	s.mu.Unlock()
	return st
}

// etagOf is the validator of feed f's document listing count posts.
func etagOf(f *feedInfo, count int) string { return `"` + f.id + "-" + strconv.Itoa(count) + `"` }

// render makes feed f's document listing its first count posts (the newest
// window of them). With the cache, rendered items are kept while they stay
// in the window.
func (s *feedServer) render(f *feedInfo, count int) []byte {
	from := 0
	if s.window > 0 {
		from = max(0, count-s.window)
	}
	items := make([][]byte, 0, count-from)
	for k := count - 1; k >= from; k-- { // newest first, as feeds list
		n := s.postNumber(f, k)
		frag, ok := f.frags[n]
		if !ok {
			frag = renderItem(f, s.post(n))
			if s.cache && s.window > 0 {
				f.frags[n] = frag
			}
		}
		items = append(items, frag)
	}
	for n := range f.frags {
		if k := (n - f.index) / len(s.feeds); k < from {
			delete(f.frags, n)
		}
	}
	return renderFeed(f, items)
}

// Document and item rendering, in the shapes the publishers send.

func renderFeed(f *feedInfo, items [][]byte) []byte {
	var b strings.Builder
	switch f.format {
	case "rss", "mastodon":
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">` + "\n<channel>\n")
		fmt.Fprintf(&b, "<title>%s</title>\n<link>https://%s/</link>\n<description>%s</description>\n", esc(f.name), f.host, esc("Berichten van "+f.host))
		if f.format == "rss" {
			fmt.Fprintf(&b, "<language>%s</language>\n", f.lang)
		} else {
			b.WriteString("<generator>Mastodon v4.4.3</generator>\n")
		}
		for _, it := range items {
			b.Write(it)
		}
		b.WriteString("</channel>\n</rss>\n")
	case "atom":
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<feed xmlns="http://www.w3.org/2005/Atom">` + "\n")
		fmt.Fprintf(&b, "<title>%s</title>\n<id>https://%s/search.rss</id>\n<updated>%s</updated>\n<link rel=\"alternate\" href=\"https://%s/\" type=\"text/html\"/>\n",
			esc(f.name), f.host, time.Now().UTC().Format(time.RFC3339), f.host)
		for _, it := range items {
			b.Write(it)
		}
		b.WriteString("</feed>\n")
	case "json":
		head, _ := json.Marshal(map[string]string{
			"version": "https://jsonfeed.org/version/1.1", "title": f.name, "home_page_url": "https://" + f.host + "/", "language": f.lang,
		})
		b.Write(head[:len(head)-1])
		b.WriteString(`,"items":[`)
		for i, it := range items {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(it)
		}
		b.WriteString("]}\n")
	}
	return []byte(b.String())
}

func bodyHTML(p *post) string {
	var b strings.Builder
	for _, par := range p.paragraphs {
		b.WriteString("<p>")
		b.WriteString(html.EscapeString(par))
		b.WriteString("</p>")
	}
	return b.String()
}

func renderItem(f *feedInfo, p *post) []byte {
	var b strings.Builder
	switch f.format {
	case "rss":
		fmt.Fprintf(&b, "<item>\n<title>%s</title>\n<link>%s</link>\n<guid isPermaLink=\"false\">%s</guid>\n<pubDate>%s</pubDate>\n<dc:creator>%s</dc:creator>\n<description>%s</description>\n</item>\n",
			esc(p.title), esc(p.link), esc(p.guid), p.published.UTC().Format(time.RFC1123Z), esc(p.author), esc(bodyHTML(p)))
	case "mastodon":
		tags := `<p><a href="https://` + f.host + `/tags/zorg" class="mention hashtag" rel="tag">#<span>zorg</span></a></p>`
		fmt.Fprintf(&b, "<item>\n<guid isPermaLink=\"true\">%s</guid>\n<link>%s</link>\n<pubDate>%s</pubDate>\n<dc:creator>%s</dc:creator>\n<description>%s</description>\n<category>zorg</category>\n</item>\n",
			esc(p.link), esc(p.link), p.published.UTC().Format(time.RFC1123Z), esc(p.author), esc(bodyHTML(p)+tags))
	case "atom":
		fmt.Fprintf(&b, "<entry><author><name>%s</name></author><content type=\"html\">%s</content><id>%s</id><link href=\"%s\"/><updated>%s</updated><published>%s</published><title>%s</title></entry>\n",
			esc(p.author), esc(bodyHTML(p)), esc(p.guid), esc(p.link), p.published.UTC().Format(time.RFC3339), p.published.UTC().Format(time.RFC3339), esc(p.title))
	case "json":
		item, _ := json.Marshal(struct {
			ID            string              `json:"id"`
			URL           string              `json:"url"`
			Title         string              `json:"title"`
			ContentHTML   string              `json:"content_html"`
			DatePublished string              `json:"date_published"`
			Authors       []map[string]string `json:"authors"`
		}{p.guid, p.link, p.title, bodyHTML(p), p.published.UTC().Format(time.RFC3339), []map[string]string{{"name": p.author}}})
		b.Write(item)
	}
	return []byte(b.String())
}

func esc(s string) string {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return ""
	}
	return b.String()
}
