package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/text/encoding/unicode"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testdataFiles lists the files of testdata, for seeding fuzz targets.
func testdataFiles(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for i, name := range names {
		names[i] = filepath.Base(name)
	}
	return names
}

// allocated returns the bytes allocated on the heap while f runs. Tests of
// this package do not run in parallel, so it is f's allocation plus noise.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestParseFeed(t *testing.T) {
	tests := []struct {
		file, contentType string
		feedType          string
		items             int
		title, firstItem  string
	}{
		{"rss.xml", "application/rss+xml", "rss", 3, "Utrechts Nieuwsblad & Regio", "UMC Utrecht opent nieuwe <b>spoedeisende hulp</b>"},
		{"atom.xml", "application/atom+xml", "atom", 2, "Zorgwatcher Leuven", "Drukte op spoed UZ Leuven Gasthuisberg"},
		{"feed.json", "application/feed+json", "json", 2, "Forum Zorgvragen – UMC Utrecht", "Ervaring met de polikliniek neurologie"},
		{"latin1.xml", "text/xml", "rss", 1, "Gazet Leuven", "Patiënt tevreden over behandeling in UZ Leuven"},
		{"extensions.xml", "application/rss+xml", "rss", 2, "Zorgpodcast & nieuws", "Aflevering 12: een nacht op de SEH van het UMC Utrecht"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			feed, err := ParseFeed(readTestdata(t, tt.file), tt.contentType)
			if err != nil {
				t.Fatal(err)
			}
			if feed.FeedType != tt.feedType || len(feed.Items) != tt.items || feed.Title != tt.title {
				t.Fatalf("got %s feed %q with %d items, want %s feed %q with %d", feed.FeedType, feed.Title, len(feed.Items), tt.feedType, tt.title, tt.items)
			}
			if feed.Items[0].Title != tt.firstItem {
				t.Errorf("first item title %q, want %q", feed.Items[0].Title, tt.firstItem)
			}
		})
	}
}

// TestNormaliseXMLKeepsMeaning: for documents gofeed parses on its own,
// the rewriting changes nothing that reaches a mention, and for one full of
// the constructs it rewrites (CDATA, comments, mixed-content extensions,
// content:encoded as markup, namespaces used and unused) nothing gofeed
// returns at all.
func TestNormaliseXMLKeepsMeaning(t *testing.T) {
	tests := []struct {
		file      string
		wholeFeed bool
	}{
		{"rss.xml", false}, // a comment in a description is dropped, as HTML text would drop it
		{"atom.xml", true},
		{"latin1.xml", true},
		{"extensions.xml", true},
		{"billion-laughs.xml", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readTestdata(t, tt.file)
			want, err := gofeed.NewParser().Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("gofeed alone: %v", err)
			}
			got, err := ParseFeed(raw, "")
			if err != nil {
				t.Fatal(err)
			}
			spec := FeedSpec{ID: "f", URL: "https://feeds.example.org/" + tt.file, Source: "news"}
			if w, g := Normalise(spec, want, fixedNow), Normalise(spec, got, fixedNow); !reflect.DeepEqual(w, g) {
				t.Errorf("mentions differ\n got %+v\nwant %+v", g, w)
			}
			if tt.wholeFeed {
				w, _ := json.MarshalIndent(want, "", " ")
				g, _ := json.MarshalIndent(got, "", " ")
				if !bytes.Equal(w, g) {
					t.Errorf("gofeed's result differs\n got %s\nwant %s", g, w)
				}
			}
		})
	}
}

