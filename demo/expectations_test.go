package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpectationsParse(t *testing.T) {
	exps, err := parseExpectations(expectationsYAML)
	if err != nil {
		t.Fatalf("embedded expectations.yaml: %v", err)
	}
	if len(exps) != len(Expectations()) {
		t.Fatalf("parseExpectations and Expectations disagree: %d vs %d", len(exps), len(Expectations()))
	}
	var negatives int
	for _, e := range exps {
		if e.HardNegative() {
			negatives++
		}
	}
	if negatives == 0 || negatives == len(exps) {
		t.Errorf("%d of %d labels are hard negatives: want both kinds", negatives, len(exps))
	}
}

func TestExpectationsErrors(t *testing.T) {
	tests := []struct {
		file string
		want string // in the error
	}{
		{"unknown-feed.yaml", `line 2: unknown feed "nl-nieuws"`},
		{"unknown-category.yaml", `line 7: item nl-news "ud-2026-11-0102": unknown category "patient-data"`},
		{"unknown-institution.yaml", `line 2: item be-news "lk-20261102-01": unknown institution "uz-gent"`},
		{"unknown-field.yaml", `line 2: unknown field "categorie"`},
		{"empty-guid.yaml", "line 2: feed reddit: empty guid"},
		{"empty-note.yaml", `line 2: item reddit "t3_1gq7k2a": empty note`},
		{"breach-without-institution.yaml", `line 2: item forum "x": a conduct label needs an institution`},
		{"duplicate.yaml", `line 6: item nl-news "ud-2026-11-0101" already labelled on line 1`},
		{"not-a-list.yaml", "line 1: want a list of labels"},
		{"not-a-mapping.yaml", "line 1: want a mapping"},
		{"bad-syntax.yaml", "expectations.yaml: yaml: line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "expectations", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseExpectations(string(data))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseExpectations(f *testing.F) {
	f.Add(expectationsYAML)
	seeds, _ := filepath.Glob(filepath.Join("testdata", "expectations", "*.yaml"))
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(string(data))
		}
	}
	f.Fuzz(func(t *testing.T, data string) {
		exps, err := parseExpectations(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "demo: expectations.yaml: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for _, e := range exps {
			if err := e.validate(); err != nil {
				t.Errorf("accepted an invalid label: %v", err)
			}
		}
	})
}
