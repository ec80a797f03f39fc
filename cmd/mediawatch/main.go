// Command mediawatch watches public feeds for mentions of hospitals, detects
// posts that break their social-media guidelines and alerts the
// communications team over NATS. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	// The zone database in the binary: http.time_zone and the users' zones
	// work on images without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `mediawatch watches public feeds for mentions of hospitals and alerts on
posts that break their social-media guidelines.

Usage:
  mediawatch run     [--config FILE] [--log-format text|json] [--log-level LEVEL]
  mediawatch demo    [--http ADDR] [--data-dir DIR]
  mediawatch check   [--config FILE]
  mediawatch feed    [--config FILE] [--reveal] [--allow-private] URL|FILE
  mediawatch scan    [--config FILE] [--reveal] [FILE|-]
  mediawatch rules   test|list [--config FILE]
  mediawatch rescan  [--config FILE] --since DURATION
  mediawatch reindex [--config FILE]
  mediawatch erase   [--config FILE] (--url URL | --text TEXT) [--dry-run]
  mediawatch user    add NAME --role ROLE[,ROLE] < password
  mediawatch bench   [--feeds N] [--items N] [--rate R] [--duration D] [--interval D]
                     [--sync-interval D] [--seed N] [--cpuprofile FILE] [--memprofile FILE] [--config FILE]
  mediawatch version

Run 'mediawatch COMMAND --help' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWithInput(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line that reads nothing from standard input and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, strings.NewReader(""), stdout, stderr)
}

// runWithInput dispatches a command line and returns the exit code.
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(rest, stdout, stderr)
	case "feed":
		return cmdFeed(ctx, rest, stdout, stderr)
	case "scan":
		return cmdScan(rest, stdin, stdout, stderr)
	case "rules":
		return cmdRules(rest, stdout, stderr)
	case "rescan":
		return cmdRescan(ctx, rest, stdout, stderr)
	case "reindex":
		return cmdReindex(ctx, rest, stdout, stderr)
	case "erase":
		return cmdErase(ctx, rest, stdout, stderr)
	case "user":
		return cmdUser(rest, stdin, stdout, stderr)
	case "bench":
		return cmdBench(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "mediawatch", version)
		return 0
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "mediawatch: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
