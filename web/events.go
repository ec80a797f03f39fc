package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/triage"
)

// Position is a place in the two streams the queue follows: the last
// ALERTS and TRIAGE sequences a page has seen.
type Position struct {
	Alerts, Triage uint64
}

// String is the position as the SSE event id and the page's resume point.
func (p Position) String() string {
	return strconv.FormatUint(p.Alerts, 10) + "-" + strconv.FormatUint(p.Triage, 10)
}

// parsePosition reads a Position; ok is false for anything malformed.
func parsePosition(s string) (Position, bool) {
	a, t, found := strings.Cut(s, "-")
	if !found {
		return Position{}, false
	}
	pa, err1 := strconv.ParseUint(a, 10, 64)
	pt, err2 := strconv.ParseUint(t, 10, 64)
	return Position{pa, pt}, err1 == nil && err2 == nil
}

// LiveEvent is one change for an open queue: a new or repeated alert, or a
// triage event. Pos is the position after it.
type LiveEvent struct {
	Pos    Position
	Alert  *alerts.Alert
	Triage *triage.Event
}

// Live follows the ALERTS and TRIAGE streams for open queue pages.
type Live interface {
	// Position is where the streams end now.
	Position(ctx context.Context) (Position, error)
	// Follow calls fn, one call at a time, for every alert and triage
	// event stored after from, until ctx ends or fn fails.
	Follow(ctx context.Context, from Position, fn func(LiveEvent) error) error
}

// sseHeartbeat keeps proxies from closing an idle event stream.
const sseHeartbeat = 25 * time.Second

// events serves GET /events: the queue's live updates as Server-Sent
// Events, straight from JetStream. An alert that passes the page's filters
// comes as "alert" with the row rendered by the same template as the page
// (so escaping is the template's, not the script's); a status change as
// "status". The event id is the stream position: a reconnecting browser
// sends it back as Last-Event-ID and misses nothing.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	if s.opts.Live == nil {
		writeError(w, http.StatusServiceUnavailable, "live updates are not available")
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported")
		return
	}
	from, ok := parsePosition(r.Header.Get("Last-Event-ID"))
	if !ok {
		if from, ok = parsePosition(r.URL.Query().Get("from")); !ok {
			var err error
			if from, err = s.opts.Live.Position(r.Context()); err != nil {
				writeError(w, http.StatusServiceUnavailable, "live updates are not available")
				return
			}
		}
	}
	filter := readQueueFilter(r.URL.Query(), time.Now())
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n\n")
	flusher.Flush()
	defer s.metrics.streamOpened()()

	var mu sync.Mutex // the heartbeat and the events write to w
	send := func(event, id string, data any) error {
		body, err := json.Marshal(data)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if id != "" {
			fmt.Fprintf(w, "id: %s\n", id)
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, body); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	heartbeatDone := make(chan struct{})
	// The heartbeat must not write after the handler returns: cancel it
	// and wait for it.
	defer func() { cancel(); <-heartbeatDone }()
	go func() {
		defer close(heartbeatDone)
		t := time.NewTicker(sseHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				mu.Lock()
				_, err := fmt.Fprint(w, ": heartbeat\n\n")
				if err == nil {
					flusher.Flush()
				}
				mu.Unlock()
				if err != nil {
					cancel()
					return
				}
			}
		}
	}()
	p := s.pageFor(r, "queue.html", nil)
	err := s.opts.Live.Follow(ctx, from, func(ev LiveEvent) error {
		id := ev.Pos.String()
		switch {
		case ev.Alert != nil:
			a := *ev.Alert
			status := s.status(a.ID)
			if !filter.keep(a, status, "") {
				return send("position", id, map[string]string{"pos": id})
			}
			var buf bytes.Buffer
			row := queueRow{Alert: a, Status: status}
			if err := s.pages["queue.html"].ExecuteTemplate(&buf, "row", rowData{Page: p, Row: row}); err != nil {
				return err
			}
			return send("alert", id, map[string]string{"id": a.ID, "html": buf.String()})
		case ev.Triage != nil:
			e := ev.Triage
			// A row whose new status the page's filter does not show
			// (resolved, on the open queue) leaves the page.
			leaves := false
			if a, ok := s.opts.Alerts.Get(e.AlertID); ok {
				leaves = !filter.keep(a, e.Status, "")
			}
			return send("status", id, map[string]any{"id": e.AlertID, "status": e.Status, "label": p.P.T(statusLabel(e.Status)),
				"actor": e.Actor, "leaves": leaves})
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.opts.Logger.Warn("live updates ended", "err", err)
	}
}

// rowData is what the "row" template gets: the page (printer, permissions)
// and one alert.
type rowData struct {
	Page page
	Row  queueRow
}

// statusLabel is the English label of a status, the key of its
// translation.
func statusLabel(status string) string {
	return strings.ReplaceAll(status, "_", " ")
}
