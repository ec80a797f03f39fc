package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/notify"
)

func mustParseFile(t *testing.T, name string) *Config {
	t.Helper()
	c, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return c
}

// hashID computes the documented default feed id independently of the
// package's own function.
func hashID(source, url string) string {
	sum := sha256.Sum256([]byte(url))
	return source + "-" + hex.EncodeToString(sum[:])[:8]
}

func TestDefaultsWithoutFile(t *testing.T) {
	loaded, err := Load("")
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	if !reflect.DeepEqual(loaded, Default()) {
		t.Errorf("Load(\"\") differs from Default()")
	}
	for _, data := range []string{"", "\n\n", "# nothing configured yet\n", "---\n", "~\n"} {
		c, err := Parse([]byte(data), "empty.yaml")
		if err != nil {
			t.Errorf("Parse(%q): %v", data, err)
			continue
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("Parse(%q) differs from Default()", data)
		}
	}

	d := Default()
	if ps := d.validate("", newTree(nil)); len(ps) > 0 {
		t.Errorf("Default() is invalid:\n%v", ps)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"data_dir", d.DataDir, "./data"},
		{"retention", d.Retention.D(), 30 * 24 * time.Hour},
		{"nats.url", d.NATS.URL, ""},
		{"nats.listen", d.NATS.Listen, "127.0.0.1:4222"},
		{"nats.store_dir", d.NATS.StoreDir, filepath.Join("data", "nats")},
		{"http.listen", d.HTTP.Listen, "127.0.0.1:8080"},
		{"http.external_url", d.HTTP.ExternalURL, ""},
		{"http.atom_feeds", len(d.HTTP.AtomFeeds), 0},
		{"ingest.allow_private_networks", len(d.AllowedPrivateNetworks()), 0},
		{"ingest.timeout", d.Ingest.Timeout.D(), 30 * time.Second},
		{"ingest.max_body_bytes", d.Ingest.MaxBodyBytes, int64(16777216)},
		{"ingest.max_backoff", d.Ingest.MaxBackoff.D(), time.Hour},
		{"ingest.max_retry_after", d.Ingest.MaxRetryAfter.D(), time.Hour},
		{"ingest.per_host_concurrency", d.Ingest.PerHostConcurrency, 2},
		{"ingest.concurrency", d.Ingest.Concurrency, 8},
		{"log.format", d.Log.Format, "text"},
		{"log.level", d.Log.Level, "info"},
		{"index.path", d.Index.Path, filepath.Join("data", "index")},
		{"index.batch_size", d.Index.BatchSize, 500},
		{"index.flush_interval", d.Index.FlushInterval.D(), time.Second},
		{"alerts.snippet_length", d.Alerts.SnippetLength, 240},
		{"alerts.story_window", d.Alerts.StoryWindow, Duration(24 * time.Hour)},
		{"institution ids", []string{d.Institutions[0].ID, d.Institutions[1].ID}, []string{"umc-utrecht", "uz-leuven"}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
	if d.Ingest.UserAgent == "" {
		t.Error("default user agent is empty")
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Feeds[0].URL = "https://changed.example/"
	a.Institutions[0].Aliases[0] = "changed"
	b := Default()
	if b.Feeds[0].URL == a.Feeds[0].URL || b.Institutions[0].Aliases[0] == "changed" {
		t.Error("changing one Default() changed the next")
	}
}

func TestDefaultFeeds(t *testing.T) {
	feeds := Default().Feeds
	if len(feeds) == 0 {
		t.Fatal("no default feeds")
	}
	ids := map[string]bool{}
	urls := map[string]bool{}
	for _, f := range feeds {
		if !strings.HasPrefix(f.URL, "https://") {
			t.Errorf("feed %s: URL %q is not https", f.ID, f.URL)
		}
		if ids[f.ID] {
			t.Errorf("feed id %q is not unique", f.ID)
		}
		ids[f.ID] = true
		if urls[f.URL] {
			t.Errorf("feed URL %q is listed twice", f.URL)
		}
		urls[f.URL] = true
		if !regexp.MustCompile(`^[a-z0-9_-]+$`).MatchString(f.ID) || !regexp.MustCompile(`^[a-z0-9_-]+$`).MatchString(f.Source) {
			t.Errorf("feed %q: id or source %q is not a token", f.ID, f.Source)
		}
		want := 15 * time.Minute
		if f.Source == "news" {
			want = 10 * time.Minute
		}
		if f.Interval.D() != want {
			t.Errorf("feed %s (%s): interval %s, want %s", f.ID, f.Source, f.Interval, want)
		}
		if f.Name == "" {
			t.Errorf("feed %s has no display name", f.ID)
		}
	}
	for _, inst := range []string{"UMC+Utrecht", "UZ+Leuven"} {
		n := 0
		for _, f := range feeds {
			if strings.Contains(f.URL, "%22"+inst+"%22") {
				n++
			}
		}
		if n < 4 {
			t.Errorf("%s: %d search feeds, want at least 4 (Google News nl and en, Bing, Reddit)", inst, n)
		}
	}
}

func TestLoadFullFile(t *testing.T) {
	got := mustParseFile(t, "full.yaml")
	want := &Config{
		DataDir: "/var/lib/mediawatch",
		NATS:    NATS{URL: "nats://nats-1.internal:4222,nats://nats-2.internal:4222", Listen: "0.0.0.0:4333", StoreDir: "/srv/nats"},
		HTTP: HTTP{
			Listen: ":9090", RevealRoles: []string{"privacy"}, UserHeader: "X-Forwarded-User", TrustedProxies: []string{"10.0.0.0/24"},
			SessionLifetime: Duration(8 * time.Hour), LoginLimit: LoginLimit{Max: 3, Window: Duration(5 * time.Minute)}, TimeZone: "Europe/Brussels",
		},
		Ingest: Ingest{
			AllowPrivateNetworks: []string{"10.20.0.0/16", "192.168.1.7", "fd00::/8"},
			UserAgent:            "mediawatch-test/2",
			Timeout:              Duration(45 * time.Second),
			MaxBodyBytes:         1048576,
			MaxBackoff:           Duration(150 * time.Minute),
			MaxRetryAfter:        Duration(90 * time.Minute),
			PerHostConcurrency:   1,
			Concurrency:          4,
			LeasePeriod:          Duration(30 * time.Second),
		},
		Feeds: []Feed{
			{ID: "bridge-forum", Name: "Zorgforum via RSS bridge", URL: "http://10.20.0.5:3000/forum.xml", Source: "forum", Interval: Duration(30 * time.Second), Line: 23},
			{ID: hashID("news", "https://example.org/news.xml"), URL: "https://example.org/news.xml", Source: "news", Interval: Duration(10 * time.Minute), Line: 28},
			{ID: hashID("mastodon", "https://social.example/@someone.rss"), URL: "https://social.example/@someone.rss", Source: "mastodon", Interval: Duration(15 * time.Minute), Line: 29},
		},
		Institutions: []match.Institution{{
			ID: "example-hospital", Name: "Example Hospital", Aliases: []string{"EH"},
			OfficialAccounts: []string{"@examplehospital"}, OfficialDomains: []string{"example-hospital.org"},
		}},
		Rules:  Rules{Dirs: []string{"/etc/mediawatch/rules"}, Disable: []string{"conduct.swearing"}},
		Log:    Log{Format: "json", Level: "debug"},
		Index:  Index{Path: "/srv/index", BatchSize: 50, FlushInterval: Duration(250 * time.Millisecond)},
		Alerts: Alerts{SnippetLength: 120, StoryWindow: Duration(6 * time.Hour), VolumeSpike: Default().Alerts.VolumeSpike},
		Receivers: []notify.ReceiverConfig{
			{Name: "comms-slack", Type: notify.TypeSlack, URL: "https://hooks.slack.example/services/T000/B000/XXXX"},
			{Name: "press-feed", Type: notify.TypeNATS},
		},
		Routing: Route{Receiver: "comms-slack", GroupWait: Duration(20 * time.Second), Routes: []Route{
			{Match: map[string][]string{"category": {"misinformation"}}, Receiver: "press-feed", Continue: true},
		}},
		Retention: DefaultRetention,
		Users: []User{{
			Name: "anna", Roles: []string{"analyst", "privacy"}, TimeZone: "Europe/Amsterdam",
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$FNvFyFQhUqQzIlrU7e/PDw$jvcA7O0Ck0hT1UyDwE9wnmQTtbfr6XLNY5pT6Bdc+wI",
		}},
	}
	if !reflect.DeepEqual(got, want) {
		gy, _ := yaml.Marshal(got)
		wy, _ := yaml.Marshal(want)
		t.Errorf("full.yaml decoded to\n%s\nwant\n%s\nfeeds %+v\nwant  %+v", gy, wy, got.Feeds, want.Feeds)
	}
	wantNets := []netip.Prefix{
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("fd00::/8"),
	}
	if nets := got.AllowedPrivateNetworks(); !reflect.DeepEqual(nets, wantNets) {
		t.Errorf("AllowedPrivateNetworks() = %v, want %v", nets, wantNets)
	}
}

func TestPartialFilesKeepDefaults(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, c, d *Config)
	}{
		{"partial.yaml", func(t *testing.T, c, d *Config) {
			if c.DataDir != "/srv/mw" || c.NATS.StoreDir != "/srv/mw/nats" || c.Index.Path != "/srv/mw/index" {
				t.Errorf("paths under data_dir: %q %q %q", c.DataDir, c.NATS.StoreDir, c.Index.Path)
			}
			if c.NATS.Listen != "127.0.0.1:5222" || c.HTTP.Listen != d.HTTP.Listen {
				t.Errorf("listen addresses: nats %q http %q", c.NATS.Listen, c.HTTP.Listen)
			}
			if c.Ingest.Timeout.D() != 10*time.Second || c.Ingest.Concurrency != d.Ingest.Concurrency || c.Ingest.UserAgent != d.Ingest.UserAgent {
				t.Errorf("ingest = %+v", c.Ingest)
			}
			// "log:" with nothing under it keeps the defaults.
			if c.Log != d.Log {
				t.Errorf("log = %+v, want %+v", c.Log, d.Log)
			}
			if !reflect.DeepEqual(c.Feeds, d.Feeds) || !reflect.DeepEqual(c.Institutions, d.Institutions) {
				t.Error("a file without feeds/institutions did not keep the defaults")
			}
		}},
		{"null_lists.yaml", func(t *testing.T, c, d *Config) {
			if !reflect.DeepEqual(c.Feeds, d.Feeds) || !reflect.DeepEqual(c.Institutions, d.Institutions) {
				t.Error(`"feeds:" and "institutions:" with no value did not keep the defaults`)
			}
		}},
		{"empty_lists.yaml", func(t *testing.T, c, d *Config) {
			if len(c.Feeds) != 0 || len(c.Institutions) != 0 {
				t.Errorf("explicit empty lists: %d feeds, %d institutions, want none", len(c.Feeds), len(c.Institutions))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			tt.check(t, mustParseFile(t, tt.file), Default())
		})
	}
}

type wantProblem struct {
	line, col int // col 0: not checked
	msg       string
}

func TestProblems(t *testing.T) {
	tests := []struct {
		file string
		want []wantProblem
	}{
		{"unknown_keys.yaml", []wantProblem{
			{1, 1, `unknown key "data_dri" (did you mean "data_dir"?)`},
			{3, 3, `unknown key "urll" in nats (did you mean "url"?)`},
			{6, 3, `unknown key "timout_s" in ingest (known keys: allow_private_networks, user_agent, timeout,`},
			{10, 5, `unknown key "intervall" in feeds[1] (did you mean "interval"?)`},
			{14, 5, `unknown key "alias" in institutions[0] (did you mean "aliases"?)`},
			{15, 21, `unknown key "colour" in log (known keys: format, level)`},
		}},
		{"semantic.yaml", []wantProblem{
			{3, 11, `nats.listen: "localhost" is not a host:port address`},
			{5, 11, `http.listen: "127.0.0.1:99999": port "99999" is not a number`},
			{7, 28, `ingest.allow_private_networks[0]: "10.1.2.3/8" has host bits set; write 10.0.0.0/8 for the network or 10.1.2.3/32`},
			{7, 40, `ingest.allow_private_networks[1]: "not-a-network" is not a CIDR`},
			{8, 16, `ingest.concurrency: must be at least 1, got 0`},
			{10, 9, `feeds[0].id: "Bad.ID" is not a valid id`},
			{11, 10, `feeds[0].url: "ftp://example.org/feed.xml": scheme must be http or https`},
			{13, 13, `feeds[1].source: "News" is not a source token`},
			{16, 15, `feeds[2].interval: 10s is below the minimum of 30s`},
			{17, 9, `feeds[3].id: duplicate id "dup", already used by feeds[2] at line 14`},
			{18, 10, `feeds[3].url: duplicate URL, already used by feeds[2] at line 14`},
			{19, 10, `feeds[4].url: "https://example.org/%zz" is not a valid URL: invalid URL escape "%zz"`},
			{21, 9, `institutions[0].id: "Umc_Utrecht" is not a valid id`},
			{22, 11, `institutions[0].name: an institution needs a name`},
			{26, 24, `institutions[1].official_domains[0]: "https://x.org/" is not a bare domain name`},
			{27, 9, `institutions[2].id: duplicate id "x", already used by institutions[1] at line 23`},
			{29, 15, `institutions[2].aliases[0]: "umcu" is already a name or alias of institutions[1]`},
			{31, 16, `rules.disable[1]: rule "a" is listed twice`},
			{33, 11, `log.format: "xml" is not one of text, json`},
			{34, 10, `log.level: "verbose" is not one of debug, info, warn, error`},
			{36, 15, `index.batch_size: must be at least 1, got -1`},
			{38, 19, `alerts.snippet_length: must be at least 1, got 0`},
		}},
		{"access.yaml", []wantProblem{
			{2, 20, `http.trusted_proxies: set http.user_header too`},
			{2, 21, `http.trusted_proxies[0]: "10.1.2.3/8" has host bits set`},
			{3, 21, `http.session_lifetime: must be from 5m to 168h, got 1m`},
			{4, 22, `http.login_limit.max: must be at least 1, got 0`},
			{4, 33, `http.login_limit.window: must be a positive duration`},
			{5, 14, `http.time_zone: unknown time zone "Europe/Atlantis"`},
			{6, 18, `http.reveal_roles[0]: unknown role "dpo"`},
			{8, 13, `http.oidc.issuer: want the provider's https URL`},
			{10, 24, `http.oidc.client_secret_env: environment variable MEDIAWATCH_TEST_UNSET_OIDC_SECRET is empty or not set`},
			{11, 19, `http.oidc.redirect_url: want an absolute URL ending in /auth/oidc/callback`},
			{12, 13, `http.oidc.scopes: must include openid`},
			{14, 14, `http.oidc.role_map.comms: unknown role "analist"`},
			{17, 20, `users[0].password_hash: `},
			{19, 11, `users[1].name: user "Anna" is already defined by users[0] at line 16`},
			{21, 13, `users[1].roles[0]: unknown role "superuser"`},
			{22, 16, `users[1].time_zone: unknown time zone "CET-ish"`},
			{23, 11, `users[2].name: "bob smith" is not a valid name`},
			{25, 12, `users[2].roles: a user needs at least one role`},
		}},
		{"types.yaml", []wantProblem{
			{2, 12, `ingest.timeout: invalid duration "30"`},
			{3, 16, `ingest.concurrency: expected a whole number, got a string`},
			{4, 16, `ingest.max_backoff: expected a duration such as 90s, 5m or 1h30m, got a list`},
			{7, 15, `feeds[0].interval: invalid duration "5 minutes"`},
			{9, 19, `index.flush_interval: invalid duration "soon"`},
			{10, 6, `log: expected a mapping, got a string`},
		}},
		{"nested_types.yaml", []wantProblem{
			{1, 9, `feeds[0]: expected a mapping, got a list`},
			{2, 43, `institutions[0].aliases[0]: expected a string, got a list`},
		}},
		{"aliases.yaml", []wantProblem{
			{3, 38, `unknown key "intervall" in feeds[0] (did you mean "interval"?)`},
			{4, 5, `feeds[1].url: duplicate URL, already used by feeds[0] at line 3`},
			{5, 5, `feeds[2].url: duplicate URL, already used by feeds[0] at line 3`},
		}},
		{"not_mapping.yaml", []wantProblem{
			{2, 1, `the file must be a mapping of settings (data_dir: ..., feeds: ...), not a list`},
		}},
		{"syntax.yaml", []wantProblem{
			{4, 0, `YAML syntax error: mapping values are not allowed in this context`},
		}},
		{"two_docs.yaml", []wantProblem{
			{2, 0, `one YAML document`},
		}},
		{"duplicate_key.yaml", []wantProblem{
			{4, 0, `mapping key "level" already defined at line 3`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			name := filepath.Join("testdata", tt.file)
			c, err := Load(name)
			if err == nil {
				t.Fatalf("Load(%s) succeeded: %+v", name, c)
			}
			if c != nil {
				t.Errorf("Load(%s) returned a config with its error", name)
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %T is not Problems: %v", err, err)
			}
			if len(ps) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%v", len(ps), len(tt.want), err)
			}
			for i := range min(len(ps), len(tt.want)) {
				p, w := ps[i], tt.want[i]
				if p.File != name || p.Line != w.line || (w.col != 0 && p.Column != w.col) || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d = %s (column %d)\nwant line %d column %d containing %q", i, p.Error(), p.Column, w.line, w.col, w.msg)
				}
			}
			// One problem per line of the error text, each led by file:line.
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(ps) {
				t.Errorf("Error() has %d lines for %d problems", len(lines), len(ps))
			}
			for i, l := range lines {
				if i < len(ps) && !strings.HasPrefix(l, ps[i].File+":") {
					t.Errorf("Error() line %q does not start with the file name", l)
				}
			}
		})
	}
}

