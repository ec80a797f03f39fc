package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openLog(t *testing.T, ctx context.Context, js jetstream.JetStream) *Log {
	t.Helper()
	l, err := Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// streamConfig reads the AUDIT stream's definition from the server.
func streamConfig(t *testing.T, ctx context.Context, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	str, err := js.Stream(ctx, Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.Config
}

// event is a valid record of the given kind and actor; n makes it unique.
func event(kind, actor string, n int) Event {
	return Event{
		At:   time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute),
		Kind: kind, Actor: actor, Action: "act-" + fmt.Sprint(n), Target: fmt.Sprintf("target-%d", n),
	}
}

func record(t *testing.T, ctx context.Context, l *Log, events ...Event) {
	t.Helper()
	for _, e := range events {
		if err := l.Record(ctx, e); err != nil {
			t.Fatalf("record %+v: %v", e, err)
		}
	}
}

func query(t *testing.T, ctx context.Context, l *Log, q Query) []Event {
	t.Helper()
	got, err := l.Query(ctx, q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return got
}

// targets lists the events' targets, which the tests make unique.
func targets(events []Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Target
	}
	return out
}

// newestFirst checks that the page is in strictly falling sequence order.
func newestFirst(t *testing.T, page []Event) {
	t.Helper()
	for i := 1; i < len(page); i++ {
		if page[i].Seq >= page[i-1].Seq {
			t.Fatalf("page not newest first: seq %d after %d", page[i].Seq, page[i-1].Seq)
		}
	}
}

func TestRecordAndQueryPages(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	l := openLog(t, ctx, natstest.Connect(t, ns))

	full := Event{
		At: time.Date(2026, 3, 1, 8, 59, 0, 0, time.FixedZone("CET", 3600)), Kind: KindTriage, Actor: "anna@umcutrecht.example",
		Action: "resolve", Target: "3f2a9c0e11d84b7a", AlertID: "3f2a9c0e11d84b7a", Mention: "m-77",
		Reason: "author removed the post", Rules: []string{"conduct.denigrating", "privacy.patient"}, Detail: "escalated → resolved",
	}
	record(t, ctx, l, full)
	want := []string{full.Target}
	for n := range 24 {
		e := event(Kinds()[n%len(Kinds())], []string{"anna", "bram", "carla"}[n%3], n)
		record(t, ctx, l, e)
		want = append(want, e.Target)
	}
	slices.Reverse(want)

	// Pages of 10 from the newest, each starting before the last one's end.
	var got []Event
	var before uint64
	for page := 0; ; page++ {
		p := query(t, ctx, l, Query{Before: before, Limit: 10})
		newestFirst(t, p)
		if len(p) == 0 {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
		got = append(got, p...)
		before = p[len(p)-1].Seq
	}
	if !slices.Equal(targets(got), want) {
		t.Fatalf("paged through\n %v\nwant\n %v", targets(got), want)
	}
	newestFirst(t, got)

	// The first record reads back as it went in, its time in UTC.
	first := got[len(got)-1]
	full.At = full.At.UTC()
	first.Seq = 0
	if !reflect.DeepEqual(first, full) {
		t.Errorf("read back %+v, want %+v", first, full)
	}

	// No limit is 100, which holds all 25; a limit past the maximum is the
	// maximum, not an error.
	if all := query(t, ctx, l, Query{}); len(all) != 25 {
		t.Errorf("default limit: %d records, want 25", len(all))
	}
	if all := query(t, ctx, l, Query{Limit: 5000}); len(all) != 25 {
		t.Errorf("limit 5000: %d records, want 25", len(all))
	}
	if none := query(t, ctx, l, Query{Before: 1}); len(none) != 0 {
		t.Errorf("before the first sequence: %v", none)
	}
}

func TestQueryFilters(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	l := openLog(t, ctx, natstest.Connect(t, ns))

	// Three admin actions at the start of a busy log of logins.
	var admin, bramLogins, bramAll []string
	for n := range 3 {
		e := event(KindAdmin, []string{"root", "bram"}[n%2], n)
		record(t, ctx, l, e)
		admin = append(admin, e.Target)
		if e.Actor == "bram" {
			bramAll = append(bramAll, e.Target)
		}
	}
	for n := 3; n < 203; n++ {
		e := event(KindLogin, []string{"anna", "bram", "carla", "dirk"}[n%4], n)
		record(t, ctx, l, e)
		if e.Actor == "bram" {
			bramLogins = append(bramLogins, e.Target)
			bramAll = append(bramAll, e.Target)
		}
	}
	for _, s := range [][]string{admin, bramLogins, bramAll} {
		slices.Reverse(s)
	}

	// A kind costs a read per record of that kind, not a scan of the
	// logins in between (and one more read to find there is no more).
	l.reads.Store(0)
	got := query(t, ctx, l, Query{Kind: KindAdmin, Limit: 10})
	if !slices.Equal(targets(got), admin) {
		t.Errorf("kind admin: %v, want %v", targets(got), admin)
	}
	if reads := l.reads.Load(); reads > 4 {
		t.Errorf("kind admin: %d reads for 3 records among 203", reads)
	}
	for _, e := range got {
		if e.Kind != KindAdmin {
			t.Errorf("kind admin returned %+v", e)
		}
	}

	// Paging a kind, and a kind with an actor.
	var paged []Event
	for before := uint64(0); ; {
		p := query(t, ctx, l, Query{Kind: KindLogin, Actor: "bram", Before: before, Limit: 7})
		newestFirst(t, p)
		if len(p) == 0 {
			break
		}
		paged = append(paged, p...)
		before = p[len(p)-1].Seq
	}
	if !slices.Equal(targets(paged), bramLogins) {
		t.Errorf("kind login, actor bram, paged: %v, want %v", targets(paged), bramLogins)
	}

	// An actor across every kind.
	got = query(t, ctx, l, Query{Actor: "bram", Limit: 1000})
	if !slices.Equal(targets(got), bramAll) {
		t.Errorf("actor bram: %v, want %v", targets(got), bramAll)
	}
	// An unfiltered page of 10 costs 10 reads.
	l.reads.Store(0)
	if got := query(t, ctx, l, Query{Limit: 10}); len(got) != 10 {
		t.Errorf("page of 10: %d records", len(got))
	}
	if reads := l.reads.Load(); reads != 10 {
		t.Errorf("page of 10: %d reads", reads)
	}

	if got := query(t, ctx, l, Query{Kind: KindSilence}); len(got) != 0 {
		t.Errorf("kind silence, none recorded: %v", got)
	}
	if got := query(t, ctx, l, Query{Actor: "nobody"}); len(got) != 0 {
		t.Errorf("actor nobody: %v", got)
	}
	if _, err := l.Query(ctx, Query{Kind: "reveals"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kind: err = %v, want ErrInvalid", err)
	}
}

// The log is append-only: not even a client with access to the stream API
// can delete a record, purge the stream or a subject, roll a subject up,
// or take the flags off again.
func TestRecordsCannotBeDeletedOrPurged(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	js := natstest.Connect(t, ns)
	l := openLog(t, ctx, js)
	record(t, ctx, l, event(KindReveal, "anna", 1), event(KindLogin, "anna", 2))

	str, err := js.Stream(ctx, Stream)
	if err != nil {
		t.Fatal(err)
	}
	// The server refuses each with "... not permitted"; any other error
	// would not show the flags at work.
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "not permitted") {
			t.Errorf("%s: err = %v, want it refused", what, err)
		}
	}
	refused("delete", str.DeleteMsg(ctx, 1))
	refused("secure delete", str.SecureDeleteMsg(ctx, 1))
	refused("purge", str.Purge(ctx))
	refused("purge of the reveal subject", str.Purge(ctx, jetstream.WithPurgeSubject(SubjectPrefix+KindReveal)))
	refused("purge up to a sequence", str.Purge(ctx, jetstream.WithPurgeSequence(2)))
	rollup := &nats.Msg{Subject: SubjectPrefix + KindReveal, Data: []byte(`{}`), Header: nats.Header{}}
	rollup.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	_, err = js.PublishMsg(ctx, rollup)
	refused("roll-up of the reveal subject", err)
	cfg := streamConfig(t, ctx, js)
	cfg.DenyDelete, cfg.DenyPurge = false, false
	if _, err := js.UpdateStream(ctx, cfg); err == nil {
		t.Error("the stream's deny flags were cleared")
	}
	if got := query(t, ctx, l, Query{}); len(got) != 2 || got[1].Seq != 1 || got[1].Kind != KindReveal {
		t.Errorf("after the refused deletes: %+v", got)
	}
}

func TestRecordValidation(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	js := natstest.Connect(t, ns)
	l := openLog(t, ctx, js)
	ok := event(KindTriage, "anna", 1)
	tests := []struct {
		name string
		edit func(*Event)
		want string // in the error
	}{
		{"no kind", func(e *Event) { e.Kind = "" }, "kind"},
		{"unknown kind", func(e *Event) { e.Kind = "erase" }, `kind "erase"`},
		{"kind that would change the subject", func(e *Event) { e.Kind = "triage.x" }, "kind"},
		{"no actor", func(e *Event) { e.Actor = "  " }, "actor"},
		{"no action", func(e *Event) { e.Action = "" }, "action"},
		{"no time", func(e *Event) { e.At = time.Time{} }, "time"},
		{"long detail", func(e *Event) { e.Detail = strings.Repeat("x", MaxDetail+1) }, "detail"},
		{"long reason", func(e *Event) { e.Reason = strings.Repeat("x", MaxReason+1) }, "reason"},
		{"long actor", func(e *Event) { e.Actor = strings.Repeat("x", MaxField+1) }, "actor"},
		{"long rule", func(e *Event) { e.Rules = []string{strings.Repeat("x", MaxField+1)} }, "rule"},
	}
	for _, tt := range tests {
		e := ok
		tt.edit(&e)
		err := l.Record(ctx, e)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalid naming %q", tt.name, err, tt.want)
		}
	}
	if got := query(t, ctx, l, Query{}); len(got) != 0 {
		t.Errorf("invalid records were stored: %+v", got)
	}
	record(t, ctx, l, ok)
}

