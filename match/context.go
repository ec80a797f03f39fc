package match

import "unicode/utf8"

// contextSpan works out the stretch of folded text a rule's context words
// are looked for in, around the folded span [fs, fe): from the window-th
// word before the first word ending after fs to the window-th word after
// the last word starting before fe, clamped to the words there are. It
// also returns where the label window starts (labelWindow words before that
// first word) and whether there is any word before it. Only the words near
// the span are looked at, so the cost does not grow with the text.
func contextSpan(text string, fs, fe, window, labelWindow int) (lo, hi, labelLo int, wordBefore bool) {
	lo, hi = fs, fe

	// The first word ending after fs starts before fs when fs is inside it.
	firstStart, firstFound := fs, false
	if inWord(text, fs) {
		firstStart, firstFound = wordStartBefore(text, fs), true
	} else if s, ok := nextWordStart(text, fs); ok {
		firstStart, firstFound = s, true
	}
	// Words before the first one, nearest first.
	from := firstStart
	if !firstFound {
		from = fs
	}
	wantBack := max(window, labelWindow)
	var nth, labelNth int = -1, -1 // start of the window-th and labelWindow-th word back
	earliest, count := -1, 0
	for at := from; count < wantBack; {
		end, ok := prevWordEnd(text, at)
		if !ok {
			break
		}
		start := wordStartBefore(text, end)
		count++
		earliest = start
		if count == window {
			nth = start
		}
		if count == labelWindow {
			labelNth = start
		}
		at = start
	}
	wordBefore = count > 0
	// A window that reaches the first word reaches the start of the text:
	// what stands before the first word (an emoji, a quote) is context too.
	switch {
	case nth >= 0:
		if _, more := prevWordEnd(text, nth); more {
			lo = min(lo, nth)
		} else {
			lo = 0
		}
	default:
		lo = 0
	}
	if labelNth >= 0 {
		labelLo = labelNth
	} else {
		labelLo = earliest
	}

	// Words starting at or after fe, the first window of them.
	at := fe
	lastEnd, anyWord := -1, false
	if inWord(text, fe) {
		lastEnd, anyWord = wordEndAfter(text, fe), true
		at = lastEnd
	} else if end, ok := prevWordEnd(text, fe); ok {
		lastEnd, anyWord = end, true
	}
	reachedEnd := true
	for n := 0; n < window; n++ {
		start, ok := nextWordStart(text, at)
		if !ok {
			break
		}
		lastEnd, anyWord = wordEndAfter(text, start), true
		at = lastEnd
	}
	if _, more := nextWordStart(text, at); more {
		reachedEnd = false
	}
	// Likewise a window that reaches the last word reaches the end: a
	// closing 😂 belongs to the sentence it ends.
	switch {
	case reachedEnd:
		hi = len(text)
	case anyWord:
		hi = max(hi, lastEnd)
	}
	return lo, hi, labelLo, wordBefore
}

// inWord reports whether offset at falls between two word runes.
func inWord(text string, at int) bool {
	if at <= 0 || at >= len(text) {
		return false
	}
	if p, n := text[at-1], text[at]; p < utf8.RuneSelf && n < utf8.RuneSelf {
		return wordBytes[p] && wordBytes[n]
	}
	prev, _ := utf8.DecodeLastRuneInString(text[:at])
	next, _ := utf8.DecodeRuneInString(text[at:])
	return isWordRune(prev) && isWordRune(next)
}

// The helpers below read ASCII a byte at a time, where a word rune is a
// word byte, and decode runes only beyond ASCII.

// wordStartBefore returns where the word ending at (or running through) at
// starts.
func wordStartBefore(text string, at int) int {
	for at > 0 {
		if c := text[at-1]; c < utf8.RuneSelf {
			if !wordBytes[c] {
				break
			}
			at--
			continue
		}
		r, size := utf8.DecodeLastRuneInString(text[:at])
		if !isWordRune(r) {
			break
		}
		at -= size
	}
	return at
}

// wordEndAfter returns where the word starting at (or running through) at
// ends.
func wordEndAfter(text string, at int) int {
	for at < len(text) {
		if c := text[at]; c < utf8.RuneSelf {
			if !wordBytes[c] {
				break
			}
			at++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[at:])
		if !isWordRune(r) {
			break
		}
		at += size
	}
	return at
}

// nextWordStart returns the start of the first word starting at or after
// at, which must not be inside a word.
func nextWordStart(text string, at int) (int, bool) {
	for at < len(text) {
		if c := text[at]; c < utf8.RuneSelf {
			if wordBytes[c] {
				return at, true
			}
			at++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[at:])
		if isWordRune(r) {
			return at, true
		}
		at += size
	}
	return 0, false
}

// prevWordEnd returns the end of the last word ending at or before at,
// which must not be inside a word.
func prevWordEnd(text string, at int) (int, bool) {
	for at > 0 {
		if c := text[at-1]; c < utf8.RuneSelf {
			if wordBytes[c] {
				return at, true
			}
			at--
			continue
		}
		r, size := utf8.DecodeLastRuneInString(text[:at])
		if isWordRune(r) {
			return at, true
		}
		at -= size
	}
	return 0, false
}
