package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
)

// scanLines parses the output of mediawatch scan strictly: every line one
// JSON object with the four (or five) documented fields.
func scanLines(t *testing.T, out string) []scanOutput {
	t.Helper()
	var got []scanOutput
	for l := range strings.Lines(out) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("output line is not a JSON object: %q: %v", l, err)
		}
		for _, key := range []string{"id", "institutions", "categories", "findings"} {
			if v, ok := raw[key]; !ok || string(v) == "null" {
				t.Errorf("output line lacks %q or has it null: %s", key, l)
			}
		}
		var o scanOutput
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		got = append(got, o)
	}
	return got
}

func rulesOf(o scanOutput) []string {
	var out []string
	for _, f := range o.Findings {
		out = append(out, f.Rule)
	}
	return out
}

// want describes one expected output line.
type want struct {
	id           string
	err          string // substring of the error; "" for none
	institutions string // comma-joined
	categories   string // comma-joined
	rule         string // a rule that must be among the findings
	field        string // the field of that finding
}

func TestScan(t *testing.T) {
	tests := []struct {
		file string
		args []string
		want []want
	}{
		{
			file: "testdata/scan/valid.jsonl",
			want: []want{
				{id: "leak", institutions: "umc-utrecht", categories: "patient_data", rule: "patient_data.bsn", field: "text"},
				{id: "benign", institutions: "uz-leuven"},
				{id: "nothing"},
			},
		},
		{
			file: "testdata/scan/fields.jsonl",
			want: []want{
				{id: "only-id"},
				{id: "", institutions: "umc-utrecht", categories: "patient_data", rule: "patient_data.bsn", field: "text"},
				{id: ""},
				{id: "unknown", institutions: "uz-leuven"},
				{id: "nulls", institutions: "uz-leuven"},
				{id: "alt", institutions: "umc-utrecht", categories: "patient_data", rule: "patient_data.bsn", field: "media[1].alt"},
			},
		},
		{
			file: "testdata/scan/malformed.jsonl",
			want: []want{
				{id: "", err: "line 1: not JSON"},
				{id: "wrong-text", err: `line 2: field "text": want a string, got number`},
				{id: "", err: `line 3: field "id": want a string, got number`},
				{id: "", err: "line 4: want a JSON object, got array"},
				{id: "", err: "line 5: want a JSON object, got null"},
				{id: "", err: "line 6: not JSON"},
				{id: "alt-not-list", err: `line 7: field "media_alt": want an array of strings, got string`},
				{id: "alt-numbers", err: `line 8: field "media_alt": want an array of strings, got number`},
				{id: "after", institutions: "uz-leuven"},
			},
		},
		{
			// Blank lines give no output but count for the line numbers;
			// CRLF line endings and a last line without one are fine.
			file: "testdata/scan/blank.jsonl",
			want: []want{{id: "one"}, {id: "two", institutions: "uz-leuven"}, {id: "three", institutions: "umc-utrecht"}},
		},
	}
	for _, tt := range tests {
		for _, via := range []string{"file", "stdin", "dash"} {
			t.Run(filepath.Base(tt.file)+"/"+via, func(t *testing.T) {
				data, err := os.ReadFile(tt.file)
				if err != nil {
					t.Fatal(err)
				}
				args := append([]string{"scan"}, tt.args...)
				var stdin io.Reader = strings.NewReader("")
				switch via {
				case "file":
					args = append(args, tt.file)
				case "stdin":
					stdin = bytes.NewReader(data)
				case "dash":
					args = append(args, "-")
					stdin = bytes.NewReader(data)
				}
				var stdout, stderr bytes.Buffer
				if code := runWithInput(context.Background(), args, stdin, &stdout, &stderr); code != 0 {
					t.Fatalf("exit %d, want 0 (malformed lines are not fatal); stderr: %s", code, stderr.String())
				}
				got := scanLines(t, stdout.String())
				if len(got) != len(tt.want) {
					t.Fatalf("%d output lines, want %d:\n%s", len(got), len(tt.want), stdout.String())
				}
				for i, w := range tt.want {
					g := got[i]
					if g.ID != w.id {
						t.Errorf("line %d: id %q, want %q", i+1, g.ID, w.id)
					}
					if (w.err == "") != (g.Error == "") || !strings.Contains(g.Error, w.err) {
						t.Errorf("line %d (%s): error %q, want %q", i+1, w.id, g.Error, w.err)
					}
					if s := strings.Join(g.Institutions, ","); s != w.institutions {
						t.Errorf("line %d (%s): institutions %q, want %q", i+1, w.id, s, w.institutions)
					}
					if s := strings.Join(g.Categories, ","); s != w.categories {
						t.Errorf("line %d (%s): categories %q, want %q", i+1, w.id, s, w.categories)
					}
					if w.rule != "" && !slices.ContainsFunc(g.Findings, func(f scanFinding) bool { return f.Rule == w.rule && f.Field == w.field }) {
						t.Errorf("line %d (%s): no %s finding in %s; findings %v", i+1, w.id, w.rule, w.field, rulesOf(g))
					}
					if w.categories == "" && len(g.Findings) != 0 {
						t.Errorf("line %d (%s): findings %v, want none", i+1, w.id, rulesOf(g))
					}
				}
			})
		}
	}
}

