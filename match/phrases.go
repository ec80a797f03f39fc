package match

import (
	"slices"
	"strings"
)

// phraseSet holds folded phrases and finds their word-bounded occurrences.
// Every keyword, context word, label and exception phrase of the rule set
// and every institution form goes into one set, so a field is scanned once
// for all of them, in one pass over the text whatever the number of
// phrases.
//
// The scan is an Aho-Corasick automaton turned into a dense DFA over byte
// classes: one table lookup per byte of folded text. The text is folded
// before the scan, so the automaton only ever sees lower-case,
// accent-free bytes and stays small.
//
// Unlike plain Aho-Corasick it follows a phrase only from where a
// word-bounded occurrence can start: a phrase beginning with a letter or
// digit is not looked for in the middle of a word. Once the word being read
// can no longer lead to a phrase, the automaton sits in a state of its own
// ("inside a word, nothing pending") and the scan skips to the word's end
// without a table lookup per byte. Word characters are ASCII letters and
// digits here, which lets through more starts than the Unicode rule of
// wordBounded, never fewer: every occurrence is still checked with
// wordBounded before it counts.
type phraseSet struct {
	phrases []string
	// prefix marks phrases written with a trailing * (sluit*): they need a
	// word boundary before them only, and their hit runs to the end of the
	// word (sluiting).
	prefix []bool
	ids    map[string]int // while compiling only
	// anywhere makes a plain Aho-Corasick set: occurrences count wherever
	// they are, word-bounded or not, and phrases are added as given.
	anywhere bool

	// byteClass maps a byte to its column in next. Bytes that occur in no
	// phrase share class 0 (word bytes) or 1 (other bytes).
	byteClass [256]byte
	stride    int
	// next[s+c] is the state after reading a byte of class c in state s.
	// States are numbered by their offset in next (index × stride), and
	// states where some phrase ends are numbered last, from firstOutput
	// on, so the scan tests for a match with one comparison.
	next        []int32
	firstOutput int32
	// inWord is the state reached inside a word that no phrase continues,
	// numbered right below firstOutput.
	inWord int32
	// outputs[outStart[k]:outStart[k+1]] are the phrases ending in the k-th
	// output state (offset firstOutput + k×stride).
	outStart []int32
	outputs  []int32
	// outLen[k] is the length of the phrase outputs[k], negated for a
	// prefix phrase (see prefix).
	outLen []int32
	// reciprocal is 2^32 / stride rounded up.
	reciprocal uint64
}

// isWordByte is the automaton's notion of a word character.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func newPhraseSet() *phraseSet {
	return &phraseSet{ids: map[string]int{}}
}

// add returns the id of the folded phrase, adding it when new. Phrases are
// only added while compiling; build must be called before scanning.
func (p *phraseSet) add(phrase string) int {
	f, isPrefix := phrase, false
	if !p.anywhere {
		f = strings.TrimSpace(FoldString(phrase))
		if trimmed, ok := strings.CutSuffix(f, "*"); ok && strings.TrimSpace(trimmed) != "" {
			f, isPrefix = strings.TrimSpace(trimmed), true
		}
	}
	key := f
	if isPrefix {
		key += "*" // "sluit" and "sluit*" are different phrases
	}
	if id, ok := p.ids[key]; ok {
		return id
	}
	id := len(p.phrases)
	p.phrases = append(p.phrases, f)
	p.prefix = append(p.prefix, isPrefix)
	p.ids[key] = id
	return id
}