func TestParseFeedCharsets(t *testing.T) {
	latin1 := readTestdata(t, "latin1.xml")
	undeclared := bytes.Replace(latin1, []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`), nil, 1)
	declaredUTF8 := bytes.Replace(latin1, []byte(`encoding="ISO-8859-1"`), []byte(`encoding="UTF-8"`), 1)
	declaredUTF16 := bytes.Replace(readTestdata(t, "rss.xml"), []byte(`encoding="UTF-8"`), []byte(`encoding="UTF-16"`), 1)
	utf8Doc := bytes.Replace(readTestdata(t, "rss.xml"), []byte("Utrechts Nieuwsblad"), []byte("Utrechts Nieuwsblad ✓"), 1)
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes(
		bytes.Replace(utf8Doc, []byte(`encoding="UTF-8"`), []byte(`encoding="UTF-16"`), 1))
	if err != nil {
		t.Fatal(err)
	}
	const patient = "Patiënt tevreden over behandeling in UZ Leuven"
	const seh = "UMC Utrecht opent nieuwe <b>spoedeisende hulp</b>"
	tests := []struct {
		name        string
		body        []byte
		contentType string
		wantTitle   string
	}{
		{"declared ISO-8859-1", latin1, "", patient},
		{"declaration wins over Content-Type", latin1, "text/xml; charset=utf-8", patient},
		{"Content-Type charset", undeclared, "application/rss+xml; charset=ISO-8859-1", patient},
		{"windows-1252 label", undeclared, "text/xml; charset=windows-1252", patient},
		{"undeclared Latin-1 read as Windows-1252", undeclared, "", patient},
		{"Latin-1 declared as UTF-8", declaredUTF8, "", patient},
		{"Latin-1 served as UTF-8", undeclared, "application/rss+xml; charset=utf-8", patient},
		{"UTF-8 declared as UTF-16", declaredUTF16, "", seh},
		{"UTF-8 BOM", append([]byte("\xEF\xBB\xBF"), utf8Doc...), "", seh},
		{"UTF-16 with BOM", utf16, "", seh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed, err := ParseFeed(tt.body, tt.contentType)
			if err != nil {
				t.Fatal(err)
			}
			if got := feed.Items[0].Title; got != tt.wantTitle {
				t.Errorf("title %q, want %q", got, tt.wantTitle)
			}
		})
	}
}

// TestParseHostileFeeds parses the hostile documents of testdata. Each must
// parse, keeping every item that is intact. gofeedRejects marks the ones
// gofeed on its own fails on entirely, which is checked so that a fixture
// cannot quietly stop testing anything.
func TestParseHostileFeeds(t *testing.T) {
	unicodeTitles := []string{"Patiënt tevreden over UZ Leuven: “snelle hulp” ’s nachts", "Nieuwe wachtzaal in Gasthuisberg"}
	unicodeText := func(t *testing.T, f *gofeed.Feed) {
		if got, want := f.Items[0].Description, "Parkeren kost € 12 per dag, zegt de patiënt."; got != want {
			t.Errorf("description %q, want %q", got, want)
		}
	}
	tests := []struct {
		file          string
		contentType   string
		gofeedRejects bool
		titles        []string
		check         func(t *testing.T, f *gofeed.Feed)
	}{
		{"utf16le-bom.xml", "", true, unicodeTitles, unicodeText},
		{"utf16be-bom.xml", "", true, unicodeTitles, unicodeText},
		{"utf16le.xml", "", true, unicodeTitles, unicodeText},
		{"utf16be.xml", "", true, unicodeTitles, unicodeText},
		{"utf32le-bom.xml", "", true, unicodeTitles, unicodeText},
		{"utf32be-bom.xml", "", true, unicodeTitles, unicodeText},
		{"utf32le.xml", "", true, unicodeTitles, unicodeText},
		{"utf32be.xml", "application/rss+xml; charset=utf-8", true, unicodeTitles, unicodeText},
		{"windows-1252.xml", "", true,
			[]string{"Patiënt betaalt € 12 voor ‘parkeren’ – “schandalig”", "Café in de inkomhal van UZ Leuven"},
			func(t *testing.T, f *gofeed.Feed) {
				if got, want := f.Items[0].Description, "De patiënte uit Kessel-Lo wachtte 3 uur… en dat is te lang, vindt ze."; got != want {
					t.Errorf("description %q, want %q", got, want)
				}
				if f.Title != "Gazet Leuven – regio" {
					t.Errorf("feed title %q", f.Title)
				}
			}},
		{"invalid-utf8.xml", "", true,
			[]string{"Patiënt over het UMC Utrecht: “prima” \uFFFD", "Dag 3 op neurologie – “pittig”"},
			func(t *testing.T, f *gofeed.Feed) {
				if got, want := f.Items[0].Description, "Wachttijd ’s ochtends: 2 uur. Kosten € 0 \uFFFD(geen) en \uFFFD einde."; got != want {
					t.Errorf("description %q, want %q", got, want)
				}
			}},
		{"truncated.xml", "", true,
			[]string{"UMC Utrecht opent nieuwe spoedeisende hulp", "Wachtlijsten kinderchirurgie WKZ lopen op"}, nil},
		{"truncated-atom.xml", "", true,
			[]string{"Drukte op spoed UZ Leuven Gasthuisberg", "Parking Gasthuisberg vol"},
			func(t *testing.T, f *gofeed.Feed) {
				if f.Title != "Zorgwatcher Leuven" {
					t.Errorf("feed title %q", f.Title)
				}
				if m := f.Items[0].Extensions["media"]["content"]; len(m) != 1 || m[0].Attrs["url"] != "https://media.example.be/1.jpg" {
					t.Errorf("media of a salvaged entry: %+v", f.Items[0].Extensions)
				}
			}},
		{"broken-item.xml", "", true, []string{"Eerste bericht", "Derde bericht", "Vierde bericht"}, nil},
		{"stray-markup.xml", "", true,
			[]string{"5 < 6 bedden vrij op de IC", "Code in een bericht", "Onzichtbaar teken", "Losse eindtag", "Stuurtekens weg", "Verkeerd gesloten", "Niet gesloten alinea"},
			func(t *testing.T, f *gofeed.Feed) {
				for i, want := range []string{"Het stond er letterlijk: ]]> en verder niets.", "Voor\uFFFDna het teken.", "Tekst gaat door."} {
					if got := f.Items[1+i].Description; got != want {
						t.Errorf("item %d description %q, want %q", 2+i, got, want)
					}
				}
				if dc := f.Items[5].DublinCoreExt; dc == nil || len(dc.Creator) != 1 || dc.Creator[0] != "nachtdienst_nina" {
					t.Errorf("dc:creator closed by </creator>: %+v", dc)
				}
			}},
		{"billion-laughs.xml", "", false,
			[]string{"UMC Utrecht &lol9;", "Gewoon bericht"},
			func(t *testing.T, f *gofeed.Feed) {
				if d := f.Items[0].Description; d != "&lol9;&lol9;&lol9;" {
					t.Errorf("entities expanded: description of %d bytes", len(d))
				}
			}},
		{"deep-nesting.xml", "", false,
			[]string{"UMC Utrecht diep in extensies", "UZ Leuven diep in de beschrijving"},
			func(t *testing.T, f *gofeed.Feed) {
				if n := strings.Count(f.Items[1].Description, "<div>"); n == 0 || n >= maxElementDepth {
					t.Errorf("description keeps %d nested divs, want some, fewer than %d", n, maxElementDepth)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readTestdata(t, tt.file)
			if _, err := gofeed.NewParser().Parse(bytes.NewReader(raw)); (err != nil) != tt.gofeedRejects {
				t.Errorf("gofeed alone: err = %v, want rejected = %v", err, tt.gofeedRejects)
			}
			var feed *gofeed.Feed
			var err error
			if n := allocated(func() { feed, err = ParseFeed(raw, tt.contentType) }); n > 8<<20 {
				t.Errorf("parsing %d bytes allocated %d MB", len(raw), n>>20)
			}
			if err != nil {
				t.Fatal(err)
			}
			var titles []string
			for _, it := range feed.Items {
				titles = append(titles, it.Title)
			}
			if !reflect.DeepEqual(titles, tt.titles) {
				t.Fatalf("items %q\nwant %q", titles, tt.titles)
			}
			if tt.check != nil {
				tt.check(t, feed)
			}
			for _, m := range Normalise(FeedSpec{ID: "f", URL: "https://feeds.example.org/f", Source: "news"}, feed, fixedNow) {
				if !utf8.ValidString(m.Title) || !utf8.ValidString(m.Text) {
					t.Errorf("mention %q has invalid UTF-8", m.Title)
				}
			}
		})
	}
}

// TestParseFeedSalvage: a document that does not parse whole keeps its
// intact items and says how many it dropped; one with no intact item, or
// a broken head, fails.
func TestParseFeedSalvage(t *testing.T) {
	truncated := readTestdata(t, "truncated.xml")
	tests := []struct {
		name          string
		doc           []byte
		kept, dropped int
		wantErr       string
	}{
		{"cut in the third item", truncated, 2, 1, ""},
		{"cut in a tag", truncated[:bytes.LastIndex(truncated, []byte("<link>"))+3], 2, 1, ""},
		{"cut in the first item", truncated[:bytes.Index(truncated, []byte("<guid>"))], 0, 0, "unexpected EOF"},
		{"broken item", readTestdata(t, "broken-item.xml"), 3, 1, ""},
		{"cut after the last item", truncated[:bytes.LastIndex(truncated, []byte("<item>"))], 2, 0, ""},
		{"root left open", []byte(`<rss version="2.0"><channel><title>x</title><item><title>a</title></item></b>`), 1, 0, ""},
		{"whole", readTestdata(t, "rss.xml"), 3, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feed, salvaged, err := parseFeed(tt.doc, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(feed.Items) != tt.kept {
				t.Errorf("%d items, want %d", len(feed.Items), tt.kept)
			}
			switch {
			case tt.name == "whole" && salvaged != nil:
				t.Errorf("salvaged %+v, want the document whole", salvaged)
			case tt.name != "whole" && (salvaged == nil || salvaged.kept != tt.kept || salvaged.dropped != tt.dropped || salvaged.cause == nil):
				t.Errorf("salvaged %+v, want %d kept, %d dropped, with the cause", salvaged, tt.kept, tt.dropped)
			}
		})
	}
}

// TestParseExternalEntities: nothing a document refers to is ever fetched,
// whether a DTD, an entity, a stylesheet or an XInclude.
func TestParseExternalEntities(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!ENTITY xxe "leaked">`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	doc := bytes.ReplaceAll(readTestdata(t, "xxe.xml"), []byte("{{PORT}}"), []byte(port))

	feed, err := ParseFeed(doc, "application/rss+xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Items) != 1 || feed.Items[0].Title != "UMC Utrecht &xxe;" || feed.Items[0].Description != "&file;" {
		t.Errorf("items %+v, want the one item with its entity references unexpanded", feed.Items)
	}
	Normalise(FeedSpec{ID: "xxe", URL: srv.URL, Source: "news"}, feed, fixedNow)
	if n := conns.Load(); n != 0 {
		t.Errorf("the server the document refers to got %d connections, want 0", n)
	}
}

// TestParseHugeHostileDocuments: documents built to exhaust the stack,
// time or memory stay within bounds and keep their items.
func TestParseHugeHostileDocuments(t *testing.T) {
	const itemHead = `<item><title>UMC Utrecht</title><guid>hostile-1</guid>`
	rss := func(xmlns, channelHead, inItem string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<rss version="2.0"` + xmlns + `><channel><title>Vijandig</title><link>https://example.org/</link>` +
			channelHead + itemHead + inItem + `</item><item><title>Tweede</title><guid>hostile-2</guid></item></channel></rss>`)
	}
	var manyNS strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&manyNS, ` xmlns:p%d="urn:example:%d"`, i, i)
	}
	tests := []struct {
		name     string
		doc      []byte
		items    int // 0: want an error instead
		maxAlloc uint64
	}{
		{"100,000 nested extension elements", rss(` xmlns:x="urn:x"`, "",
			strings.Repeat("<x:n>", 100000)+strings.Repeat("</x:n>", 100000)), 2, 64 << 20},
		{"100,000 nested elements in a description", rss("", "",
			"<description>"+strings.Repeat("<div>", 100000)+strings.Repeat("</div>", 100000)+"</description>"), 2, 64 << 20},
		{"100,000 nested unknown elements", rss("", "",
			strings.Repeat("<n>", 100000)+strings.Repeat("</n>", 100000)), 2, 64 << 20},
		// Unguarded, gofeed recurses once per open tag until the goroutine
		// stack exceeds its 1 GB limit, a fatal error for the process.
		{"3,000,000 open extension elements", rss(` xmlns:x="urn:x"`, "",
			strings.Repeat("<x:n>", 3000000)), 0, 128 << 20},
		// Unguarded: 107 s and 125 GB allocated, for a 600 KB document.
		{"20,000 namespace declarations over 50,000 elements", []byte(`<?xml version="1.0"?><rss version="2.0"><channel` + manyNS.String() +
			`><title>Vijandig</title>` + itemHead + strings.Repeat("<x/>", 50000) + `</item></channel></rss>`), 1, 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var feed *gofeed.Feed
			var err error
			n := allocated(func() { feed, err = ParseFeed(tt.doc, "") })
			t.Logf("%d bytes: allocated %d MB", len(tt.doc), n>>20)
			if n > tt.maxAlloc {
				t.Errorf("allocated %d MB, want at most %d", n>>20, tt.maxAlloc>>20)
			}
			if tt.items == 0 {
				if err == nil {
					t.Errorf("parsed %d items from a document without a complete one", len(feed.Items))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(feed.Items) != tt.items || feed.Items[0].GUID != "hostile-1" {
				t.Errorf("got %d items, want %d starting with hostile-1", len(feed.Items), tt.items)
			}
		})
	}
}

