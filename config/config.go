// Package config loads mediawatch's YAML configuration.
//
// Every key is optional: a missing file, an empty file or a missing key
// means the built-in default (see Default and example.yaml). Decoding is
// strict, and every problem in a file (unknown keys, values of the wrong
// type, invalid settings) is reported at once as Problems, each with the
// file and line, so an operator fixes a file in one pass rather than one
// error per restart.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/notify"
)

// Config is the whole configuration of a mediawatch process.
type Config struct {
	// DataDir holds everything mediawatch stores; relative paths are
	// relative to the working directory.
	DataDir      string              `yaml:"data_dir"`
	NATS         NATS                `yaml:"nats"`
	HTTP         HTTP                `yaml:"http"`
	Ingest       Ingest              `yaml:"ingest"`
	Feeds        []Feed              `yaml:"feeds"`
	Institutions []match.Institution `yaml:"institutions"`
	Rules        Rules               `yaml:"rules"`
	Log          Log                 `yaml:"log"`
	Index        Index               `yaml:"index"`
	Alerts       Alerts              `yaml:"alerts"`
	// Receivers are where notifications go; Routing decides which alerts go
	// to which. Both default to the guidelines' contacts per institution
	// on NATS subjects (see defaultRouting).
	Receivers []notify.ReceiverConfig `yaml:"receivers"`
	Routing   Route                   `yaml:"routing"`
	// Retention is how long mentions, alerts and what is stored about them
	// (triage events, notifications, index documents) are kept; then they
	// expire everywhere. At least MinRetention; default DefaultRetention.
	Retention Duration `yaml:"retention"`
	// Users are the local dashboard accounts. With none, no OIDC and no
	// authenticating proxy, the dashboard trusts its own host only.
	Users []User `yaml:"users"`
}

// Retention bounds.
const (
	DefaultRetention = Duration(30 * 24 * time.Hour)
	MinRetention     = Duration(time.Hour)
)

// NATS configures the message bus.
type NATS struct {
	// URL of an external NATS server or cluster (comma-separated for
	// several seeds). Empty runs an embedded server.
	URL string `yaml:"url"`
	// Listen is the embedded server's client address.
	Listen string `yaml:"listen"`
	// StoreDir is the embedded server's JetStream storage; default
	// <data_dir>/nats.
	StoreDir string `yaml:"store_dir"`
	// SyncInterval is how often the embedded server's JetStream store
	// fsyncs; 0 (the default) fsyncs every write before acknowledging it,
	// so an acknowledged alert survives a power loss. A period trades that
	// for throughput: up to that much can be lost when the machine (not
	// the process) dies.
	SyncInterval Duration `yaml:"sync_interval"`
}

// HTTP configures the dashboard, JSON API, /metrics, /healthz and /readyz.
type HTTP struct {
	Listen string `yaml:"listen"`
	// UserHeader names the request header in which an authenticating
	// reverse proxy (oauth2-proxy, a web server with SSO) passes the
	// user's name, e.g. X-Forwarded-User. Triage actions are recorded under
	// that name. Empty: triage actions are accepted only from the daemon's
	// own host, as the user "local".
	UserHeader string `yaml:"user_header"`
	// RolesHeader names the header in which the proxy passes the user's
	// roles or groups, comma-separated (e.g. X-Forwarded-Groups).
	RolesHeader string `yaml:"roles_header"`
	// RevealRoles are the roles that may see an alert's evidence
	// unredacted; every reveal is recorded in the AUDIT stream.
	RevealRoles []string `yaml:"reveal_roles"`
	// ExternalURL is where people reach the dashboard (behind its proxy),
	// e.g. https://mediawatch.example.org; links to the dashboard in the
	// Atom feeds start with it. Empty: the feeds link to the posts only.
	ExternalURL string `yaml:"external_url"`
	// AtomFeeds are the Atom feeds of alerts served on
	// GET /feeds/alerts.atom, each with a token of its own.
	AtomFeeds []AtomFeed `yaml:"atom_feeds"`
	// TrustedProxies are the networks (CIDRs or addresses) whose requests
	// may name the user in UserHeader and RolesHeader; a request from
	// anywhere else that carries those headers is treated as if it did
	// not. Default, when UserHeader is set: loopback only.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SessionLifetime is how long a dashboard login lasts; default 12h,
	// one shift.
	SessionLifetime Duration `yaml:"session_lifetime"`
	// LoginLimit bounds failed logins per account and per address.
	LoginLimit LoginLimit `yaml:"login_limit"`
	// TimeZone is the zone the dashboard shows dates in unless a user
	// picks another: Europe/Amsterdam or Europe/Brussels.
	TimeZone string `yaml:"time_zone"`
	// OIDC logs users in with the hospital's identity provider (Entra ID,
	// Keycloak); off while issuer is empty.
	OIDC OIDC `yaml:"oidc"`
}

