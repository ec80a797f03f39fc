package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "mediawatch ") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCmd(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

func TestCheckDefaults(t *testing.T) {
	code, out, errOut := runCmd(t, "check")
	if code != 0 {
		t.Fatalf("check of the built-in defaults failed (%d): %s", code, errOut)
	}
	if !strings.Contains(out, "ok") {
		t.Errorf("output %q", out)
	}
}

func TestCheckReportsEveryProblemWithItsLine(t *testing.T) {
	code, _, errOut := runCmd(t, "check", "--config", "testdata/bad-config.yaml")
	if code != 1 {
		t.Fatalf("code = %d, want 1; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"testdata/bad-config.yaml:4:",  // unknown key lsten
		"testdata/bad-config.yaml:8:",  // ftp scheme
		"testdata/bad-config.yaml:12:", // bad source token
		"testdata/bad-config.yaml:13:", // interval below the minimum
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks a problem at %s:\n%s", want, errOut)
		}
	}
}

func TestCheckReportsBadRulesDirectory(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := "rules:\n  - id: conduct.broken\n    category: conduct\n    severity: medium\n    description: broken on purpose\n    pattern: '(unclosed'\n"
	if err := os.WriteFile(filepath.Join(rules, "broken.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("rules:\n  dirs: ["+rules+"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd(t, "check", "--config", cfgFile)
	if code != 1 {
		t.Fatalf("code = %d, want 1; stderr:\n%s", code, errOut)
	}
	if !strings.Contains(errOut, filepath.Join(rules, "broken.yaml")) || !strings.Contains(errOut, "conduct.broken") {
		t.Errorf("stderr should name the rule file and the rule id:\n%s", errOut)
	}
}

func TestFeedFile(t *testing.T) {
	code, out, errOut := runCmd(t, "feed", "testdata/forum.atom")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var lines []feedLine
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var fl feedLine
		if err := json.Unmarshal([]byte(l), &fl); err != nil {
			t.Fatalf("output line is not JSON: %q: %v", l, err)
		}
		lines = append(lines, fl)
	}
	if len(lines) != 2 {
		t.Fatalf("got %d mentions, want 2", len(lines))
	}
	leak := lines[0]
	if !strings.Contains(strings.Join(leak.Categories, ","), "patient_data") {
		t.Errorf("first post leaks a BSN; categories = %v", leak.Categories)
	}
	if strings.Contains(out, "234567818") {
		t.Errorf("the BSN is printed unmasked without --reveal")
	}
	if got := strings.Join(lines[1].Institutions, ","); got != "uz-leuven" {
		t.Errorf("second post institutions = %q, want uz-leuven", got)
	}

	_, revealed, _ := runCmd(t, "feed", "--reveal", "testdata/forum.atom")
	if !strings.Contains(revealed, "234567818") {
		t.Errorf("--reveal should print the evidence as found")
	}
}

func TestFeedRejectsWhatIsNotAFeed(t *testing.T) {
	for _, target := range []string{"testdata/not-a-feed.html", "testdata/does-not-exist.xml"} {
		code, out, errOut := runCmd(t, "feed", target)
		if code != 1 {
			t.Errorf("%s: code %d, want 1", target, code)
		}
		if out != "" {
			t.Errorf("%s: stdout should be empty, got %q", target, out)
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("%s: want a one-line error, got %q", target, errOut)
		}
	}
}

func TestFeedWithNoItemsIsNotAnError(t *testing.T) {
	code, out, errOut := runCmd(t, "feed", "testdata/empty.rss")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("code %d, stdout %q, stderr %q: want 0 and no output", code, out, errOut)
	}
}

// A URL on a private or loopback address is refused unless asked for, and
// the server sees no request.
func TestFeedURLGuard(t *testing.T) {
	body, err := os.ReadFile("testdata/forum.atom")
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/atom+xml")
		w.Write(body)
	}))
	defer srv.Close()

	code, _, errOut := runCmd(t, "feed", srv.URL+"/feed.atom")
	if code != 1 || !strings.Contains(errOut, "non-public address") || requests.Load() != 0 {
		t.Errorf("loopback URL: code %d, stderr %q, %d requests: want refused before any request", code, errOut, requests.Load())
	}
	code, out, errOut := runCmd(t, "feed", "--allow-private", "--source", "forum", srv.URL+"/feed.atom")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("--allow-private: code %d, stderr %q, output %q", code, errOut, out)
	}
	if !strings.Contains(out, `"source":"forum"`) {
		t.Errorf("--source not applied: %s", out)
	}
}
