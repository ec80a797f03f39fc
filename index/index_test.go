package index

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testDoc is the on-disk form of a Doc in testdata/mentions.jsonl.
type testDoc struct {
	ID           string    `json:"id"`
	Source       string    `json:"source"`
	FeedID       string    `json:"feed_id"`
	FeedTitle    string    `json:"feed_title"`
	URL          string    `json:"url"`
	Author       string    `json:"author"`
	Title        string    `json:"title"`
	Text         string    `json:"text"`
	Lang         string    `json:"lang"`
	Published    time.Time `json:"published"`
	Fetched      time.Time `json:"fetched"`
	Institutions []string  `json:"institutions"`
	Categories   []string  `json:"categories"`
	Rules        []string  `json:"rules"`
	Severity     string    `json:"severity"`
}

func loadDocs(t testing.TB) []Doc {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "mentions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []Doc
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var td testDoc
		if err := json.Unmarshal(sc.Bytes(), &td); err != nil {
			t.Fatalf("testdata/mentions.jsonl:%d: %v", line, err)
		}
		docs = append(docs, Doc(td))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("testdata/mentions.jsonl is empty")
	}
	return docs
}

// openTestIndex opens a fresh index in a temporary directory holding the
// test mentions.
func openTestIndex(t testing.TB) (*Index, []Doc, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	docs := loadDocs(t)
	if err := ix.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	return ix, docs, dir
}