// defaultTrustedProxies are believed when http.user_header is set without
// http.trusted_proxies: a proxy on the same host.
var defaultTrustedProxies = []string{"127.0.0.0/8", "::1/128"}

// LoginLimit refuses logins for an account or from an address after Max
// failures within Window.
type LoginLimit struct {
	Max    int      `yaml:"max"`
	Window Duration `yaml:"window"`
}

// OIDC configures login through an OpenID Connect provider.
type OIDC struct {
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names the environment variable that holds the client
	// secret, read when the file is loaded: secrets stay out of the file.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// RedirectURL is <external_url>/auth/oidc/callback, registered with
	// the provider.
	RedirectURL string   `yaml:"redirect_url"`
	Scopes      []string `yaml:"scopes"`
	// UsernameClaim names the user (default preferred_username, then
	// email, then sub); RolesClaim holds their roles or groups (default
	// roles; a dotted path such as realm_access.roles reaches into
	// Keycloak's nested claims).
	UsernameClaim string `yaml:"username_claim"`
	RolesClaim    string `yaml:"roles_claim"`
	// RoleMap maps a claim value (a group) to mediawatch roles; empty,
	// claim values that are role names are taken as they are.
	RoleMap map[string][]string `yaml:"role_map"`

	secret string
}

// Enabled reports whether OIDC login is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// ClientSecret is the value of ClientSecretEnv when the file was loaded.
func (o OIDC) ClientSecret() string { return o.secret }

// User is a local dashboard account; `mediawatch user add` prints one.
type User struct {
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"`
	Roles        []string `yaml:"roles"`
	// TimeZone overrides http.time_zone for this user.
	TimeZone string `yaml:"time_zone"`
}

// MinAtomTokenLength is the shortest token an Atom feed may have, in
// characters.
const MinAtomTokenLength = 24

// AtomFeed is one Atom feed of alerts (GET /feeds/alerts.atom?feed=<name>),
// for a press office's feed reader. Its token is not in the file but in the
// environment variable TokenEnv, read when the file is loaded. The filters
// are lists; an empty list lets every value through.
type AtomFeed struct {
	// Name is the feed's name in the URL: letters, digits, - and _.
	Name     string `yaml:"name"`
	TokenEnv string `yaml:"token_env"`
	// Institution, Category, Severity and Status keep only the alerts with
	// one of the values listed (institution ids, categories, severities and
	// triage statuses).
	Institution []string `yaml:"institution"`
	Category    []string `yaml:"category"`
	Severity    []string `yaml:"severity"`
	Status      []string `yaml:"status"`

	// token is the value of TokenEnv when the file was loaded. Unexported
	// so that no encoding of the configuration ever writes it out.
	token string
}

// Token returns the feed's token, read from its token_env variable when the
// configuration was loaded.
func (f AtomFeed) Token() string { return f.token }

// Ingest configures feed fetching.
type Ingest struct {
	// AllowPrivateNetworks lists the private, loopback or link-local
	// networks (CIDRs, or single addresses) the fetcher may reach; all
	// others are refused so a feed URL cannot probe internal services.
	AllowPrivateNetworks []string `yaml:"allow_private_networks"`
	UserAgent            string   `yaml:"user_agent"`
	// Timeout bounds one whole fetch, body included.
	Timeout      Duration `yaml:"timeout"`
	MaxBodyBytes int64    `yaml:"max_body_bytes"`
	// MaxBackoff caps the delay between retries of a failing feed.
	MaxBackoff Duration `yaml:"max_backoff"`
	// MaxRetryAfter caps how long a server's Retry-After may hold a feed.
	MaxRetryAfter      Duration `yaml:"max_retry_after"`
	PerHostConcurrency int      `yaml:"per_host_concurrency"`
	Concurrency        int      `yaml:"concurrency"`
	// LeasePeriod bounds how long the feeds of an ingest process that died
	// go unpolled, when several share the feed list on an external NATS
	// (nats.url): the others take them over within one period.
	LeasePeriod Duration `yaml:"lease_period"`
}

