package ingest

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/mediawatch/mediawatch/mention"
)

// HTMLToText renders an HTML fragment as plain text: entities decoded,
// script, style and other non-content elements dropped, whitespace collapsed
// within lines and one newline between block elements. It also returns the
// hrefs of links (javascript:, data: and bare fragments left out) and the
// images with their alt text, in document order, unresolved. It streams
// through a tokenizer, so time and memory are linear in the input.
func HTMLToText(fragment string) (text string, links []string, media []mention.Media) {
	var (
		w    textWriter
		skip int // depth inside elements whose content is not text
	)
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return w.String(), links, media
		case html.TextToken:
			if skip == 0 {
				w.writeText(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if skipContent(a) {
				if tt == html.StartTagToken && !voidElement(a) {
					skip++
				}
				continue
			}
			if skip > 0 {
				continue
			}
			switch {
			case a == atom.Br:
				w.newline()
			case blockElement(a):
				w.newline()
			}
			if !hasAttr {
				continue
			}
			attrs := readAttrs(z)
			switch a {
			case atom.A:
				if href := cleanURL(attrs["href"]); href != "" {
					links = append(links, href)
				}
			case atom.Img:
				if src := cleanURL(attrs["src"]); src != "" {
					media = append(media, mention.Media{URL: src, Type: "image", Alt: collapseSpace(attrs["alt"])})
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skipContent(a) {
				if skip > 0 {
					skip--
				}
				continue
			}
			if skip == 0 && blockElement(a) {
				w.newline()
			}
		}
	}
}

func readAttrs(z *html.Tokenizer) map[string]string {
	attrs := make(map[string]string, 2)
	for {
		key, val, more := z.TagAttr()
		k := string(key)
		if _, seen := attrs[k]; !seen {
			attrs[k] = string(val)
		}
		if !more {
			return attrs
		}
	}
}

// cleanURL trims a link or image address and drops those that are not
// addresses of anything outside the document: scripts, inline data and
// fragments.
func cleanURL(raw string) string {
	u := strings.ToValidUTF8(strings.TrimSpace(raw), "")
	if u == "" || strings.HasPrefix(u, "#") {
		return ""
	}
	if i := strings.IndexByte(u, ':'); i > 0 {
		scheme := strings.ToLower(strings.Map(func(r rune) rune {
			// Browsers ignore tabs and newlines inside a scheme.
			if r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, u[:i]))
		switch scheme {
		case "javascript", "data", "vbscript", "blob", "file":
			return ""
		}
	}
	return u
}

func skipContent(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Template, atom.Noscript, atom.Head,
		atom.Title, atom.Svg, atom.Math, atom.Iframe, atom.Object, atom.Select,
		atom.Textarea, atom.Button:
		return true
	}
	return false
}

func voidElement(a atom.Atom) bool {
	switch a {
	case atom.Br, atom.Img, atom.Hr, atom.Input, atom.Meta, atom.Link, atom.Source, atom.Wbr:
		return true
	}
	return false
}

func blockElement(a atom.Atom) bool {
	switch a {
	case atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote,
		atom.Pre, atom.Table, atom.Tr, atom.Section, atom.Article, atom.Header,
		atom.Footer, atom.Aside, atom.Nav, atom.Figure, atom.Figcaption, atom.Hr,
		atom.Address, atom.Main, atom.Details, atom.Summary, atom.Caption:
		return true
	}
	return false
}

// textWriter accumulates plain text with collapsed whitespace: runs of
// spaces become one space, spaces at line edges disappear and consecutive
// line breaks become one.
type textWriter struct {
	b            strings.Builder
	pendingSpace bool
	pendingLine  bool
}

func (w *textWriter) writeText(s string) {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			w.flush()
			w.b.WriteRune(r)
		case unicode.IsSpace(r) || r == '\u200b':
			w.pendingSpace = true
		case unicode.IsControl(r) || r == '\u00ad':
			// Soft hyphens and control characters carry no text.
		default:
			w.flush()
			w.b.WriteRune(r)
		}
	}
}

func (w *textWriter) flush() {
	if w.b.Len() > 0 {
		switch {
		case w.pendingLine:
			w.b.WriteByte('\n')
		case w.pendingSpace:
			w.b.WriteByte(' ')
		}
	}
	w.pendingLine, w.pendingSpace = false, false
}

func (w *textWriter) newline() {
	w.pendingLine = true
}

func (w *textWriter) String() string { return w.b.String() }

// collapseSpace renders s on one line with single spaces.
func collapseSpace(s string) string {
	var w textWriter
	w.writeText(s)
	return w.String()
}
