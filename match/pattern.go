package match

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// pattern is a rule's regular expression together with what is known about
// where its matches can be. A pattern runs only on fields holding one of
// its required literals (see requiredLiterals), and there most positions
// cannot start a match (a room number needs a word starting with "kamer",
// "bed" or "room"), so rather than letting the regexp engine try every
// position, findAll tries only the possible starts, each with an anchored
// expression that sees the rune before the start for its assertions. The
// result is exactly that of FindAllStringIndex: the same leftmost-first
// matches, one after another.
//
// A pattern that is an alternation of many phrases ("weet iemand haar
// nummer", "lekker ding", ...) is split into its branches, in order: at a
// start only the branches whose prefix is there are tried, and the first
// that matches wins, as it does in the whole expression. Each branch is a
// small program the regexp engine runs by backtracking, where the whole
// alternation would run on its slower NFA.
type pattern struct {
	re *regexp.Regexp
	// startsAt holds the runes a match can begin with. It is nil when any
	// rune may or the pattern can match the empty string: then the whole
	// text is searched.
	startsAt *runeSet
	// boundary: every match begins with \b, checked before trying.
	boundary bool
	// prefixes, when known, are strings one of which begins every match,
	// in canonical form (see canonicalRune) and by their first byte;
	// prefixBranches[c][k] are the branches prefixes[c][k] begins, in
	// order. prefixList has them all.
	prefixes       *[256][]string
	prefixBranches *[256][][]int32
	prefixList     []string
	// literals are required literals (see requiredLiterals), nil when
	// the pattern has none.
	literals []string
	// branches are the alternatives of the expression, in order of
	// preference; one branch, the whole expression, when it is not split
	// or its prefixes are not known. Set when startsAt is.
	branches []branch
	// whole is the whole expression as one branch.
	whole branch
}

// branch is one alternative of a pattern, anchored.
type branch struct {
	// atStart is ^(?:re), for a match at offset 0; afterOne is
	// ^(?s:.)(?:re), run from the rune before a possible start. The
	// branches of a split pattern compile them on first use (see
	// compiled): most branches of a rule set are never tried.
	atStart, afterOne *regexp.Regexp
	tree              *syntax.Regexp
	once              *sync.Once
	startsAt          *runeSet
	boundary          bool
	// second, when known, holds the runes that can follow the first rune
	// of a match, for a branch without prefixes whose first rune is any
	// of a large class (an upper-case letter followed by a full stop).
	second *runeSet
	// digit: every match holds an ASCII digit, which is looked for in
	// the window a match would lie in before running the expression.
	digit bool
	// length bounds a match. A bounded branch is tried on a window of
	// the text that just holds its longest match, as a string: regexp then
	// backtracks over a few dozen bytes instead of stepping its NFA through
	// a reader.
	length matchLen
}

// runeSet is a set of runes: a table for ASCII, sorted ranges beyond.
type runeSet struct {
	ascii  [utf8.RuneSelf]bool
	ranges []rune // lo, hi pairs
}

func (s *runeSet) has(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && s.ascii[r]
	}
	for i := 0; i+1 < len(s.ranges); i += 2 {
		if s.ranges[i] <= r && r <= s.ranges[i+1] {
			return true
		}
	}
	return false
}

func (s *runeSet) add(lo, hi rune) {
	for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
		s.ascii[r] = true
	}
	if hi >= utf8.RuneSelf {
		s.ranges = append(s.ranges, max(lo, utf8.RuneSelf), hi)
	}
}

