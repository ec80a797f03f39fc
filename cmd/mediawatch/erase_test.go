package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	erasedURL   = "https://forum.example/t/lange-dienst/5521"
	keptURL     = "https://forum.example/t/parkeren-gasthuisberg/5522"
	erasedBSN   = "234567818"
	streamNotes = "NOTIFICATIONS"
)

// streamDump returns every message of a stream as subject, headers and
// data, in order.
func streamDump(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) []string {
	t.Helper()
	str, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := str.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %v %s", msg.Subject, msg.Header, msg.Data))
	}
	return out
}

func containing(msgs []string, s string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// The whole story through the command line: the daemon (on an external
// NATS server) alerts on a leak, it is triaged and notified; erase refuses
// while the daemon runs; once it is stopped a dry run changes nothing,
// erase --url removes the post from every stream and the index and leaves
// the other post alone, and a second erase finds nothing.
func TestEraseCommand(t *testing.T) {
	ns := natstest.StartJetStream(t)
	js := natstest.Connect(t, ns)
	body, err := os.ReadFile("testdata/forum.atom")
	if err != nil {
		t.Fatal(err)
	}
	feeds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/atom+xml")
		w.Write(body)
	}))
	defer feeds.Close()
	dataDir := t.TempDir()
	cfgFile := filepath.Join(t.TempDir(), "mediawatch.yaml")
	cfgText := fmt.Sprintf(`data_dir: %s
nats:
  url: %s
http:
  listen: 127.0.0.1:0
ingest:
  allow_private_networks: [127.0.0.0/8]
feeds:
  - {id: forum, url: %s/forum.atom, source: forum, interval: 1h}
index:
  flush_interval: 50ms
receivers:
  - {name: privacy, type: nats}
  - {name: comms, type: nats}
routing:
  receiver: comms
  group_wait: 50ms
  group_interval: 200ms
  routes:
    - match: {category: [patient_data]}
      receiver: privacy
      continue: true
    - receiver: comms
`, dataDir, ns.ClientURL(), feeds.URL)
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The daemon.
	var daemonOut, daemonErr syncBuffer
	daemonCtx, stopDaemon := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() { done <- run(daemonCtx, []string{"run", "--config", cfgFile}, &daemonOut, &daemonErr) }()
	stopped := false
	defer func() {
		if !stopped {
			stopDaemon()
			<-done
		}
	}()
	waitFor := func(what string, fn func() error) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := fn()
			if err == nil {
				return
			}
			select {
			case code := <-done:
				t.Fatalf("daemon exited with %d while waiting for %s\n%s", code, what, daemonErr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\n%s", what, err, daemonErr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	httpAddr := regexp.MustCompile(`msg="mediawatch running".* http=(127\.0\.0\.1:\d+)`)
	waitFor("daemon running", func() error {
		if !httpAddr.MatchString(daemonErr.String()) {
			return errors.New("not yet")
		}
		return nil
	})
	base := "http://" + httpAddr.FindStringSubmatch(daemonErr.String())[1]

	var alertID string
	waitFor("patient_data alert", func() error {
		for _, m := range streamDump(t, ctx, js, "ALERTS") {
			if strings.Contains(m, erasedURL) && strings.Contains(m, "patient_data") {
				var a struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal([]byte(m[strings.Index(m, "{\"id\""):]), &a); err != nil {
					return err
				}
				alertID = a.ID
				return nil
			}
		}
		return errors.New("not in ALERTS yet")
	})
	waitFor("both receivers notified", func() error {
		notes := streamDump(t, ctx, js, streamNotes)
		for _, receiver := range []string{"privacy", "comms"} {
			found := false
			for _, n := range notes {
				found = found || strings.HasPrefix(n, "mediawatch.notifications."+receiver+" ") && strings.Contains(n, alertID)
			}
			if !found {
				return fmt.Errorf("no notification for %s yet", receiver)
			}
		}
		return nil
	})
	waitFor("alert acknowledged", func() error {
		resp, err := http.Post(base+"/api/alerts/"+alertID+"/ack", "application/json", strings.NewReader(`{"note":"BSN in the post"}`))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ack: %s", resp.Status)
		}
		return nil
	})
	if n := containing(streamDump(t, ctx, js, "TRIAGE"), alertID); n != 1 {
		t.Fatalf("TRIAGE holds %d events of the alert, want 1", n)
	}

	// While the daemon runs, erase refuses and says why.
	code, out, errOut := runCmd(t, "erase", "--config", cfgFile, "--url", erasedURL)
	if code != 1 || !strings.Contains(errOut, "running") || !strings.Contains(errOut, "stop it first") || out != "" {
		t.Errorf("erase beside the daemon: code %d, stdout %q, stderr %q", code, out, errOut)
	}

	stopDaemon()
	if code := <-done; code != 0 {
		t.Fatalf("daemon exit code %d\n%s", code, daemonErr.String())
	}
	stopped = true

	streams := []string{"MENTIONS", "ALERTS", "TRIAGE", streamNotes}
	dumpAll := func() map[string][]string {
		m := map[string][]string{}
		for _, s := range streams {
			m[s] = streamDump(t, ctx, js, s)
		}
		return m
	}
	before := dumpAll()

	// A dry run prints what would go and changes nothing.
	code, out, errOut = runCmd(t, "erase", "--config", cfgFile, "--url", erasedURL+"/?utm_source=feed", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: code %d, stderr %s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^MENTIONS +1 messages +would be erased$`),
		regexp.MustCompile(`(?m)^ALERTS +[1-9]\d* messages +would be erased$`),
		regexp.MustCompile(`(?m)^TRIAGE +1 events +would be erased$`),
		regexp.MustCompile(`(?m)^NOTIFICATIONS +[1-9]\d* messages +would be erased$`),
		regexp.MustCompile(`(?m)^mediawatch_stories +[1-9]\d* keys +would be erased$`),
		regexp.MustCompile(`(?m)^index +1 documents +would be erased$`),
		regexp.MustCompile(`(?m)^alerts: .*` + alertID),
		regexp.MustCompile(`(?m)^dry run: nothing was changed$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("dry run output lacks %s:\n%s", want, out)
		}
	}
	after := dumpAll()
	for _, s := range streams {
		if strings.Join(after[s], "\n") != strings.Join(before[s], "\n") {
			t.Errorf("the dry run changed %s", s)
		}
	}

	// The erase.
	code, out, errOut = runCmd(t, "erase", "--config", cfgFile, "--url", erasedURL)
	if code != 0 {
		t.Fatalf("erase: code %d, stdout %s, stderr %s", code, out, errOut)
	}
	if !regexp.MustCompile(`(?m)^MENTIONS +1 messages +erased$`).MatchString(out) || !regexp.MustCompile(`(?m)^TRIAGE +1 events +erased$`).MatchString(out) {
		t.Errorf("erase output:\n%s", out)
	}
	after = dumpAll()
	for _, s := range streams {
		for _, gone := range []string{erasedURL, erasedBSN, alertID} {
			if n := containing(after[s], gone); n > 0 {
				t.Errorf("%s still has %d messages with %q", s, n, gone)
			}
		}
	}
	if containing(after["MENTIONS"], keptURL) != 1 || len(after["MENTIONS"]) != len(before["MENTIONS"])-1 {
		t.Errorf("MENTIONS after the erase: want the other post kept and only this one gone: %d → %d", len(before["MENTIONS"]), len(after["MENTIONS"]))
	}
	ix, err := index.Open(filepath.Join(dataDir, "index"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(ctx, index.Query{Q: "dossier"})
	if err != nil || res.Total != 0 {
		t.Errorf("index search for the post: %+v, %v; want nothing", res, err)
	}
	res, err = ix.Search(ctx, index.Query{Q: "Gasthuisberg"})
	if err != nil || res.Total != 1 {
		t.Errorf("index search for the other post: %+v, %v; want it", res, err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	// Again: nothing left to erase.
	code, out, errOut = runCmd(t, "erase", "--config", cfgFile, "--url", erasedURL)
	if code != 1 || !strings.Contains(errOut, "nothing matched") || out != "" {
		t.Errorf("second erase: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestEraseFlags(t *testing.T) {
	for _, args := range [][]string{
		{"erase"},
		{"erase", "--url", erasedURL, "--text", "dienst"},
		{"erase", "--url", erasedURL, "extra"},
		{"erase", "--text", "  "},
		{"erase", "--colour", "red"},
	} {
		if code, _, errOut := runCmd(t, args...); code != 2 || errOut == "" {
			t.Errorf("%q: code %d, stderr %q; want 2 and a message", args, code, errOut)
		}
	}
	if code, out, _ := runCmd(t, "erase", "--help"); code != 0 || out != "" {
		t.Errorf("erase --help: code %d", code)
	}
	code, _, errOut := runCmd(t, "erase", "--config", "testdata/does-not-exist.yaml", "--url", erasedURL)
	if code != 1 || !strings.Contains(errOut, "does-not-exist.yaml") {
		t.Errorf("missing config: code %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "erase", "--text", "ab")
	if code != 1 || !strings.Contains(errOut, "too short") {
		t.Errorf("short text: code %d, stderr %q", code, errOut)
	}
}