func docCount(t *testing.T, ix *Index) uint64 {
	t.Helper()
	n, err := ix.DocCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenCreateReopenKeepsDocs(t *testing.T) {
	ix, docs, dir := openTestIndex(t)
	if got := docCount(t, ix); got != uint64(len(docs)) {
		t.Fatalf("DocCount = %d, want %d", got, len(docs))
	}
	if err := ix.Healthy(); err != nil {
		t.Fatalf("Healthy on open index: %v", err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Healthy(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Healthy after Close = %v, want ErrClosed", err)
	}
	if err := ix.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	ix2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	if got := docCount(t, ix2); got != uint64(len(docs)) {
		t.Fatalf("after reopen DocCount = %d, want %d", got, len(docs))
	}
	res, err := ix2.Search(context.Background(), Query{Q: "Gasthuisberg"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total == 0 {
		t.Fatal("search after reopen found nothing")
	}
}

func TestOpenEmptyDirCreates(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if got := docCount(t, ix); got != 0 {
		t.Fatalf("DocCount = %d, want 0", got)
	}
}

func TestOpenRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("not an index"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if !errors.Is(err, ErrNotIndex) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open = %v, want ErrNotIndex naming %s", err, dir)
	}
	if _, err := os.Stat(notes); err != nil {
		t.Fatalf("Open touched the foreign directory: %v", err)
	}
}

func TestUpsertByID(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	ctx := context.Background()
	if err := ix.Index(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if got := docCount(t, ix); got != uint64(len(docs)) {
		t.Fatalf("after indexing twice DocCount = %d, want %d", got, len(docs))
	}

	changed := docs[0]
	changed.Title = "Kwartaalcijfers gepubliceerd"
	changed.Text = "Het jaarverslag staat online."
	// The same ID twice in one batch: the later one wins.
	if err := ix.Index(ctx, []Doc{docs[0], changed}); err != nil {
		t.Fatal(err)
	}
	if got := docCount(t, ix); got != uint64(len(docs)) {
		t.Fatalf("after update DocCount = %d, want %d", got, len(docs))
	}
	res, err := ix.Search(ctx, Query{Q: "jaarverslag"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := hitIDs(res); !slices.Equal(ids, []string{changed.ID}) {
		t.Fatalf("new text: hits %v, want [%s]", ids, changed.ID)
	}
	res, err = ix.Search(ctx, Query{Q: "operatiekamers"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(hitIDs(res), changed.ID) {
		t.Fatalf("old text of %s still found", changed.ID)
	}
}

func TestIndexSkipsDocsWithoutID(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	extra := docs[0]
	extra.ID = "extra"
	noID := docs[1]
	noID.ID = ""
	err := ix.Index(context.Background(), []Doc{noID, extra})
	if !errors.Is(err, ErrInvalidDoc) || !strings.Contains(err.Error(), "doc 0") {
		t.Fatalf("Index = %v, want ErrInvalidDoc naming doc 0", err)
	}
	if got := docCount(t, ix); got != uint64(len(docs)+1) {
		t.Fatalf("DocCount = %d, want %d (valid doc indexed)", got, len(docs)+1)
	}
}

func TestIndexHonoursCancelledContext(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	extra := docs[0]
	extra.ID = "extra"
	if err := ix.Index(ctx, []Doc{extra}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Index = %v, want context.Canceled", err)
	}
	if got := docCount(t, ix); got != uint64(len(docs)) {
		t.Fatalf("DocCount = %d, want %d", got, len(docs))
	}
}

func TestDelete(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	ctx := context.Background()
	gone := []string{docs[0].ID, docs[1].ID}
	if err := ix.Delete(ctx, append(gone, "no-such-id", "")...); err != nil {
		t.Fatal(err)
	}
	if got := docCount(t, ix); got != uint64(len(docs)-2) {
		t.Fatalf("DocCount = %d, want %d", got, len(docs)-2)
	}
	res, err := ix.Search(ctx, Query{Size: MaxSize})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range hitIDs(res) {
		if slices.Contains(gone, id) {
			t.Fatalf("deleted %s still found", id)
		}
	}
	if err := ix.Delete(ctx); err != nil {
		t.Fatalf("Delete of nothing: %v", err)
	}
}

func TestClosedIndexRefusesWork(t *testing.T) {
	ix, docs, _ := openTestIndex(t)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, err := range map[string]error{
		"Index":  ix.Index(ctx, docs[:1]),
		"Delete": ix.Delete(ctx, docs[0].ID),
		"Search": func() error { _, err := ix.Search(ctx, Query{}); return err }(),
		"Count":  func() error { _, err := ix.DocCount(); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	_, _, dir := openTestIndex(t)
	type result struct {
		ix  *Index
		err error
	}
	done := make(chan result, 1)
	go func() {
		ix, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
		done <- result{ix, err}
	}()
	// A generous guard so a regression fails with a message instead of
	// hanging the test binary; it says nothing about speed.
	select {
	case r := <-done:
		if r.err == nil {
			r.ix.Close()
			t.Fatal("second Open of an open index succeeded")
		}
		if !errors.Is(r.err, ErrLocked) || !strings.Contains(r.err.Error(), dir) {
			t.Fatalf("second Open = %v, want ErrLocked naming %s", r.err, dir)
		}
	case <-time.After(time.Minute):
		t.Fatal("second Open hangs on the lock")
	}
}

func TestOpenCorruptIndex(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, dir string)
	}{
		{"truncated metadata", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, metaFile), 0)
		}},
		{"garbage metadata", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, metaFile), []byte("{\"storage\":"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"metadata deleted", func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, metaFile))
		}},
		{"root bolt truncated", func(t *testing.T, dir string) {
			truncate(t, filepath.Join(dir, storeDir, "root.bolt"), 100)
		}},
		{"root bolt deleted", func(t *testing.T, dir string) {
			remove(t, filepath.Join(dir, storeDir, "root.bolt"))
		}},
		{"store deleted", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, storeDir)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, _, dir := openTestIndex(t)
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, dir)
			ix2, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				ix2.Close()
				t.Fatal("Open of a corrupt index succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) ||
				!strings.Contains(err.Error(), "mediawatch reindex") {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s and suggesting reindex", err, dir)
			}
			t.Log(err)
			// The way out: remove it and start over.
			if err := Remove(dir); err != nil {
				t.Fatalf("Remove of corrupt index: %v", err)
			}
			ix3, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("Open after Remove: %v", err)
			}
			ix3.Close()
		})
	}
}

