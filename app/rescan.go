package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// RescanResult sums up a Rescan.
type RescanResult struct {
	// Mentions is the number of stored mentions matched again.
	Mentions int
	// Undecodable mentions were skipped (and logged).
	Undecodable int
	// AlertsNew were published; AlertsKnown were already in ALERTS and
	// were not published again.
	AlertsNew   int
	AlertsKnown int
}

// Rescan matches the mentions stored in the MENTIONS stream from now-since
// on with the current rules and publishes the alerts that are not in the
// ALERTS stream yet. Use it after adding or sharpening a rule to find what
// it would have caught.
//
// Existing alerts are read from the stream itself (their Nats-Msg-Id
// headers over the same period) rather than left to JetStream's duplicate
// window, which is far shorter than the retention.
//
// It connects to nats.url; when that is empty to the embedded server of a
// running daemon at nats.listen; when nothing listens there it starts the
// embedded server on the data dir itself.
func Rescan(ctx context.Context, cfg *config.Config, since time.Duration, logger *slog.Logger) (RescanResult, error) {
	var res RescanResult
	if since <= 0 {
		return res, fmt.Errorf("rescan: since must be positive, got %s", since)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	matcher, err := LoadMatcher(cfg)
	if err == nil {
		// A rule whose own examples fail would raise alerts nobody
		// reviewed, about posts of a whole month: refuse.
		err = matcher.TestExamples()
	}
	if err != nil {
		return res, fmt.Errorf("rescan: rules: %w", err)
	}

	conn, closeNATS, err := connectForTool(ctx, cfg, "mediawatch-rescan", true, logger)
	if err != nil {
		return res, fmt.Errorf("rescan: %w", err)
	}
	defer closeNATS()

	reg := prometheus.NewRegistry()
	publisher, err := alerts.NewPublisher(conn, logger, reg)
	if err != nil {
		return res, err
	}
	start := time.Now().Add(-since)
	known, err := alertIDsSince(ctx, conn, start)
	if err != nil {
		return res, fmt.Errorf("rescan: %w", err)
	}
	logger.Debug("rescan: alerts already stored", "since", start, "alerts", len(known))

	now := time.Now()
	opts := alerts.BuildOptions{SnippetLength: cfg.Alerts.SnippetLength}
	err = readStreamSince(ctx, conn, bus.StreamMentions, start, false, func(msg jetstream.Msg, seq uint64) error {
		var m mention.Mention
		if err := json.Unmarshal(msg.Data(), &m); err != nil || m.ID == "" {
			res.Undecodable++
			logger.Warn("rescan: skipping undecodable mention", "seq", seq, "err", err)
			return nil
		}
		res.Mentions++
		for _, a := range alerts.Build(&m, matcher.Match(&m), now, opts) {
			if known[a.ID] {
				res.AlertsKnown++
				continue
			}
			fresh, err := publisher.Publish(ctx, &a)
			if err != nil {
				return fmt.Errorf("alert %s for mention %s: %w", a.ID, m.ID, err)
			}
			known[a.ID] = true
			if !fresh {
				// Stored before the period started, within the
				// duplicate window.
				res.AlertsKnown++
				continue
			}
			res.AlertsNew++
			logger.Info("alert", "alert", a.ID, "institution", a.Institution, "category", a.Category,
				"severity", a.Severity, "rules", a.Rules, "source", a.Mention.Source, "url", a.Mention.URL)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("rescan after %d mentions: %w", res.Mentions, err)
	}
	return res, nil
}

// alertIDsSince collects the ids of the alerts stored from start on. Only
// headers travel: the ids are the Nats-Msg-Id of every alert.
func alertIDsSince(ctx context.Context, conn *bus.Conn, start time.Time) (map[string]bool, error) {
	ids := map[string]bool{}
	err := readStreamSince(ctx, conn, bus.StreamAlerts, start, true, func(msg jetstream.Msg, _ uint64) error {
		if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
			ids[id] = true
		}
		return nil
	})
	return ids, err
}

// readStreamSince calls fn for every message stored in stream from start up
// to the last message at the time of the call, in order.
func readStreamSince(ctx context.Context, conn *bus.Conn, stream string, start time.Time, headersOnly bool, fn func(jetstream.Msg, uint64) error) error {
	s, err := conn.JS.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	return readOrdered(ctx, s, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy,
		OptStartTime:  &start,
		HeadersOnly:   headersOnly,
	}, fn)
}

// readOrdered calls fn for every message the consumer configuration
// selects, up to the last one stored at the time of the call, in order. It
// uses an ordered consumer: nothing is acknowledged and nothing stays
// behind on the server.
func readOrdered(ctx context.Context, s jetstream.Stream, stream string, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg, uint64) error) error {
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("stream %s: consumer: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: consumer info: %w", stream, err)
	}
	if info.NumPending == 0 {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return fmt.Errorf("stream %s: read: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("stream %s: message metadata: %w", stream, err)
		}
		if err := fn(msg, meta.Sequence.Stream); err != nil {
			return err
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
}

// connectForTool connects a one-shot command to NATS: nats.url if set,
// otherwise (with joinDaemon) the embedded server of a daemon running on
// nats.listen, and else an embedded server of its own on the data dir (on a
// random local port, so it never clashes with a daemon starting up). A
// command that changes stored data does not join a daemon: the server at
// nats.listen may serve another data dir than the index the command holds.
func connectForTool(ctx context.Context, cfg *config.Config, name string, joinDaemon bool, logger *slog.Logger) (*bus.Conn, func(), error) {
	url := cfg.NATS.URL
	stop := func() {}
	if url == "" {
		if addr, ok := dialable(cfg.NATS.Listen); joinDaemon && ok && listening(ctx, addr) {
			url = "nats://" + addr
			logger.Debug("using the running daemon's NATS server", "url", url)
		} else {
			ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: "127.0.0.1:-1", StoreDir: NATSStoreDir(cfg), SyncInterval: cfg.NATS.SyncInterval.D(), Logger: logger})
			if err != nil {
				return nil, nil, err
			}
			url = ns.ClientURL()
			stop = func() { ns.Shutdown(); ns.WaitForShutdown() }
		}
	}
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: url, Name: name, Logger: logger})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return conn, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(flushCtx)
		stop()
	}, nil
}

// dialable turns a listen address into one a client can dial: an
// unspecified host means this machine, port 0 the NATS default. Port -1 (a
// random port) cannot be found from outside the process that chose it.
func dialable(listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "-1" {
		return "", false
	}
	if port == "0" {
		port = "4222"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), true
}

// listening reports whether something accepts connections at addr.
func listening(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
