// Package index is the searchable view of the mentions and their findings: a
// Bleve index on disk, fed by the pipeline and rebuildable from the MENTIONS
// stream at any time. It never sees unredacted text: callers hand over Docs
// that are already redacted.
package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// Doc is one mention with the outcome of matching, as the pipeline hands it
// over. Text fields are already redacted.
type Doc struct {
	ID, Source, FeedID, FeedTitle, URL, Author, Title, Text, Lang string
	Published, Fetched                                            time.Time
	Institutions, Categories, Rules                               []string
	// Severity is the highest severity of the mention's findings, "" if
	// it has none.
	Severity string
}

// Options configures Open. The zero value works: no logging, no metrics.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// LockTimeout is how long Open waits for another process to release
	// the index before giving up (default DefaultLockTimeout).
	LockTimeout time.Duration
	// Rebuild is for a caller that can fill the index again from the
	// stream it is a view of. Open then does not fail with ErrCorrupt: it
	// moves the corrupt index aside (to <path>.corrupt-<time>), never
	// while another process holds it, and creates an empty one in its
	// place. An index Open creates this way, or anew, is marked as being
	// rebuilt until EndRebuild; the mark is stored in the index, so a
	// rebuild cut short is still owed at the next Open (see Rebuilding).
	Rebuild bool
}

// DefaultLockTimeout is the LockTimeout used when Options leaves it zero.
const DefaultLockTimeout = 2 * time.Second

var (
	// ErrLocked is returned by Open when another process holds the index.
	ErrLocked = errors.New("index is locked by another process")
	// ErrCorrupt is returned by Open when the index on disk cannot be read.
	// Rebuilding it from the stream (mediawatch reindex) repairs it.
	ErrCorrupt = errors.New("index is corrupt")
	// ErrNotIndex is returned by Open and Remove for a directory that holds
	// something other than a Bleve index; neither touches it.
	ErrNotIndex = errors.New("directory is not a Bleve index")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("index is closed")
	// ErrBadQuery is wrapped by Search errors caused by the query itself
	// rather than by the index.
	ErrBadQuery = errors.New("bad query")
	// ErrInvalidDoc is wrapped by Index errors for documents that cannot
	// be indexed (the others in the batch are indexed).
	ErrInvalidDoc = errors.New("invalid document")
	// ErrRebuilding is wrapped by Healthy and Search errors while the
	// index is being filled again from the stream: until then it misses
	// documents, and a search would answer wrongly.
	ErrRebuilding = errors.New("index is being rebuilt")
)

// Index is an open Bleve index. Its methods are safe for concurrent use.
type Index struct {
	path    string
	logger  *slog.Logger
	metrics *metrics

	mu     sync.RWMutex // guards closed against use during Close
	closed bool
	bleve  bleve.Index

	// health is what Healthy and Search report besides a closed index:
	// a rebuild in progress, damage found while running (recover.go).
	health health
}

// Files and folders Bleve's scorch index keeps in its directory. Anything
// else there means the directory is not (only) an index.
const (
	metaFile     = "index_meta.json"
	metaTempFile = "index_meta.json_temp"
	storeDir     = "store"
)

