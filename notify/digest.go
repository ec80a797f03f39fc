package notify

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
)

// DigestOptions tune a Digest. Zero fields take the defaults named.
type DigestOptions struct {
	// Interval between digests; required.
	Interval time.Duration
	// MaxSeverity is the highest severity held for the digest (default
	// medium): a message with an alert above it is sent at once.
	MaxSeverity match.Severity
	// MaxAlerts caps the alerts listed in one digest (default 100); the
	// others are counted in its Truncated.
	MaxAlerts int
	// FlushTimeout bounds the final delivery when the digest's context
	// ends (default 30s).
	FlushTimeout time.Duration
	Logger       *slog.Logger
}

// Digest is a Receiver that holds the messages of low severity and sends
// them to the receiver it wraps as one combined message per interval.
// Messages with an alert above MaxSeverity go through at once. What it
// holds is delivered when its context ends or Close is called, so nothing
// is lost at shutdown.
type Digest struct {
	next   Receiver
	opts   DigestOptions
	logger *slog.Logger

	flushMu sync.Mutex // one delivery at a time, in order

	mu        sync.Mutex
	pending   []alerts.Alert
	byID      map[string]int // alert id → index in pending
	truncated int
	dashboard string
	closed    bool

	stop chan struct{} // closed by Close
	done chan struct{} // closed when the loop has ended
	once sync.Once
}

// NewDigest wraps next and starts the loop that flushes every interval
// until ctx ends or Close is called.
func NewDigest(ctx context.Context, next Receiver, opts DigestOptions) (*Digest, error) {
	if opts.Interval <= 0 {
		return nil, fmt.Errorf("receiver %q: digest interval must be positive", next.Name())
	}
	if opts.MaxSeverity == "" {
		opts.MaxSeverity = match.SeverityMedium
	}
	if !opts.MaxSeverity.Valid() {
		return nil, fmt.Errorf("receiver %q: digest: unknown severity %q", next.Name(), opts.MaxSeverity)
	}
	if opts.MaxAlerts <= 0 {
		opts.MaxAlerts = 100
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = 30 * time.Second
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Digest{
		next:   next,
		opts:   opts,
		logger: logger,
		byID:   map[string]int{},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go d.loop(ctx)
	return d, nil
}

func (d *Digest) Name() string { return d.next.Name() }

// Send holds m for the next digest, or sends it at once when one of its
// alerts is above MaxSeverity or the digest is closed.
func (d *Digest) Send(ctx context.Context, m Message) error {
	if highest(m.Alerts).Rank() > d.opts.MaxSeverity.Rank() {
		return d.next.Send(ctx, m)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return d.next.Send(ctx, m)
	}
	d.add(m.Alerts, m.Truncated)
	if m.DashboardURL != "" {
		d.dashboard = m.DashboardURL
	}
	d.mu.Unlock()
	return nil
}

// add merges alerts into pending; d.mu is held. A newer copy of an alert
// already held (a grouped repeat) replaces it; alerts beyond MaxAlerts are
// only counted.
func (d *Digest) add(as []alerts.Alert, truncated int) {
	d.truncated += max(truncated, 0)
	for _, a := range as {
		if i, ok := d.byID[a.ID]; ok {
			d.pending[i] = a
			continue
		}
		if len(d.pending) >= d.opts.MaxAlerts {
			d.truncated++
			continue
		}
		d.byID[a.ID] = len(d.pending)
		d.pending = append(d.pending, a)
	}
}

// Pending returns how many alerts the digest holds.
func (d *Digest) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending) + d.truncated
}

// Flush sends what the digest holds now as one message. On failure the
// alerts are held again for the next flush and the error is returned.
func (d *Digest) Flush(ctx context.Context) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	as, truncated, dash := d.pending, d.truncated, d.dashboard
	d.pending, d.truncated, d.byID = nil, 0, map[string]int{}
	d.mu.Unlock()
	if len(as) == 0 && truncated == 0 {
		return nil
	}
	sorted := slices.Clone(as)
	slices.SortStableFunc(sorted, func(a, b alerts.Alert) int {
		if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
			return c
		}
		return a.LastSeen.Compare(b.LastSeen)
	})
	m := Message{
		Receiver:     d.Name(),
		GroupKey:     "digest:" + d.Name(),
		Alerts:       sorted,
		Truncated:    truncated,
		DashboardURL: dash,
	}
	if err := d.next.Send(ctx, m); err != nil {
		d.mu.Lock()
		// Put them back before anything that came in meanwhile, which is
		// newer and wins.
		newer, newerTruncated := d.pending, d.truncated
		d.pending, d.truncated, d.byID = nil, 0, map[string]int{}
		d.add(as, truncated)
		d.add(newer, newerTruncated)
		d.mu.Unlock()
		return fmt.Errorf("digest: %w", err)
	}
	return nil
}

// Close stops the digest and delivers what it holds within ctx. Messages
// sent after Close go through at once. Close is safe to call more than
// once.
func (d *Digest) Close(ctx context.Context) error {
	d.once.Do(func() { close(d.stop) })
	select {
	case <-d.done:
	case <-ctx.Done():
		// The loop is still delivering a digest; what it fails to deliver
		// it holds again, and the next Close or Flush sends it.
		return fmt.Errorf("digest %q: close: %w", d.Name(), ctx.Err())
	}
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	if err := d.Flush(ctx); err != nil {
		n := d.Pending()
		d.logger.Error("digest not delivered at shutdown", "receiver", d.Name(), "alerts", n, "err", err)
		return err
	}
	return nil
}

// loop flushes every interval; when ctx ends it flushes once more, on a
// context of its own bounded by FlushTimeout, and marks the digest closed.
func (d *Digest) loop(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := d.Flush(ctx); err != nil {
				d.logger.Warn("digest not delivered, held for the next one", "receiver", d.Name(),
					"alerts", d.Pending(), "err", err)
			}
		case <-ctx.Done():
			d.mu.Lock()
			d.closed = true
			d.mu.Unlock()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.FlushTimeout)
			err := d.Flush(fctx)
			cancel()
			if err != nil {
				d.logger.Error("digest not delivered at shutdown", "receiver", d.Name(), "alerts", d.Pending(), "err", err)
			}
			return
		case <-d.stop:
			return
		}
	}
}
