package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/mediawatch/mediawatch/web/i18n"
)

var (
	// In templates: .P.T "msg", $p.P.T "msg", .P.N "one" "other".
	templateT = regexp.MustCompile(`\.T\s+"((?:[^"\\]|\\.)*)"`)
	templateN = regexp.MustCompile(`\.N\s+"((?:[^"\\]|\\.)*)"\s+"((?:[^"\\]|\\.)*)"`)
	// In Go: the English texts handlers pass to pages, which translate
	// them: failure messages, errors shown on a page, labels and titles.
	goMessages = []*regexp.Regexp{
		regexp.MustCompile(`s\.failure\(w, r, [^,]+, "((?:[^"\\]|\\.)*)"\)`),
		regexp.MustCompile(`(?:Error|PostError|msg)\s*:?=\s*"((?:[^"\\]|\\.)*)"`),
		regexp.MustCompile(`Error: "((?:[^"\\]|\\.)*)"`),
		regexp.MustCompile(`renderAlert\([^"]*"", "((?:[^"\\]|\\.)+)"\)`),
		regexp.MustCompile(`Label: "((?:[^"\\]|\\.)*)"`),
		regexp.MustCompile(`s\.render\(w, r, [^,]+, "[a-z]+\.html", "((?:[^"\\]|\\.)*)"`),
		regexp.MustCompile(`\{"[^"]*", "((?:[^"\\]|\\.)*)", (?:time|func|"|\d)`),
	}
)

// dashboardMessages collects every English text the dashboard shows
// through the printer.
func dashboardMessages(t *testing.T) []string {
	t.Helper()
	var msgs []string
	add := func(raw string) {
		s, err := strconv.Unquote(`"` + raw + `"`)
		if err != nil {
			t.Fatalf("message %q: %v", raw, err)
		}
		if s != "" && !slices.Contains(msgs, s) {
			msgs = append(msgs, s)
		}
	}
	err := fs.WalkDir(assets, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		for _, m := range templateT.FindAllStringSubmatch(string(b), -1) {
			add(m[1])
		}
		for _, m := range templateN.FindAllStringSubmatch(string(b), -1) {
			add(m[1])
			add(m[2])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range goMessages {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				add(m[1])
			}
		}
	}
	// Values shown through label: statuses, categories, severities; and
	// the audit log's kinds.
	for _, v := range triage.Statuses {
		add(statusLabel(v))
	}
	for _, v := range append(slices.Clone(match.Categories), alerts.CategoryVolumeSpike) {
		add(statusLabel(v))
	}
	for _, v := range match.Severities {
		add(statusLabel(string(v)))
	}
	for _, k := range audit.Kinds() {
		add(k)
	}
	slices.Sort(msgs)
	return msgs
}

// TestEveryMessageHasADutchTranslation: a text added to a page without its
// Dutch fails here, not in front of a Dutch communications officer.
func TestEveryMessageHasADutchTranslation(t *testing.T) {
	msgs := dashboardMessages(t)
	if len(msgs) < 100 {
		t.Fatalf("found only %d messages; the extraction is broken", len(msgs))
	}
	for _, want := range []string{"Acknowledge", "Reveal evidence", "There is no such page.", "patient data", "Wrong name or password."} {
		if !slices.Contains(msgs, want) {
			t.Errorf("the extraction missed %q", want)
		}
	}
	if missing := i18n.MissingIn(i18n.Dutch, msgs); len(missing) > 0 {
		t.Errorf("%d messages have no Dutch translation in web/i18n/nl.yaml:\n%s", len(missing), yamlList(missing))
	}
}

func yamlList(msgs []string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(strconv.Quote(m) + `: ""` + "\n")
	}
	return b.String()
}
