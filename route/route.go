// Package route decides who hears about an alert: a tree of routes, each
// matching alerts on institution, category, severity and source and naming
// a receiver, like Alertmanager's. An alert walks down from the root; the
// first child that matches takes it, unless that child says continue, in
// which case the next matching sibling takes it too. A route that matches
// and has no matching child is where the alert ends up.
//
// The package is pure: it resolves routes and group keys, and keeps no
// state.
package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
)

// Labels an alert can be matched and grouped on.
const (
	LabelInstitution = "institution"
	LabelCategory    = "category"
	LabelSeverity    = "severity"
	LabelSource      = "source"
)

// Labels lists every label.
var Labels = []string{LabelInstitution, LabelCategory, LabelSeverity, LabelSource}

// Timing defaults, as Alertmanager's.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// Config is one route as written in the configuration. Unset timings and
// grouping are inherited from the parent.
type Config struct {
	// Receiver names a receiver; empty inherits the parent's.
	Receiver string `yaml:"receiver"`
	// Match: for each label, the values that match (any of them); every
	// label listed must match. An empty Match matches every alert.
	Match map[string][]string `yaml:"match"`
	// Continue: after this route matches, the next siblings are tried too.
	Continue bool `yaml:"continue"`
	// GroupBy: alerts with the same values of these labels are sent
	// together.
	GroupBy []string `yaml:"group_by"`
	// GroupWait: how long a new group waits for more alerts before its
	// first notification.
	GroupWait time.Duration `yaml:"group_wait"`
	// GroupInterval: how long a group waits before notifying about alerts
	// added since its last notification.
	GroupInterval time.Duration `yaml:"group_interval"`
	// RepeatInterval: how long before a group whose alerts are still open
	// is notified again.
	RepeatInterval time.Duration `yaml:"repeat_interval"`
	Routes         []Config      `yaml:"routes"`
}

// Route is a resolved route: everything inherited filled in.
type Route struct {
	// ID is the route's path in the tree ("0", "0.2", "0.2.1"); notification
	// logs and group keys use it, so it must not change for a config that
	// did not.
	ID             string
	Receiver       string
	Match          map[string][]string
	Continue       bool
	GroupBy        []string
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	Routes         []*Route
}

// Build resolves a route tree, checking it against the receivers that
// exist. Every problem is reported, each naming its route by path.
func Build(root Config, receivers []string) (*Route, error) {
	var errs []error
	defaults := Route{
		GroupBy:   []string{LabelInstitution, LabelCategory},
		GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval, RepeatInterval: DefaultRepeatInterval,
	}
	r := build(root, &defaults, "0", receivers, &errs)
	if r.Receiver == "" {
		errs = append(errs, errors.New("the root route needs a receiver"))
	}
	return r, errors.Join(errs...)
}

func build(c Config, parent *Route, id string, receivers []string, errs *[]error) *Route {
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("route %s: %s", id, fmt.Sprintf(format, args...)))
	}
	r := &Route{
		ID: id, Receiver: cmpOr(c.Receiver, parent.Receiver), Match: map[string][]string{}, Continue: c.Continue,
		GroupBy:        parent.GroupBy,
		GroupWait:      cmpOr(c.GroupWait, parent.GroupWait),
		GroupInterval:  cmpOr(c.GroupInterval, parent.GroupInterval),
		RepeatInterval: cmpOr(c.RepeatInterval, parent.RepeatInterval),
	}
	if c.Receiver != "" && !slices.Contains(receivers, c.Receiver) {
		fail("unknown receiver %q (receivers: %s)", c.Receiver, strings.Join(receivers, ", "))
	}
	for label, values := range c.Match {
		if !slices.Contains(Labels, label) {
			fail("cannot match on %q (want %s)", label, strings.Join(Labels, ", "))
			continue
		}
		if len(values) == 0 {
			fail("match.%s lists no values", label)
		}
		r.Match[label] = slices.Clone(values)
	}
	if c.GroupBy != nil {
		for _, label := range c.GroupBy {
			if !slices.Contains(Labels, label) {
				fail("cannot group by %q (want %s)", label, strings.Join(Labels, ", "))
			}
		}
		r.GroupBy = slices.Clone(c.GroupBy)
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"group_wait", c.GroupWait}, {"group_interval", c.GroupInterval}, {"repeat_interval", c.RepeatInterval}} {
		if t.d < 0 {
			fail("%s must not be negative", t.name)
		}
	}
	for i, child := range c.Routes {
		r.Routes = append(r.Routes, build(child, r, fmt.Sprintf("%s.%d", id, i), receivers, errs))
	}
	return r
}

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v != zero {
		return v
	}
	return fallback
}

// LabelsOf returns the labels of an alert.
func LabelsOf(a *alerts.Alert) map[string]string {
	return map[string]string{
		LabelInstitution: a.Institution,
		LabelCategory:    a.Category,
		LabelSeverity:    string(a.Severity),
		LabelSource:      a.Mention.Source,
	}
}

func (r *Route) matches(labels map[string]string) bool {
	for label, values := range r.Match {
		if !slices.Contains(values, labels[label]) {
			return false
		}
	}
	return true
}

// Resolve returns the routes an alert ends up on, in tree order. The root
// always matches, so an alert has at least one route.
func (r *Route) Resolve(labels map[string]string) []*Route {
	if !r.matches(labels) {
		return nil
	}
	var out []*Route
	for _, child := range r.Routes {
		got := child.Resolve(labels)
		if len(got) == 0 {
			continue
		}
		out = append(out, got...)
		if !child.Continue {
			break
		}
	}
	if len(out) == 0 {
		return []*Route{r}
	}
	return out
}

// GroupKey is the key of the group an alert joins on this route: the route
// and the values of its group_by labels, in the order listed.
func (r *Route) GroupKey(labels map[string]string) string {
	var b strings.Builder
	b.WriteString(r.ID)
	b.WriteString("{")
	for i, label := range r.GroupBy {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(label + "=" + labels[label])
	}
	b.WriteString("}")
	return b.String()
}

// Walk calls fn for every route, parents before children.
func (r *Route) Walk(fn func(*Route)) {
	fn(r)
	for _, c := range r.Routes {
		c.Walk(fn)
	}
}
