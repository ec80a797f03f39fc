package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// openIndex opens the daemon's index. The index's lock is the data dir's:
// a second process on the same data dir fails here, within the lock
// timeout, saying so. A corrupt index is moved aside and an empty one
// opened in its place, owed a rebuild from MENTIONS (see startRebuild), as
// is an index created where there was none.
func openIndex(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*index.Index, error) {
	ix, err := index.Open(IndexPath(cfg), index.Options{Logger: log, Registerer: reg, Rebuild: true})
	if errors.Is(err, index.ErrLocked) {
		return nil, heldError(cfg)
	}
	return ix, err
}

// heldError is the error of a process that finds the data dir's index
// locked by another.
func heldError(cfg *config.Config) error {
	return fmt.Errorf("data dir %s: another mediawatch process holds it (%w: %s); stop that process first, or give this one a data_dir of its own",
		cfg.DataDir, index.ErrLocked, IndexPath(cfg))
}

// Reindex throws the index away and rebuilds it from the MENTIONS stream
// with the current rules. The daemon must not be running on the same data
// dir (the index lock says so if it is). It returns the number of mentions
// indexed. An index left half rebuilt (the command stopped, or the stream
// could not be read) stays marked as owed a rebuild: the daemon finishes
// it at its next start.
func Reindex(ctx context.Context, cfg *config.Config, logger *slog.Logger) (int, error) {
	matcher, err := LoadMatcher(cfg)
	if err != nil {
		return 0, err
	}
	reg := prometheus.NewRegistry()
	if err := index.Remove(IndexPath(cfg)); err != nil {
		if errors.Is(err, index.ErrLocked) {
			return 0, heldError(cfg)
		}
		return 0, err
	}
	ix, err := index.Open(IndexPath(cfg), index.Options{Logger: logger, Registerer: reg, Rebuild: true})
	if errors.Is(err, index.ErrLocked) {
		return 0, heldError(cfg)
	}
	if err != nil {
		return 0, err
	}
	defer ix.Close()

	natsURL := cfg.NATS.URL
	if natsURL == "" {
		ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: "127.0.0.1:-1", StoreDir: NATSStoreDir(cfg), SyncInterval: cfg.NATS.SyncInterval.D(), Logger: logger})
		if err != nil {
			return 0, err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		natsURL = ns.ClientURL()
	}
	conn, err := bus.Connect(ctx, bus.ConnectOptions{URL: natsURL, Name: "mediawatch-reindex", Logger: logger, Registerer: reg})
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var m atomic.Pointer[match.Matcher]
	m.Store(matcher)
	n, err := fillIndex(ctx, conn.JS, ix, &m, cfg.Index.BatchSize, logger)
	if err != nil {
		return n, err
	}
	return n, ix.EndRebuild()
}

