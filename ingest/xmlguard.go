package ingest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of normaliseXML. Real feeds stay far below both.
const (
	// maxElementDepth: elements nested deeper are dropped with everything
	// in them. gofeed parses extension elements recursively, so without a
	// limit a 15 MB feed of open tags exhausts the goroutine stack, which
	// is a fatal error that takes the whole process down.
	maxElementDepth = 256
	// maxNamespacesInScope bounds the prefixed namespace declarations in
	// scope at any element. The pull parser under gofeed copies every
	// binding in scope for every element, so a few thousand declarations
	// on the root of a document of many small elements cost minutes and
	// gigabytes. Declarations of prefixes the document never uses are
	// dropped first; a real feed uses a handful.
	maxNamespacesInScope = 16
	// maxUsedPrefixes bounds the set of prefixes noted as used.
	maxUsedPrefixes = 1024
)

// Namespaces gofeed v1.4.2 parses as RSS or Atom itself; elements in any
// other namespace below a channel, item, feed, entry or source are
// extensions to it.
const (
	nsAtom10   = "http://www.w3.org/2005/Atom"
	nsAtom03   = "http://purl.org/atom/ns#"
	nsRDF      = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
	nsRSS10    = "http://purl.org/rss/1.0/"
	nsRSS09    = "http://channel.netscape.com/rdf/simple/0.9/"
	nsRSS09Alt = "http://my.netscape.com/rdf/simple/0.9/"
	nsXML      = "http://www.w3.org/XML/1998/namespace"
)

// canonicalPrefixes is gofeed v1.4.2's table of extension namespaces and
// the prefixes it files them under, whatever prefix a feed binds them to.
// It decides whether an RSS item's <x:encoded> is content:encoded, which
// gofeed parses as markup rather than as an extension.
var canonicalPrefixes = map[string]string{
	nsAtom10:                 "atom",
	nsAtom03:                 "atom03",
	"http://webns.net/mvcb/": "admin",
	"http://purl.org/rss/1.0/modules/aggregation/":                   "ag",
	"http://purl.org/rss/1.0/modules/annotate/":                      "annotate",
	"http://media.tangent.org/rss/1.0/":                              "audio",
	"http://backend.userland.com/blogChannelModule":                  "blogChannel",
	"http://creativecommons.org/ns#license":                          "cc",
	"http://web.resource.org/cc/":                                    "cc",
	"http://cyber.law.harvard.edu/rss/creativeCommonsRssModule.html": "creativeCommons",
	"http://backend.userland.com/creativeCommonsRssModule":           "creativeCommons",
	"http://purl.org/rss/1.0/modules/company":                        "co",
	"http://purl.org/rss/1.0/modules/content/":                       "content",
	"http://my.theinfo.org/changed/1.0/rss/":                         "cp",
	"http://purl.org/dc/elements/1.1/":                               "dc",
	"http://purl.org/dc/terms/":                                      "dcterms",
	"http://purl.org/rss/1.0/modules/email/":                         "email",
	"http://purl.org/rss/1.0/modules/event/":                         "ev",
	"http://rssnamespace.org/feedburner/ext/1.0":                     "feedburner",
	"http://freshmeat.net/rss/fm/":                                   "fm",
	"http://xmlns.com/foaf/0.1/":                                     "foaf",
	"http://www.w3.org/2003/01/geo/wgs84_pos#":                       "geo",
	"http://www.georss.org/georss":                                   "georss",
	"http://www.opengis.net/gml":                                     "gml",
	"http://postneo.com/icbm/":                                       "icbm",
	"http://purl.org/rss/1.0/modules/image/":                         "image",
	"http://www.itunes.com/DTDs/PodCast-1.0.dtd":                     "itunes",
	"http://example.com/DTDs/PodCast-1.0.dtd":                        "itunes",
	"http://purl.org/rss/1.0/modules/link/":                          "l",
	"http://search.yahoo.com/mrss":                                   "media",
	"http://search.yahoo.com/mrss/":                                  "media",
	"http://madskills.com/public/xml/rss/module/pingback/":           "pingback",
	"http://prismstandard.org/namespaces/1.2/basic/":                 "prism",
	nsRDF:                                   "rdf",
	"http://www.w3.org/2000/01/rdf-schema#": "rdfs",
	"http://purl.org/rss/1.0/modules/reference/":            "ref",
	"http://purl.org/rss/1.0/modules/richequiv/":            "reqv",
	"http://purl.org/rss/1.0/modules/search/":               "search",
	"http://purl.org/rss/1.0/modules/slash/":                "slash",
	"http://schemas.xmlsoap.org/soap/envelope/":             "soap",
	"http://purl.org/rss/1.0/modules/servicestatus/":        "ss",
	"http://hacks.benhammersley.com/rss/streaming/":         "str",
	"http://purl.org/rss/1.0/modules/subscription/":         "sub",
	"http://purl.org/rss/1.0/modules/syndication/":          "sy",
	"http://schemas.pocketsoap.com/rss/myDescModule/":       "szf",
	"http://purl.org/rss/1.0/modules/taxonomy/":             "taxo",
	"http://purl.org/rss/1.0/modules/threading/":            "thr",
	"http://purl.org/rss/1.0/modules/textinput/":            "ti",
	"http://madskills.com/public/xml/rss/module/trackback/": "trackback",
	"http://wellformedweb.org/commentAPI/":                  "wfw",
	"http://purl.org/rss/1.0/modules/wiki/":                 "wiki",
	"http://www.w3.org/1999/xhtml":                          "xhtml",
	"http://www.w3.org/1999/xlink":                          "xlink",
	nsXML:                                                   "xml",
	"http://podlove.org/simple-chapters":                    "psc",
}