// compilePattern compiles expr (the rule pattern with institutions filled
// in) and works out where its matches may start.
func compilePattern(expr string) (*pattern, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	p := &pattern{re: re}
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return p, nil // regexp accepted it, so this does not happen
	}
	p.literals = requiredLiterals(tree)
	set := &runeSet{}
	nullable, anyRune := firstRunes(tree, set)
	if nullable || anyRune {
		return p, nil
	}
	whole, ok := compileBranch(tree, expr)
	if !ok {
		return p, nil
	}
	p.startsAt, p.boundary, p.whole = set, whole.boundary, whole
	p.branches = []branch{whole}
	prefixes, _, known := literalPrefixes(tree)
	if !known || slices.ContainsFunc(prefixes, func(p []rune) bool { return len(p) == 0 }) {
		p.whole.second = secondRunes(tree)
		p.branches[0] = p.whole
		return p, nil
	}
	// Split the expression when every branch has prefixes of its own.
	parts := splitBranches(tree)
	branchPrefixes := [][][]rune{prefixes}
	if len(parts) > 1 {
		branches := make([]branch, 0, len(parts))
		split := make([][][]rune, 0, len(parts))
		for _, part := range parts {
			pre, _, known := literalPrefixes(part)
			set := &runeSet{}
			nullable, anyRune := firstRunes(part, set)
			if !known || slices.ContainsFunc(pre, func(p []rune) bool { return len(p) == 0 }) || nullable || anyRune {
				break
			}
			branches = append(branches, branch{
				tree:     part,
				once:     new(sync.Once),
				startsAt: set,
				boundary: startsWithBoundary(part),
				digit:    requiresDigit(part),
				length:   maxMatchLen(part.Simplify()),
			})
			split = append(split, shortPrefixes(pre))
		}
		if len(branches) == len(parts) {
			p.branches, branchPrefixes = branches, split
		}
	}
	p.prefixes = new([256][]string)
	p.prefixBranches = new([256][][]int32)
	for bi, pre := range branchPrefixes {
		for _, prefix := range pre {
			c := canonicalString(prefix)
			k := slices.Index(p.prefixes[c[0]], c)
			if k < 0 {
				k = len(p.prefixes[c[0]])
				p.prefixes[c[0]] = append(p.prefixes[c[0]], c)
				p.prefixBranches[c[0]] = append(p.prefixBranches[c[0]], nil)
				p.prefixList = append(p.prefixList, c)
			}
			if list := p.prefixBranches[c[0]][k]; len(list) == 0 || list[len(list)-1] != int32(bi) {
				p.prefixBranches[c[0]][k] = append(list, int32(bi))
			}
		}
	}
	return p, nil
}

// compileBranch compiles the anchored forms of one branch, expr being its
// source.
func compileBranch(tree *syntax.Regexp, expr string) (branch, bool) {
	set := &runeSet{}
	if nullable, anyRune := firstRunes(tree, set); nullable || anyRune {
		return branch{}, false
	}
	atStart, err1 := regexp.Compile(`^(?:` + expr + `)`)
	afterOne, err2 := regexp.Compile(`^(?s:.)(?:` + expr + `)`)
	if err1 != nil || err2 != nil {
		return branch{}, false
	}
	return branch{
		atStart:  atStart,
		afterOne: afterOne,
		startsAt: set,
		boundary: startsWithBoundary(tree),
		digit:    requiresDigit(tree),
		length:   maxMatchLen(tree.Simplify()),
	}, true
}

// compiled returns the branch with its expressions compiled, or the whole
// pattern's branch when they do not compile (which a branch printed by
// regexp/syntax always does): anchored at a position, the whole pattern
// matches as the first of its branches that matches there, and the
// branches before this one did not.
func (p *pattern) compiled(b *branch) *branch {
	if b.once == nil {
		return b
	}
	b.once.Do(func() {
		expr := b.tree.String()
		atStart, err1 := regexp.Compile(`^(?:` + expr + `)`)
		afterOne, err2 := regexp.Compile(`^(?s:.)(?:` + expr + `)`)
		if err1 == nil && err2 == nil {
			b.atStart, b.afterOne = atStart, afterOne
		}
	})
	if b.atStart == nil {
		return &p.whole
	}
	return b
}

// requiresDigit reports whether every match of re holds an ASCII digit.
func requiresDigit(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return slices.ContainsFunc(re.Rune, func(r rune) bool { return '0' <= r && r <= '9' })
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i] < '0' || re.Rune[i+1] > '9' {
				return false
			}
		}
		return len(re.Rune) > 0
	case syntax.OpCapture, syntax.OpPlus:
		return requiresDigit(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min > 0 && requiresDigit(re.Sub[0])
	case syntax.OpConcat:
		return slices.ContainsFunc(re.Sub, requiresDigit)
	case syntax.OpAlternate:
		return !slices.ContainsFunc(re.Sub, func(s *syntax.Regexp) bool { return !requiresDigit(s) })
	}
	return false
}

