package config

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/mediawatch/mediawatch/match"
)

// defaultUserAgent identifies mediawatch to the sites it polls, with a link
// so their operators can find out what is fetching.
const defaultUserAgent = "mediawatch/1 (+https://github.com/mediawatch/mediawatch)"

const (
	newsInterval   = Duration(10 * time.Minute)
	socialInterval = Duration(15 * time.Minute)
	// minFeedInterval is the shortest interval a feed may have: polling
	// faster gains little and gets mediawatch blocked.
	minFeedInterval = 30 * time.Second
)

// base is the default configuration before the settings derived from others
// (paths under data_dir, feed ids) are filled in.
func base() *Config {
	return &Config{
		DataDir: "./data",
		NATS:    NATS{Listen: "127.0.0.1:4222"},
		HTTP: HTTP{
			Listen: "127.0.0.1:8080", RevealRoles: []string{"privacy"},
			SessionLifetime: Duration(12 * time.Hour), TimeZone: "Europe/Amsterdam",
			LoginLimit: LoginLimit{Max: 5, Window: Duration(15 * time.Minute)},
		},
		Ingest: Ingest{
			UserAgent:          defaultUserAgent,
			Timeout:            Duration(30 * time.Second),
			MaxBodyBytes:       16 << 20,
			MaxBackoff:         Duration(time.Hour),
			MaxRetryAfter:      Duration(time.Hour),
			PerHostConcurrency: 2,
			Concurrency:        8,
			LeasePeriod:        Duration(30 * time.Second),
		},
		Feeds:        defaultFeeds(),
		Institutions: defaultInstitutions(),
		Log:          Log{Format: "text", Level: "info"},
		Index:        Index{BatchSize: 500, FlushInterval: Duration(time.Second)},
		Alerts: Alerts{SnippetLength: 240, StoryWindow: Duration(24 * time.Hour), VolumeSpike: VolumeSpike{
			Window: Duration(time.Hour), BaselineDays: 7, Factor: 3, MinCount: 20, Cooldown: Duration(6 * time.Hour),
		}},
	}
}

func defaultInterval(source string) Duration {
	if source == "news" {
		return newsInterval
	}
	return socialInterval
}

// defaultFeedID is the id of a feed that does not set one: stable as long as
// the source and URL stay the same, so metrics keep their series.
func defaultFeedID(source, url string) string {
	sum := sha256.Sum256([]byte(url))
	return source + "-" + hex.EncodeToString(sum[:4])
}

// defaultFeeds are public feeds that need no account. Search feeds quote the
// name so "UMC" and "Utrecht" apart do not match.
func defaultFeeds() []Feed {
	return []Feed{
		{ID: "gnews-umc-utrecht-nl", Name: "Google News: UMC Utrecht (nl-NL)", Source: "news", Interval: newsInterval,
			URL: "https://news.google.com/rss/search?q=%22UMC+Utrecht%22&hl=nl&gl=NL&ceid=NL:nl"},
		{ID: "gnews-umc-utrecht-en", Name: "Google News: UMC Utrecht (en-GB)", Source: "news", Interval: newsInterval,
			URL: "https://news.google.com/rss/search?q=%22UMC+Utrecht%22&hl=en-GB&gl=GB&ceid=GB:en"},
		{ID: "gnews-uz-leuven-nl", Name: "Google News: UZ Leuven (nl-BE)", Source: "news", Interval: newsInterval,
			URL: "https://news.google.com/rss/search?q=%22UZ+Leuven%22&hl=nl&gl=BE&ceid=BE:nl"},
		{ID: "gnews-uz-leuven-en", Name: "Google News: UZ Leuven (en-GB)", Source: "news", Interval: newsInterval,
			URL: "https://news.google.com/rss/search?q=%22UZ+Leuven%22&hl=en-GB&gl=GB&ceid=GB:en"},
		{ID: "bing-umc-utrecht", Name: "Bing News: UMC Utrecht", Source: "news", Interval: newsInterval,
			URL: "https://www.bing.com/news/search?q=%22UMC+Utrecht%22&format=rss"},
		{ID: "bing-uz-leuven", Name: "Bing News: UZ Leuven", Source: "news", Interval: newsInterval,
			URL: "https://www.bing.com/news/search?q=%22UZ+Leuven%22&format=rss"},
		{ID: "mastodon-umcutrecht", Name: "Mastodon: #umcutrecht", Source: "mastodon", Interval: socialInterval,
			URL: "https://mastodon.social/tags/umcutrecht.rss"},
		{ID: "mastodon-uzleuven", Name: "Mastodon: #uzleuven", Source: "mastodon", Interval: socialInterval,
			URL: "https://mastodon.social/tags/uzleuven.rss"},
		{ID: "reddit-search-umc-utrecht", Name: "Reddit search: UMC Utrecht", Source: "reddit", Interval: socialInterval,
			URL: "https://www.reddit.com/search.rss?q=%22UMC+Utrecht%22&sort=new"},
		{ID: "reddit-search-uz-leuven", Name: "Reddit search: UZ Leuven", Source: "reddit", Interval: socialInterval,
			URL: "https://www.reddit.com/search.rss?q=%22UZ+Leuven%22&sort=new"},
		{ID: "reddit-r-utrecht", Name: "Reddit: r/Utrecht (new)", Source: "reddit", Interval: socialInterval,
			URL: "https://www.reddit.com/r/Utrecht/new/.rss"},
		{ID: "reddit-r-belgium", Name: "Reddit: r/belgium (new)", Source: "reddit", Interval: socialInterval,
			URL: "https://www.reddit.com/r/belgium/new/.rss"},
	}
}