// legacyConfig is the AUDIT stream as the reveal code declared it before
// this package: no deny flags.
var legacyConfig = jetstream.StreamConfig{
	Name:        "AUDIT",
	Description: "Audit trail: every reveal of personal data, with who, when and why.",
	Subjects:    []string{"mediawatch.audit.>"},
	Storage:     jetstream.FileStorage,
	MaxAge:      365 * 24 * time.Hour,
}

// Reveal records written before this package, on a stream declared
// without the deny flags: Open takes the stream over and the records read
// back as kind and action "reveal".
func TestOpenOverLegacyRevealStream(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	js := natstest.Connect(t, ns)
	if _, err := js.CreateOrUpdateStream(ctx, legacyConfig); err != nil {
		t.Fatal(err)
	}
	// As the reveal code writes them: its own struct, every field always
	// present, no kind, no action.
	legacy := struct {
		At      time.Time `json:"at"`
		Actor   string    `json:"actor"`
		AlertID string    `json:"alert_id"`
		Mention string    `json:"mention_id"`
		Reason  string    `json:"reason"`
		Rules   []string  `json:"rules"`
	}{time.Date(2026, 2, 3, 10, 4, 5, 0, time.UTC), "privacy@umcutrecht.example", "9c0e11d84b7a3f2a", "m-12", "complaint by the patient", []string{"privacy.patient"}}
	data, _ := json.Marshal(legacy)
	if _, err := js.Publish(ctx, "mediawatch.audit.reveal", data, jetstream.WithExpectStream("AUDIT")); err != nil {
		t.Fatal(err)
	}

	// Something else published on the stream's subjects: listed, not
	// hidden, with what the stream knows of it.
	if _, err := js.Publish(ctx, "mediawatch.audit.admin", []byte("not json"), jetstream.WithExpectStream("AUDIT")); err != nil {
		t.Fatal(err)
	}

	l := openLog(t, ctx, js)
	cfg := streamConfig(t, ctx, js)
	if !cfg.DenyDelete || !cfg.DenyPurge || cfg.MaxAge != MaxAge || cfg.Storage != jetstream.FileStorage {
		t.Errorf("after Open over the legacy stream: %+v", cfg)
	}
	if cfg.Duplicates != 2*time.Minute {
		t.Errorf("duplicates window %v, want the server's default", cfg.Duplicates)
	}
	record(t, ctx, l, Event{At: time.Now(), Kind: KindReveal, Actor: "anna", Action: "reveal", AlertID: "a-2", Reason: "check"})

	want := Event{Seq: 1, At: legacy.At, Kind: KindReveal, Actor: legacy.Actor, Action: "reveal", AlertID: legacy.AlertID, Mention: legacy.Mention, Reason: legacy.Reason, Rules: legacy.Rules}
	for _, q := range []Query{{}, {Kind: KindReveal}, {Actor: legacy.Actor}} {
		got := query(t, ctx, l, q)
		if len(got) == 0 {
			t.Errorf("%+v: nothing", q)
			continue
		}
		if old := got[len(got)-1]; !reflect.DeepEqual(old, want) {
			t.Errorf("%+v: legacy record %+v, want %+v", q, old, want)
		}
	}

	if got := query(t, ctx, l, Query{Kind: KindAdmin}); len(got) != 1 || got[0].Seq != 2 || got[0].Detail != "unreadable record" || got[0].At.IsZero() {
		t.Errorf("an unreadable record: %+v", got)
	}

	// Once the flags are on, the old definition is refused: every process
	// must declare the stream through Open.
	if _, err := js.CreateOrUpdateStream(ctx, legacyConfig); err == nil {
		t.Error("the legacy definition cleared the deny flags")
	}
	if cfg := streamConfig(t, ctx, js); !cfg.DenyDelete || !cfg.DenyPurge {
		t.Errorf("deny flags lost: %+v", cfg)
	}
}