func TestProblemFormatting(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "mw.yaml", Line: 7, Column: 3, Msg: "bad"}, "mw.yaml:7: bad"},
		{Problem{File: "mw.yaml", Msg: "bad"}, "mw.yaml: bad"},
		{Problem{Line: 2, Msg: "bad"}, "line 2: bad"},
		{Problem{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.p, got, tt.want)
		}
	}

	unsorted := Problems{{File: "b.yaml", Line: 9, Msg: "late"}, {File: "b.yaml", Line: 2, Msg: "early"}}
	if got, want := unsorted.Error(), "b.yaml:2: early\nb.yaml:9: late"; got != want {
		t.Errorf("Problems.Error() = %q, want %q", got, want)
	}

	_, err := Parse([]byte("log: {level: loud}\ndata_dri: x\n"), "mw.yaml")
	var p Problem
	if !errors.As(err, &p) || p.Line != 1 {
		t.Errorf("errors.As(Problem) = %v, first problem %+v; want the line-1 problem", err, p)
	}
}

func TestLoadMissingFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := Load(name)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), name) {
		t.Errorf("Load(missing) = %v; want an fs.ErrNotExist naming the file", err)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"d: 5m", 5 * time.Minute, ""},
		{"d: 90s", 90 * time.Second, ""},
		{"d: 1h30m", 90 * time.Minute, ""},
		{"d: 250ms", 250 * time.Millisecond, ""},
		{`d: "2h"`, 2 * time.Hour, ""},
		{"d: -1s", -time.Second, ""},
		{"d: 0s", 0, ""},
		{"d:", 42, ""}, // null leaves the value alone
		{"d: 300", 0, `line 1: invalid duration "300"`},
		{"d: 5 minutes", 0, `invalid duration "5 minutes"`},
		{"d: 5M", 0, `invalid duration "5M"`},
		{"d: [5m]", 0, "got a list"},
		{"d: {m: 5}", 0, "got a mapping"},
		{"d: true", 0, `invalid duration "true"`},
	}
	for _, tt := range tests {
		v := struct{ D Duration }{D: 42}
		err := yaml.Unmarshal([]byte(tt.yaml), &v)
		switch {
		case tt.wantErr != "":
			var te *yaml.TypeError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want a *yaml.TypeError containing %q", tt.yaml, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.yaml, err)
		case v.D.D() != tt.want:
			t.Errorf("%s: got %s, want %s", tt.yaml, v.D, tt.want)
		}
	}

	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Minute)})
	if err != nil || strings.TrimSpace(string(out)) != "d: 1h30m0s" {
		t.Errorf("Marshal = %q, %v; want d: 1h30m0s", out, err)
	}
}

