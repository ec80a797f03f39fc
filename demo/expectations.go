package demo

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed expectations.yaml
var expectationsYAML string

// Expectation is a human label for one item of the corpus.
type Expectation struct {
	// FeedID is the Feed.ID the item is in.
	FeedID string `yaml:"feed"`
	// GUID is the item's guid (RSS), id (Atom) or id (JSON Feed).
	GUID string `yaml:"guid"`
	// Institution is the institution id (umc-utrecht, uz-leuven) the item
	// concerns, or "" when it concerns neither.
	Institution string `yaml:"institution"`
	// Category is the guideline category the item breaks, or "" for a
	// deliberate hard negative: an item that resembles a breach but is not.
	Category string `yaml:"category"`
	// Note says in a few words why the labeller chose the label.
	Note string `yaml:"note"`
}

// HardNegative reports whether the item was labelled as breaking no guideline.
func (e Expectation) HardNegative() bool { return e.Category == "" }

// Expectations returns the labels of the corpus, sorted by feed id and guid.
//
// The labels are embedded at build time and checked by the package tests, so
// a malformed file is a defect of the build, not bad input; Expectations
// panics on it like regexp.MustCompile does on a bad constant.
func Expectations() []Expectation {
	exps, err := parseExpectations(expectationsYAML)
	if err != nil {
		panic(err)
	}
	return exps
}

// parseExpectations decodes and validates an expectations file. Errors name
// the file and the line of the offending entry.
func parseExpectations(data string) ([]Expectation, error) {
	dec := yaml.NewDecoder(strings.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("demo: expectations.yaml: %w", err)
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("demo: expectations.yaml: line %d: want a list of labels", root.Line)
	}
	type key struct{ feed, guid string }
	seen := make(map[key]int)
	var exps []Expectation
	for _, n := range root.Content[0].Content {
		var e Expectation
		if err := decodeStrict(n, &e); err != nil {
			return nil, fmt.Errorf("demo: expectations.yaml: line %d: %w", n.Line, err)
		}
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("demo: expectations.yaml: line %d: %w", n.Line, err)
		}
		k := key{e.FeedID, e.GUID}
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("demo: expectations.yaml: line %d: item %s %q already labelled on line %d", n.Line, e.FeedID, e.GUID, first)
		}
		seen[k] = n.Line
		exps = append(exps, e)
	}
	slices.SortFunc(exps, func(a, b Expectation) int {
		if c := strings.Compare(a.FeedID, b.FeedID); c != 0 {
			return c
		}
		return strings.Compare(a.GUID, b.GUID)
	})
	return exps, nil
}

// decodeStrict decodes n into e, rejecting fields Expectation does not have,
// so that a misspelt key is an error rather than a silently empty label.
func decodeStrict(n *yaml.Node, e *Expectation) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("want a mapping with feed, guid, institution, category and note")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i].Value; k {
		case "feed", "guid", "institution", "category", "note":
		default:
			return fmt.Errorf("unknown field %q", k)
		}
	}
	return n.Decode(e)
}

func (e Expectation) validate() error {
	if _, ok := feedByID(e.FeedID); !ok {
		return fmt.Errorf("unknown feed %q", e.FeedID)
	}
	if strings.TrimSpace(e.GUID) == "" {
		return fmt.Errorf("feed %s: empty guid", e.FeedID)
	}
	// The allowed values mirror the categories of package match and the
	// institution ids of the default config; they are spelt out here so the
	// corpus does not depend on the packages that consume it.
	switch e.Category {
	case "", "conduct", "logo_misuse", "misinformation", "patient_data":
	default:
		return fmt.Errorf("item %s %q: unknown category %q", e.FeedID, e.GUID, e.Category)
	}
	switch e.Institution {
	case "", "umc-utrecht", "uz-leuven":
	default:
		return fmt.Errorf("item %s %q: unknown institution %q", e.FeedID, e.GUID, e.Institution)
	}
	if e.Category != "" && e.Institution == "" {
		return fmt.Errorf("item %s %q: a %s label needs an institution", e.FeedID, e.GUID, e.Category)
	}
	if strings.TrimSpace(e.Note) == "" {
		return fmt.Errorf("item %s %q: empty note", e.FeedID, e.GUID)
	}
	return nil
}
