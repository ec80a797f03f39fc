package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerfileLines are the instructions of a Dockerfile, continuation lines
// joined, comments dropped.
func dockerfileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// The image builds the command a release is built from and runs it as
// documented: static, nonroot, /data, port 8080.
func TestDockerfile(t *testing.T) {
	path := filepath.Join(repoRoot, "Dockerfile")
	lines := dockerfileLines(t, path)
	has := func(re string) bool {
		r := regexp.MustCompile(re)
		for _, l := range lines {
			if r.MatchString(l) {
				return true
			}
		}
		return false
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil {
		t.Fatal("go.mod: no go line")
	}
	mainGo, err := os.ReadFile(filepath.Join(repoRoot, "cmd", "mediawatch", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^var version = `).Match(mainGo) {
		t.Error("cmd/mediawatch/main.go has no `var version`; the Dockerfile sets main.version")
	}
	for _, want := range []string{
		`^FROM golang:` + regexp.QuoteMeta(string(goVersion[1])) + `(\.\d+)?(-\S+)? AS build$`,
		`CGO_ENABLED=0 go build -trimpath .*-ldflags "-s -w -X main\.version=\$\{VERSION\}" .*\./cmd/mediawatch`,
		`^FROM gcr\.io/distroless/static-debian12:nonroot$`,
		`^COPY --from=build /out/mediawatch /mediawatch$`,
		`^USER nonroot`,
		`^EXPOSE 8080$`,
		`^VOLUME /data$`,
		`^ENTRYPOINT \["/mediawatch", "run"\]$`,
	} {
		if !has(want) {
			t.Errorf("%s: no line matches %s", rel(path), want)
		}
	}

	// .dockerignore leaves in everything the build needs.
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	needed := []string{"go.mod", "go.sum"}
	out, err := exec.Command("go", "list", "-C", repoRoot, "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./cmd/mediawatch").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs(repoRoot)
	for _, dir := range strings.Fields(string(out)) {
		r, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(r))
	}
	if len(needed) < 5 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, p := range needed {
		if pat := dockerIgnored(patterns, p); pat != "" {
			t.Errorf(".dockerignore: %q leaves %s out of the build context", pat, p)
		}
	}
}

// dockerIgnored returns the pattern that excludes p or one of its parent
// directories from the build context, or "".
func dockerIgnored(patterns []string, p string) string {
	parts := strings.Split(p, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		ignored := ""
		for _, pat := range patterns {
			neg := strings.HasPrefix(pat, "!")
			pat = strings.TrimPrefix(pat, "!")
			match := false
			if rest, ok := strings.CutPrefix(pat, "**/"); ok {
				for j := range i {
					if m, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); m {
						match = true
					}
				}
			} else {
				match, _ = filepath.Match(pat, prefix)
			}
			if match {
				ignored = pat
				if neg {
					ignored = ""
				}
			}
		}
		if ignored != "" {
			return ignored
		}
	}
	return ""
}

func TestDockerIgnored(t *testing.T) {
	patterns := []string{".git", "deploy", "**/testdata/fuzz", "*.test", "docs"}
	for p, want := range map[string]string{
		"web":                       "",
		"web/static":                "",
		"deploy":                    "deploy",
		"deploy/x.yaml":             "deploy",
		"match/testdata/fuzz/FuzzX": "**/testdata/fuzz",
		"match/testdata/rules":      "",
		"app.test":                  "*.test",
		"cmd/mediawatch":            "",
	} {
		if got := dockerIgnored(patterns, p); got != want {
			t.Errorf("dockerIgnored(%s) = %q, want %q", p, got, want)
		}
	}
}
