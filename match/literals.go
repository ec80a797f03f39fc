package match

import (
	"encoding/binary"
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
)

// A pattern can only match a text that contains one of its required
// literals: "vlog" or "film" for a pattern about recordings, whatever else
// it says. The required literals of every pattern go into one automaton,
// and a pattern runs only on the fields where one of its literals occurs.
// Literals are compared the way the regexp engine compares case-insensitive
// letters, by simple case folding: both the literals and the text are
// written with one representative rune per folding orbit.

// Literal sets built while analysing a pattern stay below these bounds:
// products of consecutive parts, and sets of alternatives.
const (
	maxProduct  = 64
	maxLiterals = 1024
)

// minLiteralBytes is the shortest literal worth looking for.
const minLiteralBytes = 2

// canonicalTable holds canonicalRune for runes below tabledRunes, computed
// once and never written again.
var canonicalTable = func() (t [tabledRunes]rune) {
	for r := range t {
		t[r] = canonicalOrbit(rune(r))
	}
	return t
}()

// canonicalRune is the representative of r's simple case folding orbit:
// its ASCII lower-case letter if it has one, else its smallest lower-case
// rune, else its smallest rune.
func canonicalRune(r rune) rune {
	if r < tabledRunes {
		if r < 0 {
			return r
		}
		return canonicalTable[r]
	}
	return canonicalOrbit(r)
}

func canonicalOrbit(r rune) rune {
	best := r
	better := func(f rune) bool {
		switch fl, bl := unicode.IsLower(f), unicode.IsLower(best); {
		case 'a' <= f && f <= 'z':
			return true
		case 'a' <= best && best <= 'z':
			return false
		case fl != bl:
			return fl
		}
		return f < best
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if better(f) {
			best = f
		}
	}
	return best
}

// appendCanonical appends s in canonical form. Invalid bytes become
// U+FFFD, as the regexp engine reads them.
func appendCanonical(dst []byte, s string) []byte {
	dst = slices.Grow(dst, len(s))
	for i := 0; i < len(s); {
		// Eight ASCII bytes at a time, as foldAppend does.
		for i+8 <= len(s) {
			w := load64(s, i)
			if w&highBits != 0 {
				break
			}
			dst = binary.LittleEndian.AppendUint64(dst, lowerASCII8(w))
			i += 8
		}
		if i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			dst = append(dst, asciiLower[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, canonicalRune(r))
		i += size
	}
	return dst
}

// canonicalOffsets appends, for every byte appendCanonical writes for s,
// the offset in s of the rune it comes from.
func canonicalOffsets(dst []int32, s string) []int32 {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			j := asciiRunEnd(s, i)
			from := len(dst)
			dst = slices.Grow(dst, j-i)[:from+j-i]
			for k := i; k < j; k++ {
				dst[from+k-i] = int32(k)
			}
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		for range utf8.RuneLen(canonicalRune(r)) {
			dst = append(dst, int32(i))
		}
		i += size
	}
	return dst
}

func canonicalString(runes []rune) string {
	b := make([]byte, 0, len(runes))
	for _, r := range runes {
		b = utf8.AppendRune(b, canonicalRune(r))
	}
	return string(b)
}

// requiredLiterals returns canonical strings one of which every match of
// the pattern contains, or nil when there is no such set worth using.
func requiredLiterals(re *syntax.Regexp) []string {
	_, req := literalInfo(re)
	if len(req) == 0 {
		return nil
	}
	for _, l := range req {
		if len(l) < minLiteralBytes {
			return nil
		}
	}
	slices.Sort(req)
	return slices.Compact(req)
}

// literalInfo returns the exact set of strings re matches when that set is
// small and known (nil otherwise), and a set of strings one of which every
// match contains (nil when unknown). Strings are canonical.
func literalInfo(re *syntax.Regexp) (exact, req []string) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, nil
	case syntax.OpLiteral:
		s := canonicalString(re.Rune)
		return []string{s}, []string{s}
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
			if n > 2*maxProduct {
				return nil, nil
			}
		}
		if n == 0 {
			return nil, nil
		}
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				set = append(set, string(canonicalRune(r)))
			}
		}
		slices.Sort(set)
		set = slices.Compact(set)
		if len(set) > 8 {
			return nil, nil // a wide class: a literal set of it says little
		}
		return set, set
	case syntax.OpCapture:
		return literalInfo(re.Sub[0])
	case syntax.OpQuest:
		exact, _ := literalInfo(re.Sub[0])
		if exact == nil {
			return nil, nil
		}
		return append([]string{""}, exact...), nil
	case syntax.OpPlus:
		_, req := literalInfo(re.Sub[0])
		return nil, req
	case syntax.OpRepeat:
		if re.Min == 0 {
			return nil, nil
		}
		exact, req := literalInfo(re.Sub[0])
		if re.Min == 1 && re.Max == 1 {
			return exact, req
		}
		return nil, req
	case syntax.OpAlternate:
		exactOK, reqOK := true, true
		for _, sub := range re.Sub {
			e, r := literalInfo(sub)
			if e == nil || len(exact)+len(e) > maxLiterals {
				exactOK = false
			} else if exactOK {
				exact = append(exact, e...)
			}
			if r == nil && e != nil && !slices.Contains(e, "") {
				r = e
			}
			if r == nil {
				reqOK = false
			} else if reqOK {
				req = append(req, r...)
			}
		}
		if reqOK && len(req) > maxLiterals {
			req = shortenLiterals(req)
		}
		if !exactOK {
			exact = nil
		}
		if !reqOK || len(req) > maxLiterals {
			req = nil
		}
		return exact, req
	case syntax.OpConcat:
		var best []string
		consider := func(set []string) {
			if set == nil || slices.Contains(set, "") {
				return
			}
			if best == nil || literalScore(set) > literalScore(best) {
				best = set
			}
		}
		run := []string{""} // product of the exact subs since the last gap
		allExact := true
		for _, sub := range re.Sub {
			e, r := literalInfo(sub)
			consider(r)
			if e == nil {
				consider(run)
				run = []string{""}
				allExact = false
				continue
			}
			if len(run)*len(e) > maxProduct {
				consider(run)
				run = e
				allExact = false
				continue
			}
			product := make([]string, 0, len(run)*len(e))
			for _, a := range run {
				for _, b := range e {
					product = append(product, a+b)
				}
			}
			run = product
		}
		consider(run)
		if allExact {
			return run, best
		}
		return nil, best
	}
	return nil, nil
}

// shortenLiterals cuts every literal to a few runes, which still makes a
// required set (any part of a required literal is required), and a smaller
// one.
func shortenLiterals(set []string) []string {
	out := make([]string, 0, len(set))
	for _, s := range set {
		n, cut := 0, len(s)
		for i := range s {
			if n == 4 {
				cut = i
				break
			}
			n++
		}
		out = append(out, s[:cut])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// literalScore ranks literal sets: the longer their shortest literal, the
// rarer a hit; then the fewer literals, the better.
func literalScore(set []string) int {
	shortest := len(set[0])
	for _, s := range set {
		shortest = min(shortest, len(s))
	}
	return min(shortest, 8)*1000 - len(set)
}