// Feed is one feed to watch.
type Feed struct {
	// ID names the feed in metrics, logs and mentions. Default:
	// <source>-<first 8 hex digits of sha256(url)>.
	ID string `yaml:"id"`
	// Name is for display only.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Source is the kind of source (news, mastodon, reddit, ...); it is a
	// NATS subject token, so [a-z0-9_-]+. Default: news.
	Source string `yaml:"source"`
	// Interval between fetches; at least 30s. Default: 10m for news,
	// 15m for any other source.
	Interval Duration `yaml:"interval"`
	// Line is where the feed starts in the configuration file (0 for a
	// built-in feed), for messages about the feed later on.
	Line int `yaml:"-"`
}

// Rules configures the detection rules.
type Rules struct {
	// Dirs are extra rule directories; the shipped rules are always
	// loaded.
	Dirs []string `yaml:"dirs"`
	// Disable lists rule ids not to run.
	Disable []string `yaml:"disable"`
}

// Log configures logging.
type Log struct {
	Format string `yaml:"format"` // text or json
	Level  string `yaml:"level"`  // debug, info, warn or error
}

// Index configures the search index.
type Index struct {
	// Path of the index; default <data_dir>/index.
	Path          string   `yaml:"path"`
	BatchSize     int      `yaml:"batch_size"`
	FlushInterval Duration `yaml:"flush_interval"`
}

// Alerts configures alerting.
type Alerts struct {
	// SnippetLength is the length, in runes, of the redacted excerpt an
	// alert carries.
	SnippetLength int `yaml:"snippet_length"`
	// StoryWindow is how long a story stays open for repeats: the same post
	// seen again, the same known false claim, the same author breaking the
	// same rule again, for one institution and category, within this
	// window after the last repeat, raise the count of one alert instead
	// of a new alert.
	StoryWindow Duration `yaml:"story_window"`
	// VolumeSpike raises volume_spike alerts when an institution (or one
	// category of its mentions) is mentioned far more than usual.
	VolumeSpike VolumeSpike `yaml:"volume_spike"`
}

// VolumeSpike compares the mentions of the last Window with the same window
// on each of the previous BaselineDays days: a spike is at least MinCount
// mentions and Factor times that baseline; then the same institution and
// category stay quiet for Cooldown.
type VolumeSpike struct {
	Window       Duration `yaml:"window"`
	BaselineDays int      `yaml:"baseline_days"`
	Factor       float64  `yaml:"factor"`
	MinCount     int      `yaml:"min_count"`
	Cooldown     Duration `yaml:"cooldown"`
}

// Default returns the built-in configuration: what an empty file means.
func Default() *Config {
	c := base()
	c.finalize(newTree(nil))
	return c
}

// Load reads the configuration file at path; an empty path means Default.
// A file replaces the default feeds or institutions only if it sets those
// keys. The error is Problems when the file was read but is invalid.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err) // names the file
	}
	return Parse(data, path)
}

var yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse decodes a configuration file's contents; filename is used in
// problem messages only. The error, if any, is Problems.
func Parse(data []byte, filename string) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return Default(), nil
	case err != nil:
		return nil, Problems{syntaxProblem(filename, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Problems{syntaxProblem(filename, err)}
	default:
		return nil, Problems{{File: filename, Line: extra.Line, Column: extra.Column,
			Msg: "a configuration file holds one YAML document; remove the second one (or the --- separating them)"}}
	}

	t := newTree(&doc)
	switch {
	case t.root == nil || t.root.ShortTag() == "!!null":
		return Default(), nil
	case t.root.Kind != yaml.MappingNode:
		return nil, Problems{{File: filename, Line: t.root.Line, Column: t.root.Column,
			Msg: "the file must be a mapping of settings (data_dir: ..., feeds: ...), not " + describeNode(t.root)}}
	}

	c := base()
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var problems Problems
	if err := strict.Decode(c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, Problems{syntaxProblem(filename, err)}
		}
		problems = typeProblems(filename, &doc, te)
	}

	c.finalize(t)
	problems = append(problems, dropDuplicates(c.validate(filename, t), problems)...)
	if len(problems) > 0 {
		problems.sort()
		return nil, problems
	}
	return c, nil
}

