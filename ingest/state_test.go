package ingest

import (
	"fmt"
	"slices"
	"testing"
)

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func TestMergeSeen(t *testing.T) {
	tests := []struct {
		name              string
		current, previous []string
		wantLen           int
		wantHead          []string
	}{
		{"empty", nil, nil, 0, nil},
		{"current first, no duplicates", []string{"c", "b"}, []string{"b", "a"}, 3, []string{"c", "b", "a"}},
		{"keeps at least 1000", ids("new", 10), ids("old", 5000), 1000, []string{"new0"}},
		{"keeps twice the feed", ids("new", 3000), ids("old", 9000), 6000, []string{"new0"}},
		{"at most 20000", ids("new", 15000), ids("old", 15000), 20000, []string{"new0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mergeSeen(tt.current, tt.previous)
			if len(got) != tt.wantLen {
				t.Errorf("%d ids, want %d", len(got), tt.wantLen)
			}
			if !slices.Equal(got[:len(tt.wantHead)], tt.wantHead) {
				t.Errorf("starts %q, want %q", got[:len(tt.wantHead)], tt.wantHead)
			}
			for _, id := range tt.current[:min(len(tt.current), tt.wantLen)] {
				if !slices.Contains(got, id) {
					t.Fatalf("current id %s dropped", id)
				}
			}
		})
	}
}

func TestMemoryStoreCopies(t *testing.T) {
	store := NewMemoryStore()
	if _, ok, err := store.Load(t.Context(), "a"); ok || err != nil {
		t.Fatalf("Load of unknown feed = %v, %v", ok, err)
	}
	st := FeedState{FeedID: "a", ETag: `"1"`, Seen: []string{"x", "y"}}
	if err := store.Save(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	st.Seen[0] = "changed after save"
	got, ok, err := store.Load(t.Context(), "a")
	if err != nil || !ok || got.ETag != `"1"` || got.Seen[0] != "x" {
		t.Fatalf("Load = %+v, %v, %v", got, ok, err)
	}
	got.Seen[1] = "changed after load"
	again, _, _ := store.Load(t.Context(), "a")
	if again.Seen[1] != "y" {
		t.Error("Load returned a slice shared with the store")
	}
}
