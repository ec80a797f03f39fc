package ingest

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"

	"github.com/mediawatch/mediawatch/mention"
)

var fixedNow = time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name      string
		html      string
		wantText  string
		wantLinks []string
		wantMedia []mention.Media
	}{
		{name: "plain text", html: "UMC Utrecht", wantText: "UMC Utrecht"},
		{name: "entities", html: "Caf&eacute; &amp; zorg &lt;3 &#8364;5 &nbsp;x", wantText: "Café & zorg <3 €5 x"},
		{name: "paragraphs", html: "<p>Eerste alinea.</p><p>Tweede\n\n   alinea.</p>", wantText: "Eerste alinea.\nTweede alinea."},
		{name: "line breaks and lists", html: "a<br>b<br/><br/>c<ul><li>een</li><li>twee</li></ul>d", wantText: "a\nb\nc\neen\ntwee\nd"},
		{name: "inline elements do not split words", html: "UZ <b>Leu</b><i>ven</i> <span>Gasthuisberg</span>", wantText: "UZ Leuven Gasthuisberg"},
		{name: "script and style dropped", html: "<style>p{color:red}</style><p>Tekst</p><script>var a = '<p>niet</p>';</script><noscript>Schakel JS in</noscript>", wantText: "Tekst"},
		{
			name:      "links kept, scripts and fragments dropped",
			html:      `<a href="https://umcutrecht.example.nl/nieuws">nieuws</a> <a href=" /relatief ">r</a> <a href="javascript:alert(1)">x</a> <a href="JaVa&#x09;Script:alert(1)">y</a> <a href="data:text/html,hi">z</a> <a href="#top">top</a>`,
			wantText:  "nieuws r x y z top",
			wantLinks: []string{"https://umcutrecht.example.nl/nieuws", "/relatief"},
		},
		{
			name:      "images with alt",
			html:      `<p>Foto:<img src="https://cdn.example.org/scherm.jpg" alt="Scherm met &quot;patiëntgegevens&quot;"> <img src="data:image/png;base64,AAAA" alt="inline"><img src="/logo.png"></p>`,
			wantText:  "Foto:",
			wantMedia: []mention.Media{{URL: "https://cdn.example.org/scherm.jpg", Type: "image", Alt: `Scherm met "patiëntgegevens"`}, {URL: "/logo.png", Type: "image"}},
		},
		{name: "unclosed tags", html: "<p>open <b>bold <i>both", wantText: "open bold both"},
		{name: "invalid UTF-8", html: "ok \xff\xfe end", wantText: "ok \uFFFD\uFFFD end"},
		{name: "control characters and soft hyphens", html: "zieken\u00adhuis\x00\x07 ok", wantText: "ziekenhuis ok"},
		{name: "empty", html: "", wantText: ""},
		{name: "only whitespace", html: " <p> </p>\n\t<br> ", wantText: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, links, media := HTMLToText(tt.html)
			if text != tt.wantText {
				t.Errorf("text %q, want %q", text, tt.wantText)
			}
			if !slices.Equal(links, tt.wantLinks) {
				t.Errorf("links %q, want %q", links, tt.wantLinks)
			}
			if !slices.Equal(media, tt.wantMedia) {
				t.Errorf("media %+v, want %+v", media, tt.wantMedia)
			}
		})
	}
}

func FuzzHTMLToText(f *testing.F) {
	f.Add("<p>UMC Utrecht &amp; <a href='/x'>WKZ</a></p><img src=a.png alt='b'>")
	f.Add("<script>alert(1)</script><style>x</style>\xff")
	for _, name := range testdataFiles(f) {
		f.Add(string(readTestdata(f, name)))
	}
	f.Fuzz(func(t *testing.T, html string) {
		text, links, media := HTMLToText(html)
		if !utf8.ValidString(text) {
			t.Fatalf("text is not valid UTF-8: %q", text)
		}
		if strings.Contains(text, "\n\n") || strings.HasPrefix(text, " ") || strings.HasSuffix(text, " ") {
			t.Fatalf("whitespace not collapsed: %q", text)
		}
		for _, l := range links {
			if !utf8.ValidString(l) || strings.HasPrefix(strings.ToLower(l), "javascript:") {
				t.Fatalf("bad link %q", l)
			}
		}
		for _, m := range media {
			if !utf8.ValidString(m.URL) || !utf8.ValidString(m.Alt) {
				t.Fatalf("invalid UTF-8 in media %+v", m)
			}
		}
	})
}

