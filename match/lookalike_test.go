package match

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"
)

var lookalikeReasons = []string{
	LookalikeTypo, LookalikeAddedWords, LookalikeHyphenated, LookalikeOtherTLD,
	LookalikeHomoglyph, LookalikePunycodeHomoglyph, LookalikeInsideOtherDomain,
}

type lookalikeCases struct {
	Official []string `yaml:"official"`
	Hosts    []struct {
		Host     string `yaml:"host"`
		Official string `yaml:"official"`
		Reason   string `yaml:"reason"`
		Note     string `yaml:"note"`
	} `yaml:"hosts"`
}

func loadLookalikeYAML(tb testing.TB, name string, v any) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "lookalike", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
}

func TestLookalikeDomain(t *testing.T) {
	var cases lookalikeCases
	loadLookalikeYAML(t, "hosts.yaml", &cases)
	if len(cases.Hosts) < 40 {
		t.Fatalf("hosts.yaml holds %d hosts, want at least 40", len(cases.Hosts))
	}
	seen := map[string]bool{}
	for _, c := range cases.Hosts {
		got, ok := LookalikeDomain(c.Host, cases.Official)
		switch {
		case c.Reason == "" && ok:
			t.Errorf("LookalikeDomain(%q) = %+v, want no lookalike (%s)", c.Host, got, c.Note)
		case c.Reason != "" && !ok:
			t.Errorf("LookalikeDomain(%q) reports nothing, want %q of %s (%s)", c.Host, c.Reason, c.Official, c.Note)
		case c.Reason != "" && (got.Reason != c.Reason || got.Official != c.Official):
			t.Errorf("LookalikeDomain(%q) = %q of %s, want %q of %s (%s)", c.Host, got.Reason, got.Official, c.Reason, c.Official, c.Note)
		}
		if c.Reason != "" {
			if !slices.Contains(lookalikeReasons, c.Reason) {
				t.Errorf("hosts.yaml: %q expects unknown reason %q", c.Host, c.Reason)
			}
			seen[c.Reason] = true
		}
	}
	for _, r := range lookalikeReasons {
		if !seen[r] {
			t.Errorf("hosts.yaml has no case for reason %q", r)
		}
	}
}

// TestLookalikeDomainHost checks the cleaned host the verdict reports.
func TestLookalikeDomainHost(t *testing.T) {
	official := []string{"umcutrecht.nl", "uzleuven.be"}
	tests := []struct{ in, host string }{
		{"UMCUTRECHT.COM.", "umcutrecht.com"},
		{"https://jan:x@umc-utrecht.nl:8443/a?b#c", "umc-utrecht.nl"},
		{"  uzleuven.nl  ", "uzleuven.nl"},
		{"XN--UZLUVEN-9GG.BE", "xn--uzluven-9gg.be"},
	}
	for _, tt := range tests {
		got, ok := LookalikeDomain(tt.in, official)
		if !ok || got.Host != tt.host {
			t.Errorf("LookalikeDomain(%q) = %+v, %v; want host %q", tt.in, got, ok, tt.host)
		}
	}
}

// TestLookalikeDomainOfficials covers how the official list itself is read:
// spelled loosely, in any order, with junk among it.
func TestLookalikeDomainOfficials(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		official []string
		want     string // reason, "" for none
		wantOf   string
	}{
		{"no officials", "umcutrecht.com", nil, "", ""},
		{"official spelled as URL", "umcutrecht.com", []string{"https://www.UMCUtrecht.nl/"}, LookalikeOtherTLD, "www.umcutrecht.nl"},
		{"junk skipped", "umcutrecht.com", []string{"", "::", "umcutrecht.nl"}, LookalikeOtherTLD, "umcutrecht.nl"},
		{"subdomain of a later official", "umcutrecht.wkz.nl", []string{"umcutrecht.nl", "wkz.nl"}, "", ""},
		{"same registrable domain as an official subdomain", "www.umcutrecht.nl", []string{"nieuws.umcutrecht.nl"}, "", ""},
		{"official public suffix covers its names", "anything.nl", []string{"nl"}, "", ""},
		{"stronger reason wins across officials", "uzleuven.nl", []string{"uzleuvem.be", "uzleuven.be"}, LookalikeOtherTLD, "uzleuven.be"},
		{"first official wins a tie", "wkz-umcutrecht.nl", []string{"wkz.nl", "umcutrecht.nl"}, LookalikeAddedWords, "wkz.nl"},
	}
	for _, tt := range tests {
		got, ok := LookalikeDomain(tt.host, tt.official)
		if tt.want == "" {
			if ok {
				t.Errorf("%s: LookalikeDomain(%q, %q) = %+v, want none", tt.name, tt.host, tt.official, got)
			}
			continue
		}
		if !ok || got.Reason != tt.want || got.Official != tt.wantOf {
			t.Errorf("%s: LookalikeDomain(%q, %q) = %+v, %v; want %q of %s", tt.name, tt.host, tt.official, got, ok, tt.want, tt.wantOf)
		}
	}
}

