package index

import (
	"context"
	"fmt"
	"github.com/mediawatch/mediawatch/internal/testfs"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestExisting(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	ctx := context.Background()
	got, err := ix.Existing(ctx, docs[0].ID, "no-such-doc", "", docs[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{docs[0].ID, docs[2].ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Existing = %v, want %v", got, want)
	}
	if got, err := ix.Existing(ctx); err != nil || len(got) != 0 {
		t.Errorf("Existing() = %v, %v; want nothing", got, err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Existing(ctx, docs[0].ID); err != ErrClosed {
		t.Errorf("Existing after Close: %v, want ErrClosed", err)
	}
}

// Documents expire by the time their mention was fetched; one without a
// fetch time by its publication; a post published long ago but fetched
// recently stays.
func TestDeleteBefore(t *testing.T) {
	ix, err := Open(filepath.Join(t.TempDir(), "idx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cutoff := now.Add(-30 * 24 * time.Hour)
	old, recent := cutoff.Add(-time.Hour), cutoff.Add(time.Hour)
	docs := []Doc{
		{ID: "fetched-old", Title: "oud", Published: old, Fetched: old},
		{ID: "fetched-just-before", Title: "oud", Published: recent, Fetched: cutoff.Add(-time.Nanosecond)},
		{ID: "fetched-at-cutoff", Title: "grens", Published: old, Fetched: cutoff},
		{ID: "published-long-ago-fetched-recently", Title: "archief", Published: old.Add(-365 * 24 * time.Hour), Fetched: recent},
		{ID: "unfetched-old", Title: "oud", Published: old},
		{ID: "unfetched-recent", Title: "nieuw", Published: recent},
		{ID: "no-times", Title: "zonder tijd"},
		{ID: "fetched-recent", Title: "nieuw", Published: recent, Fetched: now},
	}
	if err := ix.Index(ctx, docs); err != nil {
		t.Fatal(err)
	}
	n, err := ix.DeleteBefore(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("DeleteBefore removed %d documents, want 3", n)
	}
	var ids []string
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	left, err := ix.Existing(ctx, ids...)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	want := []string{"fetched-at-cutoff", "fetched-recent", "no-times", "published-long-ago-fetched-recently", "unfetched-recent"}
	if !slices.Equal(left, want) {
		t.Errorf("left after DeleteBefore: %v, want %v", left, want)
	}
	// Nothing more to do: a second run removes nothing.
	if n, err := ix.DeleteBefore(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second DeleteBefore = %d, %v; want 0, nil", n, err)
	}
	if _, err := ix.DeleteBefore(ctx, time.Time{}); err == nil {
		t.Error("DeleteBefore with a zero cutoff succeeded")
	}
}

// More expired documents than one batch holds are all removed, and the
// count says so.
func TestDeleteBeforeManyBatches(t *testing.T) {
	ix, err := Open(filepath.Join(t.TempDir(), "idx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	ctx := context.Background()
	cutoff := time.Now()
	var docs []Doc
	const expired = expireBatchSize*2 + 17
	for i := range expired + 5 {
		at := cutoff.Add(-time.Duration(i+1) * time.Minute)
		if i >= expired {
			at = cutoff.Add(time.Duration(i) * time.Minute)
		}
		docs = append(docs, Doc{ID: fmt.Sprintf("doc-%04d", i), Title: "x", Fetched: at, Published: at})
	}
	if err := ix.Index(ctx, docs); err != nil {
		t.Fatal(err)
	}
	n, err := ix.DeleteBefore(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != expired {
		t.Errorf("removed %d, want %d", n, expired)
	}
	if c, _ := ix.DocCount(); c != 5 {
		t.Errorf("%d documents left, want 5", c)
	}
}

// After Delete and Compact nothing of a document is left in the index's
// files, whichever segment it was in; the other documents are all there.
func TestCompactLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	// Words no compression shortens: each occurs once.
	secrets := []string{"qwxyza", "plmokn", "vbnmas", "ghjkla", "rtyuio"}
	for round := range 20 {
		dir := filepath.Join(t.TempDir(), "idx")
		ix, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for j := range round % 4 {
			if err := ix.Index(ctx, []Doc{{ID: fmt.Sprint("before-", j), Title: "vulling"}}); err != nil {
				t.Fatal(err)
			}
		}
		secret := Doc{ID: "secret", Title: secrets[0], Text: secrets[1], URL: "https://" + secrets[2] + ".example/", Author: secrets[3], Rules: []string{secrets[4]}, Fetched: time.Now()}
		if err := ix.Index(ctx, []Doc{secret, {ID: "keep", Title: "blijft"}}); err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if ix, err = Open(dir, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.Delete(ctx, "secret"); err != nil {
			t.Fatal(err)
		}
		if err := ix.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if files := testfs.FilesContaining(t, dir, s); len(files) > 0 {
				t.Fatalf("round %d: %q still in %v", round, s, files)
			}
		}
		ix, err = Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := ix.DocCount(); n != uint64(round%4+1) {
			t.Errorf("round %d: %d documents after compaction, want %d", round, n, round%4+1)
		}
		if got, _ := ix.Existing(ctx, "keep", compactMarkerID); !slices.Equal(got, []string{"keep"}) {
			t.Errorf("round %d: Existing(keep, marker) = %q", round, got)
		}
		_ = ix.Close()
	}
}