type feedFormat uint8

const (
	formatUnknown feedFormat = iota
	formatRSS                // <rss> or <rdf:RDF>
	formatAtom               // <feed>
)

type frameKind uint8

const (
	// kindOther elements are copied as they are: gofeed reads native
	// elements as raw markup, where the order of text and child elements
	// matters.
	kindOther frameKind = iota
	// kindContainer is the root, a channel, item, entry or source: gofeed
	// parses their foreign children as extensions.
	kindContainer
	// kindExtension elements (an extension and everything in it) have
	// their text concatenated by gofeed one fragment at a time, which is
	// quadratic in the number of fragments. Their text is written in one
	// piece just before the end tag: the same value for gofeed, which
	// does not keep the position of text among child elements.
	kindExtension
)

type frame struct {
	qname string // as written, to close the element
	local string // local name as written
	lower string // local name in lower case
	kind  frameKind
	// scopeLen is the length of normaliser.scope outside the element.
	scopeLen int
	// text is an extension element's text, held back until its end tag.
	text []byte
	// start is where the start tag of an item or entry begins in the
	// output; -1 for other elements.
	start int
}

type nsBinding struct{ prefix, uri string }

type span struct{ start, end int }

// normalised is a feed document after normaliseXML, with what is needed to
// rebuild it from its items should it not parse as a whole.
type normalised struct {
	doc []byte
	// items are the items (RSS) or entries (Atom) that were closed, in
	// document order; started counts those opened, closed or not.
	items   []span
	started int
	// doc[:head] precedes the first item; closers ends the elements open
	// there ("</channel></rss>"), so head, any items and closers make a
	// document.
	head    int
	closers []byte
	// tail closes the elements left open at the end of a truncated
	// document when no item or entry is among them: doc and tail make a
	// document without a partial item.
	tail []byte
}

// assemble builds a document of the head, the given items and the
// closers.
func (n *normalised) assemble(items []span) []byte {
	size := n.head + len(n.closers)
	for _, s := range items {
		size += s.end - s.start
	}
	out := make([]byte, 0, size)
	out = append(out, n.doc[:n.head]...)
	for _, s := range items {
		out = append(out, n.doc[s.start:s.end]...)
	}
	return append(out, n.closers...)
}

type normaliser struct {
	out   []byte
	stack []frame
	// scope holds the namespace declarations kept in scope, innermost
	// last; used the prefixes the document uses in names.
	scope  []nsBinding
	used   map[string]bool
	format feedFormat
	// rootSpace is the namespace of an RSS root element, which gofeed
	// takes as native unless it is a known extension namespace.
	rootSpace string
	rootSeen  bool
	// skip is the depth inside an element dropped for nesting too deep.
	skip int
	// attrs is reused for every start tag's attributes.
	attrs []attr
	// strayCloses makes an end tag that matches no open element close them
	// all, as in the XML decoder, rather than be dropped.
	strayCloses bool
	res         normalised
}