func TestFeedIDs(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantIDs  []string
		problems []wantProblem
	}{
		{
			name:    "derived from source and URL",
			yaml:    "feeds:\n  - url: https://a.example/feed\n  - url: https://b.example/feed\n    source: reddit\n",
			wantIDs: []string{hashID("news", "https://a.example/feed"), hashID("reddit", "https://b.example/feed")},
		},
		{
			name:    "explicit ids kept",
			yaml:    "feeds:\n  - {id: one, url: https://a.example/1}\n  - {id: two_2, url: https://a.example/2}\n",
			wantIDs: []string{"one", "two_2"},
		},
		{
			name:     "duplicate explicit ids",
			yaml:     "feeds:\n  - {id: one, url: https://a.example/1}\n  - {id: one, url: https://a.example/2}\n",
			problems: []wantProblem{{3, 10, `feeds[1].id: duplicate id "one", already used by feeds[0] at line 2`}},
		},
		{
			name:     "explicit id equal to a derived one",
			yaml:     "feeds:\n  - url: https://a.example/1\n  - id: " + hashID("news", "https://a.example/1") + "\n    url: https://a.example/2\n",
			problems: []wantProblem{{3, 9, `feeds[1].id: duplicate id "` + hashID("news", "https://a.example/1") + `"`}},
		},
		{
			name:     "same URL and source reported once",
			yaml:     "feeds:\n  - url: https://a.example/1\n  - url: https://a.example/1\n",
			problems: []wantProblem{{3, 10, `feeds[1].url: duplicate URL, already used by feeds[0] at line 2`}},
		},
		{
			name:     "empty explicit id",
			yaml:     "feeds:\n  - {id: '', url: https://a.example/1}\n",
			problems: []wantProblem{{2, 10, `feeds[0].id: "" is not a valid id`}},
		},
		{
			name:     "bad source not repeated as bad id",
			yaml:     "feeds:\n  - {url: https://a.example/1, source: news.eu}\n",
			problems: []wantProblem{{2, 40, `feeds[0].source: "news.eu" is not a source token`}},
		},
		{
			name:     "id too long for a metric label",
			yaml:     "feeds:\n  - {id: " + strings.Repeat("x", 65) + ", url: https://a.example/1}\n",
			problems: []wantProblem{{2, 10, `is not a valid id`}},
		},
		{
			name:     "missing URL",
			yaml:     "feeds:\n  - {id: a}\n  - name: no url\n",
			problems: []wantProblem{{2, 5, `feeds[0].url: a feed needs a URL`}, {3, 5, `feeds[1].url: a feed needs a URL`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "feeds.yaml")
			if len(tt.problems) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, f := range c.Feeds {
					ids = append(ids, f.ID)
				}
				if !reflect.DeepEqual(ids, tt.wantIDs) {
					t.Errorf("ids = %q, want %q", ids, tt.wantIDs)
				}
				return
			}
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want Problems", err)
			}
			if len(ps) != len(tt.problems) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tt.problems), ps)
			}
			for i, w := range tt.problems {
				if ps[i].Line != w.line || ps[i].Column != w.col || !strings.Contains(ps[i].Msg, w.msg) {
					t.Errorf("problem %d = %s (column %d), want %d:%d %q", i, ps[i].Error(), ps[i].Column, w.line, w.col, w.msg)
				}
			}
		})
	}
}