// hasDigit reports whether s has an ASCII digit.
func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

// secondRunes returns the runes the second rune of a match can be when re
// begins (after assertions) with exactly one rune, or nil.
func secondRunes(re *syntax.Regexp) *runeSet {
	subs := flattenConcat(nil, re)
	k := slices.IndexFunc(subs, func(s *syntax.Regexp) bool { return !isEmptyWidth(s) })
	if k < 0 || k+1 == len(subs) {
		return nil
	}
	switch first := subs[k]; first.Op {
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
	case syntax.OpLiteral:
		if len(first.Rune) != 1 {
			return nil
		}
	default:
		return nil
	}
	set := &runeSet{}
	if nullable, anyRune := firstRunes(&syntax.Regexp{Op: syntax.OpConcat, Sub: subs[k+1:]}, set); nullable || anyRune {
		return nil
	}
	return set
}

// maxPrefixRunes is as long as a prefix of a split pattern's branch gets:
// longer ones hardly make the starts any fewer, and make the automaton
// that finds them larger.
const maxPrefixRunes = 8

// shortPrefixes cuts prefixes to maxPrefixRunes runes, without repeats.
func shortPrefixes(prefixes [][]rune) [][]rune {
	out := make([][]rune, 0, len(prefixes))
	for _, p := range prefixes {
		p = p[:min(len(p), maxPrefixRunes)]
		if !slices.ContainsFunc(out, func(q []rune) bool { return slices.Equal(p, q) }) {
			out = append(out, p)
		}
	}
	return out
}

// maxBranches bounds the branches a pattern is split into.
const maxBranches = 256

// splitBranches returns the alternatives of re in order of preference: a
// match of re at a position is the match of the first of them that
// matches there. An alternation is its branches; a concatenation starting
// (after assertions) with an alternation is one concatenation per branch,
// (a|b)c being ac|bc under leftmost-first matching. Captures do not
// change where a match is and are dropped. It returns re alone when it
// does not split or would split into more than maxBranches.
func splitBranches(re *syntax.Regexp) []*syntax.Regexp {
	out, ok := appendBranches(nil, re)
	if !ok {
		return []*syntax.Regexp{re}
	}
	return out
}