func syntaxProblem(file string, err error) Problem {
	msg := err.Error()
	if m := yamlErrorLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: line, Msg: "YAML syntax error: " + m[2]}
	}
	return Problem{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// dropDuplicates leaves out validation problems at a value the decoder has
// already complained about: a duration that did not parse is also zero, and
// saying so again would be noise.
func dropDuplicates(validation, decoding Problems) Problems {
	type place struct{ line, col int }
	seen := make(map[place]bool, len(decoding))
	for _, p := range decoding {
		seen[place{p.Line, p.Column}] = true
	}
	var out Problems
	for _, p := range validation {
		if p.Line > 0 && seen[place{p.Line, p.Column}] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// finalize fills the defaults that depend on other settings or on what the
// file left out.
func (c *Config) finalize(t *tree) {
	// "feeds:" with nothing after it reads as "not configured" (the usual
	// result of commenting out every entry), not as "watch nothing"; an
	// explicit [] watches nothing.
	if t.isNull(path{"feeds"}) {
		c.Feeds = defaultFeeds()
	}
	if t.isNull(path{"institutions"}) {
		c.Institutions = defaultInstitutions()
	}
	// Without routing of its own a file gets the default contacts for its
	// institutions; receivers of its own it keeps, and routes to them.
	if !t.has(path{"receivers"}) {
		c.Receivers = defaultReceivers(institutionIDs(c))
	}
	if !t.has(path{"routing"}) {
		c.Routing = defaultRouting(institutionIDs(c))
	}
	if c.NATS.StoreDir == "" && !t.has(path{"nats", "store_dir"}) {
		c.NATS.StoreDir = filepath.Join(c.DataDir, "nats")
	}
	if c.Index.Path == "" && !t.has(path{"index", "path"}) {
		c.Index.Path = filepath.Join(c.DataDir, "index")
	}
	if c.Retention == 0 && !t.has(path{"retention"}) {
		c.Retention = DefaultRetention
	}
	// Secrets stay out of the file: each Atom feed's token is read from
	// its environment variable now, once (validate checks it).
	for i := range c.HTTP.AtomFeeds {
		f := &c.HTTP.AtomFeeds[i]
		if envNamePattern.MatchString(f.TokenEnv) {
			f.token = os.Getenv(f.TokenEnv)
		}
	}
	if envNamePattern.MatchString(c.HTTP.OIDC.ClientSecretEnv) {
		c.HTTP.OIDC.secret = os.Getenv(c.HTTP.OIDC.ClientSecretEnv)
	}
	if c.HTTP.UserHeader != "" && c.HTTP.TrustedProxies == nil {
		c.HTTP.TrustedProxies = defaultTrustedProxies
	}
	for i := range c.Feeds {
		f := &c.Feeds[i]
		p := path{"feeds", i}
		if n, ok := t.find(p); ok {
			f.Line = n.Line
		}
		if f.Source == "" && !t.has(p.child("source")) {
			f.Source = "news"
		}
		if f.Interval == 0 && !t.has(p.child("interval")) {
			f.Interval = defaultInterval(f.Source)
		}
		if f.ID == "" && !t.has(p.child("id")) {
			f.ID = defaultFeedID(f.Source, f.URL)
		}
	}
}

// TrustedProxyNetworks returns http.trusted_proxies parsed, in file order;
// with http.user_header set and no list (a configuration built in code
// rather than parsed), loopback.
func (c *Config) TrustedProxyNetworks() []netip.Prefix {
	list := c.HTTP.TrustedProxies
	if list == nil && c.HTTP.UserHeader != "" {
		list = defaultTrustedProxies
	}
	var out []netip.Prefix
	for _, s := range list {
		if p, err := parseNetwork(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// AllowedPrivateNetworks returns ingest.allow_private_networks parsed, in
// file order. A single address is returned as a one-address prefix.
func (c *Config) AllowedPrivateNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.Ingest.AllowPrivateNetworks {
		if p, err := parseNetwork(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
