package app

import (
	"fmt"
	"strings"
)

// Roles are the parts of mediawatch a process runs. One process runs them
// all; a deployment on a NATS cluster spreads them over several:
//
//   - ingest polls the feeds and publishes mentions; several ingest
//     processes share the feed list through leases (package lease);
//   - match matches mentions and publishes alerts, and dispatches
//     notifications; several share the MENTIONS stream through the
//     durable consumer "match";
//   - web serves the dashboard and the API, from views of the streams and
//     a search index of its own (built by its match stage, or, without
//     the match role, by an index consumer of its own).
//
// Every process serves /metrics, /healthz and /readyz.
type Roles struct {
	Ingest, Match, Web bool
}

// AllRoles is one process doing everything.
func AllRoles() Roles { return Roles{Ingest: true, Match: true, Web: true} }

// ParseRoles reads --role: "all", or a comma-separated list of ingest,
// match and web.
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "all":
			r = AllRoles()
		case "ingest":
			r.Ingest = true
		case "match":
			r.Match = true
		case "web":
			r.Web = true
		default:
			return Roles{}, fmt.Errorf("unknown role %q (want all, or a comma-separated list of ingest, match, web)", strings.TrimSpace(part))
		}
	}
	return r, nil
}

// String is the roles as --role takes them.
func (r Roles) String() string {
	if r == AllRoles() {
		return "all"
	}
	var parts []string
	for _, x := range []struct {
		on   bool
		name string
	}{{r.Ingest, "ingest"}, {r.Match, "match"}, {r.Web, "web"}} {
		if x.on {
			parts = append(parts, x.name)
		}
	}
	return strings.Join(parts, ",")
}

// none reports whether no role is set (the zero Roles, read as all).
func (r Roles) none() bool { return r == Roles{} }