func appendBranches(out []*syntax.Regexp, re *syntax.Regexp) ([]*syntax.Regexp, bool) {
	switch re.Op {
	case syntax.OpCapture:
		return appendBranches(out, re.Sub[0])
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			var ok bool
			if out, ok = appendBranches(out, sub); !ok {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		subs := flattenConcat(nil, re)
		k := slices.IndexFunc(subs, func(s *syntax.Regexp) bool { return !isEmptyWidth(s) })
		if k >= 0 {
			alts, ok := appendBranches(nil, subs[k])
			if !ok {
				return nil, false
			}
			if len(alts) > 1 {
				for _, alt := range alts {
					cat := slices.Concat(subs[:k], flattenConcat(nil, alt), subs[k+1:])
					if out, ok = appendBranches(out, &syntax.Regexp{Op: syntax.OpConcat, Sub: cat}); !ok {
						return nil, false
					}
				}
				return out, true
			}
		}
	}
	if len(out) >= maxBranches {
		return nil, false
	}
	return append(out, re), true
}

// flattenConcat appends the parts of re, a concatenation or not, to out,
// with nested concatenations and captures around them taken apart.
func flattenConcat(out []*syntax.Regexp, re *syntax.Regexp) []*syntax.Regexp {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpConcat {
		return append(out, re)
	}
	for _, sub := range re.Sub {
		out = flattenConcat(out, sub)
	}
	return out
}

// isEmptyWidth reports whether re is an assertion that matches no text.
func isEmptyWidth(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	return false
}

// literalPrefixes returns strings one of which begins every match of re;
// complete reports that every match is exactly one of them, known that
// such a set was found at all. Letters are kept as written: prefixes are
// compared in canonical form, which takes in every case variant the regexp
// engine would. Sets stay below maxLiterals strings, products of parts
// below maxLiterals too, cutting prefixes short when they would not.
func literalPrefixes(re *syntax.Regexp) (prefixes [][]rune, complete, known bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return [][]rune{nil}, true, true
	case syntax.OpLiteral:
		return [][]rune{slices.Clone(re.Rune)}, true, true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
		}
		if n == 0 || n > 16 {
			return nil, false, false
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				prefixes = append(prefixes, []rune{r})
			}
		}
		return prefixes, true, true
	case syntax.OpCapture:
		return literalPrefixes(re.Sub[0])
	case syntax.OpQuest:
		sub, complete, known := literalPrefixes(re.Sub[0])
		if !known {
			return nil, false, false
		}
		return append([][]rune{nil}, sub...), complete, true
	case syntax.OpPlus:
		sub, _, known := literalPrefixes(re.Sub[0])
		return sub, false, known
	case syntax.OpRepeat:
		if re.Min == 0 {
			return nil, false, false
		}
		sub, _, known := literalPrefixes(re.Sub[0])
		return sub, false, known
	case syntax.OpAlternate:
		complete = true
		for _, sub := range re.Sub {
			p, c, k := literalPrefixes(sub)
			if !k {
				return nil, false, false
			}
			prefixes = append(prefixes, p...)
			complete = complete && c
		}
		if len(prefixes) > maxLiterals {
			// Shorter prefixes still begin every match.
			for i, p := range prefixes {
				prefixes[i] = p[:min(len(p), 3)]
			}
			slices.SortFunc(prefixes, slices.Compare[[]rune])
			prefixes = slices.CompactFunc(prefixes, slices.Equal[[]rune])
			if len(prefixes) > maxLiterals {
				return nil, false, false
			}
			complete = false
		}
		return prefixes, complete, true
	case syntax.OpConcat:
		prefixes = [][]rune{nil}
		for _, sub := range re.Sub {
			p, c, k := literalPrefixes(sub)
			if !k || len(prefixes)*len(p) > maxLiterals {
				return prefixes, false, true
			}
			var next [][]rune
			for _, a := range prefixes {
				for _, b := range p {
					next = append(next, slices.Concat(a, b))
				}
			}
			prefixes = next
			if !c {
				return prefixes, false, true
			}
		}
		return prefixes, true, true
	}
	return nil, false, false
}

// branchesAt appends to dst the branches, in order, one of whose prefixes
// text begins with. The comparison is of canonical forms, which lets
// through every string the regexp engine would take for the prefix, and a
// few more.
func (p *pattern) branchesAt(text string, dst []int32) []int32 {
	c := text[0]
	if c >= utf8.RuneSelf {
		r, _ := utf8.DecodeRuneInString(text)
		var buf [utf8.UTFMax]byte
		utf8.EncodeRune(buf[:], canonicalRune(r))
		c = buf[0]
	} else {
		c = asciiLower[c]
	}
	from := len(dst)
	for k, prefix := range p.prefixes[c] {
		if hasCanonicalPrefix(text, prefix) {
			dst = append(dst, p.prefixBranches[c][k]...)
		}
	}
	if len(dst)-from > 1 {
		slices.Sort(dst[from:])
		dst = dst[:from+len(slices.Compact(dst[from:]))]
	}
	return dst
}

