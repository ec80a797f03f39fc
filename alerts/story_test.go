package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
)

func TestStoriesFoldRepeats(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stories, err := NewStories(ctx, js, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	mk := func(mentionID, inst, cat, url, author string, at time.Time, rules ...string) *Alert {
		return &Alert{ID: ID(mentionID, inst, cat), Institution: inst, Category: cat, Rules: rules, Count: 1,
			DetectedAt: at, FirstSeen: at, LastSeen: at, Mention: MentionRef{ID: mentionID, URL: url, Author: author}}
	}
	first := mk("m1", "umc-utrecht", "misinformation", "https://forum.example/t/42?utm_source=x", "wolk", t0, "misinformation.narrative_seh_closing")
	if repeat, err := stories.Fold(ctx, first); err != nil || repeat {
		t.Fatalf("first sighting: repeat %v, err %v", repeat, err)
	}
	story := first.ID

	tests := []struct {
		name      string
		alert     *Alert
		repeat    bool
		wantID    string // "" = its own id
		wantCount int
	}{
		{"the same post in another feed", mk("m2", "umc-utrecht", "misinformation", "http://forum.example/t/42/", "wolk", t0.Add(time.Minute)), true, story, 2},
		{"the same mention processed again", mk("m2", "umc-utrecht", "misinformation", "http://forum.example/t/42/", "wolk", t0.Add(2*time.Minute)), true, story, 2},
		{"the same claim elsewhere", mk("m3", "umc-utrecht", "misinformation", "https://social.example/@x/1", "someone", t0.Add(time.Hour), "misinformation.narrative_seh_closing"), true, story, 3},
		{"the same claim about the other hospital", mk("m4", "uz-leuven", "misinformation", "https://social.example/@x/2", "someone", t0.Add(time.Hour), "misinformation.narrative_seh_closing"), false, "", 1},
		{"another category of the same post", mk("m5", "umc-utrecht", "conduct", "https://forum.example/t/42", "wolk", t0.Add(time.Hour), "conduct.denigrating"), false, "", 1},
		{"the same author breaking the same rule again", mk("m6", "umc-utrecht", "conduct", "https://forum.example/t/43", "WOLK", t0.Add(2*time.Hour), "conduct.denigrating"), true, ID("m5", "umc-utrecht", "conduct"), 2},
		{"the same post two days after its last repeat", mk("m7", "umc-utrecht", "misinformation", "https://forum.example/t/42", "wolk", t0.Add(50*time.Hour)), false, "", 1},
	}
	for _, tt := range tests {
		own := tt.alert.ID
		repeat, err := stories.Fold(ctx, tt.alert)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := tt.wantID
		if want == "" {
			want = own
		}
		if repeat != tt.repeat || tt.alert.ID != want || tt.alert.Count != tt.wantCount {
			t.Errorf("%s: repeat %v id %s count %d, want %v %s %d", tt.name, repeat, tt.alert.ID, tt.alert.Count, tt.repeat, want, tt.wantCount)
		}
	}
	if first.FirstSeen != t0 {
		t.Errorf("first seen moved: %v", first.FirstSeen)
	}
}

func TestNormaliseURL(t *testing.T) {
	same := []string{
		"https://Forum.example/t/42",
		"http://forum.example/t/42/",
		"https://forum.example/t/42?utm_source=mastodon&utm_medium=social#reply-3",
		"https://forum.example/t/42?fbclid=abc",
	}
	for _, u := range same {
		if got := normaliseURL(u); got != "forum.example/t/42" {
			t.Errorf("normaliseURL(%q) = %q", u, got)
		}
	}
	if normaliseURL("https://forum.example/t/42?page=2") == normaliseURL("https://forum.example/t/42") {
		t.Error("a real query parameter was dropped")
	}
}

func TestMsgIDCarriesTheCount(t *testing.T) {
	a := Alert{ID: "abc", Count: 1}
	if a.MsgID() != "abc" {
		t.Errorf("first sighting: %s", a.MsgID())
	}
	a.Count = 3
	if a.MsgID() != "abc#3" {
		t.Errorf("third repeat: %s", a.MsgID())
	}
}
