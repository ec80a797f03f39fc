package match

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// beCheck computes the check digits of a Belgian number from its first nine
// digits, the way the register does: 97 − (n mod 97), with a "2" prefixed for
// people born in 2000 or later.
func beCheck(first9 string, born2000 bool) string {
	if born2000 {
		first9 = "2" + first9
	}
	n, _ := strconv.ParseInt(first9, 10, 64)
	return fmt.Sprintf("%02d", 97-n%97)
}

func TestValidBSN(t *testing.T) {
	tests := []struct {
		digits string
		want   bool
	}{
		{"111222333", true},
		{"123456782", true},
		{"944117715", true},
		{"853194130", true},
		{"123456789", false}, // 11-check fails
		{"111222334", false},
		{"000000000", false}, // passes the arithmetic, never issued
		{"11122233", false},  // too short
		{"1112223330", false},
		{"11122233a", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidBSN(tt.digits); got != tt.want {
			t.Errorf("ValidBSN(%q) = %v, want %v", tt.digits, got, tt.want)
		}
	}
}

func TestValidBelgianNN(t *testing.T) {
	tests := []struct {
		name   string
		digits string
		want   bool
	}{
		{"born 1985", "850730033" + beCheck("850730033", false), true},
		{"documented example", "85073003328", true},
		{"born 2005 uses the 2000 rule", "050312123" + beCheck("050312123", true), true},
		{"29 February 2000 exists", "000229123" + beCheck("000229123", true), true},
		{"29 February 1900 does not exist", "000229123" + beCheck("000229123", false), false},
		{"29 February 2012", "120229457" + beCheck("120229457", true), true},
		{"29 February 2001 does not exist", "010229457" + beCheck("010229457", true), false},
		{"29 February 1990 does not exist", "900229457" + beCheck("900229457", false), false},
		{"bis number, month + 40", "854730033" + beCheck("854730033", false), true},
		{"bis number, month + 20", "852730033" + beCheck("852730033", false), true},
		{"unknown birth date", "850000033" + beCheck("850000033", false), true},
		{"month 13", "851330033" + beCheck("851330033", false), false},
		{"day 32", "850732033" + beCheck("850732033", false), false},
		{"31 April", "850431033" + beCheck("850431033", false), false},
		{"sequence 000", "850730000" + beCheck("850730000", false), false},
		{"wrong check", "85073003329", false},
		{"too short", "8507300332", false},
		{"letters", "8507300332a", false},
	}
	for _, tt := range tests {
		if got := ValidBelgianNN(tt.digits); got != tt.want {
			t.Errorf("%s: ValidBelgianNN(%q) = %v, want %v", tt.name, tt.digits, got, tt.want)
		}
	}
}

func TestFindBSNs(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"bsn 111222333.", []string{"111222333"}},
		{"BSN: 111.222.333 en 123 456 782", []string{"111.222.333", "123 456 782"}},
		{"bsn 1112.22.333", []string{"1112.22.333"}},
		{"bsn 111-222-333", []string{"111-222-333"}},
		{"nummer 123456789", nil},                   // fails the 11-check
		{"dossier 1112223334", nil},                 // ten digits: not cut down to nine
		{"ref 5111222333", nil},                     // valid BSN inside a longer run
		{"tel 06 111 222 333", nil},                 // grouped with the digits before it
		{"tel 06 111222333", []string{"111222333"}}, // a whole nine-digit group stands alone; rules weigh the context
		{"bsn 111222333 06-12345678", []string{"111222333"}},
		{"rijksregister 85.07.30-033.28", nil}, // Belgian number, eleven digits
		{"bsn 11.1222.333", nil},               // not a way BSNs are written
		{"", nil},
	}
	for _, tt := range tests {
		if got := FindBSNs(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("FindBSNs(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestFindBelgianNNs(t *testing.T) {
	y2k := "05.03.12-123." + beCheck("050312123", true)
	tests := []struct {
		text string
		want []string
	}{
		{"INSZ 85.07.30-033.28", []string{"85.07.30-033.28"}},
		{"nr 85073003328, 850730 033 28 en 850730-03328", []string{"85073003328", "850730 033 28", "850730-03328"}},
		{"geboren 2005: " + y2k, []string{y2k}},
		{"85.07.30-033.29", nil},
		{"BE 0850730033281", nil}, // part of a longer run
		{"bsn 111222333", nil},
	}
	for _, tt := range tests {
		if got := FindBelgianNNs(tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("FindBelgianNNs(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestValidIBAN(t *testing.T) {
	tests := []struct {
		iban string
		want bool
	}{
		{"NL91ABNA0417164300", true},
		{"NL91 ABNA 0417 1643 00", true},
		{"BE68539007547034", true},
		{"NL91ABNA0417164301", false},
		{"NL9XABNA0417164300", false},
		{"NL91", false},
	}
	for _, tt := range tests {
		if got := validIBAN(tt.iban); got != tt.want {
			t.Errorf("validIBAN(%q) = %v, want %v", tt.iban, got, tt.want)
		}
	}
	if got := substrings("IBAN NL91 ABNA 0417 1643 00 graag", findIBANSpans("IBAN NL91 ABNA 0417 1643 00 graag")); !slices.Equal(got, []string{"NL91 ABNA 0417 1643 00"}) {
		t.Errorf("findIBANSpans = %q", got)
	}
}

// bsnByDefinition is the 11-check as the Dutch government states it,
// written independently of ValidBSN: 9·d1 + 8·d2 + … + 2·d8 − 1·d9 is a
// multiple of 11, and the number is not all zeros.
func bsnByDefinition(s string) bool {
	if len(s) != 9 || strings.Trim(s, "0123456789") != "" || s == "000000000" {
		return false
	}
	sum := 0
	for i := range 8 {
		sum += int(s[i]-'0') * (9 - i)
	}
	sum -= int(s[8] - '0')
	return sum%11 == 0
}

// FuzzValidators checks ValidBSN against the definition above, that
// ValidBelgianNN never accepts check digits that fail both rules (beCheck),
// and the finders against the validators, on any input.
func FuzzValidators(f *testing.F) {
	for _, seed := range []string{"111222333", "123456782", "85073003328", "05031212360", "bsn 111.222.333, rr 85.07.30-033.28", "000000000", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidBSN(s), bsnByDefinition(s); got != want {
			t.Errorf("ValidBSN(%q) = %v, by definition %v", s, got, want)
		}
		if ValidBelgianNN(s) {
			if len(s) != 11 || strings.Trim(s, "0123456789") != "" || beCheck(s[:9], false) != s[9:] && beCheck(s[:9], true) != s[9:] {
				t.Errorf("ValidBelgianNN(%q) accepts a number whose check digits fail both rules", s)
			}
		}
		for _, n := range FindBSNs(s) {
			if !ValidBSN(onlyDigits(n)) {
				t.Errorf("FindBSNs(%q) returned %q, which fails the 11-check", s, n)
			}
		}
		for _, n := range FindBelgianNNs(s) {
			if !ValidBelgianNN(onlyDigits(n)) {
				t.Errorf("FindBelgianNNs(%q) returned %q, which fails the check", s, n)
			}
		}
	})
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