func defaultInstitutions() []match.Institution {
	return []match.Institution{
		{
			ID:   "umc-utrecht",
			Name: "UMC Utrecht",
			Aliases: []string{"UMCU", "Universitair Medisch Centrum Utrecht", "WKZ",
				"Wilhelmina Kinderziekenhuis", "Wilhelmina Children's Hospital"},
			OfficialAccounts: []string{"UMC Utrecht", "@umcutrecht", "@UMCUtrecht", "umcutrecht", "WKZ"},
			OfficialDomains:  []string{"umcutrecht.nl", "wkz.nl"},
			ShortNames: []match.ShortName{{Name: "UMC", With: []string{"Utrecht", "Utrechtse", "Uithof", "De Uithof",
				"Utrecht Science Park", "Leidsche Rijn", "Zuilen", "Overvecht", "Nieuwegein", "Zeist", "Bunnik", "Houten",
				"Maarssen", "Rijnsweerd"}}},
			OtherNames: []string{"Amsterdam UMC", "UMC Amsterdam", "UMC Groningen", "Maastricht UMC", "Maastricht UMC+",
				"Radboud UMC", "Leiden UMC", "Erasmus UMC"},
		},
		{
			ID:   "uz-leuven",
			Name: "UZ Leuven",
			// Pellenberg alone is also a village: only the campus counts.
			Aliases: []string{"Universitaire Ziekenhuizen Leuven", "UZ Gasthuisberg", "Gasthuisberg",
				"UZ Pellenberg", "campus Pellenberg", "ziekenhuis Pellenberg", "revalidatiecentrum Pellenberg",
				"Universitair Ziekenhuis Leuven"},
			OfficialAccounts: []string{"UZ Leuven", "@uzleuven", "uzleuven"},
			OfficialDomains:  []string{"uzleuven.be"},
			ShortNames: []match.ShortName{
				{Name: "UZ", With: []string{"Leuven", "Leuvense", "Heverlee", "Kessel-Lo", "Herent", "Wilsele", "Lubbeek"}},
				// The campus is named after its village: only care words
				// make it the hospital.
				{Name: "Pellenberg", With: []string{"revalidatie", "revalidatiecentrum", "revaliderende", "ziekenhuis",
					"patiënt", "patiënten", "revalidatiepatiënten", "verpleegkundige", "kinesist", "afdeling", "dienst",
					"campus", "hospitalisatie", "opgenomen", "infirmière", "service", "patients", "rehabilitation", "hospital"}},
			},
			OtherNames: []string{"UZ Gent", "UZ Brussel", "UZ Antwerpen", "UZA", "AZ Leuven"},
		},
	}
}
