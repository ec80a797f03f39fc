// Package i18n translates the dashboard into Dutch and formats times and
// numbers the way each language writes them.
//
// Messages are gettext-style: the English text is the key, so templates stay
// readable and English needs no catalog. The Dutch catalog is nl.yaml, a flat
// map from English message to Dutch text embedded in the binary; a plural is
// two ordinary entries, one per form. A message the catalog lacks is shown in
// English, never as an empty string.
//
// Times are shown in a zone the user picks from Zones. Those zones must load
// on every machine the dashboard runs on, including minimal container images
// without /usr/share/zoneinfo: the binary must import _ "time/tzdata" (as the
// tests of this package do), or time.LoadLocation fails there.
//
// A Printer holds no mutable state and is safe for concurrent use; the
// catalog is parsed once, on first use, and never changed afterwards.
package i18n

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"
)

// The supported languages, as the language cookie and the html lang
// attribute spell them.
const (
	English = "en"
	Dutch   = "nl"
)

// Languages lists the supported languages in display order.
func Languages() []string {
	// A fresh slice each call, so a caller that sorts or appends to it cannot
	// change what the next caller sees.
	return []string{English, Dutch}
}

// Zones lists the time zones a user may pick: the zones of the two
// hospitals, UMC Utrecht and UZ Leuven. They share their rules today, but a
// Belgian user should still see and pick the Belgian zone.
func Zones() []string {
	return []string{"Europe/Amsterdam", "Europe/Brussels"}
}

// supported returns the canonical spelling of lang when it is a supported
// language. Case and surrounding space are forgiven, because the value may
// come back from a cookie or a form.
func supported(lang string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(lang)) {
	case English:
		return English, true
	case Dutch:
		return Dutch, true
	}
	return "", false
}

// matcher maps a browser's preferences onto the supported languages. It is
// built once and only read afterwards, so sharing it between requests is
// safe. English comes first: it is what the matcher falls back to.
var matcher = sync.OnceValue(func() language.Matcher {
	return language.NewMatcher([]language.Tag{language.English, language.Dutch})
})

// maxAcceptEntries bounds the work spent on one Accept-Language header.
// Browsers send a handful of entries; the header is sent by anyone and
// parsed on every page, so a megabyte of junk entries must not cost more
// than a real header does. Entries past the bound are ignored.
const maxAcceptEntries = 32

// Negotiate picks the language: preferred (a cookie value) when supported,
// else the best match of the Accept-Language header, else English.
//
// Regional variants match their language (nl-BE and nl-NL pick Dutch, en-GB
// English), and a lower-weighted supported language beats unsupported ones:
// "fr-BE,fr;q=0.9,nl;q=0.5" picks Dutch, which is right for a Walloon
// visitor of a Flemish hospital who listed Dutch at all.
func Negotiate(acceptLanguage, preferred string) string {
	if lang, ok := supported(preferred); ok {
		return lang
	}
	tags := parseAccept(acceptLanguage)
	if len(tags) == 0 {
		return English
	}
	// The index is into the matcher's tags: English, then Dutch.
	if _, i, conf := matcher().Match(tags...); conf != language.No && i == 1 {
		return Dutch
	}
	return English
}

// parseAccept parses an Accept-Language header entry by entry, skipping the
// entries that do not parse. language.ParseAcceptLanguage rejects the whole
// header for one bad entry; a browser that sends "nl-BE, x_bogus" still
// told us it reads Dutch. The result is ordered by weight, highest first,
// keeping the header's order among equal weights.
func parseAccept(header string) []language.Tag {
	type weighted struct {
		tag language.Tag
		q   float32
	}
	var ws []weighted
	seen := 0
	for entry := range strings.SplitSeq(header, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		if seen++; seen > maxAcceptEntries {
			break
		}
		tags, qs, err := language.ParseAcceptLanguage(entry)
		if err != nil || len(tags) != 1 {
			continue // unparsable, or dropped for a weight of zero
		}
		ws = append(ws, weighted{tags[0], qs[0]})
	}
	slices.SortStableFunc(ws, func(a, b weighted) int { return cmp.Compare(b.q, a.q) })
	tags := make([]language.Tag, len(ws))
	for i, w := range ws {
		tags[i] = w.tag
	}
	return tags
}

// Printer translates and formats for one language and time zone. The zero
// Printer is not usable; make one with New.
type Printer struct {
	lang string
	loc  *time.Location
	cat  map[string]string // shared and read-only; nil for English
}

