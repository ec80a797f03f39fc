package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding/unicode"
)

const (
	utf8BOM    = "\xEF\xBB\xBF"
	utf16LEBOM = "\xFF\xFE"
	utf16BEBOM = "\xFE\xFF"
)

// xmlDeclEncoding finds the encoding pseudo-attribute of an XML declaration
// at the very start of a document.
var xmlDeclEncoding = regexp.MustCompile(`^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._:-]*)["']`)

// ParseFeed parses an RSS, Atom or JSON Feed document. contentType is the
// response's Content-Type; its charset is used when neither a byte order mark
// nor the XML declaration names one. XML is first rewritten in one linear
// pass (comments dropped, CDATA sections turned into escaped text) so that
// gofeed never sees text split into many fragments, on which it is quadratic.
func ParseFeed(body []byte, contentType string) (*gofeed.Feed, error) {
	doc, err := toUTF8(body, contentType)
	if err != nil {
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	if first := firstNonSpace(doc); first != '{' && first != '[' {
		doc = normaliseXML(doc)
	}
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(doc))
	if err != nil {
		if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
			return nil, fmt.Errorf("parse feed: not RSS, Atom or JSON Feed (Content-Type %q): %w", contentType, err)
		}
		return nil, fmt.Errorf("parse feed: %w", err)
	}
	return feed, nil
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

// toUTF8 returns body as UTF-8 without a byte order mark. The encoding comes
// from the BOM, else the XML declaration, else the Content-Type charset. When
// the body is transcoded, the declaration's encoding is rewritten so the XML
// decoder does not transcode it a second time.
func toUTF8(body []byte, contentType string) ([]byte, error) {
	switch {
	case bytes.HasPrefix(body, []byte(utf8BOM)):
		return validUTF8(body[len(utf8BOM):]), nil
	case bytes.HasPrefix(body, []byte(utf16LEBOM)), bytes.HasPrefix(body, []byte(utf16BEBOM)):
		out, err := unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder().Bytes(body)
		if err != nil {
			return nil, fmt.Errorf("decode UTF-16: %w", err)
		}
		return rewriteDeclEncoding(out), nil
	}

	label := ""
	if m := xmlDeclEncoding.FindSubmatch(head(body, 512)); m != nil {
		label = string(m[1])
	} else if _, params, err := mime.ParseMediaType(contentType); err == nil {
		label = params["charset"]
	}
	if isUTF8Label(label) {
		return validUTF8(body), nil
	}
	enc, name := charset.Lookup(label)
	if enc == nil {
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	if name == "utf-8" {
		return validUTF8(body), nil
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, fmt.Errorf("decode charset %q: %w", label, err)
	}
	return rewriteDeclEncoding(out), nil
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

// normaliseXML drops comments and replaces CDATA sections by the same text as
// escaped character data, in one pass over doc. Markup inside tags,
// processing instructions and doctype declarations is copied unchanged. The
// result means the same to an XML parser but has no text split by comment or
// CDATA boundaries. Unterminated constructs are copied as they are and left
// for the parser to report.
func normaliseXML(doc []byte) []byte {
	if !bytes.Contains(doc, []byte("<!")) {
		return doc
	}
	out := make([]byte, 0, len(doc)+len(doc)/8)
	i := 0
	for i < len(doc) {
		lt := bytes.IndexByte(doc[i:], '<')
		if lt < 0 {
			out = append(out, doc[i:]...)
			break
		}
		out = append(out, doc[i:i+lt]...)
		i += lt
		rest := doc[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return append(out, rest...)
			}
			i += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest[9:], []byte("]]>"))
			if end < 0 {
				return append(out, rest...)
			}
			out = appendEscaped(out, rest[9:9+end])
			i += 9 + end + 3
		case bytes.HasPrefix(rest, []byte("<?")):
			n := copyUntil(rest, "?>")
			out = append(out, rest[:n]...)
			i += n
		case bytes.HasPrefix(rest, []byte("<!")):
			n := declarationLen(rest)
			out = append(out, rest[:n]...)
			i += n
		default:
			n := tagLen(rest)
			out = append(out, rest[:n]...)
			i += n
		}
	}
	return out
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

// copyUntil returns the length of b up to and including the first end, or
// len(b) when there is none.
func copyUntil(b []byte, end string) int {
	if j := bytes.Index(b, []byte(end)); j >= 0 {
		return j + len(end)
	}
	return len(b)
}

// tagLen returns the length of the start or end tag at the beginning of b:
// up to the first '>' outside quoted attribute values.
func tagLen(b []byte) int {
	var quote byte
	for j := 1; j < len(b); j++ {
		c := b[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j + 1
		case c == '<':
			// Malformed; let the parser see the '<' as the next token.
			return j
		}
	}
	return len(b)
}

// declarationLen returns the length of a <!DOCTYPE ...> or similar
// declaration, including an internal subset in brackets.
func declarationLen(b []byte) int {
	depth := 0
	var quote byte
	for j := 2; j < len(b); j++ {
		c := b[j]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[':
			depth++
		case c == ']':
			if depth > 0 {
				depth--
			}
		case c == '>' && depth == 0:
			return j + 1
		}
	}
	return len(b)
}
