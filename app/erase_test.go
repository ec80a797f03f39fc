package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mediawatch/mediawatch/internal/testfs"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/audit"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/nats-io/nats.go/jetstream"
)

// The post in testdata/feeds/social.atom that leaks a BSN, and what of it
// must not survive an erase anywhere on disk.
const (
	leakURL    = "https://forum.example/t/lange-dienst/5521"
	leakBSN    = "234567818"
	leakAuthor = "coassistent_joost"
)

// erasedStreams are the streams Erase changes, with AUDIT, which it must
// leave alone.
var erasedStreams = []string{bus.StreamMentions, bus.StreamAlerts, triage.StreamTriage, app.StreamNotifications, audit.Stream}

// stored is everything a data dir holds that Erase may change.
type stored struct {
	// msgs are the messages of each stream by sequence: subject, headers
	// and data.
	msgs map[string]map[uint64]string
	// stories are the story keys and their values.
	stories map[string]string
	// docs are the ids of the index documents among every mention id
	// stored; docCount counts them all.
	docs     []string
	docCount uint64
}

// inspect reads the data dir of a stopped daemon: the streams through an
// embedded server of its own, the index directly.
func inspect(t *testing.T, cfg *config.Config) stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := bus.StartEmbedded(bus.ServerOptions{Listen: "127.0.0.1:-1", StoreDir: app.NATSStoreDir(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	js, closeJS := connectJS(t, ns.ClientURL())
	defer closeJS()
	s := stored{msgs: map[string]map[uint64]string{}, stories: map[string]string{}}
	var mentionIDs []string
	for _, name := range erasedStreams {
		s.msgs[name] = streamMessages(t, ctx, js, name)
	}
	for _, raw := range s.msgs[bus.StreamMentions] {
		var m struct {
			ID string `json:"id"`
		}
		_, data, _ := strings.Cut(raw, "\n\n")
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatalf("mention: %v", err)
		}
		mentionIDs = append(mentionIDs, m.ID)
	}
	kv, err := js.KeyValue(ctx, alerts.BucketStories)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatal(err)
	}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		s.stories[k] = string(e.Value())
	}

	ix, err := index.Open(app.IndexPath(cfg), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if s.docCount, err = ix.DocCount(); err != nil {
		t.Fatal(err)
	}
	if s.docs, err = ix.Existing(ctx, mentionIDs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.docs)
	return s
}

// streamMessages reads every message a stream holds, by sequence.
func streamMessages(t *testing.T, ctx context.Context, js jetstream.JetStream, name string) map[uint64]string {
	t.Helper()
	out := map[uint64]string{}
	str, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := str.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("%s %d: %v", name, seq, err)
		}
		var hdr []string
		for k, v := range msg.Header {
			hdr = append(hdr, k+": "+strings.Join(v, ","))
		}
		slices.Sort(hdr)
		out[seq] = msg.Subject + "\n" + strings.Join(hdr, "\n") + "\n\n" + string(msg.Data)
	}
	return out
}

// eraseConfig runs the daemon on the test feeds and the zorgforum's, whose
// leaks raise more alerts in the same groups as the one erased.
func eraseConfig(t *testing.T) *config.Config {
	t.Helper()
	fs := newFeedServer(t)
	cfg := testConfig(t, t.TempDir(), fs)
	cfg.Feeds = append(cfg.Feeds, config.Feed{ID: "zorgforum", URL: fs.URL + "/leaks.rss", Source: "forum", Interval: config.Duration(time.Hour)})
	return cfg
}