// Evidence of personal data is masked unless --reveal; the offsets point
// at the evidence in the input either way.
func TestScanRevealAndRedaction(t *testing.T) {
	const text = "Patiënt op kamer 4 (BSN 123.456.782) ligt al 3 dagen op de SEH van het UMC Utrecht"
	line := fmt.Sprintf(`{"id":"x","text":%q}`+"\n", text)
	for _, tt := range []struct {
		args     []string
		evidence string
	}{
		{nil, "***.***.782"},
		{[]string{"--reveal"}, "123.456.782"},
	} {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{"scan"}, tt.args...), "-")
		if code := runWithInput(context.Background(), args, strings.NewReader(line), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, stderr.String())
		}
		got := scanLines(t, stdout.String())
		i := slices.IndexFunc(got[0].Findings, func(f scanFinding) bool { return f.Rule == "patient_data.bsn" })
		if i < 0 {
			t.Fatalf("%v: no BSN finding: %s", tt.args, stdout.String())
		}
		f := got[0].Findings[i]
		if f.Evidence != tt.evidence {
			t.Errorf("%v: evidence %q, want %q", tt.args, f.Evidence, tt.evidence)
		}
		if text[f.Start:f.End] != "123.456.782" {
			t.Errorf("%v: offsets %d:%d point at %q", tt.args, f.Start, f.End, text[f.Start:f.End])
		}
		if f.Severity != "critical" || f.Category != "patient_data" || f.Explanation == "" {
			t.Errorf("%v: finding %+v", tt.args, f)
		}
		if tt.args == nil && strings.Contains(stdout.String(), "123.456.782") {
			t.Errorf("the BSN appears unmasked without --reveal: %s", stdout.String())
		}
	}
}

