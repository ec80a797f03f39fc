package match

import (
	"strings"
	"unicode/utf8"
)

// phraseSet holds folded phrases and finds their word-bounded occurrences.
// Every keyword, context word and exception phrase of the rule set goes into
// one set, so a field is scanned once for all rules, in one pass over the
// text whatever the number of phrases.
type phraseSet struct {
	phrases []string
	ids     map[string]int
	// byPrefix indexes phrases by their first two bytes, short by their
	// only byte: at each possible start in the text only the phrases
	// sharing those bytes are compared.
	byPrefix map[uint16][]int32
	short    map[byte][]int32
}

func newPhraseSet() *phraseSet {
	return &phraseSet{ids: map[string]int{}, byPrefix: map[uint16][]int32{}, short: map[byte][]int32{}}
}

// add returns the id of the folded phrase, adding it when new. Phrases are
// only added while compiling; a compiled set is read-only.
func (p *phraseSet) add(phrase string) int {
	f := strings.TrimSpace(FoldString(phrase))
	if id, ok := p.ids[f]; ok {
		return id
	}
	id := len(p.phrases)
	p.phrases = append(p.phrases, f)
	p.ids[f] = id
	switch len(f) {
	case 0:
	case 1:
		p.short[f[0]] = append(p.short[f[0]], int32(id))
	default:
		k := uint16(f[0])<<8 | uint16(f[1])
		p.byPrefix[k] = append(p.byPrefix[k], int32(id))
	}
	return id
}

// span is a [start, end) byte range.
type span struct{ start, end int }

// scan returns the word-bounded occurrences of every phrase in the folded
// text, keyed by phrase id, each list in order of position.
func (p *phraseSet) scan(text string) map[int][]span {
	var hits map[int][]span
	match := func(ids []int32, at int) {
		for _, id := range ids {
			ph := p.phrases[id]
			if strings.HasPrefix(text[at:], ph) && wordBounded(text, at, at+len(ph)) {
				if hits == nil {
					hits = map[int][]span{}
				}
				hits[int(id)] = append(hits[int(id)], span{at, at + len(ph)})
			}
		}
	}
	prevWord := false
	for at := 0; at < len(text); {
		r, size := utf8.DecodeRuneInString(text[at:])
		word := isWordRune(r)
		// Inside a word no word-bounded phrase can start.
		if !(word && prevWord) {
			if ids := p.short[text[at]]; ids != nil {
				match(ids, at)
			}
			if at+1 < len(text) {
				if ids := p.byPrefix[uint16(text[at])<<8|uint16(text[at+1])]; ids != nil {
					match(ids, at)
				}
			}
		}
		prevWord = word
		at += size
	}
	return hits
}
