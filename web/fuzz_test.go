package web

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// FuzzLocalPath: whatever a login link or form says, the redirect after it
// stays on this site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/alerts/abc?x=1", "//evil.example", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
		"/%2F%2Fevil.example", "\t//evil.example", "/ok\r\nSet-Cookie: x=1", "/\t/evil.example", "/\x00/evil.example", "", "/search?q=%22UZ+Leuven%22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		clean := strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1 // as a browser drops tabs and newlines
			}
			return r
		}, got)
		if !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") || strings.HasPrefix(clean, "/\\") {
			t.Fatalf("localPath(%q) = %q: not a path on this site", next, got)
		}
		u, err := url.Parse(got)
		if err == nil && (u.Host != "" || u.Scheme != "") {
			t.Fatalf("localPath(%q) = %q parses with host %q scheme %q", next, got, u.Host, u.Scheme)
		}
	})
}

// FuzzParsePosition: a Last-Event-ID from the browser is read back exactly
// or refused.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"0-0", "12-7", "18446744073709551615-1", "-", "1-", "a-b", "1-2-3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parsePosition(s)
		if ok && p.String() != s && strings.TrimLeft(s, "0") == "" {
			return
		}
		if ok {
			again, ok2 := parsePosition(p.String())
			if !ok2 || again != p {
				t.Fatalf("parsePosition(%q) = %v does not round-trip", s, p)
			}
		}
	})
}
