package e2e

// The daemon killed and its files damaged: mediawatch runs as a child
// process (the binary built as the scale-out test builds it), is killed
// with SIGKILL while it ingests, indexes and publishes, and is started
// again on the same data dir; a second process is started on a data dir in
// use; the index's files are deleted and truncated under it. Alerts must
// come out exactly as a run that was never disturbed gives them, and a
// damaged index must cost search only, until it is rebuilt.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The feeds of the crash tests: groups of feeds, each group served only
// once the test releases it (a request for it waits until then), so that a
// kill always leaves work undone and new posts arrive when the test says.
const (
	crashGroups        = 4
	crashFeedsPerGroup = 2
	crashItemsPerFeed  = 60
	crashTotal         = crashGroups * crashFeedsPerGroup * crashItemsPerFeed
)

type crashFeedServer struct {
	*httptest.Server
	base time.Time

	mu       sync.Mutex
	released [crashGroups]chan struct{}
}

func newCrashFeedServer(t *testing.T) *crashFeedServer {
	fs := &crashFeedServer{base: time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Minute)}
	fs.hold()
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(func() {
		fs.release(0, crashGroups) // let held requests end
		fs.Close()
	})
	return fs
}

// hold makes every group wait again.
func (fs *crashFeedServer) hold() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for g := range fs.released {
		fs.released[g] = make(chan struct{})
	}
}

// release serves the groups [from, to).
func (fs *crashFeedServer) release(from, to int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for g := from; g < to; g++ {
		select {
		case <-fs.released[g]:
		default:
			close(fs.released[g])
		}
	}
}

func crashFeedName(g, f int) string { return fmt.Sprintf("g%df%d", g, f) }

// crashGroupOf is the group of a post's URL, -1 if it is none of ours.
func crashGroupOf(url string) int {
	_, rest, ok := strings.Cut(url, "/crash/g")
	if !ok || rest == "" {
		return -1
	}
	g, err := strconv.Atoi(rest[:1])
	if err != nil {
		return -1
	}
	return g
}

func (fs *crashFeedServer) feedsYAML() string {
	var b strings.Builder
	for g := range crashGroups {
		for f := range crashFeedsPerGroup {
			name := crashFeedName(g, f)
			fmt.Fprintf(&b, "  - {id: %s, url: %q, source: forum, interval: 1h}\n", name, fs.URL+"/"+name+".rss")
		}
	}
	return b.String()
}

func (fs *crashFeedServer) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".rss")
	var g, f int
	if _, err := fmt.Sscanf(name, "g%df%d", &g, &f); err != nil || g < 0 || g >= crashGroups || f < 0 || f >= crashFeedsPerGroup {
		http.NotFound(w, r)
		return
	}
	fs.mu.Lock()
	released := fs.released[g]
	fs.mu.Unlock()
	select {
	case <-released:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/rss+xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Zorgforum %s</title><link>https://forum.example/crash/%s</link>`, name, name)
	for j := crashItemsPerFeed - 1; j >= 0; j-- { // newest first, as feeds list
		p := crashPost(name, j)
		fmt.Fprintf(w, `<item><title>%s</title><link>%s</link><guid>%s</guid><description>%s</description><author>%s</author><pubDate>%s</pubDate></item>`,
			p.title, p.link, p.link, p.text, p.author, fs.base.Add(time.Duration(j)*time.Minute).Format(time.RFC1123Z))
	}
	fmt.Fprint(w, `</channel></rss>`)
}

type crashPostData struct{ title, link, text, author string }

