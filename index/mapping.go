package index

import (
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	// Indexes created before pluralZenType name Bleve's regexp filter.
	_ "github.com/blevesearch/bleve/v2/analysis/char/regexp"
	"github.com/blevesearch/bleve/v2/analysis/datetime/optional"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/lang/nl"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	unicodetokenizer "github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/registry"
)

// Field names in the Bleve documents. Title and text are indexed per
// language: a post goes into the _nl fields, the _en fields or both (see
// languagesOf), and a query without a field searches all four, so each
// language is analysed by its own stemmer and neither pollutes the other.
const (
	fieldID           = "id"
	fieldSource       = "source"
	fieldFeedID       = "feed_id"
	fieldFeedTitle    = "feed_title"
	fieldURL          = "url"
	fieldAuthor       = "author"
	fieldTitleNL      = "title_nl"
	fieldTitleEN      = "title_en"
	fieldTextNL       = "text_nl"
	fieldTextEN       = "text_en"
	fieldLang         = "lang"
	fieldPublished    = "published"
	fieldFetched      = "fetched"
	fieldInstitutions = "institutions"
	fieldCategories   = "categories"
	fieldRules        = "rules"
	fieldSeverity     = "severity"
)

// analyzerNL is the Dutch analyzer: Bleve's nl chain (lower case, stop
// words, Snowball) behind a character filter that turns the plural ending
// -zen into -sen. Snowball stems "ziekenhuizen" to "ziekenhuiz" but
// "ziekenhuis" to "ziekenhuis"; spelling the plural with an s first makes
// both meet at "ziekenhuis" (likewise huizen/huis, reizen/reis). The
// replacement keeps the length, so highlight offsets stay right.
const (
	analyzerNL       = "mediawatch_nl"
	charFilterNLZens = "mediawatch_nl_plural_zen"
)

// pluralZenType is the type of the -zen character filter. It does what
// Bleve's regexp filter with `(?i)\Bzen\b` and "sen" did (indexes created
// with that keep it: the regexp type stays registered), in a scan instead
// of a regular expression: the regexp was a twentieth of the CPU time of
// indexing a post.
const pluralZenType = "mediawatch_plural_zen"

func init() {
	if err := registry.RegisterCharFilter(pluralZenType, func(map[string]any, *registry.Cache) (analysis.CharFilter, error) {
		return pluralZen{}, nil
	}); err != nil {
		panic(err)
	}
}

// pluralZen replaces "zen" in any case with "sen" where it ends a word of
// more than those three letters: after an ASCII letter, digit or
// underscore, before anything else or the end (the ASCII word boundaries
// of \B and \b).
type pluralZen struct{}

func (pluralZen) Filter(in []byte) []byte {
	out := in // copied at the first replacement
	for i := 1; i+3 <= len(in); i++ {
		if in[i]|0x20 != 'z' || in[i+1]|0x20 != 'e' || in[i+2]|0x20 != 'n' ||
			!asciiWord(in[i-1]) || i+3 < len(in) && asciiWord(in[i+3]) {
			continue
		}
		if len(out) > 0 && &out[0] == &in[0] {
			out = slices.Clone(in)
		}
		copy(out[i:], "sen")
		i += 2
	}
	return out
}

func asciiWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// keywordFields are indexed whole, as one term each, so a filter or a
// facet sees "Jan de Vries" and not three words. Stored ones are the ones a
// Hit shows; doc values only where facets or sorting need them (Bleve can
// facet without them, but then rebuilds the values from the terms of each
// segment and keeps them in memory).
//
// Indexes created before author had doc values and url was indexed still
// open and search: they use the mapping they were created with, so their
// author facet is built the slow way and url finds nothing until
// `mediawatch reindex` (see outdatedFields).
var keywordFields = []keywordField{
	{fieldID, false, false},
	{fieldSource, true, true},
	{fieldFeedID, false, false},
	{fieldURL, true, false},
	{fieldAuthor, true, true},
	{fieldLang, false, false},
	{fieldInstitutions, true, true},
	{fieldCategories, true, true},
	{fieldRules, false, false},
	{fieldSeverity, true, false},
}

type keywordField struct {
	name             string
	store, docValues bool
}

func isKeywordField(name string) bool {
	return slices.ContainsFunc(keywordFields, func(f keywordField) bool { return f.name == name })
}

// outdatedFields names the fields that m, the mapping an existing index was
// created with, indexes with less than newMapping does now: searches on
// them miss documents or run slower until the index is rebuilt.
func outdatedFields(m mapping.IndexMapping) []string {
	var out []string
	for _, f := range keywordFields {
		fm := m.FieldMappingForPath(f.name)
		if !fm.Index || fm.Analyzer != keyword.Name || f.docValues && !fm.DocValues {
			out = append(out, f.name)
		}
	}
	return out
}