// normaliseXML rewrites a UTF-8 XML document, in one linear pass, into one
// that gofeed parses in linear time and that survives common defects:
//
//   - comments, directives (<!DOCTYPE ...>) and, once the root element
//     has started, processing instructions are dropped: none carries
//     content, but each splits the text around it into fragments, and a
//     DTD is never used (entities are not expanded, external ones never
//     fetched);
//   - CDATA sections become the same text, escaped;
//   - the text of extension elements is written in one piece before
//     their end tag (see kindExtension);
//   - elements nested deeper than maxElementDepth are dropped;
//   - namespace declarations of prefixes the document does not use, and
//     those beyond maxNamespacesInScope, are dropped, and of several
//     declarations of one prefix on one element only the last, the one
//     that counts, is kept;
//   - characters XML forbids are dropped (C0 controls) or replaced
//     (U+FFFE, U+FFFF), a '<' that starts no markup and any '>' in text
//     are escaped, an end tag that closes no open element is dropped and
//     one that closes several writes all their end tags, so that one bad
//     byte does not make the whole document unparsable.
//
// Unterminated markup at the end of a truncated document is dropped, and
// so is the held-back text of elements left open there.
func normaliseXML(doc []byte) *normalised {
	return normaliseXMLStrays(doc, false)
}

// normaliseXMLStrays is normaliseXML, with end tags that match no open
// element closing them all if strayCloses.
func normaliseXMLStrays(doc []byte, strayCloses bool) *normalised {
	doc = xmlChars(doc)
	n := &normaliser{out: make([]byte, 0, len(doc)+len(doc)/16), used: usedPrefixes(doc), strayCloses: strayCloses}
	n.res.head = -1
	n.run(doc)
	itemOpen := false
	for _, f := range n.stack {
		itemOpen = itemOpen || f.start >= 0
	}
	if !itemOpen {
		for k := len(n.stack) - 1; k >= 0; k-- {
			n.res.tail = append(n.res.tail, "</"+n.stack[k].qname+">"...)
		}
	}
	if n.res.head < 0 {
		n.res.head = len(n.out)
	}
	n.res.doc = n.out
	return &n.res
}

func (n *normaliser) run(doc []byte) {
	i := 0
	for i < len(doc) {
		lt := bytes.IndexByte(doc[i:], '<')
		if lt < 0 {
			n.text(doc[i:])
			return
		}
		n.text(doc[i : i+lt])
		i += lt
		rest := doc[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return
			}
			i += 4 + end + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest[9:], []byte("]]>"))
			if end < 0 {
				n.rawText(rest[9:])
				return
			}
			n.rawText(rest[9 : 9+end])
			i += 9 + end + 3
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest[2:], []byte("?>"))
			if end < 0 {
				return
			}
			if !n.rootSeen {
				n.out = append(n.out, rest[:2+end+2]...)
			}
			i += 2 + end + 2
		case bytes.HasPrefix(rest, []byte("<!")):
			l, ok := directiveLen(rest)
			if !ok {
				return
			}
			i += l
		case len(rest) > 1 && rest[1] == '/':
			l, ok := n.endTag(rest)
			if !ok {
				n.text([]byte("&lt;"))
				l = 1
			}
			i += l
		default:
			l, ok := n.startTag(rest)
			switch {
			case !ok && l < 0:
				return // a start tag cut off by the end of the document
			case !ok:
				n.text([]byte("&lt;"))
				l = 1
			}
			i += l
		}
	}
}

// text handles character data as written in the document, entities and
// all: dropped inside a dropped element, held back in an extension
// element, copied otherwise. Every '>' is escaped: XML forbids "]]>" in
// text, and text that was apart, around a comment, may now be joined.
func (n *normaliser) text(b []byte) {
	if len(b) == 0 || n.skip > 0 {
		return
	}
	dst := &n.out
	if top := n.top(); top != nil && top.kind == kindExtension {
		dst = &top.text
	}
	for {
		j := bytes.IndexByte(b, '>')
		if j < 0 {
			*dst = append(*dst, b...)
			return
		}
		*dst = append(*dst, b[:j]...)
		*dst = append(*dst, "&gt;"...)
		b = b[j+1:]
	}
}

