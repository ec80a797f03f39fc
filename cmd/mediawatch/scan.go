package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/mention"
)

// maxScanLine bounds one input line of `mediawatch scan`: far above any
// real post (the contract promises 4 MiB), low enough that memory stays
// bounded whatever is piped in.
const maxScanLine = 16 << 20

// scanOutput is one output line: the findings on one input line, or the
// reason it could not be read. The lists are never null, so consumers need
// no special case for errors.
type scanOutput struct {
	ID           string        `json:"id"`
	Institutions []string      `json:"institutions"`
	Categories   []string      `json:"categories"`
	Findings     []scanFinding `json:"findings"`
	Error        string        `json:"error,omitempty"`
}

type scanFinding struct {
	Category    string         `json:"category"`
	Rule        string         `json:"rule"`
	Severity    match.Severity `json:"severity"`
	Field       string         `json:"field"`
	Start       int            `json:"start"`
	End         int            `json:"end"`
	Evidence    string         `json:"evidence"`
	Explanation string         `json:"explanation"`
}

func cmdScan(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("scan", stderr)
	cfgPath := fs.String("config", "", "config file (YAML) for institutions and rules; empty: built-in defaults")
	reveal := fs.Bool("reveal", false, "print evidence of personal data unmasked")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: mediawatch scan [--config FILE] [--reveal] [FILE|-]")
		fmt.Fprintln(stderr, "Reads JSON lines (id, source, feed_title, author, title, text, url, lang, media_alt) and prints the findings on each, one JSON line per input line, in order.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "mediawatch scan: want at most one FILE (or - for standard input)")
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch scan:", oneLine(err))
		return 1
	}
	matcher, err := app.LoadMatcher(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mediawatch scan:", oneLine(err))
		return 1
	}
	in, name, interactive := stdin, "standard input", true
	if path := fs.Arg(0); path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "mediawatch scan:", err)
			return 1
		}
		defer f.Close()
		in, name, interactive = f, path, false
	}
	if err := scan(in, stdout, matcher, scanOptions{reveal: *reveal, flushEachLine: interactive, maxLine: maxScanLine}); err != nil {
		fmt.Fprintf(stderr, "mediawatch scan: %s: %v\n", name, err)
		return 1
	}
	return 0
}

type scanOptions struct {
	reveal bool
	// flushEachLine writes every result as soon as it is known, for a
	// consumer at the other end of a pipe waiting for it.
	flushEachLine bool
	maxLine       int
}

// scan reads JSON lines from r and writes one result line per non-blank
// input line to w, in order. A line that is not a JSON object of the
// expected shape gets an error line and scanning goes on; only reading or
// writing failing stops it. Blank lines are skipped without output.
func scan(r io.Reader, w io.Writer, matcher *match.Matcher, opts scanOptions) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var line []byte
	for n := 1; ; n++ {
		var tooLong bool
		var err error
		line, tooLong, err = readLine(br, line[:0], opts.maxLine)
		if err != nil && !errors.Is(err, io.EOF) {
			_ = bw.Flush()
			return fmt.Errorf("line %d: %w", n, err)
		}
		if len(line) == 0 && errors.Is(err, io.EOF) && !tooLong {
			break
		}
		if tooLong || len(bytes.TrimSpace(line)) > 0 {
			out := scanOne(line, n, tooLong, opts.maxLine, matcher, opts.reveal)
			if werr := enc.Encode(out); werr != nil {
				return fmt.Errorf("write: %w", werr)
			}
			if opts.flushEachLine {
				if werr := bw.Flush(); werr != nil {
					return fmt.Errorf("write: %w", werr)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// readLine appends the next line of br, without its line ending, to buf. A
// line longer than max is read to its end but not kept: tooLong reports it.
// At the end of the input it returns io.EOF, with the last line if it had
// no line ending.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+2 { // room for \r\n
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		buf = bytes.TrimSuffix(buf, []byte("\r"))
		if !tooLong && len(buf) > max {
			tooLong, buf = true, buf[:0]
		}
		return buf, tooLong, err
	}
}

// scanOne matches one input line.
func scanOne(line []byte, n int, tooLong bool, maxLine int, matcher *match.Matcher, reveal bool) scanOutput {
	out := scanOutput{Institutions: []string{}, Categories: []string{}, Findings: []scanFinding{}}
	if tooLong {
		out.Error = fmt.Sprintf("line %d: longer than %d bytes", n, maxLine)
		return out
	}
	in, err := decodeScanInput(line)
	out.ID = in.ID
	if err != nil {
		out.Error = fmt.Sprintf("line %d: %v", n, err)
		return out
	}
	res := matcher.Match(in.Mention())
	if res.Institutions != nil {
		out.Institutions = res.Institutions
	}
	out.Categories = categories(res.Findings)
	for _, f := range res.Findings {
		evidence := f.RedactedEvidence()
		if reveal {
			evidence = f.Evidence
		}
		out.Findings = append(out.Findings, scanFinding{Category: f.Category, Rule: f.Rule, Severity: f.Severity,
			Field: f.Field, Start: f.Start, End: f.End, Evidence: evidence, Explanation: f.Explanation})
	}
	return out
}

// decodeScanInput decodes one line. On an error it still returns the id
// when the line is an object with a string id, so the error line can say
// which record it was.
func decodeScanInput(line []byte) (mention.Post, error) {
	var in mention.Post
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return in, fmt.Errorf("want a JSON object, got %s", typeErr.Value)
		}
		return in, fmt.Errorf("not JSON: %v", err)
	}
	if fields == nil {
		return in, errors.New("want a JSON object, got null")
	}
	if raw, ok := fields["id"]; ok {
		_ = json.Unmarshal(raw, &in.ID)
	}
	if err := json.Unmarshal(line, &in); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			want := "a string"
			if strings.HasPrefix(typeErr.Field, "media_alt") {
				want = "an array of strings"
			}
			return in, fmt.Errorf("field %q: want %s, got %s", strings.SplitN(typeErr.Field, ".", 2)[0], want, typeErr.Value)
		}
		return in, err
	}
	return in, nil
}