// build compiles the phrases into the automaton; the set is read-only
// afterwards.
func (p *phraseSet) build() {
	p.ids = nil
	var used [256]bool
	for _, ph := range p.phrases {
		for i := 0; i < len(ph); i++ {
			used[ph[i]] = true
		}
	}
	p.stride = 2
	var classWord []bool // by class
	classWord = append(classWord, true, false)
	for b := range 256 {
		switch {
		case used[b]:
			p.byteClass[b] = byte(p.stride)
			p.stride++
			classWord = append(classWord, isWordByte(byte(b)))
		case isWordByte(byte(b)):
			p.byteClass[b] = 0
		default:
			p.byteClass[b] = 1
		}
	}
	stride := p.stride

	// The trie, with -1 for a missing edge; node 0 is the root.
	trie := make([]int32, stride)
	for i := range trie {
		trie[i] = -1
	}
	own := [][]int32{nil} // phrases ending exactly at each node
	for id, ph := range p.phrases {
		if ph == "" {
			continue
		}
		node := 0
		for i := 0; i < len(ph); i++ {
			c := int(p.byteClass[ph[i]])
			child := trie[node*stride+c]
			if child < 0 {
				child = int32(len(own))
				trie[node*stride+c] = child
				own = append(own, nil)
				for range stride {
					trie = append(trie, -1)
				}
			}
			node = int(child)
		}
		own[node] = append(own[node], int32(id))
	}
	// One more state: inside a word with nothing pending. The root stands
	// for "after a non-word byte with nothing pending".
	inWord := int32(len(own))
	own = append(own, nil)
	for range stride {
		trie = append(trie, -1)
	}
	nodes := len(own)

	// Breadth first, every node's missing edges become those of its
	// failure node, which is shallower and so already complete. The
	// failure node is the longest proper suffix that is a trie node and
	// starts where a phrase may start (after a non-word byte, or with a
	// non-word byte), else the root or inWord after a non-word or a word
	// byte. Outputs gather along the same suffixes.
	delta := trie // completed in place
	fail := make([]int32, nodes)
	outs := make([][]int32, nodes)
	queue := make([]int32, 0, nodes)
	settle := func(c int) int32 { // nothing pending after a byte of class c
		if classWord[c] && !p.anywhere {
			return inWord
		}
		return 0
	}
	for c := range stride {
		if child := delta[c]; child >= 0 {
			fail[child] = settle(c)
			queue = append(queue, child)
		} else {
			delta[c] = settle(c)
		}
	}
	for c := range stride {
		if classWord[c] {
			delta[int(inWord)*stride+c] = inWord
		} else {
			delta[int(inWord)*stride+c] = delta[c]
		}
	}
	for head := 0; head < len(queue); head++ {
		u := queue[head]
		outs[u] = slices.Concat(own[u], outs[fail[u]])
		for c := range stride {
			i := int(u)*stride + c
			if child := delta[i]; child >= 0 {
				fail[child] = delta[int(fail[u])*stride+c]
				queue = append(queue, child)
			} else {
				delta[i] = delta[int(fail[u])*stride+c]
			}
		}
	}

	// Renumber: states without output first, inWord last among them, then
	// those with output, each as its offset in the table.
	order := make([]int32, 0, nodes)
	for u := range nodes {
		if len(outs[u]) == 0 && int32(u) != inWord {
			order = append(order, int32(u))
		}
	}
	order = append(order, inWord) // last before the output states
	quiet := len(order)
	for u := range nodes {
		if len(outs[u]) > 0 {
			order = append(order, int32(u))
		}
	}
	offset := make([]int32, nodes)
	for k, u := range order {
		offset[u] = int32(k * stride)
	}
	p.next = make([]int32, nodes*stride)
	for k, u := range order {
		for c := range stride {
			p.next[k*stride+c] = offset[delta[int(u)*stride+c]]
		}
	}
	p.firstOutput = int32(quiet * stride)
	p.reciprocal = (1<<32 + uint64(stride) - 1) / uint64(stride)
	p.inWord = offset[inWord]
	p.outStart = make([]int32, 0, nodes-quiet+1)
	p.outputs = nil
	for _, u := range order[quiet:] {
		p.outStart = append(p.outStart, int32(len(p.outputs)))
		p.outputs = append(p.outputs, outs[u]...)
	}
	p.outStart = append(p.outStart, int32(len(p.outputs)))
	p.outLen = make([]int32, len(p.outputs))
	for k, id := range p.outputs {
		p.outLen[k] = int32(len(p.phrases[id]))
		if p.prefix[id] && !p.anywhere {
			p.outLen[k] = -p.outLen[k]
		}
	}
}

