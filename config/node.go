package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// path addresses a node in the document: string elements are mapping keys,
// int elements sequence indexes. It doubles as the name of a setting in
// messages ("feeds[2].interval").
type path []any

func (p path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		}
	}
	return b.String()
}

func (p path) child(e any) path { return append(slices.Clip(p), e) }

// tree is the parsed document kept for its positions: the decoded Config has
// lost them, and every problem must point at a line.
type tree struct {
	root *yaml.Node // the top-level mapping; nil for an empty document
}

func newTree(doc *yaml.Node) *tree {
	t := &tree{}
	if doc != nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		t.root = resolve(doc.Content[0])
	}
	return t
}

func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// mappingValue returns the value for key in mapping m as written (an alias
// stays an alias).
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// find walks p from the root. It returns the deepest node reached and
// whether all of p was found.
func (t *tree) find(p path) (*yaml.Node, bool) {
	n, ok, _ := t.findVia(p)
	return n, ok
}

// findVia is find that also returns the first alias the walk went through:
// past it, positions are those of the anchor, not of the use.
func (t *tree) findVia(p path) (n *yaml.Node, ok bool, via *yaml.Node) {
	n = t.root
	if n == nil {
		return nil, false, nil
	}
	for _, e := range p {
		var raw *yaml.Node
		switch e := e.(type) {
		case string:
			raw = mappingValue(n, e)
		case int:
			if n.Kind == yaml.SequenceNode && e >= 0 && e < len(n.Content) {
				raw = n.Content[e]
			}
		}
		if raw == nil {
			return n, false, via
		}
		if raw.Kind == yaml.AliasNode && via == nil {
			via = raw
		}
		n = resolve(raw)
	}
	return n, true, via
}

// has reports whether the document sets p to something other than null.
func (t *tree) has(p path) bool {
	n, ok := t.find(p)
	return ok && n.ShortTag() != "!!null"
}

// isNull reports whether the document writes p with no value ("feeds:").
func (t *tree) isNull(p path) bool {
	n, ok := t.find(p)
	return ok && n.ShortTag() == "!!null"
}

// pos is where a problem with p is reported: the value of p, or the nearest
// enclosing node the document does contain. Settings whose top-level key is
// absent come from the built-in defaults and have no position.
func (t *tree) pos(p path) (line, col int) {
	if len(p) == 0 || t.root == nil {
		return 0, 0
	}
	if mappingValue(t.root, fmt.Sprint(p[0])) == nil {
		return 0, 0
	}
	n, _, via := t.findVia(p)
	if via != nil {
		return via.Line, via.Column
	}
	return n.Line, n.Column
}

// visit calls fn for every mapping pair (key set) and sequence item (key nil)
// below n, in document order. The path passed to fn is reused between calls:
// fn must clone it to keep it. Aliases are not followed: what they point at
// is visited where it is defined.
func visit(n *yaml.Node, fn func(p path, key, value *yaml.Node)) {
	var p path
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p = append(p, k.Value)
				fn(p, k, v)
				walk(v)
				p = p[:len(p)-1]
			}
		case yaml.SequenceNode:
			for i, v := range n.Content {
				p = append(p, i)
				fn(p, nil, v)
				walk(v)
				p = p[:len(p)-1]
			}
		}
	}
	walk(n)
}

const maxTypeProblems = 200

