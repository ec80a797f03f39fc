package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Scale-out: Debian's nats-server with JetStream, three mediawatch
// processes on it (two with --role ingest, one with --role match,web), 200
// feeds. One ingest process is killed with SIGKILL mid-run; the other must
// take its feeds over within the lease period, every feed must go on being
// polled, never by two processes for one due time, and no mention may be
// lost nor any alert published twice.
const (
	scaleFeeds    = 200
	scaleInterval = 30 * time.Second // the shortest interval a feed may have
	scaleLease    = 6 * time.Second
)

// scaleFeedServer serves 200 feeds; each request is recorded with the
// User-Agent, which names the ingest process. Each feed has two posts from
// the start and a third once more is set.
type scaleFeedServer struct {
	*httptest.Server
	mu    sync.Mutex
	polls map[string][]scalePoll // feed → polls in order
	more  bool
}

type scalePoll struct {
	at    time.Time
	agent string
}

func newScaleFeedServer(t *testing.T) *scaleFeedServer {
	fs := &scaleFeedServer{polls: map[string][]scalePoll{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(fs.serve))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *scaleFeedServer) serve(w http.ResponseWriter, r *http.Request) {
	feed := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".rss")
	fs.mu.Lock()
	fs.polls[feed] = append(fs.polls[feed], scalePoll{time.Now(), r.Header.Get("User-Agent")})
	more := fs.more
	fs.mu.Unlock()
	w.Header().Set("Content-Type", "application/rss+xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Zorgforum %s</title><link>https://forum.example/%s</link>`, feed, feed)
	for _, p := range scalePosts(feed, more) {
		fmt.Fprintf(w, `<item><title>%s</title><link>%s</link><guid>%s</guid><description>%s</description><author>%s</author><pubDate>Mon, 07 Dec 2026 09:00:00 +0000</pubDate></item>`,
			p.title, p.link, p.link, p.text, "lid_"+feed)
	}
	fmt.Fprint(w, `</channel></rss>`)
}

type scalePost struct{ title, link, text string }

// scalePosts are a feed's posts: one ordinary mention, one that leaks a
// BSN (an alert), and with more a third.
func scalePosts(feed string, more bool) []scalePost {
	posts := []scalePost{
		{"Nieuwe polikliniek", "https://forum.example/" + feed + "/1", "Het UMC Utrecht opent een nieuwe polikliniek voor kinderen."},
		{"Lange dienst", "https://forum.example/" + feed + "/2", "Lange dienst in het UMC Utrecht. Mevrouw op kamer 12, bsn 234567818, wachtte uren op haar bloedafname."},
	}
	if more {
		posts = append(posts, scalePost{"Wachttijden", "https://forum.example/" + feed + "/3", "De wachttijden bij UZ Leuven zijn weer korter, lees ik."})
	}
	return posts
}

func (fs *scaleFeedServer) snapshot() map[string][]scalePoll {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make(map[string][]scalePoll, len(fs.polls))
	for k, v := range fs.polls {
		out[k] = slices.Clone(v)
	}
	return out
}

// process is one mediawatch child process.
type process struct {
	name string
	cmd  *exec.Cmd
	http string
	log  string
	done chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startNATSServer(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("MEDIAWATCH_EXTERNAL_NATS") == "required" {
			t.Fatal("nats-server is not on PATH (MEDIAWATCH_EXTERNAL_NATS=required)")
		}
		t.Skip("nats-server is not on PATH; install Debian's package (apt-get install nats-server), as .ci/run does, to run this test")
	}
	addr := freePort(t)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "-js", "-sd", t.TempDir(), "-a", host, "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "nats://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func buildMediawatch(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mediawatch")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/mediawatch/mediawatch/cmd/mediawatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin, name, role, natsURL string, feeds string) *process {
	t.Helper()
	dir := t.TempDir()
	httpAddr := freePort(t)
	cfg := fmt.Sprintf(`data_dir: %q
nats:
  url: %q
http:
  listen: %q
ingest:
  allow_private_networks: [127.0.0.0/8]
  user_agent: %q
  lease_period: %s
  concurrency: 16
  per_host_concurrency: 16
index:
  flush_interval: 100ms
log:
  format: json
  level: info
feeds:
%s`, dir, natsURL, httpAddr, "mediawatch-test/"+name, scaleLease, feeds)
	cfgPath := filepath.Join(dir, "mediawatch.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log.json")
	p, err := spawn(name, bin, logPath, httpAddr, "run", "--config", cfgPath, "--role", role)
	if p != nil {
		t.Cleanup(func() {
			if p.cmd.ProcessState == nil {
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-p.done:
				case <-time.After(20 * time.Second):
					_ = p.cmd.Process.Kill()
				}
			}
			if t.Failed() {
				if b, err := os.ReadFile(logPath); err == nil {
					t.Logf("log of %s:\n%s", name, tail(string(b), 40))
				}
			}
		})
	}
	if err != nil {
		b, _ := os.ReadFile(logPath)
		t.Fatalf("%v\n%s", err, tail(string(b), 40))
	}
	return p
}