// hit is one word-bounded occurrence of a phrase in a folded text.
type hit struct {
	phrase     int32
	start, end int32
}

// scan appends to dst the word-bounded occurrences of every phrase in the
// folded text, in order of their end.
func (p *phraseSet) scan(text string, dst []hit) []hit {
	next, classes, inWord := p.next, &p.byteClass, int(p.inWord)
	state := 0
	for i := 0; i < len(text); i++ {
		state = int(next[state+int(classes[text[i]])])
		if state < inWord {
			continue
		}
		if state == inWord {
			for i+1 < len(text) && wordBytes[text[i+1]] {
				i++
			}
			continue
		}
		dst = p.emit(text, i+1, state, dst)
	}
	return dst
}

func (p *phraseSet) emit(text string, end int, state int, dst []hit) []hit {
	// k is (state - firstOutput) / stride, which multiplying by the
	// rounded-up reciprocal gives exactly for a multiple of stride.
	k := uint64(state-int(p.firstOutput)) * p.reciprocal >> 32
	lo, hi := p.outStart[k], p.outStart[k+1]
	for o, id := range p.outputs[lo:hi] {
		n := int(p.outLen[int(lo)+o])
		switch {
		case p.anywhere:
			dst = append(dst, hit{phrase: id, start: int32(end - n), end: int32(end)})
		case n > 0:
			if start := end - n; wordBounded(text, start, end) {
				dst = append(dst, hit{phrase: id, start: int32(start), end: int32(end)})
			}
		default: // a prefix phrase
			if start := end + n; wordBounded(text, start, start) {
				dst = append(dst, hit{phrase: id, start: int32(start), end: int32(wordEndAfter(text, end))})
			}
		}
	}
	return dst
}

// wordBytes is isWordByte as a table.
var wordBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = isWordByte(byte(c))
	}
	return t
}()

// phraseHits are the hits of one field sorted by phrase and position, for
// lookup by phrase.
type phraseHits []hit

// groupByPhrase sorts hits, which scan returns in order of their end, by
// phrase and start. Within one phrase the order of ends is the order of
// starts, so a stable counting sort by phrase is enough: it is linear in
// the hits, where a comparison sort cost a sixth of the matcher's time on
// long posts. count is scratch, as long as the phrase set and all zero; it
// is left all zero.
func groupByPhrase(hits phraseHits, count []int32, scratch *groupScratch) phraseHits {
	if len(hits) < 2 {
		return hits
	}
	distinct := scratch.phrases[:0]
	for _, h := range hits {
		if count[h.phrase] == 0 {
			distinct = append(distinct, h.phrase)
		}
		count[h.phrase]++
	}
	slices.Sort(distinct) // few: the phrases of one field
	next := int32(0)
	for _, id := range distinct {
		n := count[id]
		count[id] = next
		next += n
	}
	placed := slices.Grow(scratch.hits[:0], len(hits))[:len(hits)]
	for _, h := range hits {
		placed[count[h.phrase]] = h
		count[h.phrase]++
	}
	for _, id := range distinct {
		count[id] = 0
	}
	copy(hits, placed)
	scratch.phrases, scratch.hits = distinct, placed
	return hits
}

// groupScratch is groupByPhrase's reusable memory.
type groupScratch struct {
	phrases []int32
	hits    []hit
}

// of returns the occurrences of one phrase in order of position.
func (h phraseHits) of(phrase int) phraseHits {
	id := int32(phrase)
	lo, hi := 0, len(h)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h[m].phrase < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	end := lo
	for end < len(h) && h[end].phrase == id {
		end++
	}
	return h[lo:end]
}

// within reports whether the phrase occurs inside the folded span [lo, hi).
func (h phraseHits) within(phrase, lo, hi int) bool {
	for _, x := range h.of(phrase) {
		if int(x.start) >= lo && int(x.end) <= hi {
			return true
		}
	}
	return false
}