func normaliseTestdata(t *testing.T, file string) ([]mention.Mention, FeedSpec) {
	t.Helper()
	feed, err := ParseFeed(readTestdata(t, file), "")
	if err != nil {
		t.Fatal(err)
	}
	spec := FeedSpec{ID: "test-" + file, URL: "https://feeds.example.org/" + file, Source: "news"}
	return Normalise(spec, feed, fixedNow), spec
}

func TestNormalise(t *testing.T) {
	type want struct {
		guid, link                string
		title, author, text, lang string
		published                 time.Time
		links                     []string
		media                     []mention.Media
	}
	tests := []struct {
		file      string
		feedTitle string
		items     []want
	}{
		{
			file:      "rss.xml",
			feedTitle: "Utrechts Nieuwsblad & Regio",
			items: []want{{
				guid:      "nieuws-utrecht-88231",
				link:      "https://nieuws.example.nl/regio/utrecht/2026/11/16/umc-utrecht-opent-nieuwe-seh",
				title:     "UMC Utrecht opent nieuwe spoedeisende hulp",
				author:    "Marieke de Vries",
				text:      "Het UMC Utrecht heeft maandag de vernieuwde spoedeisende hulp geopend. De afdeling kan jaarlijks 40.000 patiënten opvangen.\nLees ook: de bouw in beeld en klik hier.",
				lang:      "nl-nl",
				published: time.Date(2026, 11, 16, 8, 15, 0, 0, time.UTC),
				links: []string{
					"https://nieuws.example.nl/regio/utrecht/2026/11/16/umc-utrecht-opent-nieuwe-seh",
					"https://nieuws.example.nl/regio/utrecht/2026/10/02/bouw-seh",
				},
				media: []mention.Media{
					{URL: "https://cdn.example.nl/img/seh-ingang-groot.jpg", Type: "image/jpeg", Alt: "De nieuwe ingang aan de Heidelberglaan"},
					{URL: "https://cdn.example.nl/img/seh-ingang.jpg", Type: "image", Alt: "Ingang van de nieuwe spoedeisende hulp"},
				},
			}, {
				guid:      "https://nieuws.example.nl/regio/utrecht/2026/11/15/wachtlijsten-wkz",
				link:      "https://nieuws.example.nl/regio/utrecht/2026/11/15/wachtlijsten-wkz",
				title:     "Wachtlijsten kinderchirurgie WKZ lopen op",
				author:    "Jeroen Bakker",
				text:      "Ouders wachten maanden op een operatie in het Wilhelmina Kinderziekenhuis.\nHet ziekenhuis spreekt van \"een landelijk probleem\".",
				lang:      "nl-nl",
				published: time.Date(2026, 11, 15, 17, 40, 0, 0, time.UTC),
				links:     []string{"https://nieuws.example.nl/regio/utrecht/2026/11/15/wachtlijsten-wkz"},
				media:     []mention.Media{{URL: "https://cdn.example.nl/audio/wkz-interview.mp3", Type: "audio/mpeg"}},
			}, {
				link:      "https://nieuws.example.nl/podcast/ic-dag",
				title:     "Podcast: een dag op de IC",
				text:      "Verpleegkundigen van het UMC Utrecht vertellen over hun werk. Met fragmenten uit de briefing.",
				lang:      "nl-nl",
				published: time.Date(2026, 11, 14, 6, 0, 0, 0, time.UTC),
				links:     []string{"https://nieuws.example.nl/podcast/ic-dag"},
				media:     []mention.Media{{URL: "https://cdn.example.nl/img/ic-podcast.jpg", Type: "image", Alt: "Verpleegkundige bij een monitor op de IC"}},
			}},
		},
		{
			file:      "atom.xml",
			feedTitle: "Zorgwatcher Leuven",
			items: []want{{
				guid:      "https://mastodon.example.be/users/zorgwatcher/statuses/113456789012345678",
				link:      "https://mastodon.example.be/@zorgwatcher/113456789012345678",
				title:     "Drukte op spoed UZ Leuven Gasthuisberg",
				author:    "@zorgwatcher@mastodon.example.be", // the handle in the post link beats the feed author
				text:      "Lange wachttijden vanavond op de spoed van #UZLeuven Gasthuisberg.\nFoto van het scherm in de wachtzaal:",
				lang:      "nl-be",
				published: time.Date(2026, 11, 16, 9, 58, 0, 0, time.UTC),
				links:     []string{"https://mastodon.example.be/@zorgwatcher/113456789012345678", "https://mastodon.example.be/tags/UZLeuven"},
				media:     []mention.Media{{URL: "https://files.example.be/media/wachtzaal.png", Type: "image/png", Alt: "Scherm in de wachtzaal met wachttijden en namen"}},
			}, {
				guid:      "https://mastodon.example.be/users/zorgwatcher/statuses/113450000000000001",
				link:      "https://mastodon.example.be/@zorgwatcher/113450000000000001",
				title:     "Nieuw onderzoek",
				author:    "Lotte Peeters",
				text:      "Researchers at UZ Leuven published new results on CAR-T therapy.",
				lang:      "nl-be",
				published: time.Date(2026, 11, 15, 14, 0, 0, 0, time.UTC), // updated only
				links:     []string{"https://mastodon.example.be/@zorgwatcher/113450000000000001"},
			}},
		},
		{
			file:      "feed.json",
			feedTitle: "Forum Zorgvragen – UMC Utrecht",
			items: []want{{
				guid:      "post-5521",
				link:      "https://forum.example.org/t/umc-utrecht/5521",
				title:     "Ervaring met de polikliniek neurologie",
				author:    "pieter_k",
				text:      "Gisteren op de poli geweest in het UMC Utrecht.\nGoede uitleg\nLange wachttijd\n@anna herken je dit?",
				lang:      "en-gb",
				published: time.Date(2026, 11, 16, 7, 12, 0, 0, time.UTC),
				links:     []string{"https://forum.example.org/t/umc-utrecht/5521", "https://forum.example.org/u/anna"},
				media:     []mention.Media{{URL: "https://forum.example.org/uploads/poli-gang.jpg", Type: "image/jpeg"}},
			}, {
				guid:      "post-5519",
				link:      "https://forum.example.org/t/umc-utrecht/5519",
				author:    "Forum Zorgvragen", // the feed's author
				text:      "Does anyone know if the UMC Utrecht parking garage is open at night?",
				lang:      "en-gb",
				published: time.Date(2026, 11, 15, 22, 5, 0, 0, time.UTC),
				links:     []string{"https://forum.example.org/t/umc-utrecht/5519"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, spec := normaliseTestdata(t, tt.file)
			if len(got) != len(tt.items) {
				t.Fatalf("%d mentions, want %d", len(got), len(tt.items))
			}
			for i, w := range tt.items {
				m := got[i]
				if wantID := mention.ID(spec.URL, w.guid, w.link); m.ID != wantID {
					t.Errorf("item %d: ID %s, want %s", i, m.ID, wantID)
				}
				if m.Source != "news" || m.FeedID != spec.ID || m.FeedURL != spec.URL || m.FeedTitle != tt.feedTitle {
					t.Errorf("item %d: feed fields %q %q %q %q", i, m.Source, m.FeedID, m.FeedURL, m.FeedTitle)
				}
				if m.GUID != w.guid || m.URL != w.link || m.Title != w.title || m.Author != w.author || m.Lang != w.lang {
					t.Errorf("item %d: GUID %q URL %q Title %q Author %q Lang %q,\nwant %q %q %q %q %q",
						i, m.GUID, m.URL, m.Title, m.Author, m.Lang, w.guid, w.link, w.title, w.author, w.lang)
				}
				if m.Text != w.text {
					t.Errorf("item %d: text\n %q\nwant\n %q", i, m.Text, w.text)
				}
				if !m.Published.Equal(w.published) || !m.Fetched.Equal(fixedNow) {
					t.Errorf("item %d: published %s fetched %s, want %s %s", i, m.Published, m.Fetched, w.published, fixedNow)
				}
				if !slices.Equal(m.Links, w.links) {
					t.Errorf("item %d: links %q, want %q", i, m.Links, w.links)
				}
				if !slices.Equal(m.Media, w.media) {
					t.Errorf("item %d: media %+v, want %+v", i, m.Media, w.media)
				}
			}
		})
	}
}

func TestNormaliseIDsAreStable(t *testing.T) {
	first, _ := normaliseTestdata(t, "rss.xml")
	feed, err := ParseFeed(readTestdata(t, "rss.xml"), "")
	if err != nil {
		t.Fatal(err)
	}
	spec := FeedSpec{ID: "other-id", URL: "https://feeds.example.org/rss.xml", Source: "forum"}
	again := Normalise(spec, feed, fixedNow.Add(48*time.Hour))
	for i := range first {
		if first[i].ID != again[i].ID {
			t.Errorf("item %d: ID changed from %s to %s between fetches", i, first[i].ID, again[i].ID)
		}
	}
	moved := Normalise(FeedSpec{URL: "https://elsewhere.example.org/rss.xml"}, feed, fixedNow)
	if moved[0].ID == first[0].ID {
		t.Error("the same GUID in a different feed got the same ID")
	}
}

func TestNormaliseEdgeCases(t *testing.T) {
	published := time.Date(2026, 11, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	updated := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("é", maxTextBytes) // 2 bytes each: twice the cap
	feed := &gofeed.Feed{
		Title:    "<b>Forum</b> &amp; co",
		Link:     "https://forum.example.org/board/",
		Language: " EN ",
		Items: []*gofeed.Item{
			{Title: "only published", Description: "d", PublishedParsed: &published, UpdatedParsed: &updated},
			{Title: "only updated", Description: "d", UpdatedParsed: &updated},
			{Title: "no date, no guid, no link", Description: "first"},
			{Title: "no date, no guid, no link", Description: "second"},
			{Title: "relative link", Link: "thread/42", Content: `<a href="../faq">faq</a> <a href="mailto:a@b.nl">m</a>`, Description: "ignored"},
			{Title: "long", GUID: "long", Content: long},
			nil,
		},
	}
	got := Normalise(FeedSpec{URL: "https://forum.example.org/feed.rss"}, feed, fixedNow)
	if len(got) != 6 {
		t.Fatalf("%d mentions, want 6 (nil item skipped)", len(got))
	}
	if got[0].FeedTitle != "Forum & co" || got[0].Lang != "en" {
		t.Errorf("feed title %q lang %q", got[0].FeedTitle, got[0].Lang)
	}
	if !got[0].Published.Equal(published) || got[0].Published.Location() != time.UTC {
		t.Errorf("published %s, want %s in UTC", got[0].Published, published)
	}
	if !got[1].Published.Equal(updated) {
		t.Errorf("published %s, want the updated time %s", got[1].Published, updated)
	}
	if !got[2].Published.Equal(fixedNow) {
		t.Errorf("published %s, want the fetch time", got[2].Published)
	}
	if got[2].ID == got[3].ID {
		t.Error("distinct items without GUID or link share an ID")
	}
	if got[4].URL != "https://forum.example.org/board/thread/42" || got[4].Text != "faq m" {
		t.Errorf("URL %q text %q", got[4].URL, got[4].Text)
	}
	if want := []string{"https://forum.example.org/board/thread/42", "https://forum.example.org/board/faq"}; !slices.Equal(got[4].Links, want) {
		t.Errorf("links %q, want %q", got[4].Links, want)
	}
	if n := len(got[5].Text); n > maxTextBytes || n < maxTextBytes-1 || !utf8.ValidString(got[5].Text) {
		t.Errorf("long text truncated to %d bytes (valid UTF-8: %v), want just under %d", n, utf8.ValidString(got[5].Text), maxTextBytes)
	}
}

func TestTruncateUTF8(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"},
		{"aé", 3, "aé"},
		{"€€", 4, "€"},
		{"a\xffb", 10, "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.in, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestHandleFromLink(t *testing.T) {
	for _, tc := range []struct{ link, want string }{
		{"https://mastodon.social/@lotte_coas/115392011847263301", "@lotte_coas@mastodon.social"},
		{"https://mastodon.nl/@umcutrecht/1", "@umcutrecht@mastodon.nl"},
		{"https://www.youtube.com/@UZLeuven", "@UZLeuven@www.youtube.com"},
		{"https://example-news.nl/2026/11/umc-utrecht", ""},
		{"https://mastodon.social/tags/umcutrecht", ""},
		{"https://mastodon.social/@/1", ""},
		{"not a url", ""},
		{"", ""},
	} {
		if got := handleFromLink(tc.link); got != tc.want {
			t.Errorf("handleFromLink(%q) = %q, want %q", tc.link, got, tc.want)
		}
	}
}

func TestAuthorFallsBackToFeedAuthor(t *testing.T) {
	const feed = `<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Blog van Anouk</title><id>urn:blog</id><updated>2026-11-20T10:00:00Z</updated>
  <author><name>Anouk Peeters</name></author>
  <entry><title>Eerste stagedag in Pellenberg</title><id>urn:blog:1</id>
    <link href="https://anouk.example/2026/11/eerste-stagedag"/><updated>2026-11-20T10:00:00Z</updated>
    <content type="text">Vandaag begonnen.</content></entry>
</feed>`
	parsed, err := ParseFeed([]byte(feed), "application/atom+xml")
	if err != nil {
		t.Fatal(err)
	}
	got := Normalise(FeedSpec{ID: "blog", URL: "https://anouk.example/feed.atom", Source: "forum"}, parsed, time.Now())
	if len(got) != 1 || got[0].Author != "Anouk Peeters" {
		t.Fatalf("mentions = %+v, want one by the feed author", got)
	}
}