// crashPost is post j of a feed. Three in ten break the guidelines: a BSN
// (one alert), a Belgian national number (one alert) or a BSN in a post on
// both hospitals (two alerts); each post has an author of its own, so no
// alert folds into another's story.
func crashPost(feed string, j int) crashPostData {
	p := crashPostData{
		title:  fmt.Sprintf("Bericht %d op %s", j, feed),
		link:   fmt.Sprintf("https://forum.example/crash/%s/%d", feed, j),
		author: fmt.Sprintf("lid_%s_%d", feed, j),
	}
	switch j % 10 {
	case 3:
		p.text = fmt.Sprintf("Lange dienst %d in het UMC Utrecht. Mevrouw op kamer 12, bsn 234567818, wachtte uren op haar bloedafname.", j)
	case 7:
		p.text = fmt.Sprintf("Patiënt van kamer 7 gaat van het UMC Utrecht naar UZ Leuven (%d), bsn 234567818 stond gewoon op de overdracht.", j)
	case 9:
		p.text = fmt.Sprintf("Mijn buurman ligt in UZ Leuven op kamer 4, rijksregisternummer 85.07.30-033.28, en krijgt morgen zijn operatie (%d).", j)
	case 0, 2, 4, 6, 8:
		p.text = fmt.Sprintf("Het UMC Utrecht opent een nieuwe polikliniek voor kinderen, bericht %d van %s.", j, feed)
	default:
		p.text = fmt.Sprintf("De wachttijden bij UZ Leuven zijn weer korter, lees ik in bericht %d van %s.", j, feed)
	}
	return p
}

// crashDaemon is one data dir and configuration, run as a child process
// again and again.
type crashDaemon struct {
	t        *testing.T
	bin      string
	dir      string
	cfgPath  string
	http     string
	natsURL  string // the external server, or the embedded one's address
	embedded bool
	runs     int
	proc     *process
}

// newCrashDaemon configures a daemon on a data dir of its own, on the
// external NATS server at natsURL or, when it is empty, the embedded server
// on a fixed port (so that it is found again after a restart).
func newCrashDaemon(t *testing.T, bin, natsURL string, fs *crashFeedServer) *crashDaemon {
	t.Helper()
	d := &crashDaemon{t: t, bin: bin, dir: t.TempDir(), http: freePort(t)}
	natsCfg := fmt.Sprintf("  url: %q\n", natsURL)
	d.natsURL = natsURL
	if natsURL == "" {
		d.embedded = true
		listen := freePort(t)
		natsCfg = fmt.Sprintf("  listen: %q\n", listen)
		d.natsURL = "nats://" + listen
	}
	cfg := fmt.Sprintf(`data_dir: %q
nats:
%shttp:
  listen: %q
ingest:
  allow_private_networks: [127.0.0.0/8]
  timeout: 2m
  lease_period: 4s
  concurrency: 16
  per_host_concurrency: 16
index:
  batch_size: 50
  flush_interval: 50ms
alerts:
  volume_spike: {min_count: 1000000}
log:
  format: json
  level: info
feeds:
%s`, d.dir, natsCfg, d.http, fs.feedsYAML())
	d.cfgPath = filepath.Join(d.dir, "mediawatch.yaml")
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.proc != nil {
			d.stop()
		}
	})
	return d
}

func (d *crashDaemon) logPath(run int) string {
	return filepath.Join(d.dir, fmt.Sprintf("log-%d.json", run))
}

// start runs the daemon and returns once /healthz answers.
func (d *crashDaemon) start() *process {
	t := d.t
	t.Helper()
	d.runs++
	name := fmt.Sprintf("run %d", d.runs)
	p, err := spawn(name, d.bin, d.logPath(d.runs), d.http, "run", "--config", d.cfgPath)
	if err != nil {
		d.proc = nil
		t.Fatalf("%v\n%s", err, d.logTail(d.runs))
	}
	d.proc = p
	return p
}

// stop ends the running daemon with SIGTERM, as a supervisor does.
func (d *crashDaemon) stop() {
	d.t.Helper()
	_ = d.proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.proc.done:
		if err != nil {
			d.t.Errorf("%s stopped with %v\n%s", d.proc.name, err, d.logTail(d.runs))
		}
	case <-time.After(60 * time.Second):
		_ = d.proc.cmd.Process.Kill()
		<-d.proc.done
		d.t.Errorf("%s did not stop within 60s of SIGTERM", d.proc.name)
	}
	d.proc = nil
}