func TestOSADistance(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"umcutrecht", "umcutrecht", 2, 0},
		{"umcutrecht", "umcutercht", 2, 1}, // transposition
		{"umcutrecht", "umcutreht", 2, 1},
		{"uzleuven", "kuleuven", 5, 2},
		{"ca", "abc", 5, 3}, // optimal string alignment: no edits inside a transposed pair
		{"", "abc", 5, 3},
		{"abc", "", 1, 2}, // beyond the limit: limit+1
		{"umcutrecht", "hetutrechtsarchief", 2, 3},
		{"крокодил", "крокодл", 1, 1},
	}
	for _, tt := range tests {
		if got := osaDistance([]rune(tt.a), []rune(tt.b), tt.limit); got != tt.want {
			t.Errorf("osaDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}

type hostPost struct {
	Text  string   `yaml:"text"`
	Hosts []string `yaml:"hosts"`
}

func TestFindHosts(t *testing.T) {
	var posts []hostPost
	loadLookalikeYAML(t, "posts.yaml", &posts)
	for _, p := range posts {
		spans := FindHosts(p.Text)
		got := make([]string, 0, len(spans))
		for _, sp := range spans {
			got = append(got, p.Text[sp[0]:sp[1]])
		}
		if !slices.Equal(got, p.Hosts) {
			t.Errorf("FindHosts(%q)\n got %q\nwant %q", p.Text, got, p.Hosts)
		}
	}
}

// TestFindHostsLookalikes runs the two together as the logo_misuse check
// does: hosts found in a post, judged against the official domains.
func TestFindHostsLookalikes(t *testing.T) {
	official := []string{"umcutrecht.nl", "wkz.nl", "uzleuven.be"}
	text := "Beste ouders, het WKZ verhuist naar https://wkz-ouders.nl/inschrijven (zie ook " +
		"www.umcutrecht.nl en mail vragen naar info@umcutrecht.nl). Betalen via umcutrecht.nl.secure-pay.com, " +
		"of kijk op uzleuven.be."
	var got []string
	for _, sp := range FindHosts(text) {
		if v, ok := LookalikeDomain(text[sp[0]:sp[1]], official); ok {
			got = append(got, v.Host+" "+v.Reason)
		}
	}
	want := []string{"wkz-ouders.nl added words", "umcutrecht.nl.secure-pay.com official name inside another domain"}
	if !slices.Equal(got, want) {
		t.Errorf("lookalikes in post = %q, want %q", got, want)
	}
}

// hostLike is an independent check of what a span may hold: labels of
// letters, digits, marks and inner hyphens.
func hostLike(s string) bool {
	if s == "" {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.M, r) {
				return false
			}
		}
	}
	return true
}

func FuzzFindHosts(f *testing.F) {
	var posts []hostPost
	loadLookalikeYAML(f, "posts.yaml", &posts)
	for _, p := range posts {
		f.Add(p.Text)
	}
	f.Add("a@b.nl.c@d.nl https://@/ :// x://.. \xff.nl umcutrecht.nl\xff")
	f.Fuzz(func(t *testing.T, s string) {
		prevEnd := 0
		for _, sp := range FindHosts(s) {
			if sp[0] < prevEnd || sp[0] >= sp[1] || sp[1] > len(s) {
				t.Fatalf("FindHosts(%q): span %v out of order or bounds (previous ended at %d)", s, sp, prevEnd)
			}
			prevEnd = sp[1]
			host := s[sp[0]:sp[1]]
			if !hostLike(host) {
				t.Fatalf("FindHosts(%q): span %v = %q is not a host name", s, sp, host)
			}
			// A host found anywhere is found whole as a URL's host.
			url := "https://" + host + "/"
			if again := FindHosts(url); len(again) != 1 || again[0] != [2]int{8, 8 + len(host)} {
				t.Fatalf("FindHosts(%q) = %v, want the host %q whole", url, again, host)
			}
		}
	})
}

func FuzzLookalikeDomain(f *testing.F) {
	var cases lookalikeCases
	loadLookalikeYAML(f, "hosts.yaml", &cases)
	for _, c := range cases.Hosts {
		f.Add(c.Host, "umcutrecht.nl")
	}
	f.Add("xn--", "xn--")
	f.Add("xn--zz.nl", "uzleuven.be")
	f.Add("a.b", "b")
	f.Add("mCtreCht.A.", "")
	f.Fuzz(func(t *testing.T, host, official string) {
		officials := []string{official, "umcutrecht.nl", "wkz.nl"}
		if v, ok := LookalikeDomain(host, officials); ok {
			if !slices.Contains(lookalikeReasons, v.Reason) {
				t.Fatalf("LookalikeDomain(%q, %q): unknown reason %q", host, officials, v.Reason)
			}
			if v.Host == "" || v.Official == "" {
				t.Fatalf("LookalikeDomain(%q, %q) = %+v: empty host or official", host, officials, v)
			}
		}
		// Fuzzed text as subdomain labels; a '/' or '@' in it would change
		// which part is the host, so keep only label characters and dots.
		sub := strings.Map(func(r rune) rune {
			if r == '.' || isHostLabelRune(r) {
				return r
			}
			return -1
		}, host)
		for _, o := range officials {
			if _, ok := parseHostName(o); !ok {
				continue // junk in the list names no domain to protect
			}
			variants := []string{o, o + ".", "www." + o, sub + "." + o, "https://" + o + ":443/x"}
			if allASCII(o) {
				variants = append(variants, strings.ToUpper(o))
			}
			for _, h := range variants {
				if v, ok := LookalikeDomain(h, officials); ok {
					t.Fatalf("LookalikeDomain(%q, %q) = %+v: an official domain or subdomain", h, officials, v)
				}
			}
		}
	})
}

func BenchmarkLookalikeDomain(b *testing.B) {
	var cases lookalikeCases
	loadLookalikeYAML(b, "hosts.yaml", &cases)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases.Hosts {
			LookalikeDomain(c.Host, cases.Official)
		}
	}
}

func BenchmarkFindHosts(b *testing.B) {
	var posts []hostPost
	loadLookalikeYAML(b, "posts.yaml", &posts)
	var text strings.Builder
	for _, p := range posts {
		text.WriteString(p.Text)
		text.WriteString("\n")
	}
	s := text.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		FindHosts(s)
	}
}
