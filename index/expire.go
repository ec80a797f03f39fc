package index

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/search/query"
)

// expireBatchSize is how many documents DeleteBefore removes per Bleve
// batch: small enough that searches running alongside never wait long.
const expireBatchSize = 1000

// Existing returns those of ids that are in the index, in no particular
// order. Empty ids are ignored.
func (ix *Index) Existing(ctx context.Context, ids ...string) ([]string, error) {
	var want []string
	for _, id := range ids {
		if id != "" {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil, ctx.Err()
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return nil, ErrClosed
	}
	req := bleve.NewSearchRequestOptions(query.NewDocIDQuery(want), len(want), 0, false)
	req.Score = "none"
	res, err := ix.bleve.SearchInContext(ctx, req)
	if err != nil {
		ix.metrics.observeError(opSearch)
		return nil, fmt.Errorf("index %s: look up %d ids: %w", ix.path, len(want), err)
	}
	out := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		out = append(out, h.ID)
	}
	return out, nil
}

// DeleteBefore removes the documents of mentions fetched before cutoff
// (published before it, for a document without a fetch time) and returns
// how many it removed. It deletes in batches, so searches go on meanwhile;
// when ctx ends or a batch fails it returns what it removed so far with
// the error.
func (ix *Index) DeleteBefore(ctx context.Context, cutoff time.Time) (int, error) {
	if cutoff.IsZero() {
		return 0, fmt.Errorf("index %s: delete before: zero cutoff", ix.path)
	}
	q := expiredQuery(cutoff.UTC())
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := ix.deleteMatching(ctx, q, expireBatchSize)
		total += n
		if err != nil {
			return total, err
		}
		if n < expireBatchSize {
			return total, nil
		}
	}
}

// deleteMatching deletes up to limit documents matching q in one batch.
func (ix *Index) deleteMatching(ctx context.Context, q query.Query, limit int) (int, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return 0, ErrClosed
	}
	req := bleve.NewSearchRequestOptions(q, limit, 0, false)
	req.Score = "none"
	res, err := ix.bleve.SearchInContext(ctx, req)
	if err != nil {
		ix.metrics.observeError(opSearch)
		return 0, fmt.Errorf("index %s: find expired documents: %w", ix.path, err)
	}
	if len(res.Hits) == 0 {
		return 0, nil
	}
	batch := ix.bleve.NewBatch()
	for _, h := range res.Hits {
		batch.Delete(h.ID)
	}
	if err := ix.bleve.Batch(batch); err != nil {
		ix.metrics.observeError(opDelete)
		return 0, fmt.Errorf("index %s: delete %d expired documents: %w", ix.path, batch.Size(), err)
	}
	return len(res.Hits), nil
}

// expiredQuery matches documents fetched before cutoff, and documents
// without a fetch time published before it. The fetch time is when the
// mention was stored on the MENTIONS stream, so a document expires with
// its mention there (a post published long ago but fetched today stays).
func expiredQuery(cutoff time.Time) query.Query {
	fetchedBefore := query.NewDateRangeQuery(time.Time{}, cutoff)
	fetchedBefore.SetField(fieldFetched)

	publishedBefore := query.NewDateRangeQuery(time.Time{}, cutoff)
	publishedBefore.SetField(fieldPublished)
	fetchedSince := query.NewDateRangeQuery(cutoff, time.Time{})
	fetchedSince.SetField(fieldFetched)
	unfetched := query.NewBooleanQuery([]query.Query{publishedBefore}, nil, []query.Query{fetchedSince})

	return query.NewDisjunctionQuery([]query.Query{fetchedBefore, unfetched})
}

// compactMarkerID is the id of the document Compact adds for a moment. No
// mention id starts with a NUL byte.
const compactMarkerID = "\x00mediawatch-compact"

// Compact rewrites the index into one segment without the documents
// deleted so far, so that nothing of them stays on disk: a Bleve delete
// only marks a document as gone, its stored fields stay in its segment
// until that segment is merged. Erasing a post uses it; it is heavy for a
// large index (everything is rewritten), so do not call it routinely.
func (ix *Index) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.closed {
		return ErrClosed
	}
	adv, err := ix.bleve.Advanced()
	if err != nil {
		return fmt.Errorf("index %s: compact: %w", ix.path, err)
	}
	sc, ok := adv.(*scorch.Scorch)
	if !ok {
		return fmt.Errorf("index %s: compact: not a scorch index (%T)", ix.path, adv)
	}
	// A lone segment is never merged, deletions and all: a marker
	// document makes a second one. Every batch returns once persisted, so
	// the merge sees every deletion made so far.
	batch := ix.bleve.NewBatch()
	if err := batch.Index(compactMarkerID, bleveDoc(&Doc{ID: compactMarkerID})); err != nil {
		return fmt.Errorf("index %s: compact: %w", ix.path, err)
	}
	if err := ix.bleve.Batch(batch); err != nil {
		ix.metrics.observeError(opIndex)
		return fmt.Errorf("index %s: compact: %w", ix.path, err)
	}
	opts := mergeplan.SingleSegmentMergePlanOptions
	mergeErr := sc.ForceMerge(ctx, &opts)
	batch = ix.bleve.NewBatch()
	batch.Delete(compactMarkerID)
	if err := ix.bleve.Batch(batch); err != nil {
		ix.metrics.observeError(opDelete)
		return fmt.Errorf("index %s: compact: %w", ix.path, errors.Join(mergeErr, err))
	}
	if mergeErr != nil {
		return fmt.Errorf("index %s: compact: merge: %w", ix.path, mergeErr)
	}
	return ix.awaitCleanup(ctx, sc)
}

// compactCleanupTimeout bounds how long Compact waits for the segment files
// its merge replaced to be removed.
const compactCleanupTimeout = 10 * time.Second

// awaitCleanup returns once the store holds no segment files other than
// those of the index's current state. Bleve removes files a merge replaced
// in the background, after persisting a later change; a small change is
// made until it has.
func (ix *Index) awaitCleanup(ctx context.Context, sc *scorch.Scorch) error {
	deadline := time.Now().Add(compactCleanupTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		onDisk, err := filepath.Glob(filepath.Join(ix.path, storeDir, "*.zap"))
		if err != nil {
			return fmt.Errorf("index %s: compact: %w", ix.path, err)
		}
		live, _ := sc.StatsMap()["num_root_filesegments"].(uint64)
		if uint64(len(onDisk)) <= live {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("index %s: compact: %d segment files still on disk where %d are in use", ix.path, len(onDisk), live)
		}
		batch := ix.bleve.NewBatch()
		batch.Delete(compactMarkerID)
		if err := ix.bleve.Batch(batch); err != nil {
			return fmt.Errorf("index %s: compact: %w", ix.path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
