package match

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

// patternCases are expressions with the features the start analysis must
// get right: case folding beyond ASCII (K and the Kelvin sign, s and ſ),
// assertions at the start, alternations of many literals, classes,
// repetitions, and expressions it must leave to the regexp engine.
var patternCases = []string{
	`(?i)\b(?:kamer|kamernummer|bed|bednummer|box|room)\s*(?:nr\.?\s*|nummer\s*)?\d{1,4}[a-z]?\b(?:\s+(?:op|van|on|in)\s+(?:de\s+|the\s+)?[a-z]{1,3}\s?\d{1,2}\b)?`,
	`\b\d{5}\b`,
	`(?i)\bfans? van (?:het )?(?:UMC Utrecht|WKZ)`,
	`(?m)^kamer \d+`,
	`(?i)straße\s+\d`,
	`\Bed\d`,
	`x*y`,
	`(?i)k\w+`,
	`(?s)ka.{0,5}er`,
	`(?i)\bé\w*`,
	`[kK]amer$`,
	`(?i)ſ\w`,
	`\x{FFFD}+\w`,
	`[^a-z ]+`,
	`\b\w+\b`,
	`(?U)k.+r`,
	`(?i)(?:bsn|insz)[: ]*\d+`,
	`(?i)(?:\b(?:filmpje?s?|\w*vlogs?|video(?:'s)?)\b|🎥)`,
	`\((?i:zonder|without) \p{Lu}\p{L}+\)`,
	`(?i)(?:=|\bis|\bzijn)\s+(?:gewoon\s+)*(?:vuilbak|zoo)\b`,
	`\b(?i:mevrouw|mevr\.?|dhr\.?)\s+\p{Lu}(?:\.|[\p{Ll}'’-]+)`,
	`a|b|`,
	`\b`,
	`(?i)\bbed\s+\d{1,2}\b(?:\s+op\s+[a-z]\d)?`,
	`(?i)(?:geboren|born)[^.]{0,8}?\b\d{4}\b`,
}

var patternTexts = []string{
	"Patiënt op Kamer 12 op C4, bed 3 en ROOM 7 in the ward; Tweede Kamer 150; bed12; kamernummer 4b",
	"kamer 12\nkamer 13 KAMER 14 \u212Aamer 15 (Kelvin sign) ſtraße 1 STRASSE 2 Straße 3",
	"Fans van het UMC Utrecht! fans van WKZ, fan van het wkz",
	"bed1 abed2 Bed3 ed4 xxy y xy é\u0301tude Étude É ka12345er",
	"\xff\xfe vlog vlogs mijnvlog video's 🎥 (zonder Jan) (without mary) (zonder Émile)",
	"het is gewoon gewoon vuilbak = zoo zijn zoo dhr. Peeters mevr Van Dam Mevrouw Élise",
	"insz: 85073003328 BSN 111222333 12345 123456 1234",
	"bed  \t 12    op\n\n\n   c4 en BED 3\r\nop d5, bed 45 op       e6; geboren     in 1984, born 2001",
	"",
}

func TestPatternFindAllAsRegexp(t *testing.T) {
	for _, expr := range patternCases {
		p, err := compilePattern(expr)
		if err != nil {
			t.Fatalf("compilePattern(%q): %v", expr, err)
		}
		for _, text := range patternTexts {
			checkPattern(t, p, expr, text)
		}
	}
}

