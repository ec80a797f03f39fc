// Package dispatch turns the alert stream into notifications: each alert is
// routed (package route), joins the groups of the routes it ends up on, and
// each group notifies its receiver after group_wait, then about what is new
// every group_interval, and again after repeat_interval while its alerts
// are open — Alertmanager's dispatcher, with JetStream as its memory.
//
// groups.go is the bookkeeping, without clocks or I/O: what is in each
// group and which group is due when. dispatcher.go runs it on the stream.
package dispatch

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/route"
)

// group is the alerts one route sends together, and when it sent last.
type group struct {
	key   string
	route *route.Route
	// alerts by id, the latest version of each (a repeat of a story raises
	// its count).
	alerts map[string]alerts.Alert
	// pending are alert versions added since the last notification, with
	// the stream messages they came in (acknowledged once notified).
	pending map[string]pendingAlert
	created time.Time
	// flushed is when the group last notified; zero until its first.
	flushed time.Time
}

// pendingAlert is an alert version waiting for its notification.
type pendingAlert struct {
	version string // id and count: a repeat is news again
	tokens  []any  // the stream messages to acknowledge
}

// version identifies what a notification said about an alert: its id and
// how many repeats it had seen.
func version(a alerts.Alert) string {
	return a.ID + "#" + strconv.Itoa(max(a.Count, 1))
}

// groups holds every open group.
type groups struct {
	byKey map[string]*group
}

func newGroups() *groups { return &groups{byKey: map[string]*group{}} }

// add puts an alert into the group of route r with the given key. token
// stands for the stream message it came in, handed back by due once a
// notification carried the alert.
func (gs *groups) add(r *route.Route, key string, a alerts.Alert, token any, now time.Time) {
	g, ok := gs.byKey[key]
	if !ok {
		g = &group{key: key, route: r, alerts: map[string]alerts.Alert{}, pending: map[string]pendingAlert{}, created: now}
		gs.byKey[key] = g
	}
	if old, ok := g.alerts[a.ID]; ok && max(old.Count, 1) > max(a.Count, 1) {
		a = old // an older version redelivered: keep what is known
	}
	g.alerts[a.ID] = a
	p := g.pending[a.ID]
	p.version = version(g.alerts[a.ID])
	if token != nil {
		p.tokens = append(p.tokens, token)
	}
	g.pending[a.ID] = p
}

// remove drops alerts that need no more notifications (closed in triage,
// silenced) and returns the tokens of their pending versions, to be
// acknowledged.
func (gs *groups) remove(drop func(a *alerts.Alert) bool) []any {
	var tokens []any
	for key, g := range gs.byKey {
		for id, a := range g.alerts {
			if drop(&a) {
				tokens = append(tokens, g.pending[id].tokens...)
				delete(g.alerts, id)
				delete(g.pending, id)
			}
		}
		if len(g.alerts) == 0 {
			delete(gs.byKey, key)
		}
	}
	return tokens
}

// dueAt returns when group g should notify next, or the zero time when it
// has nothing to say: group_wait after it was created, then
// group_interval after the last notification when something is pending,
// and repeat_interval after it when nothing is.
func (g *group) dueAt() time.Time {
	switch {
	case g.flushed.IsZero():
		return g.created.Add(g.route.GroupWait)
	case len(g.pending) > 0:
		return g.flushed.Add(g.route.GroupInterval)
	default:
		return g.flushed.Add(g.route.RepeatInterval)
	}
}

// due returns the groups that should notify at now, in a stable order.
func (gs *groups) due(now time.Time) []*group {
	var out []*group
	for _, g := range gs.byKey {
		if !g.dueAt().After(now) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *group) int { return cmp.Compare(a.key, b.key) })
	return out
}

// next returns the earliest time a group is due, or the zero time.
func (gs *groups) next() time.Time {
	var t time.Time
	for _, g := range gs.byKey {
		if d := g.dueAt(); t.IsZero() || d.Before(t) {
			t = d
		}
	}
	return t
}

// snapshot lists the group's alerts, newest first, and the versions they
// are at.
func (g *group) snapshot() ([]alerts.Alert, []string) {
	list := make([]alerts.Alert, 0, len(g.alerts))
	for _, a := range g.alerts {
		list = append(list, a)
	}
	slices.SortFunc(list, func(a, b alerts.Alert) int {
		return cmp.Or(b.DetectedAt.Compare(a.DetectedAt), cmp.Compare(a.ID, b.ID))
	})
	versions := make([]string, len(list))
	for i, a := range list {
		versions[i] = version(a)
	}
	return list, versions
}

// notified marks the group as having notified at now and returns the
// tokens of the alerts that notification carried.
func (g *group) notified(now time.Time) []any {
	var tokens []any
	for _, p := range g.pending {
		tokens = append(tokens, p.tokens...)
	}
	clear(g.pending)
	g.flushed = now
	return tokens
}