var (
	linePrefix   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (.+) not found in type \S+$`)
	intoType     = regexp.MustCompile(` into (\S+)$`)
	cannotDecode = regexp.MustCompile(`^cannot unmarshal `)
)

// typeProblems turns the decoder's messages ("line 7: field x not found in
// type config.NATS") into Problems that name the setting in the file's own
// terms and carry a column.
func typeProblems(file string, doc *yaml.Node, te *yaml.TypeError) Problems {
	var ps Problems
	// An alias repeats its target's errors once per use.
	var msgs []string
	seen := make(map[string]bool, len(te.Errors))
	for _, m := range te.Errors {
		if !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	if len(msgs) > maxTypeProblems {
		// Placing a message costs a walk of the document, and a file
		// this wrong needs rewriting rather than a complete list.
		ps = append(ps, Problem{File: file, Msg: fmt.Sprintf("%d more values could not be decoded; fix the ones listed first", len(msgs)-maxTypeProblems)})
		msgs = msgs[:maxTypeProblems]
	}
	for _, msg := range msgs {
		m := linePrefix.FindStringSubmatch(msg)
		if m == nil {
			ps = append(ps, Problem{File: file, Msg: msg})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		rest := m[2]
		if f := unknownField.FindStringSubmatch(rest); f != nil {
			ps = append(ps, unknownKeyProblem(file, doc, line, f[1]))
			continue
		}
		ps = append(ps, valueProblem(file, doc, line, rest))
	}
	return ps
}

func unknownKeyProblem(file string, doc *yaml.Node, line int, name string) Problem {
	pr := Problem{File: file, Line: line, Msg: fmt.Sprintf("unknown key %q", name)}
	var at path
	found := false
	visit(doc, func(p path, k, _ *yaml.Node) {
		if !found && k != nil && k.Line == line && k.Value == name {
			found, at = true, slices.Clone(p)
			pr.Column = k.Column
		}
	})
	if !found {
		return pr
	}
	parent := at[:len(at)-1]
	if len(parent) > 0 {
		pr.Msg += " in " + parent.String()
	}
	known := knownKeys(typeAt(reflect.TypeFor[Config](), parent))
	if s := closest(name, known); s != "" {
		pr.Msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(known) > 0 {
		pr.Msg += " (known keys: " + strings.Join(known, ", ") + ")"
	}
	return pr
}

// valueProblem places a value the decoder could not store (a string where a
// number belongs, a bad duration). The decoder gives only the line, so the
// value is picked among the nodes on that line, preferring one whose text
// the message quotes.
func valueProblem(file string, doc *yaml.Node, line int, rest string) Problem {
	pr := Problem{File: file, Line: line, Msg: rest}
	var into string
	if m := intoType.FindStringSubmatch(rest); m != nil {
		into = m[1]
	}
	var at path
	var node *yaml.Node
	best := -1
	visit(doc, func(p path, _, v *yaml.Node) {
		if v.Line != line || best == 2 {
			return
		}
		score := 0
		if mentions(rest, v) {
			score = 1
			if t := typeAt(reflect.TypeFor[Config](), p); into == "" || (t != nil && t.String() == into) {
				score = 2
			}
		}
		if score > best {
			at, node, best = slices.Clone(p), v, score
		}
	})
	if node == nil {
		return pr
	}
	pr.Column = node.Column
	if cannotDecode.MatchString(rest) {
		if want := describeType(typeAt(reflect.TypeFor[Config](), at)); want != "" {
			rest = fmt.Sprintf("expected %s, got %s", want, describeNode(node))
		}
	}
	if len(at) > 0 {
		pr.Msg = at.String() + ": " + rest
	} else {
		pr.Msg = "top level: " + rest
	}
	return pr
}

// mentions reports whether a decoding message is about n, going by how the
// decoder and Duration quote values.
func mentions(msg string, n *yaml.Node) bool {
	switch n.Kind {
	case yaml.SequenceNode:
		return strings.Contains(msg, "!!seq") || strings.HasSuffix(msg, "got a list")
	case yaml.MappingNode:
		return strings.Contains(msg, "!!map") || strings.HasSuffix(msg, "got a mapping")
	case yaml.ScalarNode:
		short := n.Value
		if len(short) > 10 {
			short = short[:7] + "..."
		}
		return strings.Contains(msg, "`"+short+"`") || strings.Contains(msg, strconv.Quote(n.Value))
	}
	return false
}

// typeAt is the Go type the decoder stores p into, or nil when p names no
// setting.
func typeAt(t reflect.Type, p path) reflect.Type {
	for _, e := range p {
		if t == nil {
			return nil
		}
		switch e := e.(type) {
		case int:
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		case string:
			if t.Kind() != reflect.Struct {
				return nil
			}
			var next reflect.Type
			for f := range t.Fields() {
				if yamlName(f) == e {
					next = f.Type
					break
				}
			}
			t = next
		}
	}
	return t
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

func knownKeys(t reflect.Type) []string {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for f := range t.Fields() {
		if n := yamlName(f); n != "" {
			keys = append(keys, n)
		}
	}
	return keys
}

func describeType(t reflect.Type) string {
	if t == nil {
		return ""
	}
	if t == reflect.TypeFor[Duration]() || t == reflect.TypeFor[time.Duration]() {
		return "a duration such as 90s, 5m or 1h30m"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	}
	return ""
}

// closest returns the known key nearest to name when it is near enough to
// be a typo.
func closest(name string, known []string) string {
	best, bestDist := "", min(2, len(name)/2)+1
	for _, k := range known {
		if d := editDistance(name, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