// fillIndex indexes the mentions stored on MENTIONS when it starts, each
// matched with the rules in force, reporting its progress to the index,
// and returns how many it indexed. Mentions stored later are the match
// stage's to index. Documents are replaced by id, so filling an index that
// already holds some of them, or that the match stage writes to meanwhile,
// doubles nothing.
func fillIndex(ctx context.Context, js jetstream.JetStream, ix *index.Index, matcher *atomic.Pointer[match.Matcher], batchSize int, logger *slog.Logger) (int, error) {
	stream, err := js.Stream(ctx, bus.StreamMentions)
	if err != nil {
		return 0, fmt.Errorf("reindex: stream %s: %w", bus.StreamMentions, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reindex: stream %s: %w", bus.StreamMentions, err)
	}
	total, last := int(info.State.Msgs), info.State.LastSeq
	ix.RebuildProgress(0, total)
	if info.State.Msgs == 0 {
		return 0, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, fmt.Errorf("reindex: consumer: %w", err)
	}
	batchSize = max(batchSize, 1)
	indexed, read := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return indexed, err
		}
		// Never ask for more than is left: a fetch waits until it has
		// as many as it asked for.
		want := min(batchSize, max(total-read, 1))
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return indexed, fmt.Errorf("reindex: read %s after %d mentions: %w", bus.StreamMentions, read, err)
		}
		m := matcher.Load()
		docs := make([]index.Doc, 0, want)
		caughtUp, got := false, 0
		for msg := range batch.Messages() {
			got++
			read++
			meta, err := msg.Metadata()
			if err != nil {
				return indexed, fmt.Errorf("reindex: message metadata: %w", err)
			}
			var mm mention.Mention
			if err := json.Unmarshal(msg.Data(), &mm); err != nil || mm.ID == "" {
				logger.Warn("reindex: skipping undecodable mention", "seq", meta.Sequence.Stream, "err", err)
			} else {
				docs = append(docs, Doc(&mm, m.Match(&mm)))
			}
			if meta.NumPending == 0 || meta.Sequence.Stream >= last {
				caughtUp = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			return indexed, fmt.Errorf("reindex: read %s after %d mentions: %w", bus.StreamMentions, read, err)
		}
		if len(docs) > 0 {
			if err := ix.Index(ctx, docs); err != nil {
				return indexed, fmt.Errorf("reindex: %w", err)
			}
			indexed += len(docs)
		}
		ix.RebuildProgress(read, total)
		if caughtUp {
			return indexed, nil
		}
		if got == 0 {
			// Nothing came: the rest may have expired or been erased
			// meanwhile.
			info, err := stream.Info(ctx)
			if err != nil {
				return indexed, fmt.Errorf("reindex: stream %s: %w", bus.StreamMentions, err)
			}
			if info.State.Msgs == 0 || info.State.FirstSeq > last {
				return indexed, nil
			}
		}
	}
}

// indexRebuild fills an index owed a rebuild from MENTIONS in the
// background, while the daemon alerts as usual and the match stage indexes
// the new mentions into the same index. Search is reported unavailable
// until it is done (index.ErrRebuilding).
type indexRebuild struct {
	js        jetstream.JetStream
	ix        *index.Index
	matcher   *atomic.Pointer[match.Matcher]
	batchSize int
	log       *slog.Logger
}

// startRebuild returns the rebuild the index is owed, nil when it is owed
// none or the stream is empty (then the index is whole as it is).
func startRebuild(ctx context.Context, js jetstream.JetStream, ix *index.Index, matcher *atomic.Pointer[match.Matcher], batchSize int, log *slog.Logger) (*indexRebuild, error) {
	reason, ok := ix.Rebuilding()
	if !ok {
		return nil, nil
	}
	stream, err := js.Stream(ctx, bus.StreamMentions)
	if err != nil {
		return nil, fmt.Errorf("index rebuild: stream %s: %w", bus.StreamMentions, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("index rebuild: stream %s: %w", bus.StreamMentions, err)
	}
	if info.State.Msgs == 0 {
		return nil, ix.EndRebuild()
	}
	log.Warn("rebuilding the index from MENTIONS in the background; search is unavailable until it is done, alerting goes on",
		"reason", reason, "mentions", info.State.Msgs)
	return &indexRebuild{js: js, ix: ix, matcher: matcher, batchSize: batchSize, log: log}, nil
}

// run rebuilds the index, starting over after a failure, until it is done
// or ctx ends; a rebuild cut short is taken up again at the next start.
func (r *indexRebuild) run(ctx context.Context) error {
	retry := time.Second
	for attempt := 1; ; attempt++ {
		start := time.Now()
		n, err := fillIndex(ctx, r.js, r.ix, r.matcher, r.batchSize, r.log)
		if err == nil {
			err = r.ix.EndRebuild()
		}
		if err == nil {
			r.log.Info("index rebuilt from MENTIONS; search is available again", "mentions", n,
				"took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			r.log.Info("index rebuild stopped; it starts over at the next start", "mentions", n)
			return nil
		}
		r.log.Error("index rebuild failed; starting it over", "attempt", attempt, "mentions", n, "retry_in", retry, "err", err)
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		retry = min(2*retry, time.Minute)
	}
}
