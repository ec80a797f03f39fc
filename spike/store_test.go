package spike

import (
	"context"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
)

// Counts stored by one process are the baseline of the next, and two
// processes counting at once add up.
func TestStoreCarriesTheBaselineAcrossRestarts(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := OpenStore(ctx, natstest.Connect(t, ns), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenStore(ctx, natstest.Connect(t, ns), Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := Key{Institution: "uz-leuven", Category: "misinformation"}
	yesterday := today.Add(-24 * time.Hour).Add(-30 * time.Minute)
	for range 3 {
		a.Note(key, yesterday)
	}
	for range 4 {
		b.Note(key, yesterday)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil { // nothing pending: nothing added twice
		t.Fatal(err)
	}
	d := New(Options{})
	if err := a.Load(ctx, d); err != nil {
		t.Fatal(err)
	}
	hour := yesterday.Truncate(time.Hour)
	if n := d.count(key, hour, hour.Add(time.Hour)); n != 7 {
		t.Errorf("loaded %d mentions for yesterday's hour, want 7", n)
	}
}
