package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/dispatch"
	"github.com/mediawatch/mediawatch/notify"
	"github.com/mediawatch/mediawatch/route"
	"github.com/mediawatch/mediawatch/silence"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// StreamNotifications holds what receivers of type nats publish: one
// message per group notification, on mediawatch.notifications.<receiver>.
const StreamNotifications = "NOTIFICATIONS"

// maxNotifiedAlerts bounds the alerts one notification lists; the rest are
// counted as truncated.
const maxNotifiedAlerts = 50

// notifier is the delivery side: receivers, the routing tree and the
// dispatcher that joins them.
type notifier struct {
	receivers  map[string]notify.Receiver
	dispatcher *dispatch.Dispatcher
}

func newNotifier(ctx context.Context, conn *bus.Conn, cfg *config.Config, tri *triage.Store, sil *silence.Store, log *slog.Logger, reg prometheus.Registerer) (*notifier, error) {
	if _, err := conn.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamNotifications,
		Description: "Group notifications for receivers of type nats, one subject per receiver.",
		Subjects:    []string{notify.SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      retentionOf(cfg),
		Duplicates:  min(2*time.Minute, retentionOf(cfg)),
	}); err != nil {
		return nil, fmt.Errorf("stream %s: %w", StreamNotifications, err)
	}
	receivers, err := notify.Build(cfg.Receivers, notify.Deps{
		Logger: log, Registerer: reg,
		Publish: func(ctx context.Context, subject, msgID string, data []byte) error {
			_, err := conn.JS.Publish(ctx, subject, data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(StreamNotifications))
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	root, err := route.Build(cfg.Routing.RouteConfig(), cfg.ReceiverNames())
	if err != nil {
		_ = notify.CloseAll(ctx, receivers)
		return nil, err
	}
	deliver := func(ctx context.Context, receiver, groupKey string, list []alerts.Alert) error {
		r, ok := receivers[receiver]
		if !ok {
			return fmt.Errorf("no receiver %q", receiver)
		}
		m := notify.Message{Receiver: receiver, GroupKey: groupKey, Alerts: list}
		if len(list) > maxNotifiedAlerts {
			m.Alerts, m.Truncated = list[:maxNotifiedAlerts], len(list)-maxNotifiedAlerts
		}
		return r.Send(ctx, m)
	}
	d, err := dispatch.New(ctx, dispatch.Options{
		JS: conn.JS, Stream: bus.StreamAlerts, Subject: bus.SubjectAlerts, Root: root, Deliver: deliver,
		Closed:   tri.Closed,
		Silenced: func(a *alerts.Alert) bool { _, ok := sil.Silenced(a); return ok },
		Logger:   log, Registerer: reg,
	})
	if err != nil {
		_ = notify.CloseAll(ctx, receivers)
		return nil, err
	}
	return &notifier{receivers: receivers, dispatcher: d}, nil
}

// close lets the receivers that hold messages back (digests) deliver them.
func (n *notifier) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := notify.CloseAll(ctx, n.receivers); err != nil {
		log.Error("receivers did not deliver everything at shutdown", "err", err)
	}
}
