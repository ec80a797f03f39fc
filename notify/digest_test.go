package notify

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
)

// collector is a Receiver that keeps what it is sent, for testing the
// Digest wrapper on its own; fail makes the next sends fail.
type collector struct {
	mu   sync.Mutex
	got  []Message
	at   []time.Time
	fail int
}

func (c *collector) Name() string { return "collector" }

func (c *collector) Send(_ context.Context, m Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail > 0 {
		c.fail--
		return errors.New("down")
	}
	c.got = append(c.got, m)
	c.at = append(c.at, time.Now())
	return nil
}

func (c *collector) messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func alertWith(id string, sev match.Severity, count int) alerts.Alert {
	a := testAlerts()[1]
	a.ID, a.Severity, a.Count = id, sev, count
	return a
}

func ids(m Message) []string {
	var out []string
	for _, a := range m.Alerts {
		out = append(out, a.ID)
	}
	return out
}

func TestDigestInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &collector{}
		d, err := NewDigest(t.Context(), c, DigestOptions{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close(context.Background())
		start := time.Now()
		send := func(as ...alerts.Alert) {
			if err := d.Send(t.Context(), Message{Receiver: "collector", Alerts: as}); err != nil {
				t.Fatal(err)
			}
		}
		send(alertWith("a", match.SeverityLow, 1))
		send(alertWith("b", match.SeverityMedium, 1))
		send(alertWith("a", match.SeverityLow, 4)) // a grouped repeat of a
		send(alertWith("c", match.SeverityHigh, 1))
		synctest.Wait()
		if got := c.messages(); len(got) != 1 || !slices.Equal(ids(got[0]), []string{"c"}) {
			t.Fatalf("sent at once: %v, want only the high alert", got)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got := c.messages()
		if len(got) != 2 {
			t.Fatalf("%d messages after an hour, want 2", len(got))
		}
		dg := got[1]
		if !slices.Equal(ids(dg), []string{"b", "a"}) || dg.Alerts[1].Count != 4 || dg.GroupKey != "digest:collector" {
			t.Errorf("digest = %v (counts %d), want b then a with the newer count", ids(dg), dg.Alerts[1].Count)
		}
		if c.at[1].Sub(start) != time.Hour {
			t.Errorf("digest sent after %v", c.at[1].Sub(start))
		}
		// Nothing held: no empty digest.
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := len(c.messages()); n != 2 {
			t.Errorf("%d messages, want no empty digest", n)
		}
	})
}

// TestDigestFlushedWhenContextEnds: ending the context delivers what is
// held, so nothing is lost at shutdown.
func TestDigestFlushedWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &collector{}
		ctx, cancel := context.WithCancel(t.Context())
		d, err := NewDigest(ctx, c, DigestOptions{Interval: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Send(ctx, Message{Alerts: []alerts.Alert{alertWith("a", match.SeverityMedium, 1)}, Truncated: 2})
		time.Sleep(time.Minute)
		cancel()
		synctest.Wait()
		got := c.messages()
		if len(got) != 1 || !slices.Equal(ids(got[0]), []string{"a"}) || got[0].Truncated != 2 {
			t.Fatalf("after cancel: %+v", got)
		}
		// Closed: a later message goes through at once.
		_ = d.Send(context.Background(), Message{Alerts: []alerts.Alert{alertWith("b", match.SeverityLow, 1)}})
		if n := len(c.messages()); n != 2 {
			t.Errorf("%d messages, want 2", n)
		}
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close after the context ended: %v", err)
		}
	})
}

// TestDigestKeepsAlertsWhenDeliveryFails holds them for the next interval.
func TestDigestKeepsAlertsWhenDeliveryFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &collector{fail: 1}
		d, err := NewDigest(t.Context(), c, DigestOptions{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		_ = d.Send(t.Context(), Message{Alerts: []alerts.Alert{alertWith("a", match.SeverityLow, 1)}})
		time.Sleep(time.Hour)
		synctest.Wait()
		if len(c.messages()) != 0 || d.Pending() != 1 {
			t.Fatalf("after a failed flush: %d sent, %d pending", len(c.messages()), d.Pending())
		}
		_ = d.Send(t.Context(), Message{Alerts: []alerts.Alert{alertWith("b", match.SeverityLow, 1)}})
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := c.messages()
		if len(got) != 1 || !slices.Equal(ids(got[0]), []string{"a", "b"}) {
			t.Errorf("after Close: %v", got)
		}
	})
}

func TestDigestCapsAlerts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &collector{}
		d, err := NewDigest(t.Context(), c, DigestOptions{Interval: time.Hour, MaxAlerts: 2, MaxSeverity: match.SeverityHigh})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b", "c", "d"} {
			_ = d.Send(t.Context(), Message{Alerts: []alerts.Alert{alertWith(id, match.SeverityHigh, 1)}, Truncated: 1})
		}
		if err := d.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		got := c.messages()
		if len(got) != 1 || len(got[0].Alerts) != 2 || got[0].Truncated != 6 {
			t.Errorf("digest: %d messages, alerts %v, truncated %d; want 2 alerts and 6 left out", len(got), ids(got[0]), got[0].Truncated)
		}
	})
}

func TestNewDigestChecksOptions(t *testing.T) {
	if _, err := NewDigest(t.Context(), &collector{}, DigestOptions{}); err == nil {
		t.Error("no interval: no error")
	}
	if _, err := NewDigest(t.Context(), &collector{}, DigestOptions{Interval: time.Hour, MaxSeverity: "urgent"}); err == nil {
		t.Error("unknown severity: no error")
	}
}