// Open opens the index at path, creating it when path does not exist or is
// an empty directory. It fails within opts.LockTimeout with ErrLocked when
// another process has the index open, and with ErrCorrupt when the index
// cannot be read (unless opts.Rebuild: see there).
func Open(path string, opts Options) (*Index, error) {
	if path == "" {
		return nil, errors.New("index: empty path")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	ix, err := open(path, opts, "")
	if err == nil || !opts.Rebuild || !errors.Is(err, ErrCorrupt) || !recoverable(err) {
		return ix, err
	}
	replaced, err := setAside(path, opts, err)
	if err != nil {
		return nil, err
	}
	return open(path, opts, replaced)
}

// open is Open without the recovery; replaced says what became of a
// corrupt index at path just now, "" if there was none.
func open(path string, opts Options, replaced string) (*Index, error) {
	logger, lockTimeout := opts.Logger, opts.LockTimeout
	state, err := inspect(path)
	if err != nil {
		return nil, err
	}
	runtime := map[string]any{"bolt_timeout": lockTimeout.String()}

	var bi bleve.Index
	created := false
	switch state {
	case dirAbsent, dirEmpty:
		m, err := newMapping()
		if err != nil {
			return nil, fmt.Errorf("index: build mapping: %w", err)
		}
		bi, err = guarded(func() (bleve.Index, error) {
			return bleve.NewUsing(path, m, scorch.Name, scorch.Name, runtime)
		})
		if err != nil {
			return nil, classifyOpenError(path, "create", err)
		}
		logger.Info("index created", "path", path)
		created = true
	case dirIndex:
		if err := newestSnapshotLoads(path, runtime); err != nil {
			return nil, classifyOpenError(path, "open", err)
		}
		bi, err = guarded(func() (bleve.Index, error) { return bleve.OpenUsing(path, runtime) })
		if err != nil {
			return nil, classifyOpenError(path, "open", err)
		}
		// An index keeps the mapping it was created with. An older one
		// still works, but not as well as a rebuilt one would.
		if fields := outdatedFields(bi.Mapping()); len(fields) > 0 {
			logger.Warn("index has an older mapping; searches on these fields miss documents or run slower until `mediawatch reindex`",
				"path", path, "fields", fields)
		}
	case dirStoreWithoutMeta:
		return nil, fmt.Errorf("index %s: %s is missing: %w; remove it and rebuild with `mediawatch reindex`",
			path, metaFile, ErrCorrupt)
	default:
		return nil, fmt.Errorf("index %s: %w (refusing to create an index among other files)", path, ErrNotIndex)
	}

	ix := &Index{path: path, logger: logger, bleve: bi}
	if opts.Registerer != nil {
		ix.metrics, err = newMetrics(opts.Registerer, ix.docCountForMetrics, path)
		if err != nil {
			_ = bi.Close()
			return nil, fmt.Errorf("index %s: register metrics: %w", path, err)
		}
	}
	n, err := bi.DocCount()
	if err != nil {
		_ = ix.Close()
		return nil, fmt.Errorf("index %s: count documents: %w: %w; rebuild it with `mediawatch reindex`", path, ErrCorrupt, err)
	}
	if err := ix.loadRebuildMark(opts.Rebuild && created, replaced); err != nil {
		_ = ix.Close()
		return nil, err
	}
	logger.Info("index open", "path", path, "docs", n)
	return ix, nil
}

// guarded turns a panic inside Bleve while reading damaged files into an
// error, so one bad index directory cannot take the daemon down.
func guarded(open func() (bleve.Index, error)) (bi bleve.Index, err error) {
	defer func() {
		if r := recover(); r != nil {
			bi, err = nil, fmt.Errorf("bleve panicked: %v", r)
		}
	}()
	return open()
}

func classifyOpenError(path, op string, err error) error {
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("index %s: %w (another mediawatch process has it open; stop it or use another path): %w",
			path, ErrLocked, err)
	}
	// Some Bleve errors append a dump of the stored mapping on further
	// lines; one line is what belongs in a log record.
	if msg, _, multiline := strings.Cut(err.Error(), "\n"); multiline {
		err = errors.New(msg)
	}
	if op == "create" {
		return fmt.Errorf("index %s: create: %w", path, err)
	}
	return fmt.Errorf("index %s: %w: %w; remove it and rebuild with `mediawatch reindex`", path, ErrCorrupt, err)
}

type dirState int

const (
	dirAbsent dirState = iota
	dirEmpty
	dirIndex            // has index metadata
	dirStoreWithoutMeta // has a store but lost its metadata
	dirForeign          // has files an index does not have
)

// inspect tells what is at path without changing it.
func inspect(path string) (dirState, error) {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return dirAbsent, nil
	}
	if err != nil {
		return 0, fmt.Errorf("index %s: %w", path, err)
	}
	if len(entries) == 0 {
		return dirEmpty, nil
	}
	var hasMeta, hasStore bool
	for _, e := range entries {
		switch {
		case e.Name() == metaFile && e.Type().IsRegular():
			hasMeta = true
		case e.Name() == metaTempFile && e.Type().IsRegular():
		case e.Name() == storeDir && e.IsDir():
			hasStore = true
		default:
			return dirForeign, nil
		}
	}
	switch {
	case hasMeta:
		return dirIndex, nil
	case hasStore:
		return dirStoreWithoutMeta, nil
	}
	return dirForeign, nil
}

