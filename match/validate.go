package match

import (
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Validator names a rule may use to confirm that a matched number is real.
const (
	ValidatorBSN  = "bsn"
	ValidatorBeNN = "be_nn"
	ValidatorIBAN = "iban"
)

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// ValidBSN reports whether digits is a Dutch citizen service number: nine
// digits passing the 11-check (9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 mod 11). The
// all-zero number passes the arithmetic but is never issued.
func ValidBSN(digits string) bool { return validBSN(digits) }

func validBSN[T string | []byte](digits T) bool {
	if len(digits) != 9 {
		return false
	}
	sum, zero := 0, true
	for i := 0; i < 9; i++ {
		c := digits[i]
		if !isDigit(c) {
			return false
		}
		d := int(c - '0')
		if d != 0 {
			zero = false
		}
		if i == 8 {
			sum -= d
		} else {
			sum += (9 - i) * d
		}
	}
	return !zero && sum%11 == 0
}

// ValidBelgianNN reports whether digits is a Belgian national register number
// (or a BIS number): YYMMDD, a 3-digit sequence and a 2-digit check that is
// 97 − (first nine digits mod 97), where people born in 2000 or later get a
// "2" prefixed before taking the modulus. The birth date must be plausible
// for the century the check selects; BIS numbers add 20 or 40 to the month,
// and month or day 00 stands for an unknown date.
func ValidBelgianNN(digits string) bool { return validBelgianNN(digits) }

func validBelgianNN[T string | []byte](digits T) bool {
	if len(digits) != 11 {
		return false
	}
	n := 0
	for i := 0; i < 11; i++ {
		if !isDigit(digits[i]) {
			return false
		}
		if i < 9 {
			n = n*10 + int(digits[i]-'0')
		}
	}
	check := int(digits[9]-'0')*10 + int(digits[10]-'0')
	seq := n % 1000
	if seq == 0 || seq == 999 {
		return false
	}
	yy := int(digits[0]-'0')*10 + int(digits[1]-'0')
	if 97-n%97 == check && plausibleDate(1900+yy, digits) {
		return true
	}
	return 97-(2_000_000_000+n)%97 == check && plausibleDate(2000+yy, digits)
}

func plausibleDate[T string | []byte](year int, digits T) bool {
	month := int(digits[2]-'0')*10 + int(digits[3]-'0')
	day := int(digits[4]-'0')*10 + int(digits[5]-'0')
	switch {
	case month >= 40:
		month -= 40
	case month >= 20:
		month -= 20
	}
	if month > 12 || day > 31 {
		return false
	}
	if month == 0 || day == 0 {
		return true
	}
	return day <= daysIn(year, month)
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validIBAN checks an IBAN (spaces removed, upper case): two letters, two
// check digits, then the account; the rearranged number mod 97 must be 1.
func validIBAN(s string) bool {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		isLetter := 'A' <= c && c <= 'Z'
		if (i < 2 && !isLetter) || (i >= 2 && i < 4 && !isDigit(c)) || (!isLetter && !isDigit(c)) {
			return false
		}
	}
	var num strings.Builder
	for _, c := range []byte(s[4:] + s[:4]) {
		if isDigit(c) {
			num.WriteByte(c)
		} else {
			num.WriteString(strconv.Itoa(int(c-'A') + 10))
		}
	}
	v, ok := new(big.Int).SetString(num.String(), 10)
	return ok && new(big.Int).Mod(v, big.NewInt(97)).Int64() == 1
}

// digitChain is a run of digit groups joined by single separators, such as
// "123.456.782" or "85.07.30-033.28": the unit in which a number is written.
// Only the first maxChainGroups groups and maxChainDigits digits are kept:
// no number a validator looks for is longer.
type digitChain struct {
	start, end int
	ngroups    int
	groups     [maxChainGroups]int // length of each digit group
	ndigits    int
	digits     [maxChainDigits]byte
}

const (
	maxChainGroups = 5
	maxChainDigits = 11
)

// shapeIs reports whether the chain's groups have exactly the lengths given.
func (c *digitChain) shapeIs(shape []int) bool {
	return c.ngroups == len(shape) && slices.Equal(c.groups[:c.ngroups], shape)
}

// maxSpacedGroup is the longest digit group that a space joins to its
// neighbour: numbers are written "123 456 782" or "850730 033 28", while a
// space after a complete nine-digit number ends it ("bsn 111222333 06-…").
const maxSpacedGroup = 6

func spacedGroupLen(s string, i int) int {
	n := 0
	for i+n < len(s) && isDigit(s[i+n]) {
		n++
	}
	return n
}

func isGroupSeparator(c byte) bool { return c == '.' || c == ' ' || c == '-' }

// eachDigitChain calls yield with every chain of s in order. A number is
// only ever taken whole, so a nine-digit window cut out of a longer phone
// or tracking number is never a candidate.
func eachDigitChain(s string, yield func(*digitChain)) {
	var c digitChain
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		c.start, c.ngroups, c.ndigits = i, 0, 0
		for {
			g := i
			for i < len(s) && isDigit(s[i]) {
				if c.ndigits < maxChainDigits {
					c.digits[c.ndigits] = s[i]
				}
				c.ndigits++
				i++
			}
			if c.ngroups < maxChainGroups {
				c.groups[c.ngroups] = i - g
			}
			c.ngroups++
			if i+1 < len(s) && isGroupSeparator(s[i]) && isDigit(s[i+1]) &&
				(s[i] != ' ' || (i-g <= maxSpacedGroup && spacedGroupLen(s, i+1) <= maxSpacedGroup)) {
				i++
				continue
			}
			break
		}
		c.end = i
		yield(&c)
	}
}

