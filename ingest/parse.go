package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

const utf8BOM = "\xEF\xBB\xBF"

// maxSalvageParses bounds the parses spent finding the items of a broken
// document that parse: one for the head alone, one for all well-formed
// items, and the rest to halve the items around one gofeed still rejects.
const maxSalvageParses = 32

// xmlDeclEncoding finds the encoding pseudo-attribute of an XML declaration
// at the very start of a document.
var xmlDeclEncoding = regexp.MustCompile(`^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]*)["']`)

// ParseFeed parses an RSS, Atom or JSON Feed document. contentType is the
// response's Content-Type; its charset is used when neither a byte order
// mark nor the XML declaration names one. XML is first rewritten in one
// linear pass (normaliseXML) so that gofeed runs in linear time and one bad
// byte does not cost the whole document. A document that still does not
// parse, truncated or broken in an item, keeps its items that do.
func ParseFeed(body []byte, contentType string) (*gofeed.Feed, error) {
	feed, _, err := parseFeed(body, contentType)
	return feed, err
}

// salvage tells of a document that did not parse as a whole, of which only
// the items that do were kept.
type salvage struct {
	kept, dropped int
	// cause is why the whole document did not parse.
	cause error
}

// parseFeed is ParseFeed, also telling whether the feed was salvaged.
func parseFeed(body []byte, contentType string) (*gofeed.Feed, *salvage, error) {
	doc, err := toUTF8(body, contentType)
	if err != nil {
		return nil, nil, fmt.Errorf("parse feed: %w", err)
	}
	if first := firstNonSpace(doc); first == '{' || first == '[' {
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(doc))
		if err != nil {
			return nil, nil, fmt.Errorf("parse feed: %w", err)
		}
		return feed, nil, nil
	}
	norm := normaliseXML(doc)
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(norm.doc))
	if err == nil {
		return feed, nil, nil
	}
	if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		return nil, nil, notAFeed(doc, contentType, err)
	}
	if feed := completed(norm); feed != nil {
		return feed, &salvage{kept: len(feed.Items), dropped: norm.started - len(feed.Items), cause: err}, nil
	}
	if feed := salvageItems(norm); feed != nil {
		return feed, &salvage{kept: len(feed.Items), dropped: norm.started - len(feed.Items), cause: err}, nil
	}
	// Last, the document as gofeed on its own reads it, where a stray end
	// tag closes every open element: an item left open by such a tag is
	// then complete.
	if strays := normaliseXMLStrays(doc, true); !bytes.Equal(strays.doc, norm.doc) {
		if feed, perr := gofeed.NewParser().Parse(bytes.NewReader(strays.doc)); perr == nil {
			return feed, &salvage{kept: len(feed.Items), dropped: strays.started - len(feed.Items), cause: err}, nil
		}
		if feed := completed(strays); feed != nil {
			return feed, &salvage{kept: len(feed.Items), dropped: strays.started - len(feed.Items), cause: err}, nil
		}
	}
	return nil, nil, fmt.Errorf("parse feed: %w", err)
}

// completed parses a document cut off or missing end tags outside any item
// or entry, with the end tags added; nil if that does not parse either.
func completed(n *normalised) *gofeed.Feed {
	if n.tail == nil {
		return nil
	}
	doc := append(n.doc[:len(n.doc):len(n.doc)], n.tail...)
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(doc))
	if err != nil {
		return nil
	}
	return feed
}

// salvageItems parses the document's head with those of its items that
// parse, or returns nil when there are none. Items must be well-formed on
// their own; of those, the ones gofeed still rejects are found by halving.
func salvageItems(n *normalised) *gofeed.Feed {
	var good []span
	for _, s := range n.items {
		if wellFormed(n.doc[s.start:s.end]) {
			good = append(good, s)
		}
	}
	if len(good) == 0 {
		return nil
	}
	parses := 1
	if _, err := gofeed.NewParser().Parse(bytes.NewReader(n.assemble(nil))); err != nil {
		return nil // the channel or feed itself is broken
	}
	var (
		feed  *gofeed.Feed
		items []*gofeed.Item
		try   func([]span)
	)
	try = func(spans []span) {
		if len(spans) == 0 || parses >= maxSalvageParses {
			return
		}
		parses++
		f, err := gofeed.NewParser().Parse(bytes.NewReader(n.assemble(spans)))
		if err == nil {
			if feed == nil {
				feed = f
			}
			items = append(items, f.Items...)
			return
		}
		if len(spans) > 1 {
			try(spans[:len(spans)/2])
			try(spans[len(spans)/2:])
		}
	}
	try(good)
	if feed == nil || len(items) == 0 {
		return nil
	}
	feed.Items = items
	return feed
}

var (
	htmlStart     = regexp.MustCompile(`(?is)^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])`)
	htmlPageTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
)

