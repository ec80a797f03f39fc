package app

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// writeOld creates or replaces a file and sets its modification time to an
// hour ago, so that a later write shows a new mtime on any file system
// whatever its timestamp granularity.
func writeOld(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The watcher must see every way a rule file is changed in practice, and
// nothing else.
func TestWatchRuleDirs(t *testing.T) {
	const rule = "rules: []\n"
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		change func(t *testing.T, dir string)
		want   int32
	}{
		{
			name:   "nothing changes",
			setup:  func(t *testing.T, dir string) { writeOld(t, filepath.Join(dir, "a.yaml"), rule) },
			change: func(t *testing.T, dir string) {},
			want:   0,
		},
		{
			name:  "file written in place",
			setup: func(t *testing.T, dir string) { writeOld(t, filepath.Join(dir, "a.yaml"), rule) },
			change: func(t *testing.T, dir string) {
				must(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("rules: [ ]\n"), 0o644))
			},
			want: 1,
		},
		{
			name:  "editor saves to a temporary file and renames it over",
			setup: func(t *testing.T, dir string) { writeOld(t, filepath.Join(dir, "a.yaml"), rule) },
			change: func(t *testing.T, dir string) {
				tmp := filepath.Join(t.TempDir(), "a.yaml~")
				must(t, os.WriteFile(tmp, []byte(rule), 0o644))
				must(t, os.Rename(tmp, filepath.Join(dir, "a.yaml")))
			},
			want: 1,
		},
		{
			name:  "file added",
			setup: func(t *testing.T, dir string) { writeOld(t, filepath.Join(dir, "a.yaml"), rule) },
			change: func(t *testing.T, dir string) {
				must(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(rule), 0o644))
			},
			want: 1,
		},
		{
			name:   "file removed",
			setup:  func(t *testing.T, dir string) { writeOld(t, filepath.Join(dir, "a.yaml"), rule) },
			change: func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "a.yaml"))) },
			want:   1,
		},
		{
			// A ConfigMap volume: every file is a link through ..data to a
			// timestamped directory, and an update swaps ..data atomically.
			name: "kubernetes configmap swap",
			setup: func(t *testing.T, dir string) {
				must(t, os.Mkdir(filepath.Join(dir, "..2026_11_23_10_00_00.1"), 0o755))
				writeOld(t, filepath.Join(dir, "..2026_11_23_10_00_00.1", "a.yaml"), rule)
				must(t, os.Symlink("..2026_11_23_10_00_00.1", filepath.Join(dir, "..data")))
				must(t, os.Symlink(filepath.Join("..data", "a.yaml"), filepath.Join(dir, "a.yaml")))
			},
			change: func(t *testing.T, dir string) {
				must(t, os.Mkdir(filepath.Join(dir, "..2026_11_23_11_00_00.2"), 0o755))
				must(t, os.WriteFile(filepath.Join(dir, "..2026_11_23_11_00_00.2", "a.yaml"), []byte(rule), 0o644))
				must(t, os.Symlink("..2026_11_23_11_00_00.2", filepath.Join(dir, "..data_tmp")))
				must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
				must(t, os.RemoveAll(filepath.Join(dir, "..2026_11_23_10_00_00.1")))
			},
			want: 1,
		},
		{
			name:   "directory appears",
			setup:  func(t *testing.T, dir string) { must(t, os.Remove(dir)) },
			change: func(t *testing.T, dir string) { must(t, os.Mkdir(dir, 0o755)) },
			want:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rules")
			must(t, os.Mkdir(dir, 0o755))
			tt.setup(t, dir)
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					defer close(done)
					watchRuleDirs(ctx, []string{dir}, 2*time.Second, func() { calls.Add(1) })
				}()
				synctest.Wait()
				// Polls before the change see what the first snapshot saw.
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if n := calls.Load(); n != 0 {
					t.Fatalf("%d calls before any change", n)
				}
				tt.change(t, dir)
				time.Sleep(2 * time.Second)
				synctest.Wait()
				if n := calls.Load(); n != tt.want {
					t.Fatalf("%d calls after the change, want %d", n, tt.want)
				}
				// The change is reported once, not on every poll after it.
				time.Sleep(10 * time.Second)
				synctest.Wait()
				if n := calls.Load(); n != tt.want {
					t.Fatalf("%d calls some polls after the change, want still %d", n, tt.want)
				}
				cancel()
				<-done
			})
		})
	}
}

func TestWatchRuleDirsWithoutDirsWaitsForTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			watchRuleDirs(ctx, nil, time.Second, func() { t.Error("called without directories") })
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("returned before its context ended")
		default:
		}
		cancel()
		<-done
	})
}
