package notify

import (
	"context"
	"errors"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
)

// Message is one notification: a group of alerts for one receiver.
type Message struct {
	Receiver string // receiver name from config
	GroupKey string // stable key of the group (e.g. route + grouping labels)
	// Alerts are the alerts in the group, already redacted by the alerts
	// package.
	Alerts []alerts.Alert
	// Truncated counts the alerts left out of Alerts because the group is
	// large.
	Truncated int
	// DashboardURL is the base URL of the dashboard, for links; it may be
	// empty.
	DashboardURL string
}

// Receiver delivers messages to one destination.
type Receiver interface {
	Name() string
	Send(ctx context.Context, m Message) error
}

// Closer is implemented by receivers that hold messages back (a Digest):
// Close delivers what they hold and stops their background work.
type Closer interface {
	Close(ctx context.Context) error
}

// Receiver types, as written in the configuration and in metric labels.
const (
	TypeGeneric    = "generic"
	TypeSlack      = "slack"
	TypeTeams      = "teams"
	TypeMattermost = "mattermost"
	TypeEmail      = "email"
	// TypeNATS publishes on mediawatch.notifications.<name>.
	TypeNATS = "nats"
)

// Types lists every receiver type.
func Types() []string {
	return []string{TypeGeneric, TypeSlack, TypeTeams, TypeMattermost, TypeEmail, TypeNATS}
}

// CloseAll closes every receiver that implements Closer, so that digests
// deliver what they hold, and returns every error joined.
func CloseAll(ctx context.Context, receivers map[string]Receiver) error {
	var errs []error
	for _, r := range receivers {
		if c, ok := r.(Closer); ok {
			errs = append(errs, c.Close(ctx))
		}
	}
	return errors.Join(errs...)
}

// highest returns the highest severity among the alerts of m ("" when it
// has none).
func highest(as []alerts.Alert) match.Severity {
	var s match.Severity
	for _, a := range as {
		if a.Severity.Rank() > s.Rank() {
			s = a.Severity
		}
	}
	return s
}
