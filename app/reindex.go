package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Reindex throws the index away and rebuilds it from the MENTIONS stream
// with the current rules. The daemon must not be running on the same data
// dir (the index lock says so if it is). It returns the number of mentions
// indexed.
func Reindex(ctx context.Context, cfg *config.Config, logger *slog.Logger) (int, error) {
	matcher, err := LoadMatcher(cfg)
	if err != nil {
		return 0, err
	}
	reg := prometheus.NewRegistry()
	if err := index.Remove(IndexPath(cfg)); err != nil {
		return 0, err
	}
	ix, err := index.Open(IndexPath(cfg), index.Options{Logger: logger, Registerer: reg})
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
	stream, err := conn.JS.Stream(ctx, bus.StreamMentions)
	if err != nil {
		return 0, fmt.Errorf("reindex: stream %s: %w", bus.StreamMentions, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("reindex: stream %s: %w", bus.StreamMentions, err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, fmt.Errorf("reindex: consumer: %w", err)
	}
	batchSize := max(cfg.Index.BatchSize, 1)
	docs := make([]index.Doc, 0, batchSize)
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		err := ix.Index(ctx, docs)
		docs = docs[:0]
		return err
	}
	total := 0
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return total, fmt.Errorf("reindex: read %s after %d mentions: %w", bus.StreamMentions, total, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return total, fmt.Errorf("reindex: message metadata: %w", err)
		}
		var m mention.Mention
		if err := json.Unmarshal(msg.Data(), &m); err != nil {
			logger.Warn("reindex: skipping undecodable mention", "seq", meta.Sequence.Stream, "err", err)
		} else {
			docs = append(docs, Doc(&m, matcher.Match(&m)))
			total++
		}
		if len(docs) == batchSize {
			if err := flush(); err != nil {
				return total, err
			}
		}
		if meta.NumPending == 0 {
			return total, flush()
		}
	}
}
