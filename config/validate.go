package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/triage"
)

var (
	// Source kinds and feed ids end up as NATS subject tokens and metric
	// label values: one token, no dots or wildcards, bounded length.
	tokenPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	// Institution ids also appear in alert subjects; kept to slugs.
	institutionIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	// Atom feed names appear in feed URLs.
	atomFeedNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// envNamePattern is a portable environment variable name.
	envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// atomTokenPattern keeps tokens to the characters a URL carries as
	// they are: a "+" or "/" of base64 would be garbled in a query string.
	atomTokenPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]*$`)
)

// checker collects problems, each placed at the node of the setting it is
// about.
type checker struct {
	file     string
	tree     *tree
	problems Problems
}

func (c *checker) addf(p path, format string, args ...any) {
	line, col := c.tree.pos(p)
	c.problems = append(c.problems, Problem{
		File: c.file, Line: line, Column: col,
		Msg: p.String() + ": " + fmt.Sprintf(format, args...),
	})
}

func (cfg *Config) validate(file string, t *tree) Problems {
	c := &checker{file: file, tree: t}
	c.nonEmpty(path{"data_dir"}, cfg.DataDir)
	if cfg.Retention < MinRetention {
		c.addf(path{"retention"}, "must be at least 1h, got %s", cfg.Retention)
	}
	c.nats(cfg.NATS, cfg.HTTP)
	if cfg.NATS.SyncInterval < 0 {
		c.addf(path{"nats", "sync_interval"}, "must not be negative (0s syncs every write)")
	}
	c.listenAddr(path{"http", "listen"}, cfg.HTTP.Listen)
	c.headerName(path{"http", "user_header"}, cfg.HTTP.UserHeader)
	c.headerName(path{"http", "roles_header"}, cfg.HTTP.RolesHeader)
	c.externalURL(path{"http", "external_url"}, cfg.HTTP.ExternalURL)
	c.atomFeeds(cfg)
	c.access(cfg)
	c.ingest(cfg.Ingest)
	c.feeds(cfg.Feeds)
	c.institutions(cfg.Institutions)
	c.rules(cfg.Rules)
	c.oneOf(path{"log", "format"}, cfg.Log.Format, "text", "json")
	c.oneOf(path{"log", "level"}, cfg.Log.Level, "debug", "info", "warn", "error")
	c.nonEmpty(path{"index", "path"}, cfg.Index.Path)
	c.atLeast(path{"index", "batch_size"}, int64(cfg.Index.BatchSize), 1)
	c.positive(path{"index", "flush_interval"}, cfg.Index.FlushInterval)
	c.atLeast(path{"alerts", "snippet_length"}, int64(cfg.Alerts.SnippetLength), 1)
	c.positive(path{"alerts", "story_window"}, cfg.Alerts.StoryWindow)
	vs := cfg.Alerts.VolumeSpike
	c.positive(path{"alerts", "volume_spike", "window"}, vs.Window)
	c.atLeast(path{"alerts", "volume_spike", "baseline_days"}, int64(vs.BaselineDays), 1)
	c.atLeast(path{"alerts", "volume_spike", "min_count"}, int64(vs.MinCount), 1)
	c.positive(path{"alerts", "volume_spike", "cooldown"}, vs.Cooldown)
	if vs.Factor < 1 {
		c.addf(path{"alerts", "volume_spike", "factor"}, "must be at least 1")
	}
	c.routing(cfg)
	return c.problems
}

func (c *checker) nonEmpty(p path, v string) bool {
	if strings.TrimSpace(v) == "" {
		c.addf(p, "must not be empty")
		return false
	}
	return true
}

func (c *checker) oneOf(p path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.addf(p, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func (c *checker) atLeast(p path, v, lowest int64) {
	if v < lowest {
		c.addf(p, "must be at least %d, got %d", lowest, v)
	}
}

func (c *checker) positive(p path, d Duration) {
	if d <= 0 {
		c.addf(p, "must be a positive duration, got %s", d)
	}
}

func (c *checker) nats(n NATS, h HTTP) {
	if n.URL != "" {
		for i, s := range strings.Split(n.URL, ",") {
			// The URL may carry credentials, so messages never echo it.
			u, err := url.Parse(strings.TrimSpace(s))
			switch {
			case err != nil:
				c.addf(path{"nats", "url"}, "server %d is not a valid URL", i+1)
			case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
				c.addf(path{"nats", "url"}, "server %d: scheme must be nats, tls, ws or wss, got %q", i+1, u.Scheme)
			case u.Host == "":
				c.addf(path{"nats", "url"}, "server %d has no host", i+1)
			}
		}
		return
	}
	if c.listenAddr(path{"nats", "listen"}, n.Listen) && n.Listen == h.Listen {
		c.addf(path{"nats", "listen"}, "the embedded NATS server and http.listen cannot share %s", n.Listen)
	}
	c.nonEmpty(path{"nats", "store_dir"}, n.StoreDir)
}

// listenAddr accepts host:port where host may be empty (all interfaces), an
// IP address or a name, and port is a number.
func (c *checker) listenAddr(p path, addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.addf(p, "%q is not a host:port address", addr)
		return false
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		c.addf(p, "%q: port %q is not a number from 0 to 65535", addr, port)
		return false
	}
	if strings.ContainsAny(host, " /") {
		c.addf(p, "%q: host %q is not an address or host name", addr, host)
		return false
	}
	return true
}

// headerName accepts an HTTP header name (a token: letters, digits and
// !#$%&'*+-.^_`|~), or nothing.
func (c *checker) headerName(p path, name string) {
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			c.addf(p, "%q is not a header name", name)
			return
		}
	}
}

