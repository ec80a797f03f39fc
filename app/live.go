package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

// live follows the ALERTS and TRIAGE streams for the open queue pages,
// each page with consumers of its own that leave nothing on the server.
type live struct {
	js     jetstream.JetStream
	logger *slog.Logger
	// done ends every Follow: a queue page's event stream never goes idle
	// by itself, and the HTTP server's shutdown waits for idle
	// connections.
	done context.Context
	// seen, when set, gives the ALERTS and TRIAGE sequences the
	// dashboard's views (recent alerts, triage store) have applied: a
	// page rendered from them has seen exactly that much, so its live
	// updates start there. Without it, the streams' ends.
	seen func() (alerts, triage uint64)
}

var _ web.Live = (*live)(nil)

// Position is where a page rendered now has seen up to: what the views
// have applied, or else the last sequence of each stream.
func (l *live) Position(ctx context.Context) (web.Position, error) {
	if l.seen != nil {
		a, t := l.seen()
		return web.Position{Alerts: a, Triage: t}, nil
	}
	a, err := l.lastSeq(ctx, bus.StreamAlerts)
	if err != nil {
		return web.Position{}, err
	}
	t, err := l.lastSeq(ctx, triage.StreamTriage)
	if err != nil {
		return web.Position{}, err
	}
	return web.Position{Alerts: a, Triage: t}, nil
}

func (l *live) lastSeq(ctx context.Context, stream string) (uint64, error) {
	str, err := l.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return str.CachedInfo().State.LastSeq, nil
}

// errStopped ends the other stream's tail once fn has failed: fn is not
// called again after it returned an error.
var errStopped = errors.New("live updates stopped")

// Follow calls fn for every alert and triage event stored after from, one
// call at a time, until ctx ends (nil) or fn or a stream fails (that
// error). Each event carries the position after it: the sequence of its
// own stream and the last one passed on of the other. Messages that do
// not decode are skipped (and logged); the position moves past them with
// the next event.
func (l *live) Follow(ctx context.Context, from web.Position, fn func(web.LiveEvent) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l.done != nil {
		defer context.AfterFunc(l.done, cancel)()
	}

	var (
		mu     sync.Mutex
		pos    = from
		failed bool
	)
	deliver := func(update func(*web.Position), ev web.LiveEvent) error {
		mu.Lock()
		defer mu.Unlock()
		if failed {
			return errStopped
		}
		update(&pos)
		ev.Pos = pos
		if err := fn(ev); err != nil {
			failed = true
			return err
		}
		return nil
	}
	onAlert := func(seq uint64, data []byte) error {
		var a alerts.Alert
		if err := json.Unmarshal(data, &a); err != nil || a.ID == "" {
			l.logger.Warn("undecodable alert skipped", "stream", bus.StreamAlerts, "seq", seq, "err", err)
			return nil
		}
		return deliver(func(p *web.Position) { p.Alerts = seq }, web.LiveEvent{Alert: &a})
	}
	onTriage := func(seq uint64, data []byte) error {
		var e triage.Event
		if err := json.Unmarshal(data, &e); err != nil || e.AlertID == "" {
			l.logger.Warn("undecodable triage event skipped", "stream", triage.StreamTriage, "seq", seq, "err", err)
			return nil
		}
		return deliver(func(p *web.Position) { p.Triage = seq }, web.LiveEvent{Triage: &e})
	}

	// Both tails run until either ends: a page must not go on with half
	// its updates.
	errs := make(chan error, 2)
	run := func(stream, subject string, after uint64, handle func(uint64, []byte) error) {
		err := l.tail(ctx, stream, subject, after, handle)
		cancel()
		errs <- err
	}
	go run(bus.StreamAlerts, bus.SubjectAlerts, from.Alerts, onAlert)
	go run(triage.StreamTriage, triage.SubjectTriage, from.Triage, onTriage)
	var first error
	for range 2 {
		if err := <-errs; err != nil && !errors.Is(err, errStopped) && first == nil {
			first = err
		}
	}
	return first
}

// tail is bus.Tail from after, where 0 means from the beginning: a page
// that saw an empty stream has seen none of what came since. bus.Tail
// reads 0 as "from now on", so the stream's first message is read here
// and the tail starts after it. A stream still empty now is tailed from
// now on; a message stored between this check and the tail's start would
// be missed, which only matters on a daemon's very first alert.
func (l *live) tail(ctx context.Context, stream, subject string, after uint64, fn func(uint64, []byte) error) error {
	if after == 0 {
		str, err := l.js.Stream(ctx, stream)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("stream %s: %w", stream, err)
		}
		state := str.CachedInfo().State
		switch {
		case state.LastSeq == 0:
		case state.FirstSeq > 1:
			after = state.FirstSeq - 1
		default:
			msg, err := str.GetMsg(ctx, 1)
			switch {
			case err == nil:
				if err := fn(1, msg.Data); err != nil {
					return err
				}
			case ctx.Err() != nil:
				return nil
			case !errors.Is(err, jetstream.ErrMsgNotFound): // gone meanwhile: nothing to pass on
				return fmt.Errorf("stream %s: read message 1: %w", stream, err)
			}
			after = 1
		}
	}
	return bus.Tail(ctx, l.js, stream, subject, after, fn)
}