// checkPattern compares findAll with FindAllStringIndex and checks that
// every match contains a required literal.
func checkPattern(t *testing.T, p *pattern, expr, text string) {
	t.Helper()
	var rd strings.Reader
	got := p.findAll(text, longestSpaceRun(text), &rd, nil, nil)
	if p.prefixList != nil {
		// The way Match runs it: starts from an automaton of the prefixes.
		set := &phraseSet{ids: map[string]int{}, anywhere: true}
		for _, prefix := range p.prefixList {
			set.add(prefix)
		}
		set.build()
		canonical := string(appendCanonical(nil, text))
		offsets := canonicalOffsets(nil, text)
		var starts []int32
		for _, h := range set.scan(canonical, nil) {
			starts = append(starts, offsets[h.start])
		}
		slices.Sort(starts)
		starts = slices.Compact(starts)
		if starts == nil {
			starts = []int32{}
		}
		if at := p.findAll(text, longestSpaceRun(text), &rd, starts, nil); !slices.Equal(at, got) {
			t.Errorf("pattern %q in %q: from starts %v, by itself %v", expr, text, at, got)
		}
	}
	var want []span
	for _, loc := range regexp.MustCompile(expr).FindAllStringIndex(text, -1) {
		want = append(want, span{loc[0], loc[1]})
	}
	if !slices.Equal(got, want) {
		t.Errorf("pattern %q in %q:\n findAll %v\n regexp  %v", expr, text, got, want)
	}
	if p.literals == nil {
		return
	}
	for _, m := range want {
		canonical := string(appendCanonical(nil, text[m.start:m.end]))
		if !slices.ContainsFunc(p.literals, func(l string) bool { return strings.Contains(canonical, l) }) {
			t.Errorf("pattern %q: match %q contains none of the literals %q", expr, text[m.start:m.end], p.literals)
		}
	}
}

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		expr string
		want []string // nil: no usable set
	}{
		{`(?i)\bkamer\s*\d+`, []string{"kamer"}},
		{`(?i)\b(?:kamer|bed)\s*\d+`, []string{"bed", "kamer"}},
		{`(?i)pati[eë]nt`, []string{"patient", "patiënt"}},
		{`\d+ jaar`, []string{" jaar"}},
		{`(?i)\w*vlogs?`, []string{"vlog"}},
		{`x*y`, nil},
		{`\b\w+\b`, nil},
		{`a|b`, nil}, // one byte is too short to be worth a lookup
		{`(?i)KELVIN`, []string{"kelvin"}},
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.literals, tt.want) {
			t.Errorf("requiredLiterals(%q) = %q, want %q", tt.expr, p.literals, tt.want)
		}
	}
}

func TestCanonicalRune(t *testing.T) {
	tests := []struct{ in, want rune }{
		{'K', 'k'}, {'k', 'k'}, {'\u212A', 'k'}, {'S', 's'}, {'ſ', 's'}, {'É', 'é'}, {'é', 'é'}, {'ß', 'ß'}, {'1', '1'}, {'🎥', '🎥'},
	}
	for _, tt := range tests {
		if got := canonicalRune(tt.in); got != tt.want {
			t.Errorf("canonicalRune(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzPattern(f *testing.F) {
	for i, expr := range patternCases {
		f.Add(expr, patternTexts[i%len(patternTexts)])
	}
	f.Fuzz(func(t *testing.T, expr, text string) {
		if len(expr) > 200 {
			return
		}
		p, err := compilePattern(expr)
		if err != nil {
			return
		}
		checkPattern(t, p, expr, text)
	})
}

func TestMaxMatchLen(t *testing.T) {
	tests := []struct {
		expr      string
		fixed     int
		spaceRuns int
		bounded   bool
	}{
		{`abc`, 3, 0, true},
		{`(?i)k`, 3, 0, true}, // the Kelvin sign is three bytes
		{`\d{1,4}`, 4, 0, true},
		{`kamer\s*\d+`, 0, 0, false},
		{`kamer\s*\d{1,3}`, 8, 1, true},
		{`(?:a\s+b|ccc)\s?d`, 5, 1, true},
		{`(?:\s+x){2}`, 2, 2, true},
		{`é.`, 6, 0, true},
		{`\w*vlog`, 0, 0, false},
		{`[\t ]*x`, 1, 1, true},
		{`[\t a]*x`, 0, 0, false},
	}
	for _, tt := range tests {
		tree, err := syntax.Parse(tt.expr, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got := maxMatchLen(tree.Simplify())
		want := matchLen{fixed: tt.fixed, spaceRuns: tt.spaceRuns, bounded: tt.bounded}
		if !tt.bounded {
			want = matchLen{}
		}
		if got != want {
			t.Errorf("maxMatchLen(%q) = %+v, want %+v", tt.expr, got, want)
		}
	}
}