func (c *checker) ingest(in Ingest) {
	for i, s := range in.AllowPrivateNetworks {
		if _, err := parseNetwork(s); err != nil {
			c.addf(path{"ingest", "allow_private_networks", i}, "%v", err)
		}
	}
	if c.nonEmpty(path{"ingest", "user_agent"}, in.UserAgent) {
		if i := strings.IndexFunc(in.UserAgent, unicode.IsControl); i >= 0 {
			c.addf(path{"ingest", "user_agent"}, "contains a control character at byte %d; HTTP headers cannot carry it", i)
		}
	}
	c.positive(path{"ingest", "timeout"}, in.Timeout)
	c.atLeast(path{"ingest", "max_body_bytes"}, in.MaxBodyBytes, 1)
	c.positive(path{"ingest", "max_backoff"}, in.MaxBackoff)
	c.positive(path{"ingest", "max_retry_after"}, in.MaxRetryAfter)
	c.atLeast(path{"ingest", "per_host_concurrency"}, int64(in.PerHostConcurrency), 1)
	c.atLeast(path{"ingest", "concurrency"}, int64(in.Concurrency), 1)
	if in.LeasePeriod < Duration(minLeasePeriod) {
		c.addf(path{"ingest", "lease_period"}, "must be at least %s, got %s", Duration(minLeasePeriod), in.LeasePeriod)
	}
}

// minLeasePeriod is lease.MinPeriod: members' keys live half a period, and
// JetStream expires messages about once a second.
const minLeasePeriod = 4 * time.Second

