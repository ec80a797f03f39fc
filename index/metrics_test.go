package index

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The size gauge reports the bytes of the index directory as a walk of it
// finds them.
func TestMetricsIndexSize(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Index(context.Background(), loadDocs(t)); err != nil {
		t.Fatal(err)
	}
	got := testutil.ToFloat64(ix.metrics.size)
	if got <= 0 {
		t.Fatalf("mediawatch_index_size_bytes = %v for an index with documents", got)
	}
	// Bleve merges segments in the background; the walk at scrape time and
	// this one may differ by a file, not by the index.
	if walked := float64(dirBytes(dir)); got < walked/4 || got > walked*4 {
		t.Errorf("mediawatch_index_size_bytes = %v, a walk of the directory finds %v", got, walked)
	}
}

// Scrapes within the cache time reuse the last measurement; after it the
// directory is walked again.
func TestDirSizerCaches(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	write("index_meta.json", 100)
	write("store/000000000001.zap", 1000)
	now := time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)
	d := &dirSizer{path: dir, ttl: 10 * time.Second, now: func() time.Time { return now }}
	if got := d.bytes(); got != 1100 {
		t.Fatalf("size %v, want 1100 (files in subdirectories included)", got)
	}
	write("store/000000000002.zap", 500)
	now = now.Add(9 * time.Second)
	if got := d.bytes(); got != 1100 {
		t.Errorf("size %v within the cache time, want the cached 1100", got)
	}
	now = now.Add(2 * time.Second)
	if got := d.bytes(); got != 1600 {
		t.Errorf("size %v after the cache time, want 1600", got)
	}
	missing := &dirSizer{path: filepath.Join(dir, "gone"), ttl: time.Second, now: time.Now}
	if got := missing.bytes(); got != 0 {
		t.Errorf("size of a missing directory %v, want 0", got)
	}
}
