package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mediawatch/mediawatch/bench"
)

// cmdBench serves synthetic feeds from a loopback server, runs the daemon
// against them and prints one JSON object with the figures (see
// docs/performance.md).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty: built-in defaults (the data dir, addresses and feeds are the bench's own)")
	feeds := fs.Int("feeds", bench.DefaultFeeds, "synthetic feeds to serve")
	items := fs.Int("items", bench.DefaultItems, "posts in total, spread over the feeds")
	rate := fs.Float64("rate", 0, "release the posts at this many per second (0: all at once)")
	duration := fs.Duration("duration", 0, "run this long and count polls done against polls due (posts spread over the run unless --rate)")
	interval := fs.Duration("interval", 0, "the feeds' poll interval (default 5m, or 1s with --rate and no --duration)")
	syncInterval := fs.String("sync-interval", "", "replace nats.sync_interval (0s: fsync every write, as shipped)")
	seed := fs.Uint64("seed", 1, "corpus seed")
	logLevel := fs.String("log-level", "error", "the daemon's log level, on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write the CPU profile of the daemon's run to this file")
	heapProfile := fs.String("memprofile", "", "write a heap profile taken at the end of the daemon's run to this file")
	cfg, code, ok := parseWithConfig(fs, cfgPath, args, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mediawatch bench: unexpected arguments:", fs.Args())
		return 2
	}
	if *feeds < 1 || *items < 1 || *rate < 0 || *duration < 0 || *interval < 0 {
		fmt.Fprintln(stderr, "mediawatch bench: --feeds and --items must be at least 1, --rate, --duration and --interval not negative")
		return 2
	}
	logger, err := newLogger(stderr, "text", *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch bench:", err)
		return 2
	}
	opts := bench.Options{
		Feeds: *feeds, Items: *items, Rate: *rate, Duration: *duration, Interval: *interval,
		Config: cfg, Logger: logger, Seed: *seed,
	}
	if *syncInterval != "" {
		d, err := time.ParseDuration(*syncInterval)
		if err != nil || d < 0 {
			fmt.Fprintf(stderr, "mediawatch bench: --sync-interval %q: want a duration such as 0s or 1s\n", *syncInterval)
			return 2
		}
		opts.SyncInterval = &d
	}
	for _, p := range []struct {
		path string
		w    *io.Writer
	}{{*cpuProfile, &opts.CPUProfile}, {*heapProfile, &opts.HeapProfile}} {
		if p.path == "" {
			continue
		}
		f, err := os.Create(p.path)
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch bench:", err)
			return 1
		}
		defer f.Close()
		*p.w = f
	}
	res, err := bench.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch bench:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(stderr, "mediawatch bench:", err)
		return 1
	}
	return 0
}
