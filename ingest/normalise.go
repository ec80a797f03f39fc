package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	ext "github.com/mmcdole/gofeed/extensions"

	"github.com/mediawatch/mediawatch/mention"
)

// Bounds on normalised fields: a hostile feed must not turn into
// arbitrarily large messages downstream.
const (
	maxTextBytes  = 64 << 10
	maxTitleBytes = 1 << 10
	maxShortBytes = 512 // author, feed title, alt text, language
	maxURLBytes   = 2 << 10
	maxLinks      = 100
	maxMedia      = 50
)

// FeedSpec is one configured feed.
type FeedSpec struct {
	ID, Name, URL, Source string
	// Interval between polls; zero means DefaultInterval.
	Interval time.Duration
}

// Normalise converts every item of feed to a mention, in feed order. fetched
// is the fetch time; it is also the published time of items that carry no
// date. Relative links are resolved against the item's link, else the feed's
// link, else spec.URL.
func Normalise(spec FeedSpec, feed *gofeed.Feed, fetched time.Time) []mention.Mention {
	if feed == nil {
		return nil
	}
	feedBase := parseBase(spec.URL)
	if b := parseBase(feed.Link); b != nil && feedBase != nil {
		feedBase = feedBase.ResolveReference(b)
	}
	feedTitle := truncateUTF8(collapseSpace(htmlTitle(feed.Title)), maxShortBytes)
	feedAuthor := personName(feed.Authors, feed.Author)
	feedLang := language(feed.Language)

	out := make([]mention.Mention, 0, len(feed.Items))
	for _, item := range feed.Items {
		if item == nil {
			continue
		}
		out = append(out, normaliseItem(spec, item, fetched, feedBase, feedTitle, feedAuthor, feedLang))
	}
	return out
}

func normaliseItem(spec FeedSpec, item *gofeed.Item, fetched time.Time, feedBase *url.URL, feedTitle, feedAuthor, feedLang string) mention.Mention {
	base := feedBase
	link := resolve(feedBase, item.Link)
	if b := parseBase(link); b != nil {
		base = b
	}

	body := item.Content
	if strings.TrimSpace(body) == "" {
		body = item.Description
	}
	text, hrefs, images := HTMLToText(body)

	guid := strings.TrimSpace(item.GUID)
	m := mention.Mention{
		ID:        mention.ID(spec.URL, identityKey(guid, link, item), link),
		Source:    spec.Source,
		FeedID:    spec.ID,
		FeedURL:   spec.URL,
		FeedTitle: feedTitle,
		GUID:      truncateUTF8(guid, maxURLBytes),
		URL:       truncateUTF8(link, maxURLBytes),
		Title:     truncateUTF8(htmlTitle(item.Title), maxTitleBytes),
		Text:      truncateUTF8(text, maxTextBytes),
		Fetched:   fetched.UTC(),
	}

	m.Author = personName(item.Authors, item.Author)
	if m.Author == "" && item.DublinCoreExt != nil {
		m.Author = firstNonEmpty(item.DublinCoreExt.Creator)
	}
	if m.Author == "" {
		m.Author = handleFromLink(link)
	}
	if m.Author == "" {
		m.Author = feedAuthor
	}
	m.Author = truncateUTF8(collapseSpace(m.Author), maxShortBytes)

	m.Lang = feedLang
	if item.DublinCoreExt != nil {
		if l := language(firstNonEmpty(item.DublinCoreExt.Language)); l != "" {
			m.Lang = l
		}
	}

	switch {
	case item.PublishedParsed != nil && !item.PublishedParsed.IsZero():
		m.Published = item.PublishedParsed.UTC()
	case item.UpdatedParsed != nil && !item.UpdatedParsed.IsZero():
		m.Published = item.UpdatedParsed.UTC()
	default:
		m.Published = fetched.UTC()
	}

	var links uniqueURLs
	links.add(base, link)
	for _, l := range item.Links {
		links.add(base, l)
	}
	for _, h := range hrefs {
		links.add(base, h)
	}
	m.Links = links.list

	m.Media = itemMedia(base, item, images)
	return m
}

// handleFromLink returns the account handle in a post link of the shape
// Mastodon and other fediverse servers use, https://host/@name/123, as
// "@name@host". Tag feeds of those servers name no author, and without one
// an account posing as the hospital could not be told from any other.
func handleFromLink(link string) string {
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		return ""
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	name, ok := strings.CutPrefix(first, "@")
	if !ok || name == "" || strings.ContainsAny(name, "@ ") {
		return ""
	}
	return "@" + name + "@" + u.Hostname()
}

// identityKey is what the item is known by: its GUID, else its link, else,
// for items with neither, a hash of its content so that distinct items do not
// all collapse onto the feed URL.
func identityKey(guid, link string, item *gofeed.Item) string {
	if guid != "" || link != "" {
		return guid
	}
	h := sha256.New()
	for _, s := range []string{item.Title, item.Published, item.Description, item.Content} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "content:" + hex.EncodeToString(h.Sum(nil)[:16])
}