// hasCanonicalPrefix reports whether text in canonical form begins with
// prefix, which is canonical.
func hasCanonicalPrefix(text, prefix string) bool {
	i := 0
	for j := 0; j < len(prefix); {
		if i >= len(text) {
			return false
		}
		if c := text[i]; c < utf8.RuneSelf {
			if asciiLower[c] != prefix[j] {
				return false
			}
			i++
			j++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		pr, psize := utf8.DecodeRuneInString(prefix[j:])
		if canonicalRune(r) != pr {
			return false
		}
		i += size
		j += psize
	}
	return true
}

// firstRunes adds to set every rune a match of re can begin with and
// reports whether re can match the empty string and whether any rune at
// all may come first.
func firstRunes(re *syntax.Regexp, set *runeSet) (nullable, anyRune bool) {
	switch re.Op {
	case syntax.OpNoMatch:
		return false, false
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true, false
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true, false
		}
		r := re.Rune[0]
		set.add(r, r)
		if re.Flags&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				set.add(f, f)
			}
		}
		return false, false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			set.add(re.Rune[i], re.Rune[i+1])
		}
		return false, false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return false, true
	case syntax.OpCapture, syntax.OpPlus:
		return firstRunes(re.Sub[0], set)
	case syntax.OpStar, syntax.OpQuest:
		_, anyRune := firstRunes(re.Sub[0], set)
		return true, anyRune
	case syntax.OpRepeat:
		nullable, anyRune := firstRunes(re.Sub[0], set)
		return nullable || re.Min == 0, anyRune
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			nullable, anyRune := firstRunes(sub, set)
			if anyRune {
				return false, true
			}
			if !nullable {
				return false, false
			}
		}
		return true, false
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			n, a := firstRunes(sub, set)
			nullable, anyRune = nullable || n, anyRune || a
		}
		return nullable, anyRune
	}
	return true, true // an operator this does not know: assume anything
}

// startsWithBoundary reports whether every match of re begins with \b.
func startsWithBoundary(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpWordBoundary:
		return true
	case syntax.OpCapture, syntax.OpConcat:
		return len(re.Sub) > 0 && startsWithBoundary(re.Sub[0])
	case syntax.OpAlternate:
		return len(re.Sub) > 0 && !slices.ContainsFunc(re.Sub, func(s *syntax.Regexp) bool { return !startsWithBoundary(s) })
	}
	return false
}

// isASCIIWord is the word character of \b.
func isASCIIWord(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
}

// findAll appends the [start, end) of every match of the pattern in text,
// exactly as FindAllStringIndex finds them. rd is reused between calls.
// starts, when not nil, are the offsets, in order, where one of the
// prefixes occurs (see Matcher.scanPatterns); without them findAll looks
// for the prefixes itself.
func (p *pattern) findAll(text string, spaceRun int, rd *strings.Reader, starts []int32, dst []span) []span {
	return p.find(text, &spaceRun, rd, starts, dst)
}

// find is findAll with the longest run of white space in text worked out
// when a branch first needs it: *spaceRun is negative until then.
func (p *pattern) find(text string, spaceRun *int, rd *strings.Reader, starts []int32, dst []span) []span {
	if p.startsAt != nil && p.prefixes != nil && starts != nil {
		return p.findAllAt(text, spaceRun, rd, starts, dst)
	}
	if p.startsAt == nil {
		for _, loc := range p.re.FindAllStringIndex(text, -1) {
			dst = append(dst, span{loc[0], loc[1]})
		}
		return dst
	}
	set := p.startsAt
	var buf [16]int32
	for at := 0; at < len(text); {
		c := text[at]
		if c < utf8.RuneSelf {
			// Inside a word there is no \b: on to the word's end.
			if p.boundary && at > 0 && isASCIIWord(rune(c)) && isASCIIWord(rune(text[at-1])) {
				for at++; at < len(text) && isASCIIWord(rune(text[at])); at++ {
				}
				continue
			}
			if !set.ascii[c] || (p.prefixes != nil && p.prefixes[asciiLower[c]] == nil) {
				at++
				continue
			}
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			if len(set.ranges) == 0 {
				at++ // no rune beyond ASCII starts a match
				continue
			}
			r, size = utf8.DecodeRuneInString(text[at:])
		}
		if !set.has(r) {
			at += size
			continue
		}
		if end := p.matchAt(text, spaceRun, rd, at, r, size, buf[:0]); end > at {
			// The next search starts where this match ends.
			dst = append(dst, span{at, end})
			at = end
			continue
		}
		at += size
	}
	return dst
}

