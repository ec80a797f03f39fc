package index

// What happens to an index that is damaged: found corrupt by Open (moved
// aside and rebuilt from the stream when the caller can: Options.Rebuild),
// found damaged while running (Healthy and Search report it until the index
// is closed), and the mark of a rebuild in progress, kept in the index
// itself so that a rebuild cut short is owed at the next Open.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	bolt "go.etcd.io/bbolt"
)

// rebuildKey is the Bleve internal key of the rebuild mark.
var rebuildKey = []byte("mediawatch.rebuild")

// rebuildMark is stored under rebuildKey while the index is being rebuilt.
type rebuildMark struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// health is the state Healthy and Search report besides a closed index.
type health struct {
	mu sync.Mutex
	// rebuild is the rebuild in progress, nil when none is.
	rebuild *rebuildMark
	// done and total are the rebuild's progress as last reported.
	done, total int
	// damage is what was found wrong with the files on disk while
	// running; it lasts until the index is closed (and rebuilt).
	damage error
}

// rootBolt is the file of the Bleve store that lists the index's segments.
const rootBolt = "root.bolt"

// minBoltSize is the size below which root.bolt cannot be a bolt
// database: two meta pages of at least 4 KiB (bolt writes four pages when
// it creates one).
const minBoltSize = 2 * 4096

// loadRebuildMark reads the rebuild mark stored in the index, or stores
// one when mark is set (an index Open just created to be rebuilt; replaced
// says what became of a corrupt predecessor, "" when there was none).
func (ix *Index) loadRebuildMark(mark bool, replaced string) error {
	if mark {
		m := rebuildMark{Since: time.Now().UTC(), Reason: "the index was created empty"}
		if replaced != "" {
			m.Reason = replaced
		}
		data, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := ix.bleve.SetInternal(rebuildKey, data); err != nil {
			return fmt.Errorf("index %s: mark as being rebuilt: %w", ix.path, err)
		}
		ix.health.rebuild = &m
		return nil
	}
	data, err := ix.bleve.GetInternal(rebuildKey)
	if err != nil {
		return fmt.Errorf("index %s: read the rebuild mark: %w: %w; rebuild it with `mediawatch reindex`", ix.path, ErrCorrupt, err)
	}
	if data == nil {
		return nil
	}
	var m rebuildMark
	if err := json.Unmarshal(data, &m); err != nil {
		m = rebuildMark{Reason: "unknown"}
	}
	m.Reason = "a rebuild begun " + m.Since.Format(time.RFC3339) + " did not finish (" + m.Reason + ")"
	ix.health.rebuild = &m
	ix.logger.Warn("index misses documents: a rebuild from the stream did not finish", "path", ix.path, "since", m.Since)
	return nil
}

// Rebuilding reports whether the index is owed a rebuild from the stream
// it is a view of: it was created by an Open with Options.Rebuild (anew
// or in place of a corrupt index), or a rebuild begun earlier did not
// finish. The reason says which. Healthy and Search fail with
// ErrRebuilding until EndRebuild.
func (ix *Index) Rebuilding() (reason string, ok bool) {
	ix.health.mu.Lock()
	defer ix.health.mu.Unlock()
	if ix.health.rebuild == nil {
		return "", false
	}
	return ix.health.rebuild.Reason, true
}

// RebuildProgress records how far a rebuild is, for Healthy to report:
// done of about total documents.
func (ix *Index) RebuildProgress(done, total int) {
	ix.health.mu.Lock()
	defer ix.health.mu.Unlock()
	ix.health.done, ix.health.total = done, total
}

// EndRebuild removes the rebuild mark once the index holds everything
// again: search is available from then on.
func (ix *Index) EndRebuild() error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ErrClosed
	}
	if _, ok := ix.Rebuilding(); !ok {
		return nil
	}
	if err := ix.bleve.DeleteInternal(rebuildKey); err != nil {
		return fmt.Errorf("index %s: end the rebuild: %w", ix.path, err)
	}
	ix.health.mu.Lock()
	ix.health.rebuild = nil
	ix.health.mu.Unlock()
	return nil
}

// usable returns why the index cannot be searched now, nil if it can.
// ix.mu must be read-locked and the index open.
func (ix *Index) usable() error {
	ix.health.mu.Lock()
	rebuild, done, total, damage := ix.health.rebuild, ix.health.done, ix.health.total, ix.health.damage
	ix.health.mu.Unlock()
	if damage != nil {
		return damage
	}
	if err := ix.checkFiles(); err != nil {
		ix.health.mu.Lock()
		first := ix.health.damage == nil
		if first {
			ix.health.damage = err
		}
		err = ix.health.damage
		ix.health.mu.Unlock()
		if first {
			ix.logger.Error("index is damaged: search is unavailable until it is rebuilt; alerting goes on. "+
				"Stop mediawatch and run `mediawatch reindex` (a daemon that finds the index corrupt when it starts rebuilds it by itself)",
				"path", ix.path, "err", err)
		}
		return err
	}
	if rebuild != nil {
		progress := "starting"
		if total > 0 || done > 0 {
			progress = fmt.Sprintf("%d of %d mentions so far", done, total)
		}
		return fmt.Errorf("index %s: %w from the MENTIONS stream since %s (%s): %s; search is unavailable until it is done",
			ix.path, ErrRebuilding, rebuild.Since.Format(time.RFC3339), rebuild.Reason, progress)
	}
	return nil
}

