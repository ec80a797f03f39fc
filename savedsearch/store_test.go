package savedsearch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/mediawatch/mediawatch/savedsearch"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

func open(t *testing.T) (*savedsearch.Store, jetstream.JetStream) {
	t.Helper()
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := savedsearch.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func names(list []web.SavedSearch) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.Name)
	}
	return out
}

// Searches are listed by name, a save of a known name replaces it, and
// each user sees their own only; user names are case-insensitive, as they
// are at login.
func TestSaveListReplace(t *testing.T) {
	s, _ := open(t)
	ctx := testCtx(t)
	anna := "anna@umcutrecht.example"
	for _, ss := range []web.SavedSearch{
		{Name: "SEH dicht", Query: "q=seh+dicht"},
		{Name: "aandacht: logo", Query: "q=logo&institution=umc-utrecht"},
		{Name: "Wachtlijst *.> (alles)", Query: "q=wachtlijst"}, // not a valid key as it is
		{Name: "Ünïcode", Query: "q=%C3%BC"},
	} {
		if err := s.Save(ctx, anna, ss); err != nil {
			t.Fatalf("save %q: %v", ss.Name, err)
		}
	}
	if err := s.Save(ctx, "pieter", web.SavedSearch{Name: "SEH dicht", Query: "q=pieter"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "Anna@UMCUtrecht.example", web.SavedSearch{Name: "SEH dicht", Query: "q=seh+gesloten"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, anna)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"aandacht: logo", "SEH dicht", "Ünïcode", "Wachtlijst *.> (alles)"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("names %q, want %q", names(got), want)
	}
	if got[1].Query != "q=seh+gesloten" {
		t.Errorf("SEH dicht holds %q, want the replacement", got[1].Query)
	}
	other, err := s.List(ctx, "pieter")
	if err != nil {
		t.Fatal(err)
	}
	if len(other) != 1 || other[0].Query != "q=pieter" {
		t.Errorf("pieter's searches %+v", other)
	}
	none, err := s.List(ctx, "nobody")
	if err != nil || len(none) != 0 {
		t.Errorf("a user without searches: %+v, %v", none, err)
	}
}

// The limit counts new names only: at the limit a search can still be
// replaced, and a delete makes room.
func TestLimitPerUser(t *testing.T) {
	s, _ := open(t)
	ctx := testCtx(t)
	for i := range savedsearch.MaxPerUser {
		if err := s.Save(ctx, "anna", web.SavedSearch{Name: fmt.Sprintf("search %02d", i), Query: "q=x"}); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	err := s.Save(ctx, "anna", web.SavedSearch{Name: "one too many", Query: "q=y"})
	if !errors.Is(err, savedsearch.ErrTooMany) {
		t.Fatalf("save beyond the limit: %v, want ErrTooMany", err)
	}
	if err := s.Save(ctx, "anna", web.SavedSearch{Name: "search 07", Query: "q=replaced"}); err != nil {
		t.Errorf("replace at the limit: %v", err)
	}
	if err := s.Save(ctx, "pieter", web.SavedSearch{Name: "mine", Query: "q=z"}); err != nil {
		t.Errorf("another user at anna's limit: %v", err)
	}
	if err := s.Delete(ctx, "anna", "search 00"); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "anna", web.SavedSearch{Name: "one too many", Query: "q=y"}); err != nil {
		t.Errorf("save after a delete made room: %v", err)
	}
	got, err := s.List(ctx, "anna")
	if err != nil || len(got) != savedsearch.MaxPerUser {
		t.Errorf("%d searches (%v), want %d", len(got), err, savedsearch.MaxPerUser)
	}
}

// A delete removes the search and its query from the bucket's history;
// deleting a name that is not saved is no error and writes nothing.
func TestDelete(t *testing.T) {
	s, js := open(t)
	ctx := testCtx(t)
	if err := s.Delete(ctx, "anna", "never saved"); err != nil {
		t.Errorf("delete of a missing search: %v", err)
	}
	if err := s.Save(ctx, "anna", web.SavedSearch{Name: "auteur", Query: "author=jan.jansen"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "anna", web.SavedSearch{Name: "blijft", Query: "q=x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "anna", "auteur"); err != nil {
		t.Fatal(err)
	}
	got, err := s.List(ctx, "anna")
	if err != nil || !slices.Equal(names(got), []string{"blijft"}) {
		t.Fatalf("after delete: %q (%v)", names(got), err)
	}
	str, err := js.Stream(ctx, "KV_"+savedsearch.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One search kept, one purge marker: the deleted query is gone, and
	// the delete of the missing name wrote nothing.
	if info.State.Msgs != 2 {
		t.Errorf("bucket holds %d messages, want 2", info.State.Msgs)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := str.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Data) == 0 {
			continue // the purge marker
		}
		var r struct {
			Name  string `json:"name"`
			Query string `json:"query"`
		}
		if err := json.Unmarshal(msg.Data, &r); err != nil || r.Name != "blijft" {
			t.Errorf("message %d holds %s", seq, msg.Data)
		}
	}
}

// Saves need a user and a name, and the bucket survives a reopen.
func TestInvalidAndReopen(t *testing.T) {
	s, js := open(t)
	ctx := testCtx(t)
	if err := s.Save(ctx, "", web.SavedSearch{Name: "x"}); !errors.Is(err, savedsearch.ErrInvalid) {
		t.Errorf("save without a user: %v", err)
	}
	if err := s.Save(ctx, "anna", web.SavedSearch{Name: "  "}); !errors.Is(err, savedsearch.ErrInvalid) {
		t.Errorf("save without a name: %v", err)
	}
	if _, err := s.List(ctx, " "); !errors.Is(err, savedsearch.ErrInvalid) {
		t.Errorf("list without a user: %v", err)
	}
	if err := s.Save(ctx, "anna", web.SavedSearch{Name: " spaties ", Query: "q=a"}); err != nil {
		t.Fatal(err)
	}
	again, err := savedsearch.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.List(ctx, "anna")
	if err != nil || len(got) != 1 || got[0].Name != "spaties" {
		t.Errorf("after reopen: %+v (%v)", got, err)
	}
	if err := again.Delete(ctx, "anna", "spaties "); err != nil {
		t.Fatal(err)
	}
	if got, _ := again.List(ctx, "anna"); len(got) != 0 {
		t.Errorf("trimmed name not deleted: %+v", got)
	}
}