// A 1 MiB post is scanned like any other, and order is kept over many
// lines.
func TestScanLongLinesAndOrder(t *testing.T) {
	var in bytes.Buffer
	const n = 500
	for i := range n {
		text := "Bel de poli van het UZ Leuven"
		if i == n/2 {
			text = strings.Repeat("lorem ipsum ", (1<<20)/12) + "Patiënt op kamer 4 (BSN 123.456.782) ligt op de SEH van het UMC Utrecht"
		}
		fmt.Fprintf(&in, `{"id":"post-%d","text":%q}`+"\n", i, text)
	}
	var stdout, stderr bytes.Buffer
	if code := runWithInput(context.Background(), []string{"scan"}, &in, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got := scanLines(t, stdout.String())
	if len(got) != n {
		t.Fatalf("%d output lines, want %d", len(got), n)
	}
	for i, o := range got {
		if want := fmt.Sprintf("post-%d", i); o.ID != want {
			t.Fatalf("output line %d has id %q, want %q: order not kept", i+1, o.ID, want)
		}
		if o.Error != "" {
			t.Errorf("%s: %s", o.ID, o.Error)
		}
	}
	if big := got[n/2]; !slices.Contains(big.Categories, "patient_data") || big.Findings[len(big.Findings)-1].Start < 1<<20-12 {
		t.Errorf("1 MiB post: categories %v, findings %v", big.Categories, rulesOf(big))
	}
}

// A line beyond the limit gets an error line, and the lines after it are
// read as usual: memory stays bounded whatever comes in.
func TestScanLineLimit(t *testing.T) {
	cfg := config.Default()
	matcher, err := app.LoadMatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 200
	tests := []struct {
		name  string
		input string
		ids   []string
		errs  []string
	}{
		{"at the limit", `{"id":"a","text":"` + strings.Repeat("x", limit-20) + `"}` + "\n", []string{"a"}, []string{""}},
		{"beyond the limit", `{"id":"a","text":"` + strings.Repeat("x", limit) + `"}` + "\n" + `{"id":"b"}` + "\n", []string{"", "b"}, []string{"line 1: longer than 200 bytes", ""}},
		{"far beyond, unterminated", `{"id":"b"}` + "\n" + strings.Repeat("y", 300<<10), []string{"b", ""}, []string{"", "line 2: longer than 200 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := scan(strings.NewReader(tt.input), &out, matcher, scanOptions{maxLine: limit}); err != nil {
				t.Fatal(err)
			}
			got := scanLines(t, out.String())
			if len(got) != len(tt.ids) {
				t.Fatalf("%d lines, want %d: %s", len(got), len(tt.ids), out.String())
			}
			for i := range got {
				if got[i].ID != tt.ids[i] || !strings.Contains(got[i].Error, tt.errs[i]) || (tt.errs[i] == "") != (got[i].Error == "") {
					t.Errorf("line %d: id %q error %q; want id %q error %q", i+1, got[i].ID, got[i].Error, tt.ids[i], tt.errs[i])
				}
			}
		})
	}
}

// Reading standard input, each result is written as soon as its line is
// read: a consumer at the other end of a pipe gets its answer before it
// sends the next line.
func TestScanStreamsStdin(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runWithInput(context.Background(), []string{"scan"}, inR, outW, io.Discard)
		outW.Close()
	}()
	results := bufio.NewReader(outR)
	for i, text := range []string{"Bel de poli van het UZ Leuven", "Mooi weer", "Bel de poli van het UMC Utrecht"} {
		fmt.Fprintf(inW, `{"id":"%d","text":%q}`+"\n", i, text)
		got := make(chan string, 1)
		go func() {
			l, _ := results.ReadString('\n')
			got <- l
		}()
		select {
		case l := <-got:
			if !strings.HasPrefix(l, fmt.Sprintf(`{"id":"%d"`, i)) {
				t.Fatalf("answer to line %d: %q", i+1, l)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer to line %d while the input stays open: output is not flushed per line", i+1)
		}
	}
	inW.Close()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}

func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	badRules := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(badRules, []byte("rules:\n  dirs: ["+filepath.Join(dir, "missing")+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown flag", []string{"scan", "--frobnicate"}, 2, "frobnicate"},
		{"two files", []string{"scan", "a.jsonl", "b.jsonl"}, 2, "at most one FILE"},
		{"missing file", []string{"scan", "testdata/scan/missing.jsonl"}, 1, "missing.jsonl"},
		{"bad config", []string{"scan", "--config", "testdata/bad-config.yaml", "testdata/scan/valid.jsonl"}, 1, "bad-config.yaml:4"},
		{"bad rules", []string{"scan", "--config", badRules, "testdata/scan/valid.jsonl"}, 1, "missing"},
		{"a directory", []string{"scan", "testdata/scan"}, 1, "testdata/scan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.stderr)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

// Whatever comes in, scan answers every non-blank line with one JSON line
// and never fails on the content.
func FuzzScan(f *testing.F) {
	for _, name := range []string{"valid", "fields", "malformed", "blank"} {
		data, err := os.ReadFile("testdata/scan/" + name + ".jsonl")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id":"\u0000","text":"\xff\xfe","media_alt":["",""]}`))
	matcher, err := app.LoadMatcher(config.Default())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := scan(bytes.NewReader(data), &out, matcher, scanOptions{maxLine: 1 << 10}); err != nil {
			t.Fatal(err)
		}
		want := 0
		for l := range bytes.Lines(data) {
			l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
			if len(bytes.TrimSpace(l)) > 0 || len(l) > 1<<10 {
				want++
			}
		}
		got := scanLines(t, out.String())
		if len(got) != want {
			t.Fatalf("%d output lines for %d non-blank input lines", len(got), want)
		}
	})
}