func TestFeedIntervals(t *testing.T) {
	tests := []struct {
		interval string
		source   string
		want     time.Duration
		wantErr  string
	}{
		{"", "news", 10 * time.Minute, ""},
		{"", "forum", 15 * time.Minute, ""},
		{"interval: 30s", "news", 30 * time.Second, ""},
		{"interval: 29s", "news", 0, "29s is below the minimum of 30s"},
		{"interval: 0s", "news", 0, "0s is below the minimum of 30s"},
		{"interval: -5m", "news", 0, "-5m0s is below the minimum"},
		{"interval: 24h", "youtube", 24 * time.Hour, ""},
	}
	for _, tt := range tests {
		doc := "feeds:\n  - url: https://a.example/f\n    source: " + tt.source + "\n    " + tt.interval + "\n"
		c, err := Parse([]byte(doc), "f.yaml")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), "f.yaml:4: feeds[0].interval: "+tt.wantErr) {
				t.Errorf("%q: err = %v, want %q on line 4", tt.interval, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.interval, err)
			continue
		}
		if got := c.Feeds[0].Interval.D(); got != tt.want {
			t.Errorf("%q (%s): interval %s, want %s", tt.interval, tt.source, got, tt.want)
		}
	}
}

func TestExampleLoadsAsDefaults(t *testing.T) {
	c, err := Load("example.yaml")
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	// The example documents the defaults, so it must say exactly what
	// Default says. Marshalling compares settings only (not the feeds'
	// line numbers, and not nil against empty lists).
	got, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("example.yaml does not match Default():\n--- example\n%s\n--- default\n%s", got, want)
	}
	for _, f := range c.Feeds {
		if f.Line == 0 {
			t.Errorf("feed %s has no line number", f.ID)
		}
	}
}

