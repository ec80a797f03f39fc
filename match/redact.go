package match

import (
	"unicode"
	"unicode/utf8"
)

// keepDigits is how many trailing digits of a number stay readable after
// redaction: enough for a human to tell two leaked numbers apart, too few to
// identify anyone.
const keepDigits = 3

// RedactedEvidence returns the evidence safe to copy outward: for sensitive
// findings letters and digits are masked with '*', keeping separators and
// the last three digits of a number ("123456782" → "******782"); other
// evidence is returned unchanged.
func (f Finding) RedactedEvidence() string {
	if !f.Sensitive {
		return f.Evidence
	}
	mask := make([]bool, len(f.Evidence))
	markMasked(f.Evidence, 0, len(f.Evidence), mask)
	return applyMask(f.Evidence, mask)
}

// Redact returns s, the original string of the named field, with the span of
// every sensitive finding in that field masked like RedactedEvidence. Spans
// may overlap; spans that do not fit s (a finding for another version of the
// field) are masked as far as they fit.
func Redact(s string, field string, findings []Finding) string {
	var mask []bool
	for _, f := range findings {
		if !f.Sensitive || f.Field != field {
			continue
		}
		start, end := max(f.Start, 0), min(f.End, len(s))
		if start >= end {
			continue
		}
		if mask == nil {
			mask = make([]bool, len(s))
		}
		markMasked(s, start, end, mask)
	}
	if mask == nil {
		return s
	}
	return applyMask(s, mask)
}

// markMasked marks the letters and digits of s[start:end] to be masked. In
// a number-like span (more digits than letters) the last keepDigits digits
// stay visible.
func markMasked(s string, start, end int, mask []bool) {
	digits, letters := 0, 0
	for _, r := range s[start:end] {
		switch {
		case unicode.IsDigit(r):
			digits++
		case unicode.IsLetter(r):
			letters++
		}
	}
	keep := 0
	if digits > letters {
		keep = keepDigits
	}
	for i := end; i > start; {
		r, size := utf8.DecodeLastRuneInString(s[start:i])
		i -= size
		switch {
		case unicode.IsDigit(r) && keep > 0:
			keep--
		case unicode.IsDigit(r) || unicode.IsLetter(r):
			for j := i; j < i+size; j++ {
				mask[j] = true
			}
		}
	}
}

func applyMask(s string, mask []bool) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		if mask[i] {
			out = append(out, '*')
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}
