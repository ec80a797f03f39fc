package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/demo"
	"github.com/nats-io/nats.go"
)

// cmdDemo runs the real daemon against the bundled offline corpus, served by
// a local feed server, and prints every alert as it is published.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr)
	httpAddr := fs.String("http", "127.0.0.1:8080", "dashboard address")
	dataDir := fs.String("data-dir", "", "data dir to keep (default: a temporary one, removed at exit)")
	logLevel := fs.String("log-level", "warn", "log level")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	logger, err := newLogger(stderr, "text", *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch demo:", err)
		return 2
	}
	srv, err := demo.Start("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch demo:", err)
		return 1
	}
	defer srv.Close()

	dir := *dataDir
	if dir == "" {
		dir, err = os.MkdirTemp("", "mediawatch-demo-")
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch demo:", err)
			return 1
		}
		defer os.RemoveAll(dir)
	}
	cfg := DemoConfig(srv, dir)
	cfg.HTTP.Listen = *httpAddr

	var nc *nats.Conn
	code := runDaemon(ctx, app.Options{Config: cfg, Logger: logger, Version: version}, func(a *app.App) {
		fmt.Fprintf(stdout, "mediawatch demo: %d feeds served from %s\n", len(cfg.Feeds), srv.URL("/"))
		fmt.Fprintf(stdout, "dashboard  http://%s/\nsearch     http://%s/api/search?q=patient\nmetrics    http://%s/metrics\nnats       %s (subjects mediawatch.mentions.> and mediawatch.alerts.>)\n\n",
			a.HTTPAddr(), a.HTTPAddr(), a.HTTPAddr(), a.NATSURL())
		nc, err = nats.Connect(a.NATSURL(), nats.Name("mediawatch-demo-printer"))
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch demo: cannot follow alerts:", err)
			return
		}
		_, err = nc.Subscribe("mediawatch.alerts.>", func(msg *nats.Msg) {
			var al alerts.Alert
			if json.Unmarshal(msg.Data, &al) != nil {
				return
			}
			fmt.Fprintf(stdout, "%s  %-8s %-11s %-14s %s\n          %s\n", al.DetectedAt.Local().Format("15:04:05"),
				al.Severity, al.Institution, al.Category, al.Mention.URL, al.Snippet)
		})
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch demo: cannot follow alerts:", err)
		}
	})
	if nc != nil {
		nc.Close()
	}
	return code
}

// DemoConfig is the built-in configuration pointed at the demo feed server.
func DemoConfig(srv *demo.Server, dataDir string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.NATS.StoreDir = ""
	cfg.Index.Path = ""
	cfg.Ingest.AllowPrivateNetworks = []string{"127.0.0.0/8"}
	cfg.Feeds = nil
	for _, f := range demo.Feeds() {
		cfg.Feeds = append(cfg.Feeds, config.Feed{ID: f.ID, Name: f.Name, URL: srv.URL(f.Path), Source: f.Source, Interval: config.Duration(30 * time.Second)})
	}
	return cfg
}