// findAllAt is findAll trying only the given starts.
func (p *pattern) findAllAt(text string, spaceRun *int, rd *strings.Reader, starts []int32, dst []span) []span {
	next, tried := 0, -1 // where the next match may start; the last start tried
	var buf [16]int32
	for _, s := range starts {
		at := int(s)
		if at < next || at == tried {
			continue
		}
		tried = at
		r, size := utf8.DecodeRuneInString(text[at:])
		if !p.startsAt.has(r) {
			continue
		}
		if end := p.matchAt(text, spaceRun, rd, at, r, size, buf[:0]); end > at {
			dst = append(dst, span{at, end})
			next = end
		}
	}
	return dst
}

// matchAt returns the end of the match starting at offset at, whose first
// rune is r (size bytes), or -1: that of the first branch matching there.
// buf is scratch.
func (p *pattern) matchAt(text string, spaceRun *int, rd *strings.Reader, at int, r rune, size int, buf []int32) int {
	prev, prevSize := utf8.RuneError, 0
	if at > 0 {
		prev, prevSize = utf8.DecodeLastRuneInString(text[:at])
	}
	wordBoundary := isASCIIWord(r) != (prevSize > 0 && isASCIIWord(prev))
	if p.boundary && !wordBoundary {
		return -1
	}
	if p.prefixes == nil {
		b := &p.branches[0]
		if b.second != nil {
			if at+size >= len(text) {
				return -1 // the rest of a match needs a rune
			}
			if r2, _ := utf8.DecodeRuneInString(text[at+size:]); !b.second.has(r2) {
				return -1
			}
		}
		return b.matchAt(text, spaceRun, at, prevSize, rd)
	}
	for _, bi := range p.branchesAt(text[at:], buf) {
		b := &p.branches[bi]
		if b.boundary && !wordBoundary || !b.startsAt.has(r) {
			continue
		}
		b = p.compiled(b)
		if end := b.matchAt(text, spaceRun, at, prevSize, rd); end > at || b == &p.whole {
			return end
		}
	}
	return -1
}

// matchAt returns the end of the branch's match starting at offset at, or
// -1. The match sees the rune before at (prevSize bytes) for its
// assertions. Matches are never empty here: the branch is not nullable.
func (b *branch) matchAt(text string, spaceRun *int, at, prevSize int, rd *strings.Reader) int {
	var loc []int
	base := 0
	if b.length.bounded && b.length.spaceRuns > 0 && *spaceRun < 0 {
		*spaceRun = longestSpaceRun(text)
	}
	if w := b.length.window(*spaceRun); w >= 0 {
		end := min(len(text), at+w)
		if b.digit && !hasDigit(text[at:end]) {
			return -1
		}
		if at == 0 {
			loc = b.atStart.FindStringIndex(text[:end])
		} else {
			base = at - prevSize
			loc = b.afterOne.FindStringIndex(text[base:end])
		}
	} else if b.digit && !hasDigit(text[at:]) {
		return -1
	} else if at == 0 {
		rd.Reset(text)
		loc = b.atStart.FindReaderIndex(rd)
	} else {
		base = at - prevSize
		rd.Reset(text[base:])
		loc = b.afterOne.FindReaderIndex(rd)
	}
	if loc == nil {
		return -1
	}
	return base + loc[1]
}

// matchLen bounds the length of a pattern's matches: at most fixed bytes
// plus, for each of spaceRuns unbounded runs of white space (\s*, \s+), the
// longest run of white space in the text. Real posts have short runs of
// white space, so most patterns get a window of a few dozen bytes.
type matchLen struct {
	fixed, spaceRuns int
	bounded          bool
}

// window returns how many bytes from a match's start can take part in it
// in a text whose longest white-space run is spaceRun bytes, or -1 when
// that is not known. One more rune past the match is included, so that an
// assertion at its end (\b) sees the rune that follows.
func (l matchLen) window(spaceRun int) int {
	if !l.bounded {
		return -1
	}
	if l.spaceRuns == 0 {
		return l.fixed + utf8.UTFMax
	}
	return l.fixed + l.spaceRuns*spaceRun + utf8.UTFMax
}