func TestOpenTwice(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	js := natstest.Connect(t, ns)
	first := openLog(t, ctx, js)
	record(t, ctx, first, event(KindSilence, "anna", 1))
	before := streamConfig(t, ctx, js)
	// A second process opens the same log.
	second := openLog(t, ctx, natstest.Connect(t, ns))
	after := streamConfig(t, ctx, js)
	if before.DenyDelete != after.DenyDelete || before.DenyPurge != after.DenyPurge || before.MaxAge != after.MaxAge || !after.AllowDirect {
		t.Errorf("config changed by a second Open:\n %+v\n %+v", before, after)
	}
	record(t, ctx, second, event(KindSilence, "bram", 2))
	for _, l := range []*Log{first, second} {
		if got := targets(query(t, ctx, l, Query{Kind: KindSilence})); !slices.Equal(got, []string{"target-2", "target-1"}) {
			t.Errorf("after two opens: %v", got)
		}
	}
}

// Pages read while another goroutine records are consistent: newest
// first, no error, nothing seen twice within a page.
func TestQueryWhileRecording(t *testing.T) {
	ns := natstest.StartJetStream(t)
	ctx := testContext(t)
	writer := openLog(t, ctx, natstest.Connect(t, ns))
	reader := openLog(t, ctx, natstest.Connect(t, ns))
	const n = 150
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range n {
			if err := writer.Record(ctx, event(Kinds()[i%2], "anna", i)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	// The same Log queried from two goroutines at once.
	for _, kind := range []string{"", KindReveal} {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				page, err := reader.Query(ctx, Query{Kind: kind, Limit: 20})
				if err != nil {
					t.Error(err)
					return
				}
				for i := 1; i < len(page); i++ {
					if page[i].Seq >= page[i-1].Seq {
						t.Errorf("kind %q: seq %d after %d", kind, page[i].Seq, page[i-1].Seq)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if got := query(t, ctx, reader, Query{Limit: MaxLimit}); len(got) != n {
		t.Errorf("%d records after the writer finished, want %d", len(got), n)
	}
	if got := query(t, ctx, reader, Query{Kind: KindTriage, Limit: MaxLimit}); len(got) != n/2 {
		t.Errorf("%d triage records, want %d", len(got), n/2)
	}
}

// startServer runs a JetStream server on port (-1: any) with its store in
// dir, so that a test can stop it and start it again on the same store.
func startServer(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// Records are on disk: a server stopped and started again on the same
// store still has them and the deny flags, and a record made while the
// server was down is stored once it is back.
func TestRecordsSurviveServerRestart(t *testing.T) {
	dir := t.TempDir()
	ns := startServer(t, -1, dir)
	port := ns.Addr().(*net.TCPAddr).Port
	ctx := testContext(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, ctx, js)
	record(t, ctx, l, event(KindLogin, "anna", 1), event(KindTriage, "anna", 2), event(KindAdmin, "root", 3))

	ns.Shutdown()
	ns.WaitForShutdown()
	recorded := make(chan error, 1)
	go func() { recorded <- l.Record(ctx, event(KindLogin, "bram", 4)) }()
	time.Sleep(300 * time.Millisecond) // the first attempt is made while the server is down
	startServer(t, port, dir)
	if err := <-recorded; err != nil {
		t.Fatalf("record across the restart: %v", err)
	}

	got := query(t, ctx, l, Query{})
	if want := []string{"target-4", "target-3", "target-2", "target-1"}; !slices.Equal(targets(got), want) {
		t.Errorf("after the restart: %v, want %v", targets(got), want)
	}
	if cfg := streamConfig(t, ctx, js); !cfg.DenyDelete || !cfg.DenyPurge {
		t.Errorf("deny flags after the restart: %+v", cfg)
	}
	// A process starting after the restart opens the same log.
	fresh := openLog(t, ctx, js)
	if got := targets(query(t, ctx, fresh, Query{Kind: KindLogin})); !slices.Equal(got, []string{"target-4", "target-1"}) {
		t.Errorf("logins after the restart: %v", got)
	}
}