// rawText handles text that is not yet escaped, a CDATA section's.
func (n *normaliser) rawText(raw []byte) {
	if len(raw) == 0 || n.skip > 0 {
		return
	}
	if top := n.top(); top != nil && top.kind == kindExtension {
		top.text = appendEscaped(top.text, raw)
		return
	}
	n.out = appendEscaped(n.out, raw)
}

func (n *normaliser) top() *frame {
	if len(n.stack) == 0 {
		return nil
	}
	return &n.stack[len(n.stack)-1]
}

// endTag handles the end tag at the start of b and returns its length;
// ok is false when b does not start with a well-formed end tag.
func (n *normaliser) endTag(b []byte) (l int, ok bool) {
	nl := nameLen(b[2:])
	if nl == 0 {
		return 0, false
	}
	_, local, ok := splitName(b[2 : 2+nl])
	if !ok {
		return 0, false
	}
	j := 2 + nl
	for j < len(b) && isSpace(b[j]) {
		j++
	}
	if j >= len(b) || b[j] != '>' {
		return 0, false
	}
	l = j + 1
	if n.skip > 0 {
		n.skip--
		return l, true
	}
	// As the XML decoder does in non-strict mode, an end tag closes the
	// innermost open element of its local name and every element open
	// inside that one. An end tag that matches no open element makes the
	// decoder close them all, and then fail; it is dropped instead, so
	// that a stray </b> in a description does not end the feed there.
	k := len(n.stack) - 1
	for k >= 0 && n.stack[k].local != string(local) {
		k--
	}
	if k < 0 {
		if !n.strayCloses {
			return l, true
		}
		k = 0
	}
	for len(n.stack) > k {
		n.closeTop()
	}
	return l, true
}

// closeTop writes the innermost open element's held-back text and end tag
// and pops it.
func (n *normaliser) closeTop() {
	f := n.top()
	n.out = append(n.out, f.text...)
	n.out = append(n.out, "</"...)
	n.out = append(n.out, f.qname...)
	n.out = append(n.out, '>')
	if f.start >= 0 {
		n.res.items = append(n.res.items, span{f.start, len(n.out)})
	}
	n.scope = n.scope[:f.scopeLen]
	n.stack = n.stack[:len(n.stack)-1]
}

type attr struct {
	raw         []byte // as written, with the white space before it
	name, value []byte
}

// startTag handles the start tag at the start of b and returns its length.
// ok is false when b does not start with a well-formed start tag; then l
// is -1 if the tag is cut off by the end of the document.
func (n *normaliser) startTag(b []byte) (l int, ok bool) {
	nl := nameLen(b[1:])
	if nl == 0 {
		return 0, false
	}
	qname := b[1 : 1+nl]
	prefix, local, ok := splitName(qname)
	if !ok || !nameStart(qname) {
		return 0, false
	}
	l, empty, complete := tagEnd(b)
	if !complete {
		if l == len(b) {
			return -1, false
		}
		return 0, false
	}
	if n.skip > 0 {
		if !empty {
			n.skip++
		}
		return l, true
	}
	if len(n.stack) >= maxElementDepth {
		if !empty {
			n.skip = 1
		}
		return l, true
	}

	inner := b[1+nl : l-1]
	if empty {
		inner = inner[:len(inner)-1]
	}
	f := frame{qname: string(qname), local: string(local), lower: strings.ToLower(string(local)),
		scopeLen: len(n.scope), start: -1}
	start := len(n.out)
	var attrsOK bool
	if n.attrs, attrsOK = parseAttrs(n.attrs[:0], inner); attrsOK {
		n.writeStartTag(qname, n.attrs, empty)
	} else {
		// Copied as it is, for the parser to judge.
		n.out = append(n.out, b[:l]...)
	}
	kind, item := n.classify(f.lower, n.resolve(string(prefix)))
	f.kind = kind
	if item {
		n.res.started++
		if n.res.head < 0 {
			n.res.head = start
			for k := len(n.stack) - 1; k >= 0; k-- {
				n.res.closers = append(n.res.closers, "</"+n.stack[k].qname+">"...)
			}
		}
		f.start = start
	}
	if empty {
		if item {
			n.res.items = append(n.res.items, span{start, len(n.out)})
		}
		n.scope = n.scope[:f.scopeLen]
		return l, true
	}
	n.stack = append(n.stack, f)
	return l, true
}