// Remove deletes the index directory at path, for a rebuild. It refuses
// (ErrNotIndex) when the directory holds anything a Bleve index does not,
// and (ErrLocked) when a process has the index open. A missing path is not
// an error. A corrupt index is removed: that is what a rebuild is for.
func Remove(path string) error {
	if path == "" {
		return errors.New("index: remove: empty path")
	}
	state, err := inspect(path)
	if err != nil {
		return err
	}
	switch state {
	case dirAbsent:
		return nil
	case dirForeign:
		return fmt.Errorf("index %s: remove: %w", path, ErrNotIndex)
	case dirIndex:
		bi, err := guarded(func() (bleve.Index, error) {
			return bleve.OpenUsing(path, map[string]any{"bolt_timeout": DefaultLockTimeout.String()})
		})
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("index %s: remove: %w", path, ErrLocked)
		}
		if err == nil {
			if err := bi.Close(); err != nil {
				return fmt.Errorf("index %s: remove: close: %w", path, err)
			}
		} else if err := probeLock(path, DefaultLockTimeout); err != nil {
			// Damaged in a way Bleve fails on before taking the lock.
			return fmt.Errorf("index %s: remove: %w", path, err)
		}
	case dirStoreWithoutMeta:
		if err := probeLock(path, DefaultLockTimeout); err != nil {
			return fmt.Errorf("index %s: remove: %w", path, err)
		}
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("index %s: remove: %w", path, err)
	}
	return nil
}

// Index adds or replaces docs (by ID) in a single batch. Docs without an ID
// are skipped and reported in the returned error, which then wraps
// ErrInvalidDoc; the rest are indexed.
func (ix *Index) Index(ctx context.Context, docs []Doc) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ErrClosed
	}
	start := time.Now()
	batch := ix.bleve.NewBatch()
	var invalid []error
	for i := range docs {
		d := &docs[i]
		if d.ID == "" {
			invalid = append(invalid, fmt.Errorf("doc %d (feed %q, url %q): empty id: %w", i, d.FeedID, d.URL, ErrInvalidDoc))
			continue
		}
		if err := batch.Index(d.ID, bleveDoc(d)); err != nil {
			invalid = append(invalid, fmt.Errorf("doc %d (id %s): %w: %w", i, d.ID, ErrInvalidDoc, err))
		}
	}
	if batch.Size() > 0 {
		if err := ix.bleve.Batch(batch); err != nil {
			ix.metrics.observeError(opIndex)
			return fmt.Errorf("index %s: batch of %d docs: %w", ix.path, batch.Size(), err)
		}
	}
	ix.metrics.observeBatch(batch.Size(), time.Since(start))
	if len(invalid) > 0 {
		ix.metrics.observeError(opIndex)
		return fmt.Errorf("index %s: %w", ix.path, errors.Join(invalid...))
	}
	return nil
}

// Delete removes the documents with the given IDs in a single batch.
// Unknown IDs are ignored.
func (ix *Index) Delete(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ErrClosed
	}
	batch := ix.bleve.NewBatch()
	for _, id := range ids {
		if id != "" {
			batch.Delete(id)
		}
	}
	if batch.Size() == 0 {
		return nil
	}
	if err := ix.bleve.Batch(batch); err != nil {
		ix.metrics.observeError(opDelete)
		return fmt.Errorf("index %s: delete %d docs: %w", ix.path, batch.Size(), err)
	}
	return nil
}

// DocCount returns the number of documents in the index.
func (ix *Index) DocCount() (uint64, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return 0, ErrClosed
	}
	n, err := ix.bleve.DocCount()
	if err != nil {
		return 0, fmt.Errorf("index %s: count documents: %w", ix.path, err)
	}
	return n, nil
}

func (ix *Index) docCountForMetrics() float64 {
	n, err := ix.DocCount()
	if err != nil {
		return 0
	}
	return float64(n)
}

// Healthy returns nil when the index is open, answers reads, is whole on
// disk and is not being rebuilt. Otherwise its error says why, and wraps
// ErrRebuilding while a rebuild runs and ErrCorrupt once files the index
// uses are found missing or damaged (which lasts until the index is
// closed: it is rebuilt, or found whole, at the next Open).
func (ix *Index) Healthy() error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ErrClosed
	}
	if _, err := ix.bleve.DocCount(); err != nil {
		return fmt.Errorf("index %s: count documents: %w", ix.path, err)
	}
	return ix.usable()
}

// Close flushes and closes the index and unregisters its metrics, so a
// fresh Open on the same Registerer works. Further calls return nil.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	ix.metrics.unregister()
	if err := ix.bleve.Close(); err != nil {
		return fmt.Errorf("index %s: close: %w", ix.path, err)
	}
	return nil
}