func (d *crashDaemon) logOf(run int) string {
	b, _ := os.ReadFile(d.logPath(run))
	return string(b)
}

func (d *crashDaemon) logTail(run int) string { return tail(d.logOf(run), 40) }

// command runs a mediawatch command on the daemon's configuration.
func (d *crashDaemon) command(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(d.bin, append(args, "--config", d.cfgPath)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// jetStream connects to the daemon's NATS server (the embedded one only
// while the daemon runs), retrying while it comes up.
func (d *crashDaemon) jetStream() (*nats.Conn, jetstream.JetStream) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		nc, err := nats.Connect(d.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err == nil {
			js, err := jetstream.New(nc)
			if err != nil {
				d.t.Fatal(err)
			}
			return nc, js
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("connect %s: %v", d.natsURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readyz is the daemon's /readyz: its status and the index component.
func (d *crashDaemon) readyz() (status int, indexOK bool, indexErr string) {
	resp, err := http.Get("http://" + d.http + "/readyz")
	if err != nil {
		return 0, false, err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Components []struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, false, err.Error()
	}
	for _, c := range body.Components {
		if c.Name == "index" {
			return resp.StatusCode, c.OK, c.Error
		}
	}
	return resp.StatusCode, false, "no index component in /readyz"
}

// search runs /api/search and returns its status, total and error message.
func (d *crashDaemon) search(q string) (status int, total uint64, msg string) {
	resp, err := http.Get("http://" + d.http + "/api/search?size=1&q=" + q)
	if err != nil {
		return 0, 0, err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Total uint64 `json:"total"`
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		return resp.StatusCode, 0, string(b)
	}
	return resp.StatusCode, body.Total, body.Error
}

// waitIndexed waits until the index is ready and search finds want
// mentions; it returns how long that took.
func (d *crashDaemon) waitIndexed(want uint64) time.Duration {
	d.t.Helper()
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for {
		_, ok, ierr := d.readyz()
		status, total, msg := d.search("")
		if ok && status == http.StatusOK && total == want {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("index not ready with %d mentions: readyz index ok=%v %q; search %d, %d hits, %q\n%s",
				want, ok, ierr, status, total, msg, d.logTail(d.runs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamCounts counts the messages of a stream by Nats-Msg-Id.
func streamCounts(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	out := map[string]int{}
	readStream(ctx, t, js, stream, func(id string, _ []byte) { out[id]++ })
	return out
}

// waitProcessed waits until MENTIONS holds every post once and the match
// stage has acknowledged every one of them.
func waitProcessed(t *testing.T, js jetstream.JetStream, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		s, err := js.Stream(ctx, bus.StreamMentions)
		if err == nil {
			info, err1 := s.Info(ctx)
			c, err2 := js.Consumer(ctx, bus.StreamMentions, "match")
			if err1 == nil && err2 == nil {
				ci, err := c.Info(ctx)
				if err == nil && int(info.State.Msgs) >= want && ci.NumPending == 0 && ci.NumAckPending == 0 {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mentions not all processed in time (want %d)", want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// streamWatch follows a stream from its start and calls fn with each
// message's group (by its post's URL), until stopped.
type streamWatch struct {
	cc jetstream.ConsumeContext
}

func watchStream(t *testing.T, js jetstream.JetStream, stream string, fn func(group int)) *streamWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatalf("watch %s: %v", stream, err)
	}
	cc, err := c.Consume(func(msg jetstream.Msg) {
		var v struct {
			URL     string `json:"url"`
			Mention struct {
				URL string `json:"url"`
			} `json:"mention"`
		}
		if json.Unmarshal(msg.Data(), &v) != nil {
			return
		}
		fn(crashGroupOf(v.URL + v.Mention.URL))
	})
	if err != nil {
		t.Fatalf("watch %s: %v", stream, err)
	}
	return &streamWatch{cc: cc}
}

func (w *streamWatch) stop() { w.cc.Stop() }

// alertIDs is a stream's alert ids with the number of messages of each.
type alertIDs map[string]int

// cleanRun runs the feeds through an undisturbed daemon on a fresh data
// dir and NATS: the alerts a disturbed run must end with.
func cleanRun(t *testing.T, bin, natsURL string, fs *crashFeedServer) alertIDs {
	t.Helper()
	fs.release(0, crashGroups)
	d := newCrashDaemon(t, bin, natsURL, fs)
	d.start()
	nc, js := d.jetStream()
	defer nc.Close()
	waitProcessed(t, js, crashTotal)
	d.waitIndexed(crashTotal)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mentions := streamCounts(ctx, t, js, bus.StreamMentions)
	alerts := alertIDs(streamCounts(ctx, t, js, bus.StreamAlerts))
	d.stop()
	if len(mentions) != crashTotal {
		t.Fatalf("clean run: %d mentions, want %d", len(mentions), crashTotal)
	}
	if len(alerts) == 0 {
		t.Fatal("clean run: no alerts")
	}
	return alerts
}

// crashKill is when a run is killed: after n messages of the run's
// newly released group on stream.
type crashKill struct {
	stream string
	n      int
	what   string
}

var crashKills = []crashKill{
	{bus.StreamAlerts, 5, "publishing the first group's alerts"},
	{bus.StreamMentions, 40, "ingesting the second group (mentions published, matched and indexed meanwhile)"},
	{bus.StreamAlerts, 1, "publishing the third group's first alert"},
}

// killAndRestart runs the feeds through a daemon that is killed with
// SIGKILL at the moments of crashKills and started again on the same data
// dir each time, and checks that it ends with the alerts of a clean run,
// each stored once, every mention on the stream once and in the index.
func killAndRestart(t *testing.T, bin, natsURL string, fs *crashFeedServer, want alertIDs) {
	t.Helper()
	start := time.Now()
	fs.hold()
	d := newCrashDaemon(t, bin, natsURL, fs)
	for run, k := range crashKills {
		p := d.start()
		nc, js := d.jetStream()
		var seen atomic.Int64
		killed := make(chan struct{})
		var once sync.Once
		w := watchStream(t, js, k.stream, func(g int) {
			if g == run && seen.Add(1) == int64(k.n) {
				once.Do(func() {
					// Said before it is done: the process can be
					// seen dead before this goroutine runs on.
					close(killed)
					_ = p.cmd.Process.Signal(syscall.SIGKILL)
				})
			}
		})
		// The group of this run comes now: the daemon is up and watched.
		fs.release(run, run+1)
		select {
		case <-killed:
			<-p.done
		case err := <-p.done:
			select {
			case <-killed:
			default:
				d.proc = nil
				t.Fatalf("run %d ended by itself: %v\n%s", run+1, err, d.logTail(d.runs))
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("run %d: %d of %d messages on %s in time", run+1, seen.Load(), k.n, k.stream)
		}
		d.proc = nil
		w.stop()
		state := ""
		if !d.embedded {
			// The broker outlives the daemon: what the kill cut off.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if c, err := js.Consumer(ctx, bus.StreamMentions, "match"); err == nil {
				if ci, err := c.Info(ctx); err == nil {
					state = fmt.Sprintf("; match consumer: %d mentions delivered and not acknowledged, %d not delivered", ci.NumAckPending, ci.NumPending)
				}
			}
			m, a := streamCounts(ctx, t, js, bus.StreamMentions), streamCounts(ctx, t, js, bus.StreamAlerts)
			state += fmt.Sprintf("; stored: %d mentions, %d alerts", len(m), len(a))
			cancel()
		}
		nc.Close()
		t.Logf("%v: run %d killed with SIGKILL while %s%s", time.Since(start).Round(time.Millisecond), run+1, k.what, state)
	}

	// The last run gets the last group and finishes. The mentions the
	// killed runs had been handed and not acknowledged come again once the
	// match consumer's AckWait is over.
	lastStart := time.Now()
	d.start()
	fs.release(0, crashGroups)
	nc, js := d.jetStream()
	defer nc.Close()
	waitProcessed(t, js, crashTotal)
	d.waitIndexed(crashTotal)
	took := time.Since(lastStart)
	for run := 1; run <= d.runs; run++ {
		log := d.logOf(run)
		switch {
		case strings.Contains(log, "index is corrupt"):
			t.Logf("run %d found the index corrupt and rebuilt it", run)
		case strings.Contains(log, "rebuilding the index"):
			t.Logf("run %d took up a rebuild of the index", run)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mentions := streamCounts(ctx, t, js, bus.StreamMentions)
	got := alertIDs(streamCounts(ctx, t, js, bus.StreamAlerts))
	d.stop()
	t.Logf("%v: after %d kills and %d starts: %d mentions, %d alerts (a clean run: %d); all processed and indexed %v after the last start",
		time.Since(start).Round(time.Millisecond), len(crashKills), d.runs, len(mentions), len(got), len(want), took.Round(time.Millisecond))

	if len(mentions) != crashTotal {
		t.Errorf("%d mentions on %s, want %d", len(mentions), bus.StreamMentions, crashTotal)
	}
	for id, n := range mentions {
		if n != 1 {
			t.Errorf("mention %s stored %d times", id, n)
		}
	}
	compareAlerts(t, got, want)
}

// compareAlerts checks that got holds the alerts of want, each once: none
// lost, none duplicated, none extra. A repeat of a story (<id>#<n>, see
// README) is one message of its own and compared like any other id.
func compareAlerts(t *testing.T, got, want alertIDs) {
	t.Helper()
	var lost, extra, dup []string
	for id := range want {
		if got[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range got {
		if want[id] == 0 {
			extra = append(extra, id)
		}
		if n > 1 {
			dup = append(dup, fmt.Sprintf("%s×%d", id, n))
		}
	}
	for _, l := range [][]string{lost, extra, dup} {
		slices.Sort(l)
	}
	if len(lost)+len(extra)+len(dup) > 0 {
		t.Errorf("alerts differ from a clean run: %d lost %v, %d not in the clean run %v, %d stored more than once %v",
			len(lost), lost, len(extra), extra, len(dup), dup)
	}
}

// Both kill tests wait for the match consumer's AckWait after each kill,
// so they wait together.

func TestCrashKilledDaemonExternalNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a minute or two")
	}
	t.Parallel()
	natsURL := startNATSServer(t)
	bin := buildMediawatch(t)
	fs := newCrashFeedServer(t)
	// A stream of its own for each run: the clean run on a second server.
	want := cleanRun(t, bin, startNATSServer(t), fs)
	t.Logf("clean run: %d alerts for %d mentions", len(want), crashTotal)
	killAndRestart(t, bin, natsURL, fs, want)
}

func TestCrashKilledDaemonEmbeddedNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a minute or two")
	}
	t.Parallel()
	bin := buildMediawatch(t)
	fs := newCrashFeedServer(t)
	want := cleanRun(t, bin, "", fs)
	t.Logf("clean run: %d alerts for %d mentions", len(want), crashTotal)
	killAndRestart(t, bin, "", fs, want)
}

// A second daemon on a data dir in use stops at once, saying why, and
// leaves the first alone.
func TestCrashSecondDaemonOnTheSameDataDir(t *testing.T) {
	bin := buildMediawatch(t)
	fs := newCrashFeedServer(t)
	fs.release(0, crashGroups)
	d := newCrashDaemon(t, bin, "", fs)
	d.start()

	// The same command again, as an operator (or a second unit) starts
	// it: same configuration, same data dir.
	cmd := exec.Command(bin, "run", "--config", d.cfgPath)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute): // a guard against hanging, not a measure of speed
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the second daemon still runs after a minute (lock timeout 2s):\n%s", out.String())
	}
	if err == nil {
		t.Fatalf("the second daemon exited 0:\n%s", out.String())
	}
	msg := out.String()
	t.Logf("second daemon: %v: %s", err, strings.TrimSpace(msg))
	if !strings.Contains(msg, "another mediawatch process holds it") || !strings.Contains(msg, d.dir) {
		t.Errorf("the second daemon's message does not name the data dir %s and say another mediawatch holds it:\n%s", d.dir, msg)
	}

	// The first one goes on undisturbed.
	status, ok, ierr := d.readyz()
	if !ok {
		t.Errorf("first daemon's index after the second tried: %s (readyz %d)", ierr, status)
	}
	select {
	case err := <-d.proc.done:
		d.proc = nil
		t.Fatalf("the first daemon died: %v", err)
	default:
	}
	nc, js := d.jetStream()
	defer nc.Close()
	waitProcessed(t, js, crashTotal)
	d.waitIndexed(crashTotal)
}

// A damaged index costs search only. A segment file deleted under the
// running daemon: /readyz reports the index not ok, /api/search answers
// 503, the log says to run `mediawatch reindex`, and alerts go on; the
// reindex (daemon stopped) makes search whole again. A root.bolt truncated
// while the daemon is stopped: the daemon moves the index aside, alerts
// and rebuilds it from MENTIONS by itself. `mediawatch reindex` mends that
// one too.
func TestCrashCorruptIndexCostsSearchOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a minute")
	}
	bin := buildMediawatch(t)
	fs := newCrashFeedServer(t)
	fs.release(0, 1)
	d := newCrashDaemon(t, bin, "", fs)
	perGroup := crashFeedsPerGroup * crashItemsPerFeed
	storeDir := filepath.Join(d.dir, "index", "store")

	d.start()
	nc, js := d.jetStream()
	waitProcessed(t, js, perGroup)
	d.waitIndexed(uint64(perGroup))

	// A segment file deleted while the daemon runs.
	segments, _ := filepath.Glob(filepath.Join(storeDir, "*.zap"))
	if len(segments) == 0 {
		t.Fatal("no segment files to delete")
	}
	for _, f := range segments {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		status, ok, ierr := d.readyz()
		if !ok && strings.Contains(ierr, "segment file") && strings.Contains(ierr, "mediawatch reindex") {
			t.Logf("deleted %d segment files: /readyz %d, index: %s", len(segments), status, ierr)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz does not report the deleted segment: %d, ok=%v %q", status, ok, ierr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _, msg := d.search("polikliniek"); status != http.StatusServiceUnavailable || msg == "" {
		t.Errorf("/api/search on the damaged index: %d %q, want 503 with a message", status, msg)
	} else {
		t.Logf("/api/search: %d %q", status, msg)
	}
	// Alerting goes on: a new post raises its alerts.
	alertsBefore := len(streamCounts(context.Background(), t, js, bus.StreamAlerts))
	fs.release(1, 2)
	waitProcessed(t, js, 2*perGroup)
	alertsAfter := len(streamCounts(context.Background(), t, js, bus.StreamAlerts))
	if alertsAfter <= alertsBefore {
		t.Fatalf("no new alert while the index is damaged: %d alerts before, %d after", alertsBefore, alertsAfter)
	}
	t.Logf("while search was degraded: %d new alerts", alertsAfter-alertsBefore)
	if _, ok, _ := d.readyz(); ok {
		t.Error("the damage is no longer reported after more writes")
	}
	if log := d.logOf(d.runs); !strings.Contains(log, "run `mediawatch reindex`") {
		t.Errorf("the log does not say to run mediawatch reindex:\n%s", d.logTail(d.runs))
	}
	nc.Close()
	d.stop()

	// `mediawatch reindex` with the daemon stopped.
	reindexed := time.Now()
	stdout, stderr, err := d.command("reindex")
	if err != nil {
		t.Fatalf("mediawatch reindex: %v\n%s%s", err, stdout, stderr)
	}
	t.Logf("mediawatch reindex: %s (%v in all)", strings.TrimSpace(stdout), time.Since(reindexed).Round(time.Millisecond))
	d.start()
	if _, ok, ierr := d.readyz(); !ok {
		t.Errorf("after reindex: index not ready: %s", ierr)
	}
	d.waitIndexed(uint64(2 * perGroup))
	if status, total, msg := d.search("polikliniek"); status != http.StatusOK || total == 0 {
		t.Errorf("search after reindex: %d, %d hits %q", status, total, msg)
	}
	d.stop()

	// root.bolt truncated while the daemon is stopped: found at start.
	truncateFile(t, filepath.Join(storeDir, "root.bolt"), 100)
	d.start()
	// Best effort: the rebuild may be done before the first look.
	if _, ok, ierr := d.readyz(); !ok {
		status, _, msg := d.search("polikliniek")
		t.Logf("at start: /readyz index: %s; /api/search: %d %q", ierr, status, msg)
	}
	nc, js = d.jetStream()
	alertsBefore = len(streamCounts(context.Background(), t, js, bus.StreamAlerts))
	fs.release(2, 3)
	waitProcessed(t, js, 3*perGroup)
	took := d.waitIndexed(uint64(3 * perGroup))
	alertsAfter = len(streamCounts(context.Background(), t, js, bus.StreamAlerts))
	if alertsAfter <= alertsBefore {
		t.Errorf("no new alert after the index was found corrupt: %d before, %d after", alertsBefore, alertsAfter)
	}
	log := d.logOf(d.runs)
	aside, _ := filepath.Glob(filepath.Join(d.dir, "index.corrupt-*"))
	if len(aside) != 1 || !strings.Contains(log, "index is corrupt") || !strings.Contains(log, "index rebuilt from MENTIONS") {
		t.Errorf("truncated root.bolt: moved aside %v; want one index.corrupt-<time>, and the log saying so and the rebuild done:\n%s", aside, d.logTail(d.runs))
	}
	t.Logf("truncated root.bolt: moved aside to %s; %s; search whole %v after the last post came",
		filepath.Base(strings.Join(aside, ",")), rebuildLine(log), took.Round(time.Millisecond))
	if status, total, msg := d.search("polikliniek"); status != http.StatusOK || total == 0 {
		t.Errorf("search after the rebuild: %d, %d hits %q", status, total, msg)
	}
	nc.Close()
	d.stop()

	// And `mediawatch reindex` mends a truncated root.bolt as well.
	truncateFile(t, filepath.Join(storeDir, "root.bolt"), 100)
	if stdout, stderr, err := d.command("reindex"); err != nil {
		t.Fatalf("mediawatch reindex: %v\n%s%s", err, stdout, stderr)
	}
	d.start()
	d.waitIndexed(uint64(3 * perGroup))
	if log := d.logOf(d.runs); strings.Contains(log, "index is corrupt") || strings.Contains(log, "rebuilding the index") {
		t.Errorf("after reindex the daemon still found the index damaged:\n%s", d.logTail(d.runs))
	}
}

func truncateFile(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// rebuildLine is the daemon's log record of a finished rebuild, shortened.
func rebuildLine(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg      string        `json:"msg"`
			Mentions int           `json:"mentions"`
			Took     time.Duration `json:"took"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Msg, "index rebuilt") {
			return fmt.Sprintf("rebuilt %d mentions in %s", rec.Mentions, rec.Took)
		}
	}
	return "no rebuild logged"
}
