package mention

import "testing"

func TestID(t *testing.T) {
	const (
		feed  = "https://mastodon.social/tags/umcutrecht.rss"
		guid  = "https://mastodon.social/users/lotte/statuses/1"
		link  = "https://mastodon.social/@lotte/1"
		other = "https://mastodon.social/tags/uzleuven.rss"
	)
	base := ID(feed, guid, link)
	if len(base) != 32 {
		t.Fatalf("id %q: want 32 hex digits", base)
	}
	tests := []struct {
		name string
		id   string
		same bool
	}{
		{"same item fetched again", ID(feed, guid, link), true},
		{"surrounding space ignored", ID(" "+feed+" ", " "+guid, link), true},
		{"GUID wins over a changed link", ID(feed, guid, "https://elsewhere.example/1"), true},
		{"without GUID the link identifies the item", ID(feed, "", guid), true},
		{"another GUID", ID(feed, "https://mastodon.social/users/lotte/statuses/2", link), false},
		{"same GUID in another feed", ID(other, guid, link), false},
	}
	for _, tc := range tests {
		if got := tc.id == base; got != tc.same {
			t.Errorf("%s: same id = %v, want %v", tc.name, got, tc.same)
		}
	}
	if ID(feed+"x", "", "y") == ID(feed, "", "xy") {
		t.Error("feed URL and item key run together: a separator is missing")
	}
}

func TestSubject(t *testing.T) {
	if got := Subject("mastodon"); got != "mediawatch.mentions.mastodon" {
		t.Errorf("Subject = %q", got)
	}
}

func TestPostMention(t *testing.T) {
	p := Post{ID: "p1", Source: "mastodon", FeedTitle: "#uzleuven", Author: "@jan", Title: "t", Text: "x", URL: "https://m.example/@jan/1", Lang: "nl",
		MediaAlt: []string{"foto van een scherm", "tweede foto"}}
	m := p.Mention()
	if m.ID != "p1" || m.Source != "mastodon" || m.FeedTitle != "#uzleuven" || m.Author != "@jan" || m.Title != "t" || m.Text != "x" || m.URL != p.URL || m.Lang != "nl" {
		t.Errorf("mention = %+v", m)
	}
	if len(m.Media) != 2 || m.Media[0].Alt != "foto van een scherm" || m.Media[1].Alt != "tweede foto" {
		t.Errorf("media = %+v", m.Media)
	}
}