// New returns a Printer for lang in loc. An unknown language gives English,
// a nil location UTC, so a stale cookie or a missing setting still renders.
func New(lang string, loc *time.Location) *Printer {
	l, ok := supported(lang)
	if !ok {
		l = English
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Printer{lang: l, loc: loc, cat: catalogs()[l]}
}

// Lang returns the printer's language, English or Dutch.
func (p *Printer) Lang() string { return p.lang }

// Location returns the zone the printer shows times in.
func (p *Printer) Location() *time.Location { return p.loc }

// T translates msg (English) and, when args are given, formats them into the
// translation with fmt.Sprintf. A message missing from the catalog is shown
// in English.
//
// Without args the text is returned as it stands, so a literal percent sign
// needs no escaping; with args it must be written %%.
func (p *Printer) T(msg string, args ...any) string {
	s := p.translate(msg)
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

func (p *Printer) translate(msg string) string {
	if s, ok := p.cat[msg]; ok && s != "" {
		return s
	}
	return msg
}

// N picks the singular or plural form for n, translates it and formats n
// into it: N("%d alert", "%d alerts", n).
//
// English and Dutch share their plural rule: the singular for exactly one,
// the plural for everything else, zero included ("0 meldingen"). A language
// with other rules would need more than two forms.
func (p *Printer) N(one, other string, n int) string {
	msg := other
	if n == 1 || n == -1 {
		msg = one
	}
	return p.T(msg, n)
}

// dutchMonths are the abbreviations Dutch style guides and CLDR use. May is
// short enough not to be abbreviated, so it has no full stop.
var dutchMonths = [12]string{
	"jan.", "feb.", "mrt.", "apr.", "mei", "jun.",
	"jul.", "aug.", "sep.", "okt.", "nov.", "dec.",
}

// blank is shown for a zero time: a feed never polled has no time to show,
// and "1 Jan 1" would read as data.
const blank = "—"

// Time formats an instant in the printer's zone on a 24-hour clock:
// "7 Dec 2026, 10:02" in English, "7 dec. 2026 10:02" in Dutch. The zero
// time gives "—".
func (p *Printer) Time(t time.Time) string {
	if t.IsZero() {
		return blank
	}
	if p.lang == Dutch {
		return p.dutchDate(t) + " " + p.Clock(t)
	}
	return t.In(p.loc).Format("2 Jan 2006, 15:04")
}

// Date formats the day of an instant in the printer's zone: "7 Dec 2026",
// "7 dec. 2026". The zero time gives "—".
func (p *Printer) Date(t time.Time) string {
	if t.IsZero() {
		return blank
	}
	if p.lang == Dutch {
		return p.dutchDate(t)
	}
	return t.In(p.loc).Format("2 Jan 2006")
}

// Clock formats the time of day of an instant in the printer's zone: "10:02".
// The zero time gives "—".
func (p *Printer) Clock(t time.Time) string {
	if t.IsZero() {
		return blank
	}
	return t.In(p.loc).Format("15:04")
}

// dutchDate is written by hand because time.Format knows only English month
// names.
func (p *Printer) dutchDate(t time.Time) string {
	y, m, d := t.In(p.loc).Date()
	return strconv.Itoa(d) + " " + dutchMonths[m-1] + " " + strconv.Itoa(y)
}

// Ago says how long before now t was, coarse and short, rounding down:
// "just now" under a minute, then minutes, hours below a day, and days.
// A zero t gives "never"; a future t "in 5 min".
//
// Less than a minute either way is "just now": replicas' clocks differ by a
// few seconds, and an alert stamped a second "in the future" is not news.
func (p *Printer) Ago(t, now time.Time) string {
	if t.IsZero() {
		return p.T("never")
	}
	// Subtracting in the direction that gives a positive duration, rather
	// than negating a negative one: Sub saturates at the extremes, and the
	// most negative Duration has no positive counterpart.
	d, future := now.Sub(t), false
	if t.After(now) {
		d, future = t.Sub(now), true
	}
	switch {
	case d < time.Minute:
		return p.T("just now")
	case d < time.Hour:
		m := int(d / time.Minute)
		if future {
			return p.T("in %d min", m)
		}
		return p.T("%d min ago", m)
	case d < 24*time.Hour:
		h := int(d / time.Hour)
		if future {
			return p.T("in %d h", h)
		}
		return p.T("%d h ago", h)
	}
	days := int(d / (24 * time.Hour))
	if future {
		return p.N("in %d day", "in %d days", days)
	}
	return p.N("%d day ago", "%d days ago", days)
}

// Number formats an integer with the language's thousands separator:
// 12,345 in English, 12.345 in Dutch.
func (p *Printer) Number(n int64) string {
	sep := byte(',')
	if p.lang == Dutch {
		sep = '.'
	}
	// Formatting first and grouping the digits afterwards works for every
	// int64; negating n would overflow on the smallest one.
	s := strconv.FormatInt(n, 10)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	var b strings.Builder
	b.Grow(len(sign) + len(s) + len(s)/3)
	b.WriteString(sign)
	head := len(s) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(s[:head])
	for i := head; i < len(s); i += 3 {
		b.WriteByte(sep)
		b.WriteString(s[i : i+3])
	}
	return b.String()
}
