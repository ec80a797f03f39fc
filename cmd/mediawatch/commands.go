package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/ingest"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mediawatch "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns -h into exit code 0 and bad flags into 2.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// parseWithConfig parses args and loads the configuration file named by
// cfgPath (built-in defaults when empty), printing every problem on stderr.
// When it cannot, it returns the exit code to end with.
func parseWithConfig(fs *flag.FlagSet, cfgPath *string, args []string, stderr io.Writer) (*config.Config, int, bool) {
	if code, ok := parseFlags(fs, args); !ok {
		return nil, code, false
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1, false
	}
	return cfg, 0, true
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func cmdRun(ctx context.Context, args []string, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty: built-in defaults")
	logFormat := fs.String("log-format", "", "log format: text or json (default: config log.format)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (default: config log.level)")
	roleFlag := fs.String("role", "all", "what this process runs: all, or a comma-separated list of ingest, match, web (several processes on one NATS share the work)")
	cfg, code, ok := parseWithConfig(fs, cfgPath, args, stderr)
	if !ok {
		return code
	}
	roles, err := app.ParseRoles(*roleFlag)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch run: --role:", err)
		return 2
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	logger, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch:", err)
		return 2
	}
	return runDaemon(ctx, app.Options{Config: cfg, Logger: logger, Version: version, Roles: roles}, nil)
}

// runDaemon runs the app until ctx ends. ready, if not nil, is called once
// the daemon runs.
func runDaemon(ctx context.Context, opts app.Options, ready func(*app.App)) int {
	logger := opts.Logger
	a, err := app.New(opts)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	// SIGHUP reloads the rules, as daemons conventionally do. Registered
	// before the daemon runs, so a SIGHUP from the moment it is ready on
	// never kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	hupDone := make(chan struct{})
	defer func() { <-hupDone }()
	hupCtx, stopHup := context.WithCancel(ctx)
	defer stopHup()
	go func() {
		defer close(hupDone)
		for {
			select {
			case <-hupCtx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading rules")
				// ReloadRules logs the outcome and every problem itself.
				_ = a.ReloadRules()
			}
		}
	}()
	if ready != nil {
		go func() {
			select {
			case <-a.Ready():
				ready(a)
			case <-ctx.Done():
			}
		}()
	}
	if err := a.Run(ctx); err != nil {
		logger.Error("stopped with error", "err", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty: built-in defaults")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var problems []string
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		problems = append(problems, lines(err)...)
		// Rules are still checked against the defaults so that every
		// problem shows up in one run.
		cfg = config.Default()
	}
	matcher, err := app.LoadMatcher(cfg)
	if err != nil {
		problems = append(problems, lines(err)...)
	} else if err := matcher.TestExamples(); err != nil {
		problems = append(problems, lines(err)...)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "%d problem(s)\n", len(problems))
		return 1
	}
	name := *cfgPath
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: ok (%d feeds, %d institutions, %d rules)\n", name, len(cfg.Feeds), len(cfg.Institutions), len(matcher.Rules()))
	return 0
}

