package index

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// corruptions are the ways an index on disk is found damaged at Open.
var corruptions = []struct {
	name    string
	corrupt func(t *testing.T, dir string)
}{
	{"root bolt truncated", func(t *testing.T, dir string) {
		truncate(t, filepath.Join(dir, storeDir, rootBolt), 100)
	}},
	{"segment deleted", func(t *testing.T, dir string) {
		for _, f := range segmentFiles(t, dir) {
			remove(t, f)
		}
	}},
	{"metadata truncated", func(t *testing.T, dir string) {
		truncate(t, filepath.Join(dir, metaFile), 0)
	}},
	{"metadata deleted", func(t *testing.T, dir string) {
		remove(t, filepath.Join(dir, metaFile))
	}},
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, storeDir, "*.zap"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no segment file in %s", filepath.Join(dir, storeDir))
	}
	return files
}

// closedCorruptIndex is a closed index holding the test documents, then
// damaged by corrupt.
func closedCorruptIndex(t *testing.T, corrupt func(*testing.T, string)) (string, []Doc) {
	t.Helper()
	ix, docs, dir := openTestIndex(t)
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	corrupt(t, dir)
	return dir, docs
}

// With Options.Rebuild a corrupt index does not stop Open: it is moved
// aside whole, an empty index takes its place, marked as owed a rebuild;
// search waits for the rebuild, indexing does not.
func TestOpenRebuildSetsCorruptIndexAside(t *testing.T) {
	for _, tt := range corruptions {
		t.Run(tt.name, func(t *testing.T) {
			dir, docs := closedCorruptIndex(t, tt.corrupt)
			before := listFiles(t, dir)
			var logs bytes.Buffer
			ix, err := Open(dir, Options{Rebuild: true, LockTimeout: 100 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("Open with Rebuild of a corrupt index: %v", err)
			}
			defer ix.Close()

			aside, _ := filepath.Glob(dir + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("corrupt index moved aside to %v, want one %s.corrupt-<time>", aside, dir)
			}
			if got := listFiles(t, aside[0]); !slices.Equal(got, before) {
				t.Errorf("moved aside: %v, want the corrupt index's files %v", got, before)
			}
			if !strings.Contains(logs.String(), "index is corrupt") || !strings.Contains(logs.String(), aside[0]) {
				t.Errorf("log does not say the index was corrupt and where it went:\n%s", logs.String())
			}
			if n := docCount(t, ix); n != 0 {
				t.Fatalf("new index holds %d docs, want 0", n)
			}
			reason, ok := ix.Rebuilding()
			if !ok || !strings.Contains(reason, "corrupt") || !strings.Contains(reason, aside[0]) {
				t.Fatalf("Rebuilding = %q, %v; want the corrupt index named", reason, ok)
			}
			assertRebuilding(t, ix)

			// The rebuild and the match stage write meanwhile.
			if err := ix.Index(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			ix.RebuildProgress(len(docs), len(docs))
			if err := ix.Healthy(); err == nil || !strings.Contains(err.Error(), "30 of 30") {
				t.Errorf("Healthy during the rebuild = %v, want the progress", err)
			}
			if err := ix.EndRebuild(); err != nil {
				t.Fatal(err)
			}
			if err := ix.Healthy(); err != nil {
				t.Fatalf("Healthy after the rebuild: %v", err)
			}
			res, err := ix.Search(context.Background(), Query{Size: MaxSize})
			if err != nil || res.Total != uint64(len(docs)) {
				t.Fatalf("Search after the rebuild = %v, %v; want %d hits", res, err, len(docs))
			}
		})
	}
}

// Without Options.Rebuild a corrupt index is an error and stays where it
// is, for `mediawatch reindex` (or a daemon) to deal with.
func TestOpenWithoutRebuildLeavesCorruptIndex(t *testing.T) {
	for _, tt := range corruptions {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := closedCorruptIndex(t, tt.corrupt)
			ix, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				ix.Close()
				t.Fatal("Open of a corrupt index succeeded")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "mediawatch reindex") {
				t.Fatalf("Open = %v, want ErrCorrupt suggesting reindex", err)
			}
			if aside, _ := filepath.Glob(dir + ".corrupt-*"); len(aside) != 0 {
				t.Fatalf("moved aside without Rebuild: %v", aside)
			}
		})
	}
}

