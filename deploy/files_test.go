package deploy

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every YAML and JSON file here parses, with no key given twice.
func TestFilesParse(t *testing.T) {
	var yamls, jsons int
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml":
			yamls++
			docs, err := yamlDocs(p)
			if err != nil {
				t.Error(err)
			} else if len(docs) == 0 {
				t.Errorf("%s: no YAML document", p)
			}
		case ".json":
			jsons++
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkJSON(data); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if yamls < 14 || jsons < 1 {
		t.Errorf("found %d YAML and %d JSON files under deploy/; some are missing", yamls, jsons)
	}
}

// The checks themselves catch what they are for.
func TestParseChecksRefuse(t *testing.T) {
	for _, bad := range []string{
		"a: 1\nb: 2\na: 3\n",
		"top:\n  x: 1\n  x: 1\n",
		"---\nok: 1\n---\nlist:\n  - {k: 1, k: 2}\n",
		"a: [1, 2\n",
	} {
		if _, err := yamlDocsOf([]byte(bad), "bad.yaml"); err == nil {
			t.Errorf("YAML %q accepted", bad)
		}
	}
	if _, err := yamlDocsOf([]byte("a: 1\n---\nb: {c: [1, 2]}\n"), "good.yaml"); err != nil {
		t.Errorf("good YAML refused: %v", err)
	}
	for _, bad := range []string{`{"a": 1, "a": 2}`, `{"a": [{"b": 1, "b": 1}]}`, `{"a": 1} {}`, `{"a": }`, `[1, 2`} {
		if err := checkJSON([]byte(bad)); err == nil {
			t.Errorf("JSON %s accepted", bad)
		}
	}
	if err := checkJSON([]byte(`{"a": [1, {"b": null}], "c": "d"}`)); err != nil {
		t.Errorf("good JSON refused: %v", err)
	}
}