// writeStartTag writes a start tag, keeping the namespace declarations
// that are used and fit in maxNamespacesInScope, and puts those in scope.
func (n *normaliser) writeStartTag(qname []byte, attrs []attr, empty bool) {
	// last maps a declared prefix to its last declaration on the element.
	var last map[string]int
	for i := range attrs {
		if p, isDecl := nsDeclPrefix(attrs[i].name); isDecl {
			if last == nil {
				last = map[string]int{}
			}
			last[string(p)] = i
		}
	}
	if last != nil {
		n.bindDeclarations(attrs, last)
	}
	n.out = append(n.out, '<')
	n.out = append(n.out, qname...)
	for _, a := range attrs {
		n.out = append(n.out, a.raw...)
	}
	if empty {
		n.out = append(n.out, '/')
	}
	n.out = append(n.out, '>')
}

// bindDeclarations puts an element's used namespace declarations in scope
// and blanks the others (an earlier one of the same prefix, an unused
// one, one past maxNamespacesInScope) so they are not written.
func (n *normaliser) bindDeclarations(attrs []attr, last map[string]int) {
	prefixed := 0
	for _, b := range n.scope {
		if b.prefix != "" {
			prefixed++
		}
	}
	for i := range attrs {
		pb, isDecl := nsDeclPrefix(attrs[i].name)
		if !isDecl {
			continue
		}
		p := string(pb)
		switch {
		case last[p] != i:
			attrs[i].raw = nil // the decoder uses the last
			continue
		case p == "":
			// The default namespace decides whether an element is RSS or
			// Atom or an extension, and redeclaring it does not grow the
			// parser's bindings.
		case !n.used[p] || prefixed >= maxNamespacesInScope:
			attrs[i].raw = nil
			continue
		default:
			prefixed++
		}
		n.scope = append(n.scope, nsBinding{p, strings.TrimSpace(xmlUnescape(string(attrs[i].value)))})
	}
}

// usedPrefixes notes the namespace prefixes of element and attribute names
// in doc, reading every '<' as the start of a tag: some may be in comments
// or text, which only keeps a declaration that could have been dropped.
func usedPrefixes(doc []byte) map[string]bool {
	used := map[string]bool{}
	note := func(name []byte) {
		p, _, ok := splitName(name)
		if ok && len(p) > 0 && string(p) != "xmlns" && !used[string(p)] && len(used) < maxUsedPrefixes {
			used[string(p)] = true
		}
	}
	var attrs []attr
	for i := 0; i < len(doc); {
		lt := bytes.IndexByte(doc[i:], '<')
		if lt < 0 {
			break
		}
		i += lt
		nl := nameLen(doc[i+1:])
		if nl == 0 {
			i++
			continue
		}
		note(doc[i+1 : i+1+nl])
		l, empty, complete := tagEnd(doc[i:])
		if !complete {
			i += 1 + nl
			continue
		}
		inner := doc[i+1+nl : i+l-1]
		if empty {
			inner = inner[:len(inner)-1]
		}
		attrs, _ = parseAttrs(attrs[:0], inner)
		for _, a := range attrs {
			note(a.name)
		}
		i += l
	}
	return used
}

// classify decides how an element with the given lower-case local name and
// namespace is treated, the way gofeed v1.4.2 routes it, and whether it is
// an item or entry.
func (n *normaliser) classify(lower, space string) (kind frameKind, item bool) {
	parent := n.top()
	if parent == nil {
		if n.rootSeen {
			return kindOther, false
		}
		n.rootSeen = true
		switch lower {
		case "rss", "rdf":
			n.format = formatRSS
			if s := strings.TrimSpace(space); s != "" {
				if _, known := canonicalPrefixes[s]; !known {
					n.rootSpace = s
				}
			}
		case "feed":
			n.format = formatAtom
		default:
			return kindOther, false
		}
		return kindContainer, false
	}
	switch parent.kind {
	case kindExtension:
		return kindExtension, false
	case kindOther:
		return kindOther, false
	}
	if !n.native(space) {
		// An item claims content:encoded before extensions are routed and
		// reads it as markup.
		if n.format == formatRSS && parent.lower == "item" && lower == "encoded" && n.gofeedPrefix(space) == "content" {
			return kindOther, false
		}
		return kindExtension, false
	}
	atRoot := len(n.stack) == 1
	switch n.format {
	case formatRSS:
		switch {
		case lower == "item" && (atRoot || parent.lower == "channel"):
			return kindContainer, true
		case lower == "channel" && atRoot:
			return kindContainer, false
		}
	case formatAtom:
		switch {
		case lower == "entry" && atRoot:
			return kindContainer, true
		case lower == "source" && parent.lower == "entry":
			return kindContainer, false
		}
	}
	return kindOther, false
}

