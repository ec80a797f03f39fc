package e2e

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var liveFrom = regexp.MustCompile(`data-live-from="([0-9]+)-[0-9]+"`)

// TestQueuePageMissesNoAlert: an alert stored just before the queue page is
// rendered is on the page or in its live updates — never in neither. The
// page's live position is what the view it was rendered from had applied,
// taken before the rows.
func TestQueuePageMissesNoAlert(t *testing.T) {
	d := startDaemon(t, testConfig(t))
	pub := publisher(t, d)
	js := d.jetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := d.client(t, analyst)
	str, err := js.Stream(ctx, "ALERTS")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		a := benchAlert(i, time.Now())
		// Seen now, so it sorts first on the page.
		a.DetectedAt, a.FirstSeen, a.LastSeen = time.Now(), time.Now(), time.Now()
		if _, err := pub.Publish(ctx, &a); err != nil {
			t.Fatal(err)
		}
		info, err := str.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seq := info.State.LastSeq // the alert's sequence: nothing else publishes
		resp, err := c.Get(d.base + "/?status=all")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		page := string(body)
		m := liveFrom.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("alert %d: the queue page has no live position", i)
		}
		from, _ := strconv.ParseUint(m[1], 10, 64)
		onPage := strings.Contains(page, `data-id="`+a.ID+`"`)
		if !onPage && from >= seq {
			t.Fatalf("alert %d (sequence %d) is neither on the page nor after its live position %s", i, seq, m[1])
		}
	}
}