// parseNetwork reads a CIDR, or a single address as a one-address prefix.
// An IPv4 address mapped into IPv6 is read as the IPv4 address: peers are
// compared unmapped.
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s)
	}
	if p.Masked() != p {
		// 10.1.2.3/8 is most likely a typo for either 10.1.2.3/32 or
		// 10.0.0.0/8; allowing a whole network by accident is not safe.
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; write %s for the network or %s for the one address",
			s, p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

func (c *checker) feeds(feeds []Feed) {
	firstURL := make(map[string]int, len(feeds))
	firstID := make(map[string]int, len(feeds))
	for i, f := range feeds {
		p := path{"feeds", i}
		sourceOK := tokenPattern.MatchString(f.Source)
		if !sourceOK {
			c.addf(p.child("source"), "%q is not a source token (1 to 64 of a-z, 0-9, _ and -)", f.Source)
		}
		urlOK := c.feedURL(p.child("url"), f.URL)
		dupURL := false
		if urlOK {
			if j, ok := firstURL[f.URL]; ok {
				dupURL = true
				c.addf(p.child("url"), "duplicate URL, already used by feeds[%d]%s", j, c.lineNote(path{"feeds", j}))
			} else {
				firstURL[f.URL] = i
			}
		}
		// A derived id is only as good as its source, and two feeds with
		// the same URL and source derive the same id: neither needs a
		// second message.
		derived := !c.tree.has(p.child("id")) && f.ID == defaultFeedID(f.Source, f.URL)
		switch {
		case !tokenPattern.MatchString(f.ID):
			if !derived || sourceOK {
				c.addf(p.child("id"), "%q is not a valid id (1 to 64 of a-z, 0-9, _ and -)", f.ID)
			}
		case derived && dupURL:
		default:
			if j, ok := firstID[f.ID]; ok {
				c.addf(p.child("id"), "duplicate id %q, already used by feeds[%d]%s", f.ID, j, c.lineNote(path{"feeds", j}))
			} else {
				firstID[f.ID] = i
			}
		}
		if f.Interval.D() < minFeedInterval {
			c.addf(p.child("interval"), "%s is below the minimum of %s", f.Interval, minFeedInterval)
		}
	}
}

func (c *checker) lineNote(p path) string {
	if line, _ := c.tree.pos(p); line > 0 {
		return fmt.Sprintf(" at line %d", line)
	}
	return ""
}

func (c *checker) feedURL(p path, raw string) bool {
	if raw == "" {
		c.addf(p, "a feed needs a URL")
		return false
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		c.addf(p, "%q is not a valid URL: %v", raw, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		c.addf(p, "%q: scheme must be http or https", raw)
	case u.Host == "" || u.Hostname() == "":
		c.addf(p, "%q has no host", raw)
	case u.User != nil:
		// Feed URLs travel in every mention and log line; credentials
		// in them would leak.
		c.addf(p, "%q: URLs with user:password are not supported", u.Redacted())
	default:
		return true
	}
	return false
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (c *checker) institutions(insts []match.Institution) {
	firstID := map[string]int{}
	// Aliases must mean one institution only, or a mention could not be
	// attributed.
	nameOwner := map[string]int{}
	for i, inst := range insts {
		p := path{"institutions", i}
		switch {
		case inst.ID == "":
			c.addf(p.child("id"), "an institution needs an id")
		case !institutionIDPattern.MatchString(inst.ID):
			c.addf(p.child("id"), "%q is not a valid id (1 to 64 of a-z, 0-9 and -)", inst.ID)
		default:
			if j, ok := firstID[inst.ID]; ok {
				c.addf(p.child("id"), "duplicate id %q, already used by institutions[%d]%s", inst.ID, j, c.lineNote(path{"institutions", j}))
			} else {
				firstID[inst.ID] = i
			}
		}
		if strings.TrimSpace(inst.Name) == "" {
			c.addf(p.child("name"), "an institution needs a name")
		} else {
			c.claimName(nameOwner, p.child("name"), i, inst.Name)
		}
		for j, a := range inst.Aliases {
			if c.nonEmpty(p.child("aliases").child(j), a) {
				c.claimName(nameOwner, p.child("aliases").child(j), i, a)
			}
		}
		for j, a := range inst.OfficialAccounts {
			c.nonEmpty(p.child("official_accounts").child(j), a)
		}
		for j, d := range inst.OfficialDomains {
			dp := p.child("official_domains").child(j)
			if c.nonEmpty(dp, d) && (strings.ContainsAny(d, "/:@ \t") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".")) {
				c.addf(dp, "%q is not a bare domain name such as example.org", d)
			}
		}
	}
}

func (c *checker) claimName(owner map[string]int, p path, inst int, name string) {
	key := strings.ToLower(strings.Join(strings.Fields(name), " "))
	j, ok := owner[key]
	switch {
	case !ok:
		owner[key] = inst
	case j != inst:
		c.addf(p, "%q is already a name or alias of institutions[%d]; a name must mean one institution", name, j)
	}
}

func (c *checker) rules(r Rules) {
	for i, d := range r.Dirs {
		c.nonEmpty(path{"rules", "dirs", i}, d)
	}
	seen := map[string]bool{}
	for i, id := range r.Disable {
		p := path{"rules", "disable", i}
		if c.nonEmpty(p, id) {
			if seen[id] {
				c.addf(p, "rule %q is listed twice", id)
			}
			seen[id] = true
		}
	}
}

// externalURL accepts an absolute http or https URL to which paths can be
// appended, or nothing.
func (c *checker) externalURL(p path, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		c.addf(p, "%q is not a valid URL: %v", raw, unwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		c.addf(p, "%q: want an absolute http or https URL such as https://mediawatch.example.org", raw)
	case u.Host == "" || u.Hostname() == "":
		c.addf(p, "%q has no host", raw)
	case u.User != nil:
		c.addf(p, "%q: URLs with user:password are not supported", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#"):
		c.addf(p, "%q: no query or fragment, please; paths are appended to it", raw)
	}
}

// atomFeeds checks http.atom_feeds: names, tokens (read from the
// environment by finalize; never quoted in a message) and filter values.
func (c *checker) atomFeeds(cfg *Config) {
	institutions := institutionIDs(cfg)
	categories := append(slices.Clone(match.Categories), alerts.CategoryVolumeSpike)
	severities := make([]string, 0, len(match.Severities))
	for _, s := range match.Severities {
		severities = append(severities, string(s))
	}
	firstName := map[string]int{}
	for i, f := range cfg.HTTP.AtomFeeds {
		p := path{"http", "atom_feeds", i}
		switch {
		case f.Name == "":
			c.addf(p.child("name"), "a feed needs a name (1 to 64 of letters, digits, - and _)")
		case !atomFeedNamePattern.MatchString(f.Name):
			c.addf(p.child("name"), "%q is not a valid name (1 to 64 of letters, digits, - and _)", f.Name)
		default:
			if j, ok := firstName[f.Name]; ok {
				c.addf(p.child("name"), "duplicate name %q, already used by http.atom_feeds[%d]%s", f.Name, j, c.lineNote(path{"http", "atom_feeds", j}))
			} else {
				firstName[f.Name] = i
			}
		}
		tp := p.child("token_env")
		switch {
		case f.TokenEnv == "":
			c.addf(tp, "a feed needs token_env, the environment variable that holds its token")
		case !envNamePattern.MatchString(f.TokenEnv):
			c.addf(tp, "%q is not an environment variable name (letters, digits and _, not starting with a digit)", f.TokenEnv)
		case f.token == "":
			c.addf(tp, "environment variable %s is empty or not set; it must hold the feed's token, at least %d characters (e.g. openssl rand -hex 16)",
				f.TokenEnv, MinAtomTokenLength)
		case utf8.RuneCountInString(f.token) < MinAtomTokenLength:
			c.addf(tp, "the token in %s is shorter than %d characters (e.g. openssl rand -hex 16)", f.TokenEnv, MinAtomTokenLength)
		case !atomTokenPattern.MatchString(f.token):
			c.addf(tp, "the token in %s may hold only letters, digits and . _ ~ - so that it fits in a URL as it is (e.g. openssl rand -hex 16)", f.TokenEnv)
		}
		c.allowed(p.child("institution"), f.Institution, "institution", institutions)
		c.allowed(p.child("category"), f.Category, "category", categories)
		c.allowed(p.child("severity"), f.Severity, "severity", severities)
		c.allowed(p.child("status"), f.Status, "status", triage.Statuses)
	}
}

// allowed reports every value of a filter list that is not one of allowed.
func (c *checker) allowed(p path, values []string, what string, allowed []string) {
	for j, v := range values {
		if slices.Contains(allowed, v) {
			continue
		}
		if len(allowed) == 0 {
			c.addf(p.child(j), "unknown %s %q (none is configured)", what, v)
		} else {
			c.addf(p.child(j), "unknown %s %q (want one of %s)", what, v, strings.Join(allowed, ", "))
		}
	}
}