// maxMatchLen works out the matchLen of re.
func maxMatchLen(re *syntax.Regexp) matchLen {
	bytes := func(n int) matchLen { return matchLen{fixed: n, bounded: true} }
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return bytes(0)
	case syntax.OpLiteral:
		n := 0
		for _, r := range re.Rune {
			n += maxRuneLen(r, re.Flags&syntax.FoldCase != 0)
		}
		return bytes(n)
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return bytes(0)
		}
		return bytes(utf8.RuneLen(min(re.Rune[len(re.Rune)-1], unicode.MaxRune)))
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return bytes(utf8.UTFMax)
	case syntax.OpCapture, syntax.OpQuest:
		return maxMatchLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		if isSpaceClass(re.Sub[0]) {
			return matchLen{spaceRuns: 1, bounded: true}
		}
	case syntax.OpRepeat:
		if re.Max < 0 {
			if isSpaceClass(re.Sub[0]) {
				return matchLen{spaceRuns: 1, bounded: true}
			}
			break
		}
		sub := maxMatchLen(re.Sub[0])
		return matchLen{fixed: sub.fixed * re.Max, spaceRuns: sub.spaceRuns * re.Max, bounded: sub.bounded}
	case syntax.OpConcat, syntax.OpAlternate:
		// An alternation takes the most of each part: more than any one
		// branch needs, which only widens the window.
		total := bytes(0)
		for _, sub := range re.Sub {
			l := maxMatchLen(sub)
			if !l.bounded {
				return l
			}
			if re.Op == syntax.OpConcat {
				total.fixed, total.spaceRuns = total.fixed+l.fixed, total.spaceRuns+l.spaceRuns
			} else {
				total.fixed, total.spaceRuns = max(total.fixed, l.fixed), max(total.spaceRuns, l.spaceRuns)
			}
		}
		return total
	}
	return matchLen{} // unbounded
}

// isSpaceClass reports whether re matches ASCII white space only, as \s
// does.
func isSpaceClass(re *syntax.Regexp) bool {
	if re.Op != syntax.OpCharClass || len(re.Rune) == 0 {
		return false
	}
	for i := 0; i+1 < len(re.Rune); i += 2 {
		for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
			if !isASCIISpace(byte(r)) || r >= utf8.RuneSelf {
				return false
			}
		}
	}
	return true
}

func isASCIISpace(c byte) bool {
	return asciiSpace[c]
}

var asciiSpace = [256]bool{' ': true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true}

// longestSpaceRun returns the length of the longest run of ASCII white
// space in s.
func longestSpaceRun(s string) int {
	longest, run := 0, 0
	i := 0
	for ; i+8 <= len(s); i += 8 {
		m := spaceMask(load64(s, i))
		switch {
		case m == 0:
			run = 0
		case m&(m<<8) == 0 && (run == 0 || m&0x80 == 0):
			// Spaces one by one, none continuing the run before.
			longest = max(longest, 1)
			run = int(m >> 63)
		default:
			for k := 0; k < 8; k++ {
				if m&(0x80<<(8*k)) != 0 {
					run++
					longest = max(longest, run)
				} else {
					run = 0
				}
			}
		}
	}
	for ; i < len(s); i++ {
		if isASCIISpace(s[i]) {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// spaceMask sets the high bit of every byte of w that is ASCII white
// space (isASCIISpace) and clears every other bit.
func spaceMask(w uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	x := w ^ 0x20*ones // zero where a byte is ' '
	blank := ^((x&^high + ^uint64(high)&^high) | x) & high
	low := w &^ high
	// Bytes from '\t' to '\r': at least 9 and not at least 14.
	ctrl := (low + (0x80-9)*ones) &^ (low + (0x80-14)*ones) &^ w & high
	return blank | ctrl
}

// maxRuneLen is the longest UTF-8 encoding of r, or of any rune it folds
// to when fold is set (k matches the three-byte Kelvin sign).
func maxRuneLen(r rune, fold bool) int {
	n := utf8.RuneLen(r)
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			n = max(n, utf8.RuneLen(f))
		}
	}
	return max(n, 1)
}