func TestValidNetworksAndAddresses(t *testing.T) {
	tests := []struct {
		yaml    string
		wantErr string
	}{
		{"ingest: {allow_private_networks: ['127.0.0.0/8', '::1', '169.254.0.0/16', 'fe80::/10']}", ""},
		{"ingest: {allow_private_networks: ['fe80::1%eth0']}", "is not a CIDR"},
		{"ingest: {allow_private_networks: ['10.0.0.0/33']}", "is not a CIDR"},
		{"ingest: {allow_private_networks: ['']}", "is not a CIDR"},
		{"http: {listen: ':0'}", ""},
		{"http: {listen: 'localhost:8080'}", ""},
		{"http: {listen: '[::1]:8080'}", ""},
		{"http: {listen: '8080'}", "is not a host:port address"},
		{"http: {listen: 'host:http'}", "is not a number"},
		{"http: {user_header: X-Forwarded-User}", ""},
		{"http: {external_url: 'https://mediawatch.example.org'}", ""},
		{"http: {external_url: 'http://10.0.0.5:8080/mediawatch/'}", ""},
		{"http: {external_url: 'mediawatch.example.org'}", "want an absolute http or https URL"},
		{"http: {external_url: '/mediawatch'}", "want an absolute http or https URL"},
		{"http: {external_url: 'javascript:alert(1)'}", "want an absolute http or https URL"},
		{"http: {external_url: 'https://'}", "has no host"},
		{"http: {external_url: 'https://mw.example.org/?tab=alerts'}", "no query or fragment"},
		{"http: {external_url: 'https://admin:secret@mw.example.org'}", "user:password are not supported"},
		{"http: {external_url: 'https://mw.example.org/%zz'}", "is not a valid URL"},
		{"receivers: [{name: pager, type: pagerduty}]", `receivers[0]: receiver "pager": unknown type "pagerduty"`},
		{"{receivers: [{name: press, type: nats}], routing: {receiver: press, routes: [{receiver: nobody}]}}", `routing: route 0.0: unknown receiver "nobody"`},
		{"{receivers: [{name: press, type: nats}], routing: {receiver: press, routes: [{match: {colour: [red]}}]}}", `routing: route 0.0: cannot match on "colour"`},
		{"http: {user_header: 'X-User: admin'}", "http.user_header: \"X-User: admin\" is not a header name"},
		{"nats: {listen: 127.0.0.1:8080}", "cannot share 127.0.0.1:8080"},
		{"nats: {url: 'nats://user:secret@n1:4222, tls://n2:4222'}", ""},
		{"nats: {url: 'http://user:secret@n1:4222'}", `scheme must be nats, tls, ws or wss, got "http"`},
		{"nats: {url: 'nats://'}", "server 1 has no host"},
		{"ingest: {user_agent: \"mw\\r\\nX-Injected: 1\"}", "control character"},
		{"ingest: {user_agent: ''}", "must not be empty"},
		{"data_dir: ''", "data_dir: must not be empty"},
		{"retention: 1h", ""},
		{"retention: 2160h", ""},
		{"retention: 59m", "retention: must be at least 1h, got 59m0s"},
		{"retention: 0s", "retention: must be at least 1h, got 0s"},
		{"retention: -24h", "retention: must be at least 1h"},
		{"index: {path: ''}", "index.path: must not be empty"},
		{"nats: {store_dir: ''}", "nats.store_dir: must not be empty"},
		{"feeds: [{url: 'https://u:p@a.example/f'}]", "user:password are not supported"},
		{"feeds: [{url: '/relative/feed.xml'}]", "scheme must be http or https"},
		{"feeds: [{url: 'https:///feed.xml'}]", "has no host"},
		{"ingest: {timeout: 0s}", "ingest.timeout: must be a positive duration"},
		{"index: {flush_interval: -1s}", "index.flush_interval: must be a positive duration"},
		{"institutions: [{name: X}]", "institutions[0].id: an institution needs an id"},
		{"institutions: [{id: x, name: X, aliases: ['  ']}]", "institutions[0].aliases[0]: must not be empty"},
		{"rules: {dirs: ['']}", "rules.dirs[0]: must not be empty"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "t.yaml")
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.yaml, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), "t.yaml:1: ") || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: err = %v, want line 1 and %q", tt.yaml, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error leaks the NATS password: %v", tt.yaml, err)
		}
	}
}

func TestLoadReadsFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "mw.yaml")
	if err := os.WriteFile(name, []byte("log: {level: warn}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(name)
	if err != nil || c.Log.Level != "warn" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
}

func TestAtomFeeds(t *testing.T) {
	const good = "0123456789abcdef0123456789abcdef"
	t.Setenv("MW_TEST_ATOM_GOOD", good)
	t.Setenv("MW_TEST_ATOM_MISSING", "")
	t.Setenv("MW_TEST_ATOM_SHORT", "tooshort-2345678901234") // 22 characters
	t.Setenv("MW_TEST_ATOM_PLUS", "base64+with/slashes=0123456789")

	c, err := Parse([]byte(`http:
  external_url: https://mediawatch.example.org
  atom_feeds:
    - name: press-uz-leuven
      token_env: MW_TEST_ATOM_GOOD
      institution: [uz-leuven]
      category: [misinformation, volume_spike]
      severity: [high, critical]
      status: [new, acknowledged, assigned, escalated]
    - {name: All_2, token_env: MW_TEST_ATOM_GOOD}
`), "atom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	feeds := c.HTTP.AtomFeeds
	if len(feeds) != 2 || feeds[0].Name != "press-uz-leuven" || feeds[0].TokenEnv != "MW_TEST_ATOM_GOOD" || feeds[0].Token() != good ||
		!reflect.DeepEqual(feeds[0].Institution, []string{"uz-leuven"}) ||
		!reflect.DeepEqual(feeds[0].Category, []string{"misinformation", "volume_spike"}) ||
		!reflect.DeepEqual(feeds[0].Severity, []string{"high", "critical"}) ||
		!reflect.DeepEqual(feeds[0].Status, []string{"new", "acknowledged", "assigned", "escalated"}) ||
		feeds[1].Name != "All_2" || feeds[1].Token() != good || feeds[1].Institution != nil {
		t.Errorf("atom feeds = %+v", feeds)
	}
	if c.HTTP.ExternalURL != "https://mediawatch.example.org" {
		t.Errorf("external_url = %q", c.HTTP.ExternalURL)
	}
	// The token never leaves the process through the configuration.
	if out, _ := yaml.Marshal(c); strings.Contains(string(out), good) {
		t.Error("marshalling the configuration writes the token out")
	}

	doc := `http:
  atom_feeds:
    - name: press uz leuven
      token_env: MW_TEST_ATOM_MISSING
    - name: press-umc
      token_env: MW_TEST_ATOM_SHORT
      institution: [umc-utrecht, amc]
      category: [misinfo]
      severity: [high, urgent]
      status: [new, closed]
    - name: press-umc
      token_env: 1BAD
    - token_env: MW_TEST_ATOM_PLUS
    - {name: x, token_env: MW_TEST_ATOM_UNSET_` + strconv.Itoa(os.Getpid()) + `}
    - {name: y}
`
	want := []wantProblem{
		{3, 13, `http.atom_feeds[0].name: "press uz leuven" is not a valid name (1 to 64 of letters, digits, - and _)`},
		{4, 18, `http.atom_feeds[0].token_env: environment variable MW_TEST_ATOM_MISSING is empty or not set`},
		{6, 18, `http.atom_feeds[1].token_env: the token in MW_TEST_ATOM_SHORT is shorter than 24 characters`},
		{7, 34, `http.atom_feeds[1].institution[1]: unknown institution "amc" (want one of umc-utrecht, uz-leuven)`},
		{8, 18, `http.atom_feeds[1].category[0]: unknown category "misinfo" (want one of patient_data, logo_misuse, misinformation, conduct, volume_spike)`},
		{9, 24, `http.atom_feeds[1].severity[1]: unknown severity "urgent" (want one of info, low, medium, high, critical)`},
		{10, 21, `http.atom_feeds[1].status[1]: unknown status "closed" (want one of new, acknowledged, assigned, escalated, resolved, false_positive)`},
		{11, 13, `http.atom_feeds[2].name: duplicate name "press-umc", already used by http.atom_feeds[1] at line 5`},
		{12, 18, `http.atom_feeds[2].token_env: "1BAD" is not an environment variable name`},
		{13, 7, `http.atom_feeds[3].name: a feed needs a name`},
		{13, 18, `http.atom_feeds[3].token_env: the token in MW_TEST_ATOM_PLUS may hold only letters, digits and . _ ~ -`},
		{14, 28, `http.atom_feeds[4].token_env: environment variable MW_TEST_ATOM_UNSET_`},
		{15, 7, `http.atom_feeds[5].token_env: a feed needs token_env`},
	}
	_, err = Parse([]byte(doc), "atom.yaml")
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("err = %v, want Problems", err)
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i := range min(len(ps), len(want)) {
		p, w := ps[i], want[i]
		if p.File != "atom.yaml" || p.Line != w.line || p.Column != w.col || !strings.Contains(p.Msg, w.msg) {
			t.Errorf("problem %d = %s (column %d)\nwant %d:%d %q", i, p.Error(), p.Column, w.line, w.col, w.msg)
		}
	}
	for _, secret := range []string{"tooshort-2345678901234", "base64+with"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("a problem quotes a token: %v", err)
		}
	}

	// Filters name configured institutions only.
	_, err = Parse([]byte("institutions: []\nhttp: {atom_feeds: [{name: a, token_env: MW_TEST_ATOM_GOOD, institution: [uz-leuven]}]}\n"), "atom.yaml")
	if err == nil || !strings.Contains(err.Error(), `atom.yaml:2: http.atom_feeds[0].institution[0]: unknown institution "uz-leuven" (none is configured)`) {
		t.Errorf("institution without institutions: %v", err)
	}
}

func TestRetention(t *testing.T) {
	c, err := Parse([]byte("retention: 168h\n"), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.D() != 7*24*time.Hour {
		t.Errorf("retention = %s, want 168h", c.Retention)
	}
	// Written without a value, like any other key, it keeps the default.
	if c, err := Parse([]byte("retention:\n"), "r.yaml"); err != nil || c.Retention != DefaultRetention {
		t.Errorf("retention with no value: %v, %v; want the default", c, err)
	}
	if _, err := Parse([]byte("retention: 30\n"), "r.yaml"); err == nil || !strings.Contains(err.Error(), `r.yaml:1: retention: invalid duration "30"`) {
		t.Errorf("a bare number: err = %v, want an invalid duration at line 1", err)
	}
}

// TestTrustedProxyNetworks: addresses stand for themselves, IPv4 mapped into
// IPv6 is read as IPv4 (peers are compared unmapped), and a user header
// without a list believes loopback only.
func TestTrustedProxyNetworks(t *testing.T) {
	cfg := Default()
	cfg.HTTP.UserHeader = "X-Forwarded-User"
	cfg.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8", "::ffff:10.1.2.3", "::ffff:10.0.0.0/104"}
	var got []string
	for _, p := range cfg.TrustedProxyNetworks() {
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 192.168.1.7/32 ::1/128 fd00::/8 10.1.2.3/32 10.0.0.0/8"; strings.Join(got, " ") != want {
		t.Errorf("networks = %v, want %s", got, want)
	}
	cfg.HTTP.TrustedProxies = nil
	if n := cfg.TrustedProxyNetworks(); len(n) != 2 || !n[0].Contains(netip.MustParseAddr("127.0.0.1")) || !n[1].Contains(netip.IPv6Loopback()) {
		t.Errorf("no list with a user header: %v, want loopback", n)
	}
	cfg.HTTP.UserHeader = ""
	if n := cfg.TrustedProxyNetworks(); n != nil {
		t.Errorf("no user header: %v, want none", n)
	}
}