// spawn starts the binary with its output in logPath and returns once
// /healthz on httpAddr answers. The error says whether it could not start,
// exited first (p is then done) or was not ready within a minute.
func spawn(name, bin, logPath, httpAddr string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, http: httpAddr, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err // for whoever waits on it next
			return p, fmt.Errorf("%s exited before it was ready: %v", name, err)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			p.done <- <-p.done
			return p, fmt.Errorf("%s not ready after 60s", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// leased sums mediawatch_feed_leased in a process's /metrics.
func leased(t *testing.T, p *process) int {
	t.Helper()
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mediawatch_feed_leased{") && strings.HasSuffix(line, " 1") {
			n++
		}
	}
	return n
}

func TestScaleOutSurvivesAKilledIngestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about two minutes")
	}
	natsURL := startNATSServer(t)
	bin := buildMediawatch(t)
	fs := newScaleFeedServer(t)
	var feeds strings.Builder
	for i := range scaleFeeds {
		fmt.Fprintf(&feeds, "  - {id: f%03d, url: %q, source: forum, interval: %s}\n", i, fmt.Sprintf("%s/f%03d.rss", fs.URL, i), scaleInterval)
	}
	matcher := startProcess(t, bin, "match-web", "match,web", natsURL, feeds.String())
	ingest1 := startProcess(t, bin, "ingest-1", "ingest", natsURL, feeds.String())
	ingest2 := startProcess(t, bin, "ingest-2", "ingest", natsURL, feeds.String())
	_ = matcher

	// Both ingest processes share the feeds, each feed polled once.
	deadline := time.Now().Add(2 * scaleLease)
	for {
		n1, n2 := leased(t, ingest1), leased(t, ingest2)
		if n1 > 0 && n2 > 0 && n1+n2 == scaleFeeds {
			t.Logf("leases: ingest-1 %d, ingest-2 %d", n1, n2)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("feeds not shared within %v: ingest-1 holds %d, ingest-2 %d", 2*scaleLease, n1, n2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitPolled := func(what string, since time.Time, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for {
			missing := 0
			for i := range scaleFeeds {
				ps := fs.snapshot()[fmt.Sprintf("f%03d", i)]
				if len(ps) == 0 || ps[len(ps)-1].at.Before(since) {
					missing++
				}
			}
			if missing == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d feeds not polled within %v", what, missing, limit)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	start := time.Now().Add(-time.Minute)
	waitPolled("first round", start, scaleInterval)

	// Kill ingest-1 in the middle of the interval, and give every feed a
	// new post: it can only come in through ingest-2.
	time.Sleep(scaleInterval / 3)
	if leased(t, ingest1) == 0 {
		t.Fatal("ingest-1 holds no feed before it is killed")
	}
	if err := ingest1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-ingest1.done
	fs.mu.Lock()
	fs.more = true
	fs.mu.Unlock()

	for leased(t, ingest2) != scaleFeeds {
		if time.Since(killed) > 2*scaleLease {
			t.Fatalf("ingest-2 holds %d of %d feeds %v after the kill", leased(t, ingest2), scaleFeeds, time.Since(killed))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("ingest-2 held every feed %v after ingest-1 was killed (lease period %v)", took, scaleLease)
	if took > scaleLease {
		t.Errorf("takeover took %v, longer than the lease period %v", took, scaleLease)
	}

	// Every feed is polled again, now by ingest-2 alone.
	waitPolled("after the kill", killed, scaleInterval+2*scaleLease)

	// No feed was polled twice for one due time: polls of a feed are an
	// interval apart, whoever made them.
	for feed, ps := range fs.snapshot() {
		for i := 1; i < len(ps); i++ {
			if gap := ps[i].at.Sub(ps[i-1].at); gap < scaleInterval*9/10 {
				t.Errorf("feed %s polled twice %v apart: by %s and %s", feed, gap, ps[i-1].agent, ps[i].agent)
			}
		}
		if last := ps[len(ps)-1]; last.agent != "mediawatch-test/ingest-2" {
			t.Errorf("feed %s last polled by %s after ingest-1 died", feed, last.agent)
		}
	}

	// No mention lost: every post of every feed is on MENTIONS, once.
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string]bool{}
	for i := range scaleFeeds {
		for _, p := range scalePosts(fmt.Sprintf("f%03d", i), true) {
			want[p.link] = true
		}
	}
	byURL := map[string]int{}
	readStream(ctx, t, js, bus.StreamMentions, func(_ string, data []byte) {
		var m mention.Mention
		if json.Unmarshal(data, &m) == nil {
			byURL[m.URL]++
		}
	})
	for link := range want {
		switch byURL[link] {
		case 1:
		case 0:
			t.Errorf("mention lost: %s", link)
		default:
			t.Errorf("mention %s stored %d times", link, byURL[link])
		}
	}

	// No alert duplicated: one message per alert id on ALERTS, and one
	// patient-data alert per feed (its BSN post).
	deadline = time.Now().Add(30 * time.Second)
	for {
		ids := map[string]int{}
		readStream(ctx, t, js, bus.StreamAlerts, func(msgID string, _ []byte) { ids[msgID]++ })
		dup := 0
		for id, n := range ids {
			if n > 1 {
				dup++
				t.Errorf("alert %s published %d times", id, n)
			}
		}
		if dup > 0 {
			break
		}
		if len(ids) >= scaleFeeds {
			t.Logf("%d alerts, none twice; %d mentions", len(ids), len(byURL))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts on ALERTS, want at least %d (one per leaked BSN)", len(ids), scaleFeeds)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// readStream calls fn with the Nats-Msg-Id and data of every message stored
// on the stream now.
func readStream(ctx context.Context, t *testing.T, js jetstream.JetStream, stream string, fn func(msgID string, data []byte)) {
	t.Helper()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		fn(msg.Header.Get(jetstream.MsgIDHeader), msg.Data)
	}
}