func itemMedia(base *url.URL, item *gofeed.Item, images []mention.Media) []mention.Media {
	var c mediaCollector
	for _, e := range item.Enclosures {
		if e != nil {
			c.add(base, mention.Media{URL: e.URL, Type: e.Type})
		}
	}
	if media, ok := item.Extensions["media"]; ok {
		for _, mc := range media["content"] {
			c.addExtension(base, mc, "", "")
		}
		for _, g := range media["group"] {
			groupAlt := mediaAlt(g.Children)
			for _, mc := range g.Children["content"] {
				c.addExtension(base, mc, groupAlt, "")
			}
			for _, th := range g.Children["thumbnail"] {
				c.addExtension(base, th, groupAlt, "image")
			}
		}
		alt := ""
		if len(media["description"]) > 0 || len(media["title"]) > 0 {
			alt = mediaAlt(media)
		}
		for _, th := range media["thumbnail"] {
			c.addExtension(base, th, alt, "image")
		}
	}
	if item.Image != nil {
		c.add(base, mention.Media{URL: item.Image.URL, Type: "image", Alt: item.Image.Title})
	}
	for _, img := range images {
		c.add(base, img)
	}
	return c.list
}

// mediaAlt picks the caption of a media element: its description, else its
// title.
func mediaAlt(children map[string][]ext.Extension) string {
	for _, name := range []string{"description", "title"} {
		for _, e := range children[name] {
			if s := strings.TrimSpace(e.Value); s != "" {
				if e.Attrs["type"] == "html" {
					s, _, _ = HTMLToText(s)
				}
				return s
			}
		}
	}
	return ""
}

type mediaCollector struct {
	list []mention.Media
	seen map[string]int
}

func (c *mediaCollector) addExtension(base *url.URL, e ext.Extension, alt, typ string) {
	if a := mediaAlt(e.Children); a != "" {
		alt = a
	}
	if typ == "" {
		typ = e.Attrs["type"]
	}
	if typ == "" {
		typ = e.Attrs["medium"]
	}
	c.add(base, mention.Media{URL: e.Attrs["url"], Type: typ, Alt: alt})
}

// add appends m when its URL is new; for a URL seen before it only fills in
// a missing type or alt text, as feeds often list one image several ways.
func (c *mediaCollector) add(base *url.URL, m mention.Media) {
	u := resolve(base, cleanURL(m.URL))
	if u == "" {
		return
	}
	m.URL = u
	m.Type = truncateUTF8(strings.TrimSpace(m.Type), maxShortBytes)
	m.Alt = truncateUTF8(collapseSpace(m.Alt), maxShortBytes)
	if i, ok := c.seen[u]; ok {
		if c.list[i].Alt == "" {
			c.list[i].Alt = m.Alt
		}
		if c.list[i].Type == "" {
			c.list[i].Type = m.Type
		}
		return
	}
	if len(c.list) >= maxMedia {
		return
	}
	if c.seen == nil {
		c.seen = make(map[string]int)
	}
	c.seen[u] = len(c.list)
	c.list = append(c.list, m)
}

type uniqueURLs struct {
	list []string
	seen map[string]bool
}

func (l *uniqueURLs) add(base *url.URL, raw string) {
	u := resolve(base, cleanURL(raw))
	if u == "" || l.seen[u] || len(l.list) >= maxLinks {
		return
	}
	if l.seen == nil {
		l.seen = make(map[string]bool)
	}
	l.seen[u] = true
	l.list = append(l.list, u)
}

// resolve makes raw absolute against base and returns it only when it is an
// http or https URL of bounded length.
func resolve(base *url.URL, raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxURLBytes {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if !u.IsAbs() {
		if base == nil {
			return ""
		}
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	s := u.String()
	if len(s) > maxURLBytes || !utf8.ValidString(s) {
		return ""
	}
	return s
}

func parseBase(raw string) *url.URL {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || raw == "" {
		return nil
	}
	return u
}

// htmlTitle returns a title as one line of plain text: feeds put markup and
// entities in titles more often than they should.
func htmlTitle(s string) string {
	if strings.ContainsAny(s, "<&") {
		s, _, _ = HTMLToText(s)
	}
	return collapseSpace(s)
}

func personName(people []*gofeed.Person, fallback *gofeed.Person) string {
	for _, p := range people {
		if p != nil && strings.TrimSpace(p.Name) != "" {
			return p.Name
		}
	}
	if fallback != nil {
		if n := strings.TrimSpace(fallback.Name); n != "" {
			return n
		}
		return strings.TrimSpace(fallback.Email)
	}
	return ""
}

func language(s string) string {
	return truncateUTF8(strings.ToLower(strings.TrimSpace(s)), maxShortBytes)
}

func firstNonEmpty(ss []string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}

// truncateUTF8 cuts s to at most n bytes without splitting a character and
// guarantees valid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