// How people write the numbers: 123456782, 123.456.782, 1234.56.782;
// 85073003328, 85.07.30-033.28, 850730-033-28, 850730-03328.
var (
	bsnShapes  = [][]int{{9}, {3, 3, 3}, {4, 2, 3}}
	beNNShapes = [][]int{{11}, {2, 2, 2, 3, 2}, {6, 3, 2}, {6, 5}}
)

// findChainSpans returns the chains that have nine (or eleven) digits in
// one of the shapes and pass the check.
func findChainSpans(s string, ndigits int, shapes [][]int, valid func([]byte) bool) [][2]int {
	var spans [][2]int
	eachDigitChain(s, func(c *digitChain) {
		if c.ndigits == ndigits && slices.ContainsFunc(shapes, c.shapeIs) && valid(c.digits[:ndigits]) {
			spans = append(spans, [2]int{c.start, c.end})
		}
	})
	return spans
}

// ibanPattern finds IBAN-shaped strings, compact or in groups of four.
var ibanPattern = regexp.MustCompile(`\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b`)

func findBSNSpans(s string) [][2]int {
	return findChainSpans(s, 9, bsnShapes, validBSN[[]byte])
}

func findBeNNSpans(s string) [][2]int {
	return findChainSpans(s, 11, beNNShapes, validBelgianNN[[]byte])
}

func findIBANSpans(s string) [][2]int {
	var spans [][2]int
	for _, loc := range ibanPattern.FindAllStringIndex(s, -1) {
		if validIBAN(s[loc[0]:loc[1]]) {
			spans = append(spans, [2]int{loc[0], loc[1]})
		}
	}
	return spans
}

func substrings(s string, spans [][2]int) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, s[sp[0]:sp[1]])
	}
	return out
}

// FindBSNs returns every valid BSN in s as written (with its dots or spaces),
// in order of appearance. Numbers that are part of a longer digit run are
// skipped.
func FindBSNs(s string) []string { return substrings(s, findBSNSpans(s)) }

// FindBelgianNNs returns every valid Belgian national register or BIS number
// in s as written (85.07.30-033.28, 85073003328), in order of appearance.
func FindBelgianNNs(s string) []string { return substrings(s, findBeNNSpans(s)) }

// validatorMinDigits is how many digits a field needs at the least to
// hold a number of the validator's kind.
func validatorMinDigits(name string) int {
	switch name {
	case ValidatorBSN:
		return 9
	case ValidatorBeNN:
		return 11
	case ValidatorIBAN:
		return 2
	}
	return 0
}

// validatorFinders find every valid number of their kind in a string.
func validatorFinder(name string) func(string) [][2]int {
	switch name {
	case ValidatorBSN:
		return findBSNSpans
	case ValidatorBeNN:
		return findBeNNSpans
	case ValidatorIBAN:
		return findIBANSpans
	}
	return nil
}

// validSpan reports whether s[start:end], matched by a rule's pattern, holds
// a valid number of the validator's kind, taken whole.
func validSpan(validator, s string, start, end int) bool {
	for _, sp := range validatorFinder(validator)(s) {
		if sp[0] >= start && sp[1] <= end {
			return true
		}
	}
	return false
}