// A corrupt index that another process holds is never moved away from
// under it: Open fails with ErrLocked. (Bolt's lock is per open file, so
// an index open in this process stands in for the other process.)
func TestOpenRebuildLeavesLockedCorruptIndex(t *testing.T) {
	ix, docs, dir := openTestIndex(t)
	// Damage Bleve reads before it takes the lock.
	if err := os.WriteFile(filepath.Join(dir, metaFile), []byte(`{"storage":`), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		other, err := Open(dir, Options{Rebuild: true, LockTimeout: 100 * time.Millisecond})
		if err == nil {
			other.Close()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a guard against a hang, not a speed limit
		t.Fatal("Open hangs on a locked corrupt index")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open = %v, want ErrLocked naming %s", err, dir)
	}
	if aside, _ := filepath.Glob(dir + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("a held index was moved aside: %v", aside)
	}
	if n := docCount(t, ix); n != uint64(len(docs)) {
		t.Fatalf("the holder's index has %d docs, want %d", n, len(docs))
	}
	if err := Remove(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("Remove of a held corrupt index = %v, want ErrLocked", err)
	}
}

// The rebuild mark is stored in the index: a rebuild cut short (the
// process killed) is still owed after the next Open, with or without
// Options.Rebuild, until EndRebuild.
func TestRebuildMarkOutlivesTheProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, Options{Rebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	if reason, ok := ix.Rebuilding(); !ok || !strings.Contains(reason, "created empty") {
		t.Fatalf("new index: Rebuilding = %q, %v; want owed a rebuild", reason, ok)
	}
	docs := loadDocs(t)
	if err := ix.Index(context.Background(), docs[:10]); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	for _, opts := range []Options{{}, {Rebuild: true}} {
		ix, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		reason, ok := ix.Rebuilding()
		if !ok || !strings.Contains(reason, "did not finish") {
			t.Fatalf("reopened (Rebuild %v): Rebuilding = %q, %v; want the unfinished rebuild", opts.Rebuild, reason, ok)
		}
		assertRebuilding(t, ix)
		if n := docCount(t, ix); n != 10 {
			t.Fatalf("reopened: %d docs, want the 10 indexed before", n)
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}

	ix, err = Open(dir, Options{Rebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.EndRebuild(); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix, err = Open(dir, Options{Rebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if reason, ok := ix.Rebuilding(); ok {
		t.Fatalf("after EndRebuild and a reopen: still rebuilding (%s)", reason)
	}
	if err := ix.Healthy(); err != nil {
		t.Fatal(err)
	}
	if n := docCount(t, ix); n != uint64(len(docs)) {
		t.Fatalf("%d docs, want %d", n, len(docs))
	}
}

// An existing index opened with Options.Rebuild is not owed a rebuild.
func TestOpenRebuildKeepsAWholeIndex(t *testing.T) {
	ix, docs, dir := openTestIndex(t)
	ix.Close()
	ix, err := Open(dir, Options{Rebuild: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if reason, ok := ix.Rebuilding(); ok {
		t.Fatalf("whole index: Rebuilding = %q", reason)
	}
	if n := docCount(t, ix); n != uint64(len(docs)) {
		t.Fatalf("%d docs, want %d", n, len(docs))
	}
	if aside, _ := filepath.Glob(dir + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("a whole index was moved aside: %v", aside)
	}
}

// A segment file deleted under a running index goes unnoticed by Bleve,
// which keeps it mapped, until the index is opened again: Healthy and
// Search find it, report it until the index is rebuilt, and the log says
// what to do; indexing goes on. The next Open finds the index corrupt.
func TestSegmentDeletedWhileRunning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	var logs bytes.Buffer
	ix, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	docs := loadDocs(t)
	if err := ix.Index(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.Healthy(); err != nil {
		t.Fatal(err)
	}
	segments := segmentFiles(t, dir)
	for _, f := range segments {
		remove(t, f)
	}

	err = ix.Healthy()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment file") ||
		!strings.Contains(err.Error(), "mediawatch reindex") {
		t.Fatalf("Healthy = %v, want ErrCorrupt naming the missing segment and reindex", err)
	}
	_, err = ix.Search(context.Background(), Query{Q: "ziekenhuis"})
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrBadQuery) {
		t.Fatalf("Search = %v, want ErrCorrupt", err)
	}
	if n := strings.Count(logs.String(), "index is damaged"); n != 1 || !strings.Contains(logs.String(), "run `mediawatch reindex`") {
		t.Errorf("the damage is logged %d times, want once, saying to run mediawatch reindex:\n%s", n, logs.String())
	}

	// Indexing (the match stage, hence alerting) goes on; the damage is
	// reported until the index is rebuilt.
	if err := ix.Index(context.Background(), docs[:3]); err != nil {
		t.Fatalf("Index on a damaged index: %v", err)
	}
	if err := ix.Healthy(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Healthy after more writes = %v, want the damage still reported", err)
	}
	if err := ix.Close(); err != nil {
		t.Logf("Close: %v", err)
	}

	if again, err := Open(dir, Options{}); err == nil {
		// Bleve merged the lost segment away from its mapping before it
		// closed: the index is whole again.
		defer again.Close()
		if n := docCount(t, again); n != uint64(len(docs)) {
			t.Fatalf("reopened whole with %d docs, want %d", n, len(docs))
		}
		t.Log("the merger rewrote the deleted segment before Close")
	} else if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reopen = %v, want ErrCorrupt", err)
	}
}

// Remove, the first step of `mediawatch reindex`, removes a corrupt index
// that nobody holds.
func TestRemoveCorruptIndex(t *testing.T) {
	for _, tt := range corruptions {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := closedCorruptIndex(t, tt.corrupt)
			if err := Remove(dir); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("still there: %v", err)
			}
		})
	}
}

func assertRebuilding(t *testing.T, ix *Index) {
	t.Helper()
	if err := ix.Healthy(); !errors.Is(err, ErrRebuilding) || !strings.Contains(err.Error(), "search is unavailable") {
		t.Fatalf("Healthy = %v, want ErrRebuilding saying search is unavailable", err)
	}
	if _, err := ix.Search(context.Background(), Query{}); !errors.Is(err, ErrRebuilding) {
		t.Fatalf("Search = %v, want ErrRebuilding", err)
	}
}

// listFiles lists the files under dir, relative to it.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
