package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

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

func TestParseFeedCharsets(t *testing.T) {
	latin1 := readTestdata(t, "latin1.xml")
	undeclared := bytes.Replace(latin1, []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>`), nil, 1)
	utf8Doc := bytes.Replace(readTestdata(t, "rss.xml"), []byte("Utrechts Nieuwsblad"), []byte("Utrechts Nieuwsblad ✓"), 1)
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes(
		bytes.Replace(utf8Doc, []byte(`encoding="UTF-8"`), []byte(`encoding="UTF-16"`), 1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		body        []byte
		contentType string
		wantTitle   string
	}{
		{"declared ISO-8859-1", latin1, "", "Patiënt tevreden over behandeling in UZ Leuven"},
		{"declaration wins over Content-Type", latin1, "text/xml; charset=utf-8", "Patiënt tevreden over behandeling in UZ Leuven"},
		{"Content-Type charset", undeclared, "application/rss+xml; charset=ISO-8859-1", "Patiënt tevreden over behandeling in UZ Leuven"},
		{"windows-1252 label", undeclared, "text/xml; charset=windows-1252", "Patiënt tevreden over behandeling in UZ Leuven"},
		{"undeclared non-UTF-8 bytes replaced", undeclared, "", "Pati\uFFFDnt tevreden over behandeling in UZ Leuven"},
		{"UTF-8 BOM", append([]byte("\xEF\xBB\xBF"), utf8Doc...), "", "UMC Utrecht opent nieuwe <b>spoedeisende hulp</b>"},
		{"UTF-16 with BOM", utf16, "", "UMC Utrecht opent nieuwe <b>spoedeisende hulp</b>"},
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

func TestParseFeedErrors(t *testing.T) {
	tests := []struct {
		name, body, contentType, want string
	}{
		{"empty", "", "", "not RSS, Atom or JSON Feed"},
		{"HTML page", "<!DOCTYPE html><html><head><title>Login</title></head><body>Please log in</body></html>", "text/html", `not RSS, Atom or JSON Feed (Content-Type "text/html")`},
		{"unknown charset", `<?xml version="1.0" encoding="x-klingon"?><rss version="2.0"><channel></channel></rss>`, "", `unsupported charset "x-klingon"`},
		{"broken JSON", `{"version": "https://jsonfeed.org/version/1.1", "items": [`, "application/feed+json", "parse feed"},
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

func TestNormaliseXML(t *testing.T) {
	tests := []struct{ in, want string }{
		{`<a>plain &amp; simple</a>`, `<a>plain &amp; simple</a>`},
		{`<a>x<!-- note -->y</a>`, `<a>xy</a>`},
		{`<a><![CDATA[<p>1 & 2 > 0</p>]]></a>`, `<a>&lt;p&gt;1 &amp; 2 &gt; 0&lt;/p&gt;</a>`},
		{`<a>x<![CDATA[y]]>z<!--c-->w</a>`, `<a>xyzw</a>`},
		{`<a><![CDATA[<!-- kept -->]]></a>`, `<a>&lt;!-- kept --&gt;</a>`},
		{`<a><!-- <![CDATA[ dropped ]]> --></a>`, `<a></a>`},
		{`<?xml version="1.0"?><?xml-stylesheet href="a.xsl"?><a/>`, `<?xml version="1.0"?><?xml-stylesheet href="a.xsl"?><a/>`},
		{`<!DOCTYPE rss [<!ENTITY x "<!-- y -->">]><a/>`, `<!DOCTYPE rss [<!ENTITY x "<!-- y -->">]><a/>`},
		{`<a title="a > b">t<!---->u</a>`, `<a title="a > b">tu</a>`},
		{`<a><![CDATA[unterminated`, `<a><![CDATA[unterminated`},
		{`<a><!-- unterminated`, `<a><!-- unterminated`},
	}
	for _, tt := range tests {
		if got := string(normaliseXML([]byte(tt.in))); got != tt.want {
			t.Errorf("normaliseXML(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// cdataFragmentFeed builds an RSS feed whose item has an extension element
// made of n text fragments separated alternately by CDATA sections and
// comments: the input on which unguarded gofeed allocates quadratically.
func cdataFragmentFeed(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:x="urn:example:fragments"><channel><title>Fragmenten</title><link>https://example.org/</link>
<item><title>UMC Utrecht</title><guid>fragments-1</guid><x:blob>`)
	for i := range n {
		b.WriteString("fragment ")
		if i%2 == 0 {
			b.WriteString("<![CDATA[&]]>")
		} else {
			b.WriteString("<!-- c -->")
		}
	}
	b.WriteString("</x:blob></item></channel></rss>\n")
	return b.Bytes()
}

func TestParseCDATAFragments(t *testing.T) {
	const n = 40000
	doc := cdataFragmentFeed(n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	feed, err := ParseFeed(doc, "application/rss+xml")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// Unguarded, the fragments are concatenated one by one: about 8 GB of
	// copying for this input. Linear parsing stays within a few MB.
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 256<<20 {
		t.Errorf("parsing a %d-byte feed allocated %d MB", len(doc), allocated>>20)
	}
	if len(feed.Items) != 1 || feed.Items[0].GUID != "fragments-1" {
		t.Fatalf("got %d items, want the one item", len(feed.Items))
	}
	blob := feed.Items[0].Extensions["x"]["blob"]
	if len(blob) != 1 {
		t.Fatalf("extension x:blob not parsed: %v", feed.Items[0].Extensions)
	}
	if got, want := strings.Count(blob[0].Value, "fragment"), n; got != want {
		t.Errorf("extension holds %d fragments, want %d", got, want)
	}
	if got, want := strings.Count(blob[0].Value, "&"), n/2; got != want {
		t.Errorf("extension holds %d CDATA ampersands, want %d", got, want)
	}
}

func BenchmarkParseFeed(b *testing.B) {
	for _, file := range []string{"rss.xml", "atom.xml", "feed.json"} {
		b.Run(file, func(b *testing.B) {
			doc := readTestdata(b, file)
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := ParseFeed(doc, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseCDATAFragments(b *testing.B) {
	doc := cdataFragmentFeed(40000)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := ParseFeed(doc, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseFeed(f *testing.F) {
	for _, name := range []string{"rss.xml", "atom.xml", "feed.json", "latin1.xml"} {
		f.Add(readTestdata(f, name), "")
	}
	f.Add(cdataFragmentFeed(10), "application/rss+xml; charset=utf-8")
	f.Add([]byte(`<rss><channel><item><description><![CDATA[<p>x</p>]]></description></item></channel></rss>`), "text/xml; charset=iso-8859-1")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		if !bytes.Contains(body, []byte("<!")) {
			if got := normaliseXML(body); !bytes.Equal(got, body) {
				t.Fatalf("normaliseXML changed a document without comments or CDATA")
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