func TestRemove(t *testing.T) {
	t.Run("closed index", func(t *testing.T) {
		ix, _, dir := openTestIndex(t)
		ix.Close()
		if err := Remove(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("index dir still there: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if err := Remove(filepath.Join(t.TempDir(), "nothing")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("open index", func(t *testing.T) {
		ix, docs, dir := openTestIndex(t)
		if err := Remove(dir); !errors.Is(err, ErrLocked) {
			t.Fatalf("Remove of open index = %v, want ErrLocked", err)
		}
		if got := docCount(t, ix); got != uint64(len(docs)) {
			t.Fatalf("DocCount after refused Remove = %d, want %d", got, len(docs))
		}
	})
	t.Run("foreign dir", func(t *testing.T) {
		dir := t.TempDir()
		keep := filepath.Join(dir, "thesis.pdf")
		if err := os.WriteFile(keep, []byte("%PDF"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Remove(dir); !errors.Is(err, ErrNotIndex) {
			t.Fatalf("Remove = %v, want ErrNotIndex", err)
		}
		if _, err := os.Stat(keep); err != nil {
			t.Fatalf("Remove touched a foreign file: %v", err)
		}
	})
	t.Run("index with a stray file", func(t *testing.T) {
		ix, _, dir := openTestIndex(t)
		ix.Close()
		if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Remove(dir); !errors.Is(err, ErrNotIndex) {
			t.Fatalf("Remove = %v, want ErrNotIndex", err)
		}
	})
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	docs := loadDocs(t)
	ctx := context.Background()
	if err := ix.Index(ctx, docs); err != nil {
		t.Fatal(err)
	}
	noID := docs[0]
	noID.ID = ""
	if err := ix.Index(ctx, []Doc{noID}); !errors.Is(err, ErrInvalidDoc) {
		t.Fatalf("Index = %v, want ErrInvalidDoc", err)
	}

	want := map[string]int{
		"mediawatch_index_batch_duration_seconds": 1,
		"mediawatch_index_batch_size":             1,
		"mediawatch_index_docs":                   1,
		"mediawatch_index_size_bytes":             1,
		"mediawatch_index_errors_total":           3, // one series per op, created up front
	}
	for name, n := range want {
		if got := testutil.CollectAndCount(reg, name); got != n {
			t.Errorf("%s: %d series, want %d", name, got, n)
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if got := testutil.ToFloat64(ix.metrics.docs); got != float64(len(docs)) {
		t.Errorf("mediawatch_index_docs = %v, want %d", got, len(docs))
	}
	if got := testutil.ToFloat64(ix.metrics.errors.WithLabelValues(opIndex)); got != 1 {
		t.Errorf("errors_total{op=index} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(ix.metrics.errors.WithLabelValues(opSearch)); got != 0 {
		t.Errorf("errors_total{op=search} = %v, want 0", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "mediawatch_index_batch_size" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		// Two batches: the full set and the one with only an invalid doc.
		if h.GetSampleCount() != 2 || h.GetSampleSum() != float64(len(docs)) {
			t.Errorf("batch_size count %d sum %v, want 2 and %d", h.GetSampleCount(), h.GetSampleSum(), len(docs))
		}
	}

	// Close unregisters, so the index can be reopened on the same registry.
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix2, err := Open(dir, Options{Registerer: reg})
	if err != nil {
		t.Fatalf("reopen on the same registry: %v", err)
	}
	defer ix2.Close()
	if got := testutil.ToFloat64(ix2.metrics.docs); got != float64(len(docs)) {
		t.Errorf("after reopen mediawatch_index_docs = %v, want %d", got, len(docs))
	}
	// A second index on the same registry would report the same series.
	if _, err := Open(filepath.Join(t.TempDir(), "other"), Options{Registerer: reg}); err == nil {
		t.Error("two open indexes registered the same metrics")
	}
}

func TestGuessLanguage(t *testing.T) {
	tests := []struct {
		text string
		want language
	}{
		{"Het UMC Utrecht opent een nieuwe afdeling voor de kinderen van de regio.", langNL},
		{"The hospital opened a new ward for the children of the region.", langEN},
		{"UMC Utrecht UZ Leuven", langBoth},
		{"", langBoth},
		{"Hospital and ziekenhuis: de het the", langBoth},
	}
	for _, tt := range tests {
		if got := guessLanguage(tt.text); got != tt.want {
			t.Errorf("guessLanguage(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func hitIDs(res *Results) []string {
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}