// fragmentFeed builds an RSS feed whose item has an extension element of n
// text fragments, each followed by a separator: with CDATA sections or
// comments, the input on which gofeed v1.4.2 on its own allocates
// quadratically (about 7 GB and 2 to 4 s for 40,000 fragments).
func fragmentFeed(n int, separators ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:x="urn:example:fragments"><channel><title>Fragmenten</title><link>https://example.org/</link>
<item><title>UMC Utrecht</title><guid>fragments-1</guid><x:blob>`)
	for i := range n {
		b.WriteString("fragment ")
		b.WriteString(separators[i%len(separators)])
	}
	b.WriteString("</x:blob></item></channel></rss>\n")
	return b.Bytes()
}

var fragmentSeparators = []struct {
	name       string
	separators []string
}{
	{"CDATA and comments", []string{"<![CDATA[&]]>", "<!-- c -->"}},
	{"CDATA", []string{"<![CDATA[&]]>"}},
	{"comments", []string{"<!-- c -->"}},
	{"processing instructions", []string{"<?pi x?>"}},
	{"directives", []string{"<!X>"}},
	{"empty elements", []string{"<x:b/>"}},
	{"elements", []string{"<x:b>t</x:b>"}},
}

func TestParseCDATAFragments(t *testing.T) {
	const n = 40000
	for _, tt := range fragmentSeparators {
		t.Run(tt.name, func(t *testing.T) {
			doc := fragmentFeed(n, tt.separators...)
			var feed *gofeed.Feed
			var err error
			allocated := allocated(func() { feed, err = ParseFeed(doc, "application/rss+xml") })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d KB: allocated %d MB", len(doc)>>10, allocated>>20)
			if allocated > 64<<20 {
				t.Errorf("parsing a %d-byte feed allocated %d MB, want at most 64", len(doc), allocated>>20)
			}
			if len(feed.Items) != 1 || feed.Items[0].GUID != "fragments-1" {
				t.Fatalf("got %d items, want the one item", len(feed.Items))
			}
			blob := feed.Items[0].Extensions["x"]["blob"]
			if len(blob) != 1 {
				t.Fatalf("extension x:blob not parsed: %v", feed.Items[0].Extensions)
			}
			if got := strings.Count(blob[0].Value, "fragment"); got != n {
				t.Errorf("extension holds %d fragments, want %d", got, n)
			}
			if cdata := strings.Count(strings.Join(tt.separators, ""), "CDATA"); cdata > 0 {
				if got, want := strings.Count(blob[0].Value, "&"), n/len(tt.separators)*cdata; got != want {
					t.Errorf("extension holds %d CDATA ampersands, want %d", got, want)
				}
			}
		})
	}
}

func TestNormaliseXML(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", `<a>plain &amp; simple</a>`, `<a>plain &amp; simple</a>`},
		{"comment", `<a>x<!-- note -->y</a>`, `<a>xy</a>`},
		{"CDATA", `<a><![CDATA[<p>1 & 2 > 0</p>]]></a>`, `<a>&lt;p&gt;1 &amp; 2 &gt; 0&lt;/p&gt;</a>`},
		{"CDATA and comment", `<a>x<![CDATA[y]]>z<!--c-->w</a>`, `<a>xyzw</a>`},
		{"comment in CDATA", `<a><![CDATA[<!-- kept -->]]></a>`, `<a>&lt;!-- kept --&gt;</a>`},
		{"CDATA in comment", `<a><!-- <![CDATA[ dropped ]]> --></a>`, `<a></a>`},
		{"prolog", `<?xml version="1.0"?><?xml-stylesheet href="a.xsl"?><a/>`, `<?xml version="1.0"?><?xml-stylesheet href="a.xsl"?><a/>`},
		{"PI in content", `<a>x<?php echo 1 ?>y</a>`, `<a>xy</a>`},
		{"doctype", `<!DOCTYPE rss [<!ENTITY x "<!-- y -->">]><a>&x;</a>`, `<a>&x;</a>`},
		{"quoted >", `<a title="a > b">t<!---->u</a>`, `<a title="a > b">tu</a>`},
		{"unterminated CDATA", `<a><![CDATA[unterminated`, `<a>unterminated`},
		{"unterminated comment", `<a><!-- unterminated`, `<a>`},
		{"cut-off tag", `<a>x<b c="`, `<a>x`},
		{"stray <", `<a>5 < 6 <3</a>`, `<a>5 &lt; 6 &lt;3</a>`},
		{"broken tag", `<a>x <b <c>y</c></a>`, `<a>x &lt;b <c>y</c></a>`},
		{"]]> in text", `<a>x]]>y</a>`, `<a>x]]&gt;y</a>`},
		{"]]> across a comment", `<a>x]]<!-- c -->>y</a>`, `<a>x]]&gt;y</a>`},
		{"forbidden characters", "<a>x\x01\x0b\uFFFEy\uFFFF</a>", "<a>x\uFFFDy\uFFFD</a>"},
		{"stray end tag", `<a>x</b>y</a>`, `<a>xy</a>`},
		{"end tag closing several", `<a><b><c>x</a>`, `<a><b><c>x</c></b></a>`},
		{"end tag with another prefix", `<r xmlns:p="u"><p:x>t</x></r>`, `<r xmlns:p="u"><p:x>t</p:x></r>`},
		{"extension text held to its end", `<rss xmlns:x="u"><channel><item><x:a>1<x:b>2</x:b>3<!--c-->4<x:b/>5</x:a></item></channel></rss>`,
			`<rss xmlns:x="u"><channel><item><x:a><x:b>2</x:b><x:b/>1345</x:a></item></channel></rss>`},
		{"native markup kept in order", `<rss><channel><item><description>1<b>2</b>3</description></item></channel></rss>`,
			`<rss><channel><item><description>1<b>2</b>3</description></item></channel></rss>`},
		{"content:encoded is markup", `<rss xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><item><content:encoded>1<b>2</b>3</content:encoded></item></channel></rss>`,
			`<rss xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><item><content:encoded>1<b>2</b>3</content:encoded></item></channel></rss>`},
		{"x:encoded is an extension", `<rss xmlns:x="u"><channel><item><x:encoded>1<b>2</b>3</x:encoded></item></channel></rss>`,
			`<rss xmlns:x="u"><channel><item><x:encoded><b>2</b>13</x:encoded></item></channel></rss>`},
		{"Atom xhtml content kept in order", `<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">1<b>2</b>3</div></content></entry></feed>`,
			`<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">1<b>2</b>3</div></content></entry></feed>`},
		{"Atom extension", `<feed xmlns="http://www.w3.org/2005/Atom" xmlns:x="u"><entry><x:a>1<x:b/>2</x:a></entry></feed>`,
			`<feed xmlns="http://www.w3.org/2005/Atom" xmlns:x="u"><entry><x:a><x:b/>12</x:a></entry></feed>`},
		{"unused namespaces dropped", `<rss xmlns:a="u1" xmlns:b="u2" xmlns="u3" version="2.0"><channel><a:x/></channel></rss>`,
			`<rss xmlns:a="u1" xmlns="u3" version="2.0"><channel><a:x/></channel></rss>`},
		{"repeated declarations", `<r xmlns:a="1" xmlns:a="2" xmlns="3" xmlns="4"><a:x/></r>`, `<r xmlns:a="2" xmlns="4"><a:x/></r>`},
		{"nesting too deep", "<r>" + strings.Repeat("<n>", maxElementDepth+5) + "x" + strings.Repeat("</n>", maxElementDepth+5) + "</r>",
			"<r>" + strings.Repeat("<n>", maxElementDepth-1) + strings.Repeat("</n>", maxElementDepth-1) + "</r>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(normaliseXML([]byte(tt.in)).doc); got != tt.want {
				t.Errorf("normaliseXML(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormaliseXMLNamespaceLimit(t *testing.T) {
	var in strings.Builder
	in.WriteString("<rss")
	for i := range maxNamespacesInScope + 4 {
		fmt.Fprintf(&in, ` xmlns:p%d="urn:%d"`, i, i)
	}
	in.WriteString("><channel>")
	for i := range maxNamespacesInScope + 4 {
		fmt.Fprintf(&in, "<p%d:x/>", i)
	}
	in.WriteString("</channel></rss>")
	out := string(normaliseXML([]byte(in.String())).doc)
	if n := strings.Count(out, "xmlns:"); n != maxNamespacesInScope {
		t.Errorf("%d namespace declarations kept, want %d:\n%s", n, maxNamespacesInScope, out)
	}
}

func TestParseFeedErrors(t *testing.T) {
	tests := []struct {
		name, body, contentType, want string
	}{
		{"empty", "", "", "not RSS, Atom or JSON Feed"},
		{"HTML page", "<!DOCTYPE html><html><head><title>Login</title></head><body>Please log in</body></html>", "text/html",
			`got an HTML page titled "Login", not RSS, Atom or JSON Feed (Content-Type "text/html")`},
		{"HTML page served as XML", string(readTestdata(t, "html-page.html")), "application/rss+xml",
			`got an HTML page titled "Inloggen – Mijn UMC", not RSS, Atom or JSON Feed (Content-Type "application/rss+xml")`},
		{"XML of another kind", `<?xml version="1.0"?><sitemap/>`, "text/xml", `parse feed: not RSS, Atom or JSON Feed (Content-Type "text/xml")`},
		{"unknown charset", `<?xml version="1.0" encoding="x-klingon"?><rss version="2.0"><channel></channel></rss>`, "", `unsupported charset "x-klingon"`},
		{"broken JSON", `{"version": "https://jsonfeed.org/version/1.1", "items": [`, "application/feed+json", "parse feed"},
		{"JSON nested too deep", strings.Repeat("[", 100000), "application/feed+json", "parse feed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFeed([]byte(tt.body), tt.contentType)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func BenchmarkParseFeed(b *testing.B) {
	for _, file := range []string{"rss.xml", "atom.xml", "feed.json", "extensions.xml"} {
		b.Run(file, func(b *testing.B) {
			doc := readTestdata(b, file)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseFeed(doc, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseCDATAFragments measures the 40,000-fragment feeds of
// TestParseCDATAFragments: ns/op and B/op are the time and memory one
// parse takes.
func BenchmarkParseCDATAFragments(b *testing.B) {
	for _, tt := range fragmentSeparators {
		b.Run(tt.name, func(b *testing.B) {
			doc := fragmentFeed(40000, tt.separators...)
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseFeed(doc, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzParseFeed(f *testing.F) {
	for _, name := range testdataFiles(f) {
		f.Add(readTestdata(f, name), "")
	}
	f.Add(fragmentFeed(10, "<![CDATA[&]]>", "<!-- c -->", "<x:b/>"), "application/rss+xml; charset=utf-8")
	f.Add([]byte(`<rss><channel><item><description><![CDATA[<p>x</p>]]></description></item></channel></rss>`), "text/xml; charset=iso-8859-1")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if utf8.Valid(body) {
			// The second pass may drop namespace declarations the first
			// left unused; from then on the output does not change.
			twice := normaliseXML(normaliseXML(body).doc).doc
			if thrice := normaliseXML(twice).doc; !bytes.Equal(twice, thrice) {
				t.Fatalf("normaliseXML does not settle:\ntwice  %q\nthrice %q", twice, thrice)
			}
		}
		// What gofeed reads on its own, ParseFeed reads too, if not more:
		// gofeed stops at an end tag that closes no open element, which
		// ParseFeed drops.
		// (Only for UTF-8 XML: gofeed alone takes NUL bytes for byte order
		// marks, and decodes labelled charsets its own way.)
		if utf8.Valid(body) && !bytes.Contains(body, []byte{0}) && firstNonSpace(body) == '<' {
			if alone, err := gofeed.NewParser().Parse(bytes.NewReader(body)); err == nil {
				feed, err := ParseFeed(body, "")
				if err != nil {
					t.Fatalf("gofeed alone parses the document, ParseFeed fails: %v", err)
				}
				if len(feed.Items) < len(alone.Items) {
					t.Fatalf("ParseFeed read %d items, gofeed alone %d", len(feed.Items), len(alone.Items))
				}
			}
		}
		feed, err := ParseFeed(body, contentType)
		if err != nil {
			return
		}
		for _, m := range Normalise(FeedSpec{ID: "fuzz", URL: "https://example.org/feed", Source: "news"}, feed, fixedNow) {
			for _, s := range append([]string{m.ID, m.Title, m.Text, m.Author, m.URL, m.FeedTitle, m.Lang}, m.Links...) {
				if !utf8.ValidString(s) {
					t.Fatalf("invalid UTF-8 in mention field %q", s)
				}
			}
			if len(m.Text) > maxTextBytes {
				t.Fatalf("text of %d bytes exceeds the cap", len(m.Text))
			}
		}
	})
}
