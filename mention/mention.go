// Package mention defines the unit of work that flows through mediawatch: one
// item seen in one feed, normalised to plain text. It is shared by every stage
// (ingest produces it, match reads it, index stores it, alerts refer to it), so
// it holds data and the stable identity function only.
package mention

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

// Mention is one normalised feed item. Text fields are plain text: HTML has
// been stripped by ingest and nothing in here is ever rendered as markup.
type Mention struct {
	// ID is stable across fetches and restarts: see ID.
	ID string `json:"id"`
	// Source is the kind of source: news, mastodon, reddit, bluesky, youtube,
	// forum, instagram, ... It is also the last token of the NATS subject.
	Source    string   `json:"source"`
	FeedID    string   `json:"feed_id"`
	FeedURL   string   `json:"feed_url"`
	FeedTitle string   `json:"feed_title,omitempty"`
	GUID      string   `json:"guid,omitempty"`
	URL       string   `json:"url,omitempty"`
	Author    string   `json:"author,omitempty"`
	Title     string   `json:"title,omitempty"`
	Text      string   `json:"text,omitempty"`
	Links     []string `json:"links,omitempty"`
	Media     []Media  `json:"media,omitempty"`
	// Lang is the item's or feed's declared language (BCP 47, lower case), or
	// empty when neither declares one.
	Lang      string    `json:"lang,omitempty"`
	Published time.Time `json:"published"`
	Fetched   time.Time `json:"fetched"`
}

// Media is an image, video or audio attachment of an item. Alt holds the alt
// text or caption: for images it is often the only description of what the
// picture shows (a screen, a whiteboard, a badge).
type Media struct {
	URL  string `json:"url"`
	Type string `json:"type,omitempty"`
	Alt  string `json:"alt,omitempty"`
}

// ID returns the stable identity of an item: a hash of the feed URL and the
// item's GUID, or its link when the feed gives no GUID. The same item fetched
// again, by this process or after a restart, gets the same ID, which is what
// JetStream deduplicates on.
func ID(feedURL, guid, link string) string {
	key := strings.TrimSpace(guid)
	if key == "" {
		key = strings.TrimSpace(link)
	}
	h := sha256.New()
	h.Write([]byte(strings.TrimSpace(feedURL)))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Subject is the NATS subject a mention from the given source is published
// on. Source kinds come from config and are validated there to be a single
// subject token.
func Subject(source string) string {
	return "mediawatch.mentions." + source
}

// Post is a post as outside tools hand it to mediawatch, one JSON object a
// line: the fields `mediawatch scan` reads (a contract: never rename them)
// and that the labelled corpus is written in.
type Post struct {
	ID        string `json:"id"`
	Source    string `json:"source"`
	FeedTitle string `json:"feed_title"`
	Author    string `json:"author"`
	Title     string `json:"title"`
	Text      string `json:"text"`
	URL       string `json:"url"`
	Lang      string `json:"lang"`
	// MediaAlt are the alt texts or captions of the post's images.
	MediaAlt []string `json:"media_alt"`
}

// Mention returns the post as a mention.
func (p Post) Mention() *Mention {
	m := &Mention{ID: p.ID, Source: p.Source, FeedTitle: p.FeedTitle, Author: p.Author,
		Title: p.Title, Text: p.Text, URL: p.URL, Lang: p.Lang}
	for _, alt := range p.MediaAlt {
		m.Media = append(m.Media, Media{Alt: alt})
	}
	return m
}