// native reports whether gofeed parses elements of the namespace as part
// of the feed format rather than as extensions.
func (n *normaliser) native(space string) bool {
	s := strings.TrimSpace(space)
	switch n.format {
	case formatRSS:
		switch s {
		case "", "rss", "rdf", nsRDF, nsRSS10, nsRSS09, nsRSS09Alt:
			return true
		}
		return n.rootSpace != "" && s == n.rootSpace
	case formatAtom:
		return s == "" || s == nsAtom10 || s == nsAtom03
	}
	return false
}

// resolve returns the namespace an element name's prefix has in the
// output, as the XML decoder resolves it: a prefix bound to nothing stands
// for itself.
func (n *normaliser) resolve(prefix string) string {
	switch prefix {
	case "xmlns":
		return prefix
	case "xml":
		return nsXML
	}
	if uri, ok := lookup(n.scope, prefix); ok {
		return uri
	}
	return prefix
}

func lookup(bindings []nsBinding, prefix string) (string, bool) {
	for i := len(bindings) - 1; i >= 0; i-- {
		if bindings[i].prefix == prefix {
			return bindings[i].uri, true
		}
	}
	return "", false
}

// gofeedPrefix is the prefix gofeed files extensions of a namespace under:
// the canonical one, else the most recently declared prefix in scope still
// bound to it, else the namespace itself.
func (n *normaliser) gofeedPrefix(space string) string {
	space = strings.TrimSpace(space)
	if p, ok := canonicalPrefixes[space]; ok {
		return p
	}
	for i := len(n.scope) - 1; i >= 0; i-- {
		b := n.scope[i]
		if b.uri != space {
			continue
		}
		if cur, _ := lookup(n.scope, b.prefix); cur == space {
			if b.prefix == "" {
				break
			}
			return b.prefix
		}
	}
	return space
}

// nsDeclPrefix reports whether an attribute declares a namespace, and the
// prefix it binds (empty for the default namespace).
func nsDeclPrefix(name []byte) ([]byte, bool) {
	if string(name) == "xmlns" {
		return nil, true
	}
	if p, ok := bytes.CutPrefix(name, []byte("xmlns:")); ok && len(p) > 0 && bytes.IndexByte(p, ':') < 0 {
		return p, true
	}
	return nil, false
}

// parseAttrs reads the attributes of a start tag, between the name and
// the closing '>' or "/>", as the XML decoder does in non-strict mode:
// values may be unquoted, and an attribute without a value has its name
// as value.
func parseAttrs(attrs []attr, b []byte) ([]attr, bool) {
	j := 0
	for {
		start := j
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j == len(b) {
			return attrs, true
		}
		nl := nameLen(b[j:])
		if nl == 0 {
			return attrs, false
		}
		name := b[j : j+nl]
		_, local, ok := splitName(name)
		if !ok {
			return attrs, false
		}
		j += nl
		k := j
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		value := local
		if k < len(b) && b[k] == '=' {
			k++
			for k < len(b) && isSpace(b[k]) {
				k++
			}
			switch {
			case k < len(b) && (b[k] == '"' || b[k] == '\''):
				end := bytes.IndexByte(b[k+1:], b[k])
				if end < 0 {
					return attrs, false
				}
				value = b[k+1 : k+1+end]
				k += 1 + end + 1
			default:
				v := k
				for k < len(b) && isUnquotedValueByte(b[k]) {
					k++
				}
				if k == v {
					return attrs, false
				}
				value = b[v:k]
			}
			j = k
		}
		attrs = append(attrs, attr{raw: b[start:j], name: name, value: value})
	}
}

func isUnquotedValueByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == ':' || c == '-'
}

