// Package deploy holds the deployment files of mediawatch (Docker Compose,
// Prometheus rules, the Grafana dashboard, systemd, Kubernetes) and the
// tests that check them against each other and against the daemon.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the repository, seen from this directory (where go test runs).
const repoRoot = ".."

// yamlDocs decodes every document of a YAML file into a node, refusing
// syntax errors and duplicate keys.
func yamlDocs(path string) ([]*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return yamlDocsOf(data, path)
}

func yamlDocsOf(data []byte, name string) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := duplicateKeys(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		docs = append(docs, &n)
	}
}

// duplicateKeys reports the first mapping below n that has a key twice.
func duplicateKeys(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if line, ok := seen[k.Value]; ok {
				return fmt.Errorf("line %d: key %q already defined on line %d", k.Line, k.Value, line)
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if err := duplicateKeys(c); err != nil {
			return err
		}
	}
	return nil
}

// yamlMaps decodes every non-empty document of a YAML file into a map.
func yamlMaps(t *testing.T, path string) []map[string]any {
	t.Helper()
	docs, err := yamlDocs(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, d := range docs {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("%s line %d: %v", path, d.Line, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// yamlMap decodes a YAML file of one document into a map.
func yamlMap(t *testing.T, path string) map[string]any {
	t.Helper()
	ms := yamlMaps(t, path)
	if len(ms) != 1 {
		t.Fatalf("%s: want one YAML document, got %d", path, len(ms))
	}
	return ms[0]
}

// checkJSON parses a JSON document, refusing trailing data and duplicate
// object keys (which encoding/json would silently resolve).
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := jsonValue(dec, "$"); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the top-level value (offset %d)", dec.InputOffset())
	}
	return nil
}

func jsonValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			k := kt.(string)
			if seen[k] {
				return fmt.Errorf("%s: key %q twice", path, k)
			}
			seen[k] = true
			if err := jsonValue(dec, path+"."+k); err != nil {
				return err
			}
		}
		_, err = dec.Token() // }
		return err
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := jsonValue(dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
		return err
	}
	return nil
}

// Accessors for decoded YAML and JSON: a missing key or a value of another
// type gives the zero value.

func mapAt(v any, keys ...string) map[string]any {
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

func listAt(v any, keys ...string) []any {
	for i, k := range keys {
		if i == len(keys)-1 {
			l, _ := mapAt(v)[k].([]any)
			return l
		}
		v = mapAt(v)[k]
	}
	l, _ := v.([]any)
	return l
}

func strAt(v any, keys ...string) string {
	for _, k := range keys {
		v = mapAt(v)[k]
	}
	s, _ := v.(string)
	return s
}

func anyAt(v any, keys ...string) any {
	for _, k := range keys {
		v = mapAt(v)[k]
	}
	return v
}

// stringMap turns a decoded map of strings (labels, selectors) into a
// map[string]string.
func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// selects reports whether every label of selector is in labels with the
// same value; an empty selector selects nothing.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// rel names a file in messages relative to the repository.
func rel(path string) string {
	if r, err := filepath.Rel(repoRoot, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
