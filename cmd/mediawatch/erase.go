package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
)

func cmdErase(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("erase", stderr)
	cfgPath := fs.String("config", "", "config file (YAML); empty: built-in defaults")
	url := fs.String("url", "", "erase the post at this URL (scheme, trailing slash, fragment and tracking parameters do not matter)")
	text := fs.String("text", "", "erase the posts whose title or text contains this, ignoring case")
	dryRun := fs.Bool("dry-run", false, "print what would be erased and change nothing")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || (strings.TrimSpace(*url) == "") == (strings.TrimSpace(*text) == "") {
		fmt.Fprintln(stderr, "mediawatch erase: want either --url URL or --text TEXT, and no arguments")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	logger, err := newLogger(stderr, cfg.Log.Format, "warn")
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch:", err)
		return 2
	}
	res, err := app.Erase(ctx, cfg, app.EraseOptions{URL: *url, Text: *text, DryRun: *dryRun}, logger)
	if len(res.Stores) > 0 {
		printErase(stdout, res)
	}
	if err != nil {
		if errors.Is(err, app.ErrNothingMatched) {
			fmt.Fprintln(stderr, "mediawatch erase:", oneLine(err))
			return 1
		}
		for _, l := range lines(err) {
			fmt.Fprintln(stderr, "mediawatch erase:", l)
		}
		return 1
	}
	return 0
}

// printErase writes one line per store with its count, then the ids.
func printErase(w io.Writer, res app.EraseResult) {
	verb := "erased"
	if res.DryRun {
		verb = "would be erased"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range res.Stores {
		status := verb
		switch {
		case c.Err != nil:
			status = verb + ", then FAILED"
		case c.Skipped:
			status = "SKIPPED"
		}
		fmt.Fprintf(tw, "%s\t%d %s\t%s\n", c.Store, c.N, c.Unit, status)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "mentions: %s\n", orNone(res.MentionIDs))
	fmt.Fprintf(w, "alerts: %s\n", orNone(res.AlertIDs))
	if res.DryRun {
		fmt.Fprintln(w, "dry run: nothing was changed")
	}
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, " ")
}