// directiveLen returns the length of the directive (<!DOCTYPE ...>) at the
// start of b, found as the XML decoder finds it: the byte after "<!" is
// taken as it is, quoted brackets do not count, others nest, and comments
// inside are skipped. ok is false when the directive does not end.
func directiveLen(b []byte) (l int, ok bool) {
	var quote byte
	depth := 0
	for j := 3; j < len(b); j++ {
		c := b[j]
		if quote == 0 && c == '>' && depth == 0 {
			return j + 1, true
		}
		switch {
		case c == quote:
			quote = 0
		case quote != 0:
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			depth--
		case c == '<':
			if !bytes.HasPrefix(b[j+1:], []byte("!--")) {
				depth++
				continue
			}
			end := bytes.Index(b[j+4:], []byte("-->"))
			if end < 0 {
				return len(b), false
			}
			j += 4 + end + 2
		}
	}
	return len(b), false
}

// tagEnd finds the '>' ending the tag at the start of b, outside quoted
// attribute values. It returns the tag's length and whether it ends in
// "/>". complete is false when a '<' or the end of b comes first; then l
// is the offset of that '<', or len(b).
func tagEnd(b []byte) (l int, empty, complete bool) {
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
			return j + 1, b[j-1] == '/', true
		case c == '<':
			return j, false, false
		}
	}
	return len(b), false, false
}

// nameLen returns the length of the name at the start of b: the bytes the
// XML decoder reads as one, ASCII name characters and any non-ASCII.
func nameLen(b []byte) int {
	for j, c := range b {
		if c < utf8.RuneSelf && !isNameByte(c) {
			return j
		}
	}
	return len(b)
}

func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

// nameStart reports whether a name starts with a character a name may
// start with.
func nameStart(name []byte) bool {
	r, _ := utf8.DecodeRune(name)
	return r == '_' || r == ':' || unicode.IsLetter(r)
}

// splitName splits a qualified name as the XML decoder does; ok is false
// for names with more than one colon, which it rejects.
func splitName(name []byte) (prefix, local []byte, ok bool) {
	if bytes.Count(name, []byte(":")) > 1 {
		return nil, nil, false
	}
	if p, l, found := bytes.Cut(name, []byte(":")); found && len(p) > 0 && len(l) > 0 {
		return p, l, true
	}
	return nil, name, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// xmlUnescape resolves the predefined and character entities of an
// attribute value; others stay as written, as in the non-strict decoder.
func xmlUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for {
		amp := strings.IndexByte(s, '&')
		if amp < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:amp])
		s = s[amp:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 {
			b.WriteString(s)
			return b.String()
		}
		ent := s[1:semi]
		switch {
		case ent == "lt":
			b.WriteByte('<')
		case ent == "gt":
			b.WriteByte('>')
		case ent == "amp":
			b.WriteByte('&')
		case ent == "apos":
			b.WriteByte('\'')
		case ent == "quot":
			b.WriteByte('"')
		case strings.HasPrefix(ent, "#x"), strings.HasPrefix(ent, "#"):
			base, digits := 10, ent[1:]
			if strings.HasPrefix(ent, "#x") {
				base, digits = 16, ent[2:]
			}
			r, err := strconv.ParseUint(digits, base, 32)
			if err != nil {
				b.WriteString(s[:semi+1])
			} else {
				b.WriteRune(rune(r))
			}
		default:
			b.WriteString(s[:semi+1])
		}
		s = s[semi+1:]
	}
}

// xmlChars drops the C0 control characters XML forbids, as gofeed does
// while reading, and replaces U+FFFE and U+FFFF, which the XML decoder
// rejects a whole document for, by U+FFFD. doc must be valid UTF-8.
func xmlChars(doc []byte) []byte {
	bad := func(i int) (skip int, repl bool) {
		c := doc[i]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return 1, false
		}
		if c == 0xEF && i+2 < len(doc) && doc[i+1] == 0xBF && (doc[i+2] == 0xBE || doc[i+2] == 0xBF) {
			return 3, true
		}
		return 0, false
	}
	first := -1
	for i := range doc {
		if skip, _ := bad(i); skip > 0 {
			first = i
			break
		}
	}
	if first < 0 {
		return doc
	}
	out := make([]byte, 0, len(doc))
	out = append(out, doc[:first]...)
	for i := first; i < len(doc); {
		skip, repl := bad(i)
		if skip == 0 {
			out = append(out, doc[i])
			i++
			continue
		}
		if repl {
			out = append(out, "\uFFFD"...)
		}
		i += skip
	}
	return out
}

// wellFormed reports whether b is one element the XML decoder reads
// without error, configured as gofeed configures it.
func wellFormed(b []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false
	for {
		if _, err := d.Token(); err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}