// runUntilTriaged runs the daemon on the test feeds until the leak has
// raised its alert, every receiver concerned has been notified and the
// alert is acknowledged, then stops it. It returns the leak's alert.
func runUntilTriaged(t *testing.T, cfg *config.Config) alerts.Alert {
	t.Helper()
	d := startDaemon(t, cfg)
	var leak storedAlert
	// The leak's own alert: the feeds hold other patient-data posts for
	// UMC Utrecht, and which comes first depends on timing.
	eventually(t, "patient_data alert for umc-utrecht on the leak", func() error {
		for _, a := range readAlerts(t, d.app.NATSURL()) {
			if a.alert.Institution == "umc-utrecht" && a.alert.Category == match.CategoryPatientData && a.alert.Mention.URL == leakURL {
				leak = a
				return nil
			}
		}
		return errors.New("not in ALERTS yet")
	})
	for _, receiver := range []string{"privacy-umc-utrecht", "comms-umc-utrecht"} {
		eventually(t, "notification for "+receiver, func() error {
			data, err := lastNotification(t, d.app.NATSURL(), receiver)
			if err != nil {
				return err
			}
			if !strings.Contains(data, leak.alert.ID) {
				return fmt.Errorf("latest notification is not about the leak: %s", data)
			}
			return nil
		})
	}
	eventually(t, "leak alert in the dashboard's view", func() error {
		if code, body := d.get(t, "/api/alerts/"+leak.alert.ID); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if code, body := d.post(t, "/api/alerts/"+leak.alert.ID+"/ack", `{"note":"looking into it"}`); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	waitIdle(t, d.app.NATSURL())
	d.shutdown(t)
	return leak.alert
}

// A post a person asked to be forgotten is removed from every stream, the
// stories and the index, and its bytes from the disk; everything else
// stays as it was; the post does not come back from its feed.
func TestEraseRemovesAPostEverywhere(t *testing.T) {
	cfg := eraseConfig(t)
	leak := runUntilTriaged(t, cfg)
	before := inspect(t, cfg)
	if got := countContaining(before.msgs[triage.StreamTriage], leak.ID); got != 1 {
		t.Fatalf("TRIAGE holds %d events of the leak before the erase, want 1", got)
	}
	for _, s := range []string{leakURL, leakBSN, leakAuthor} {
		if len(testfs.FilesContaining(t, cfg.DataDir, s)) == 0 {
			t.Fatalf("%q is nowhere on disk before the erase: the test proves nothing", s)
		}
	}
	ctx := context.Background()

	// A dry run says what would go and changes nothing. The URL may be
	// written as another feed would.
	otherForm := "http://Forum.Example/t/lange-dienst/5521/?utm_source=mastodon#reply"
	dry, err := app.Erase(ctx, cfg, app.EraseOptions{URL: otherForm, DryRun: true}, nil)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !dry.DryRun || len(dry.MentionIDs) != 1 || !slices.Contains(dry.AlertIDs, leak.ID) {
		t.Errorf("dry run: mentions %v, alerts %v; want the leak's mention and alert %s", dry.MentionIDs, dry.AlertIDs, leak.ID)
	}
	for store, want := range map[string]int{app.StoreMentions: 1, app.StoreTriage: 1, app.StoreIndex: 1} {
		if got := dry.Count(store); got != want {
			t.Errorf("dry run: %s %d, want %d", store, got, want)
		}
	}
	for _, store := range []string{app.StoreAlerts, app.StoreNotifications, app.StoreStories} {
		if dry.Count(store) == 0 {
			t.Errorf("dry run: nothing in %s, want the leak's", store)
		}
	}
	if afterDry := inspect(t, cfg); !equalStored(before, afterDry) {
		t.Fatal("the dry run changed what is stored")
	}

	res, err := app.Erase(ctx, cfg, app.EraseOptions{URL: otherForm}, nil)
	if err != nil {
		t.Fatalf("erase: %v", err)
	}
	for _, store := range []string{app.StoreIndex, app.StoreNotifications, app.StoreTriage, app.StoreStories, app.StoreAlerts, app.StoreMentions} {
		if res.Count(store) != dry.Count(store) {
			t.Errorf("%s: erased %d, the dry run said %d", store, res.Count(store), dry.Count(store))
		}
	}
	after := inspect(t, cfg)

	// Nothing of the post is left in any stream.
	gone := append([]string{leakURL, leakBSN}, append(res.MentionIDs, res.AlertIDs...)...)
	for _, stream := range erasedStreams[:4] {
		for seq, msg := range after.msgs[stream] {
			for _, s := range gone {
				if strings.Contains(msg, s) {
					t.Errorf("%s message %d still carries %q: %s", stream, seq, s, msg)
				}
			}
		}
	}
	// Everything else is untouched: what is left is what was there less
	// exactly as many messages as the erase counted.
	storeOf := map[string]string{bus.StreamMentions: app.StoreMentions, bus.StreamAlerts: app.StoreAlerts,
		triage.StreamTriage: app.StoreTriage, app.StreamNotifications: app.StoreNotifications, audit.Stream: ""}
	for _, stream := range erasedStreams {
		for seq, msg := range after.msgs[stream] {
			if before.msgs[stream][seq] != msg {
				t.Errorf("%s message %d changed or appeared: %s", stream, seq, msg)
			}
		}
		if removed := len(before.msgs[stream]) - len(after.msgs[stream]); removed != res.Count(storeOf[stream]) {
			t.Errorf("%s: %d messages removed, the erase counted %d", stream, removed, res.Count(storeOf[stream]))
		}
	}
	if len(after.msgs[bus.StreamMentions]) != len(before.msgs[bus.StreamMentions])-1 || len(after.msgs[bus.StreamAlerts]) == 0 {
		t.Errorf("MENTIONS %d → %d, ALERTS %d → %d: want exactly the post gone and the other alerts kept",
			len(before.msgs[bus.StreamMentions]), len(after.msgs[bus.StreamMentions]), len(before.msgs[bus.StreamAlerts]), len(after.msgs[bus.StreamAlerts]))
	}
	// The story keys of the post are gone, the others stay.
	for k, v := range after.stories {
		if before.stories[k] != v {
			t.Errorf("story %s changed: %s", k, v)
		}
		for _, s := range gone {
			if strings.Contains(v, s) {
				t.Errorf("story %s still points at %q: %s", k, s, v)
			}
		}
	}
	if removed := len(before.stories) - len(after.stories); removed != res.Count(app.StoreStories) || removed == 0 {
		t.Errorf("%d story keys removed, the erase counted %d", removed, res.Count(app.StoreStories))
	}
	// The index holds every other post and not this one.
	wantDocs := slices.DeleteFunc(slices.Clone(before.docs), func(id string) bool { return slices.Contains(res.MentionIDs, id) })
	if !slices.Equal(after.docs, wantDocs) || after.docCount != before.docCount-1 {
		t.Errorf("index documents %v (%d), want %v (%d)", after.docs, after.docCount, wantDocs, before.docCount-1)
	}
	// And the bytes are gone from the disk: overwritten in the streams,
	// merged away in the index.
	for _, s := range []string{leakURL, leakBSN, leakAuthor} {
		if files := testfs.FilesContaining(t, cfg.DataDir, s); len(files) > 0 {
			t.Errorf("%q is still on disk in %v", s, files)
		}
	}

	// A second erase finds nothing.
	if _, err := app.Erase(ctx, cfg, app.EraseOptions{URL: leakURL}, nil); !errors.Is(err, app.ErrNothingMatched) {
		t.Errorf("second erase: %v, want ErrNothingMatched", err)
	}

	// The daemon runs on as before, and the post, still in its feed, is
	// not stored again: the feed's state remembers it was seen.
	d := startDaemon(t, cfg)
	if err := d.app.PollNow(ctx, "forum"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, d.app.NATSURL())
	js, closeJS := connectJS(t, d.app.NATSURL())
	defer closeJS()
	for _, stream := range []string{bus.StreamMentions, bus.StreamAlerts} {
		msgs := streamMessages(t, ctx, js, stream)
		if len(msgs) != len(after.msgs[stream]) {
			t.Errorf("%s holds %d messages after the feed was polled again, %d after the erase", stream, len(msgs), len(after.msgs[stream]))
		}
		if n := countContaining(msgs, leakURL); n > 0 {
			t.Errorf("the erased post is back in %s", stream)
		}
	}
	code, body := d.get(t, "/api/search?q=dossier")
	if code != 200 || strings.Contains(body, "lange-dienst") {
		t.Errorf("search after the erase: %d %s", code, body)
	}
}

func countContaining(msgs map[uint64]string, s string) int {
	n := 0
	for _, m := range msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

func equalStored(a, b stored) bool {
	for _, name := range erasedStreams {
		if !maps.Equal(a.msgs[name], b.msgs[name]) {
			return false
		}
	}
	return maps.Equal(a.stories, b.stories) && slices.Equal(a.docs, b.docs) && a.docCount == b.docCount
}

// By text: every post whose title or text holds it, ignoring case.
func TestEraseByText(t *testing.T) {
	cfg := eraseConfig(t)
	leak := runUntilTriaged(t, cfg)
	res, err := app.Erase(context.Background(), cfg, app.EraseOptions{Text: "BLEEF MAAR BELLEN"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MentionIDs) != 1 || res.MentionIDs[0] != leak.Mention.ID || !slices.Contains(res.AlertIDs, leak.ID) {
		t.Errorf("erased mentions %v and alerts %v, want the leak's %s and %s", res.MentionIDs, res.AlertIDs, leak.Mention.ID, leak.ID)
	}
	if res.Count(app.StoreMentions) != 1 || res.Count(app.StoreTriage) != 1 || res.Count(app.StoreIndex) != 1 {
		t.Errorf("counts %+v", res.Stores)
	}
	for _, s := range []string{leakURL, leakBSN} {
		if files := testfs.FilesContaining(t, cfg.DataDir, s); len(files) > 0 {
			t.Errorf("%q is still on disk in %v", s, files)
		}
	}
}

func TestEraseRefusals(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	cfg := quietConfig(t, dataDir)
	for _, tt := range []struct {
		name    string
		opts    app.EraseOptions
		wantErr string
	}{
		{"nothing given", app.EraseOptions{}, "give the URL or a text"},
		{"both given", app.EraseOptions{URL: leakURL, Text: "dienst"}, "not both"},
		{"text too short", app.EraseOptions{Text: " ab "}, "too short"},
		{"url empty once normalised", app.EraseOptions{URL: "https:///"}, "empty once normalised"},
	} {
		if _, err := app.Erase(ctx, cfg, tt.opts, nil); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	// Nothing stored yet: nothing matches, and nothing is created.
	if _, err := app.Erase(ctx, cfg, app.EraseOptions{URL: leakURL, DryRun: true}, nil); !errors.Is(err, app.ErrNothingMatched) {
		t.Errorf("empty data dir: %v, want ErrNothingMatched", err)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) != 0 {
		t.Errorf("erase created %v in an empty data dir", entries)
	}

	// A running daemon holds the data dir: erase refuses and says so.
	d := startDaemon(t, cfg)
	_, err := app.Erase(ctx, cfg, app.EraseOptions{URL: leakURL}, nil)
	if err == nil || !strings.Contains(err.Error(), "running") || !strings.Contains(err.Error(), "stop it first") || !errors.Is(err, index.ErrLocked) {
		t.Errorf("erase beside a running daemon: %v", err)
	}
	d.shutdown(t)
}