// checkFiles looks for the files the index uses on disk: the metadata, the
// store's root and every segment of the current snapshot. Bleve keeps
// segments mapped in memory, so a deleted or truncated file goes unnoticed
// by searches until the index is opened again, which then fails. ix.mu
// must be read-locked.
func (ix *Index) checkFiles() error {
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("index %s: %w: %s; search is unavailable until the index is rebuilt: stop mediawatch and run `mediawatch reindex`",
			ix.path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if _, err := os.Stat(filepath.Join(ix.path, metaFile)); err != nil {
		return damaged("%v", err)
	}
	root := filepath.Join(ix.path, storeDir, rootBolt)
	fi, err := os.Stat(root)
	if err != nil {
		return damaged("%v", err)
	}
	if fi.Size() < minBoltSize {
		return damaged("%s is %d bytes, too short to be whole", root, fi.Size())
	}
	missing, err := ix.missingSegments()
	if err != nil || len(missing) == 0 {
		// An index that cannot tell its segments fails its reads, which
		// Healthy and Search report by themselves.
		return nil
	}
	// A merge may have replaced the segments of the snapshot just read
	// and removed their files: only what the next snapshot still uses
	// counts.
	again, err := ix.missingSegments()
	if err != nil {
		return nil
	}
	for _, f := range again {
		for _, g := range missing {
			if f == g {
				return damaged("segment file %s is missing", f)
			}
		}
	}
	return nil
}

// missingSegments returns the files of the current snapshot's segments
// that are not on disk.
func (ix *Index) missingSegments() ([]string, error) {
	adv, err := ix.bleve.Advanced()
	if err != nil {
		return nil, err
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil, fmt.Errorf("not a scorch index (%T)", adv)
	}
	r, err := sc.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return nil, fmt.Errorf("unexpected reader %T", r)
	}
	var missing []string
	for _, seg := range snap.Segments() {
		// Segments not written yet have no file.
		p, ok := seg.Segment().(interface{ Path() string })
		if !ok || p.Path() == "" {
			continue
		}
		if _, err := os.Stat(p.Path()); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, p.Path())
		}
	}
	return missing, nil
}

// newestSnapshotLoads opens the index at path read-only and checks that
// Bleve can read its newest snapshot. When a segment file of that snapshot
// is missing or damaged, Bleve logs it and opens the index at an older
// snapshot, which misses every document written since (or fails on a
// mapping it cannot find): the index is corrupt all the same. runtime is
// the configuration Open uses; the check takes the lock as a reader, so it
// fails with bolt's timeout while another process holds the index.
func newestSnapshotLoads(path string, runtime map[string]any) error {
	cfg := maps.Clone(runtime)
	cfg["read_only"] = true
	bi, err := guarded(func() (bleve.Index, error) { return bleve.OpenUsing(path, cfg) })
	if err != nil {
		return err
	}
	defer bi.Close()
	adv, err := bi.Advanced()
	if err != nil {
		return err
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	epochs, err := sc.RootBoltSnapshotEpochs()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(epochs) == 0 {
		return nil
	}
	newest := slices.Max(epochs)
	_, err = guarded(func() (bleve.Index, error) {
		snap, err := sc.LoadSnapshot(newest)
		if err == nil && snap != nil {
			_ = snap.DecRef()
		}
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("its newest snapshot (%d) cannot be read: %w", newest, err)
	}
	return nil
}

// recoverable tells whether an Open failure is worth a rebuild: not when
// the files could not be read for want of permission or file descriptors,
// which a rebuild would not mend.
func recoverable(err error) bool {
	return !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE)
}

// setAside moves the corrupt index at path aside to
// <path>.corrupt-<UTC time>, so that an empty one can take its place and be
// rebuilt, and says where it went. It refuses (ErrLocked) while another
// process holds the index. When the directory cannot be renamed (a mount
// point), its contents are removed instead.
func setAside(path string, opts Options, cause error) (string, error) {
	if err := probeLock(path, opts.LockTimeout); err != nil {
		return "", fmt.Errorf("index %s: %w, and it is corrupt: %w", path, err, cause)
	}
	base := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	target := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			break
		}
		target = fmt.Sprintf("%s-%d", base, i)
	}
	err := os.Rename(path, target)
	if err == nil {
		opts.Logger.Error("index is corrupt: moved it aside; an empty index takes its place and is rebuilt from the stream",
			"path", path, "moved_to", target, "err", cause)
		return "the index was corrupt and was moved aside to " + target, nil
	}
	entries, rerr := os.ReadDir(path)
	if rerr != nil {
		return "", fmt.Errorf("index %s: move the corrupt index aside: %w (it is corrupt: %w)", path, err, cause)
	}
	for _, e := range entries {
		if rerr := os.RemoveAll(filepath.Join(path, e.Name())); rerr != nil {
			return "", fmt.Errorf("index %s: move the corrupt index aside: %w; remove it: %w (it is corrupt: %w)", path, err, rerr, cause)
		}
	}
	opts.Logger.Error("index is corrupt and could not be moved aside: removed it; an empty index takes its place and is rebuilt from the stream",
		"path", path, "rename_err", err, "err", cause)
	return "the index was corrupt and was removed", nil
}

// probeLock returns an error wrapping ErrLocked when a process holds the
// index at path: the lock Bleve takes is bolt's, on the store's root file,
// which a reader cannot share with a writer. A root file that is missing
// or not a database is not locked.
func probeLock(path string, timeout time.Duration) (err error) {
	root := filepath.Join(path, storeDir, rootBolt)
	if _, err := os.Stat(root); err != nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = nil // a damaged file, read after taking the lock
		}
	}()
	db, err := bolt.Open(root, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%w (another mediawatch process has it open; stop it or use another path)", ErrLocked)
	}
	if err == nil {
		_ = db.Close()
	}
	return nil
}