// lines splits an error (often an errors.Join of many) into one line per
// problem.
func lines(err error) []string {
	var out []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// feedLine is what `mediawatch feed` prints per item.
type feedLine struct {
	Mention      mention.Mention `json:"mention"`
	Institutions []string        `json:"institutions"`
	Categories   []string        `json:"categories"`
	Findings     []match.Finding `json:"findings"`
}

func cmdFeed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("feed", stderr)
	cfgPath := fs.String("config", "", "config file (YAML) for institutions, rules and fetch limits")
	reveal := fs.Bool("reveal", false, "print evidence of personal data unmasked")
	allowPrivate := fs.Bool("allow-private", false, "allow fetching from private and loopback addresses")
	source := fs.String("source", "news", "source kind to label the mentions with")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "mediawatch feed: want exactly one URL or FILE")
		return 2
	}
	target := fs.Arg(0)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch feed:", strings.ReplaceAll(err.Error(), "\n", "; "))
		return 1
	}
	matcher, err := app.LoadMatcher(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch feed:", strings.ReplaceAll(err.Error(), "\n", "; "))
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var body []byte
	contentType := ""
	feedURL := target
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		opts := app.FetcherOptions(cfg, version)
		if *allowPrivate {
			opts.AllowPrivate = append(opts.AllowPrivate, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
		}
		resp, err := ingest.NewFetcher(opts).Fetch(ctx, target, ingest.Conditional{})
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch feed:", oneLine(err))
			return 1
		}
		body, contentType, feedURL = resp.Body, resp.ContentType, resp.FinalURL
	} else {
		body, err = os.ReadFile(target)
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch feed:", oneLine(err))
			return 1
		}
	}
	parsed, err := ingest.ParseFeed(body, contentType)
	if err != nil {
		fmt.Fprintf(stderr, "mediawatch feed: %s: %s\n", target, oneLine(err))
		return 1
	}
	spec := ingest.FeedSpec{ID: "cli", Name: target, URL: feedURL, Source: *source}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for _, m := range ingest.Normalise(spec, parsed, time.Now()) {
		res := matcher.Match(&m)
		line := feedLine{Mention: m, Institutions: res.Institutions, Categories: categories(res.Findings), Findings: res.Findings}
		if line.Institutions == nil {
			line.Institutions = []string{}
		}
		if line.Findings == nil {
			line.Findings = []match.Finding{}
		}
		if !*reveal {
			line.Mention = redactMention(m, res.Findings)
			for i := range line.Findings {
				line.Findings[i].Evidence = line.Findings[i].RedactedEvidence()
			}
		}
		if err := enc.Encode(line); err != nil {
			fmt.Fprintln(stderr, "mediawatch feed:", oneLine(err))
			return 1
		}
	}
	return 0
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func categories(fs []match.Finding) []string {
	out := []string{}
	for _, cat := range match.Categories {
		for _, f := range fs {
			if f.Category == cat {
				out = append(out, cat)
				break
			}
		}
	}
	return out
}

// redactMention masks personal data in every field the findings point at.
func redactMention(m mention.Mention, fs []match.Finding) mention.Mention {
	m.Text = match.Redact(m.Text, "text", fs)
	m.Title = match.Redact(m.Title, "title", fs)
	m.Author = match.Redact(m.Author, "author", fs)
	m.FeedTitle = match.Redact(m.FeedTitle, "feed_title", fs)
	media := make([]mention.Media, len(m.Media))
	for i, md := range m.Media {
		md.Alt = match.Redact(md.Alt, fmt.Sprintf("media[%d].alt", i), fs)
		media[i] = md
	}
	m.Media = media
	return m
}

func cmdReindex(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reindex", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty: built-in defaults")
	cfg, code, ok := parseWithConfig(fs, cfgPath, args, stderr)
	if !ok {
		return code
	}
	logger, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch:", err)
		return 2
	}
	start := time.Now()
	n, err := app.Reindex(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch reindex:", err)
		return 1
	}
	fmt.Fprintf(stdout, "reindexed %d mentions in %s\n", n, time.Since(start).Round(time.Millisecond))
	return 0
}

func cmdRescan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rescan", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty: built-in defaults")
	since := fs.Duration("since", 0, "rescan the mentions stored in this last period, e.g. 24h (required)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *since <= 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "mediawatch rescan: want --since DURATION (e.g. --since 72h) and no arguments")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	logger, err := newLogger(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch:", err)
		return 2
	}
	res, err := app.Rescan(ctx, cfg, *since, logger)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch rescan:", err)
		return 1
	}
	fmt.Fprintf(stdout, "rescanned %d mentions of the last %s: %d new alerts, %d already known", res.Mentions, *since, res.AlertsNew, res.AlertsKnown)
	if res.Undecodable > 0 {
		fmt.Fprintf(stdout, ", %d undecodable mentions skipped", res.Undecodable)
	}
	fmt.Fprintln(stdout)
	return 0
}