// notAFeed is the error for a document gofeed does not recognise, saying
// so plainly when it is an HTML page (a login wall, an error page, a site
// moved), with its title.
func notAFeed(doc []byte, contentType string, err error) error {
	mediaType, _, _ := mime.ParseMediaType(contentType)
	if mediaType != "text/html" && mediaType != "application/xhtml+xml" && !htmlStart.Match(head(doc, 1024)) {
		return fmt.Errorf("parse feed: not RSS, Atom or JSON Feed (Content-Type %q): %w", contentType, err)
	}
	page := "an HTML page"
	if m := htmlPageTitle.FindSubmatch(head(doc, 64<<10)); m != nil {
		if title := truncateUTF8(collapseSpace(html.UnescapeString(string(m[1]))), 120); title != "" {
			page += fmt.Sprintf(" titled %q", title)
		}
	}
	return fmt.Errorf("parse feed: got %s, not RSS, Atom or JSON Feed (Content-Type %q): %w", page, contentType, err)
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// toUTF8 returns body as UTF-8 without a byte order mark. UTF-16 and UTF-32
// are recognised by their byte order mark or, without one, by the zero
// bytes around the first character, as XML 1.0 appendix F describes; any
// other encoding comes from the XML declaration, else the Content-Type
// charset. A document labelled UTF-8 (or not at all) that is not, and
// looks like Windows-1252, is read as Windows-1252: the usual encoding of
// feeds whose generator never said. When the body is transcoded, the
// declaration's encoding is rewritten so the XML decoder does not
// transcode it a second time.
func toUTF8(body []byte, contentType string) ([]byte, error) {
	if bytes.HasPrefix(body, []byte(utf8BOM)) {
		return validUTF8(body[len(utf8BOM):]), nil
	}
	if enc, bom, unit, name := sniffUnicode(body); enc != nil {
		b := body[bom:]
		b = b[:len(b)-len(b)%unit] // a truncated document may end mid-character
		out, err := enc.NewDecoder().Bytes(b)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", name, err)
		}
		return rewriteDeclEncoding(out), nil
	}

	label := ""
	if m := xmlDeclEncoding.FindSubmatch(head(body, 512)); m != nil {
		label = string(m[1])
	} else if _, params, err := mime.ParseMediaType(contentType); err == nil {
		label = params["charset"]
	}
	enc, name := charset.Lookup(label)
	switch {
	case isUTF8Label(label), name == "utf-8",
		// A UTF-16 document would have been recognised above: the label
		// is wrong, and the bytes are read as what they look like.
		name == "utf-16le", name == "utf-16be":
		if utf8.Valid(body) {
			if !isUTF8Label(label) {
				return rewriteDeclEncoding(body), nil
			}
			return body, nil
		}
		if looksLikeWindows1252(body) {
			out, err := charmap.Windows1252.NewDecoder().Bytes(body)
			if err != nil {
				return nil, fmt.Errorf("decode windows-1252: %w", err)
			}
			return rewriteDeclEncoding(out), nil
		}
		return validUTF8(body), nil
	case enc == nil:
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, fmt.Errorf("decode charset %q: %w", label, err)
	}
	return rewriteDeclEncoding(out), nil
}

// sniffUnicode recognises UTF-16 and UTF-32 by their byte order mark or
// the pattern of zero bytes in the first four; bom is the length of the
// mark and unit the size of a code unit.
func sniffUnicode(b []byte) (enc encoding.Encoding, bom, unit int, name string) {
	if len(b) < 4 {
		return nil, 0, 0, ""
	}
	switch {
	case b[0] == 0x00 && b[1] == 0x00 && b[2] == 0xFE && b[3] == 0xFF:
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), 4, 4, "UTF-32BE"
	case b[0] == 0xFF && b[1] == 0xFE && b[2] == 0x00 && b[3] == 0x00:
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), 4, 4, "UTF-32LE"
	case b[0] == 0xFE && b[1] == 0xFF:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 2, 2, "UTF-16BE"
	case b[0] == 0xFF && b[1] == 0xFE:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), 2, 2, "UTF-16LE"
	case b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] != 0:
		return utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), 0, 4, "UTF-32BE"
	case b[0] != 0 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		return utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), 0, 4, "UTF-32LE"
	case b[0] == 0 && b[1] != 0 && b[2] == 0 && b[3] != 0:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), 0, 2, "UTF-16BE"
	case b[0] != 0 && b[1] == 0 && b[2] != 0 && b[3] == 0:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), 0, 2, "UTF-16LE"
	}
	return nil, 0, 0, ""
}

// looksLikeWindows1252 reports whether b, which is not valid UTF-8, has
// more bytes that are not UTF-8 than characters that are: one stray byte
// in a UTF-8 document is corruption, but text whose every accented letter
// and curly quote is invalid was written in a single-byte encoding.
func looksLikeWindows1252(b []byte) bool {
	var valid, invalid int
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			invalid++
		} else {
			valid++
		}
		i += size
	}
	return invalid > valid
}

func isUTF8Label(label string) bool {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return true
	}
	return false
}

func head(b []byte, n int) []byte {
	return b[:min(len(b), n)]
}

// validUTF8 replaces invalid sequences, which the XML decoder would reject
// outright, so one bad byte does not cost a whole feed.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

func rewriteDeclEncoding(doc []byte) []byte {
	doc = validUTF8(doc)
	loc := xmlDeclEncoding.FindSubmatchIndex(head(doc, 512))
	if loc == nil {
		return doc
	}
	out := make([]byte, 0, len(doc))
	out = append(out, doc[:loc[2]]...)
	out = append(out, "utf-8"...)
	return append(out, doc[loc[3]:]...)
}

func appendEscaped(out, text []byte) []byte {
	for _, c := range text {
		switch c {
		case '&':
			out = append(out, "&amp;"...)
		case '<':
			out = append(out, "&lt;"...)
		case '>':
			out = append(out, "&gt;"...)
		default:
			out = append(out, c)
		}
	}
	return out
}
