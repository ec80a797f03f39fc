package config

import (
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/notify"
	"github.com/mediawatch/mediawatch/route"
)

// Route is one route of the routing tree as written in the file; see
// package route for what each key does. Timings and grouping left out are
// inherited from the parent route.
type Route struct {
	Receiver       string              `yaml:"receiver"`
	Match          map[string][]string `yaml:"match"`
	Continue       bool                `yaml:"continue"`
	GroupBy        []string            `yaml:"group_by"`
	GroupWait      Duration            `yaml:"group_wait"`
	GroupInterval  Duration            `yaml:"group_interval"`
	RepeatInterval Duration            `yaml:"repeat_interval"`
	Routes         []Route             `yaml:"routes"`
}

// RouteConfig converts the routing tree for package route.
func (r Route) RouteConfig() route.Config {
	out := route.Config{
		Receiver: r.Receiver, Match: r.Match, Continue: r.Continue, GroupBy: r.GroupBy,
		GroupWait: r.GroupWait.D(), GroupInterval: r.GroupInterval.D(), RepeatInterval: r.RepeatInterval.D(),
	}
	for _, c := range r.Routes {
		out.Routes = append(out.Routes, c.RouteConfig())
	}
	return out
}

// ReceiverNames lists the configured receivers' names.
func (c *Config) ReceiverNames() []string {
	names := make([]string, 0, len(c.Receivers))
	for _, r := range c.Receivers {
		names = append(names, r.Name)
	}
	return names
}

// defaultReceivers are the guidelines' contacts, per institution, as NATS
// subjects that need no setup: the communications team, the privacy
// officer (patient data) and the press office (serious misinformation),
// and one catch-all for alerts about no configured institution.
func defaultReceivers(institutions []string) []notify.ReceiverConfig {
	out := []notify.ReceiverConfig{{Name: "comms", Type: notify.TypeNATS}}
	for _, id := range institutions {
		for _, role := range []string{"comms", "privacy", "press"} {
			out = append(out, notify.ReceiverConfig{Name: role + "-" + id, Type: notify.TypeNATS})
		}
	}
	return out
}

// defaultRouting sends, per institution, patient data to the privacy
// officer and high or critical misinformation to the press office, and
// everything to the communications team. Patient data waits 10 seconds for
// company instead of 30: a leak is the alert nobody should wait for.
func defaultRouting(institutions []string) Route {
	root := Route{
		Receiver: "comms", GroupBy: []string{route.LabelInstitution, route.LabelCategory},
		GroupWait: Duration(route.DefaultGroupWait), GroupInterval: Duration(route.DefaultGroupInterval),
		RepeatInterval: Duration(route.DefaultRepeatInterval),
	}
	for _, id := range institutions {
		root.Routes = append(root.Routes, Route{
			Match:    map[string][]string{route.LabelInstitution: {id}},
			Receiver: "comms-" + id,
			Routes: []Route{
				{Match: map[string][]string{route.LabelCategory: {"patient_data"}}, Receiver: "privacy-" + id, Continue: true, GroupWait: Duration(10 * time.Second)},
				{Match: map[string][]string{route.LabelCategory: {"misinformation"}, route.LabelSeverity: {"high", "critical"}}, Receiver: "press-" + id, Continue: true},
				{Receiver: "comms-" + id},
			},
		})
	}
	return root
}

func institutionIDs(c *Config) []string {
	ids := make([]string, 0, len(c.Institutions))
	for _, in := range c.Institutions {
		ids = append(ids, in.ID)
	}
	return ids
}

// routing checks the receivers and the routing tree, reporting problems at
// the receivers' entries and at routing.
func (c *checker) routing(cfg *Config) {
	for i, r := range cfg.Receivers {
		if err := r.Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				c.addf(path{"receivers", i}, "%s", line)
			}
		}
	}
	if _, err := route.Build(cfg.Routing.RouteConfig(), cfg.ReceiverNames()); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			c.addf(path{"routing"}, "%s", line)
		}
	}
}