// newMapping builds the index mapping. It is static: unknown fields are
// neither indexed nor stored, and there is no _all field.
func newMapping() (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	im.IndexDynamic = false
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	im.DefaultAnalyzer = keyword.Name
	im.DefaultField = fieldTextNL

	if err := im.AddCustomCharFilter(charFilterNLZens, map[string]any{"type": pluralZenType}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer(analyzerNL, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{charFilterNLZens},
		"tokenizer":     unicodetokenizer.Name,
		"token_filters": []string{lowercase.Name, nl.StopName, nl.SnowballStemmerName},
	}); err != nil {
		return nil, err
	}

	doc := bleve.NewDocumentStaticMapping()
	doc.AddSubDocumentMapping("_all", bleve.NewDocumentDisabledMapping())

	for _, f := range keywordFields {
		doc.AddFieldMappingsAt(f.name, &mapping.FieldMapping{
			Type:      "text",
			Analyzer:  keyword.Name,
			Index:     true,
			Store:     f.store,
			DocValues: f.docValues,
		})
	}
	doc.AddFieldMappingsAt(fieldFeedTitle, &mapping.FieldMapping{Type: "text", Store: true})
	// Title and text are stored because the highlighter cuts fragments from
	// the stored value; term vectors serve phrase queries and highlighting.
	for _, f := range []struct{ name, analyzer string }{
		{fieldTitleNL, analyzerNL},
		{fieldTitleEN, en.AnalyzerName},
		{fieldTextNL, analyzerNL},
		{fieldTextEN, en.AnalyzerName},
	} {
		doc.AddFieldMappingsAt(f.name, &mapping.FieldMapping{
			Type:               "text",
			Analyzer:           f.analyzer,
			Index:              true,
			Store:              true,
			IncludeTermVectors: true,
		})
	}
	doc.AddFieldMappingsAt(fieldPublished, &mapping.FieldMapping{
		Type: "datetime", DateFormat: optional.Name, Index: true, Store: true, DocValues: true,
	})
	doc.AddFieldMappingsAt(fieldFetched, &mapping.FieldMapping{
		Type: "datetime", DateFormat: optional.Name, Index: true,
	})

	im.DefaultMapping = doc
	if err := im.Validate(); err != nil {
		return nil, err
	}
	return im, nil
}

// language is a set of languages a post's title and text are indexed in.
type language uint8

const (
	langNL language = 1 << iota
	langEN
	langBoth = langNL | langEN
)

// languagesOf decides which analyzers see a post. A declared nl or en wins;
// anything else (often nothing: many feeds declare no language, bridges
// declare the wrong one) is guessed from function words, and when the guess
// is not clear the post is indexed in both languages so it is never lost to
// search.
func languagesOf(d *Doc) language {
	tag := strings.ToLower(strings.TrimSpace(d.Lang))
	switch {
	case tag == "nl" || strings.HasPrefix(tag, "nl-"):
		return langNL
	case tag == "en" || strings.HasPrefix(tag, "en-"):
		return langEN
	}
	return guessLanguage(d.Title + " " + d.Text)
}

// Function words that are frequent in one language and rare in the other;
// words both share (in, is, was, and the like) are left out.
var (
	dutchMarkers = map[string]bool{
		"de": true, "het": true, "een": true, "en": true, "van": true, "niet": true,
		"op": true, "met": true, "voor": true, "zijn": true, "dat": true, "die": true,
		"wordt": true, "bij": true, "ook": true, "naar": true, "er": true, "maar": true,
		"nog": true, "ik": true, "je": true, "we": true, "ze": true, "hij": true, "zij": true,
		"geen": true, "heeft": true, "deze": true, "wat": true, "worden": true,
	}
	englishMarkers = map[string]bool{
		"the": true, "a": true, "and": true, "of": true, "not": true, "on": true,
		"with": true, "for": true, "are": true, "that": true, "this": true, "at": true,
		"to": true, "it": true, "by": true, "from": true, "be": true, "has": true,
		"have": true, "they": true, "he": true, "she": true, "you": true, "no": true,
		"what": true, "been": true, "will": true, "were": true, "an": true, "or": true,
	}
)

// guessSampleBytes bounds the work per post: the opening of a text says
// enough about its language.
const guessSampleBytes = 4096

func guessLanguage(s string) language {
	if len(s) > guessSampleBytes {
		// A rune cut in half is not a letter and splits no marker word.
		s = s[:guessSampleBytes]
	}
	var nlScore, enScore int
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
		w = strings.ToLower(w)
		if dutchMarkers[w] {
			nlScore++
		}
		if englishMarkers[w] {
			enScore++
		}
	}
	switch {
	case nlScore >= 2 && nlScore >= 2*enScore:
		return langNL
	case enScore >= 2 && enScore >= 2*nlScore:
		return langEN
	}
	return langBoth
}

// bleveDoc turns a Doc into the value Bleve indexes. Empty values are left
// out so nothing is stored for them.
func bleveDoc(d *Doc) map[string]any {
	m := make(map[string]any, 16)
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	putList := func(k string, v []string) {
		if len(v) > 0 {
			m[k] = v
		}
	}
	putTime := func(k string, t time.Time) {
		if !t.IsZero() {
			m[k] = t.UTC()
		}
	}
	put(fieldID, d.ID)
	put(fieldSource, d.Source)
	put(fieldFeedID, d.FeedID)
	put(fieldFeedTitle, d.FeedTitle)
	put(fieldURL, d.URL)
	put(fieldAuthor, d.Author)
	put(fieldLang, strings.ToLower(d.Lang))
	put(fieldSeverity, d.Severity)
	putList(fieldInstitutions, d.Institutions)
	putList(fieldCategories, d.Categories)
	putList(fieldRules, d.Rules)
	putTime(fieldPublished, d.Published)
	putTime(fieldFetched, d.Fetched)
	langs := languagesOf(d)
	if langs&langNL != 0 {
		put(fieldTitleNL, d.Title)
		put(fieldTextNL, d.Text)
	}
	if langs&langEN != 0 {
		put(fieldTitleEN, d.Title)
		put(fieldTextEN, d.Text)
	}
	return m
}
