// Package spike notices when an institution is suddenly talked about far
// more than usual: a volume spike is often the first sign of a story the
// communications team has to get ahead of, before any single post breaks a
// guideline.
//
// Mentions are counted per institution, and per institution and category,
// in one-minute slots. The count of the last Window is compared with the
// same window of day on each of the previous BaselineDays days (the
// baseline: the mean of those windows). A spike is a count at least
// MinCount and at least Factor times the baseline; after one, the same key
// stays quiet for Cooldown.
//
// The Detector is pure: time comes in with every call, and nothing is
// stored but the counts it is given.
package spike

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options tune a Detector; zero values take the defaults.
type Options struct {
	Window       time.Duration // default 1h
	BaselineDays int           // default 7
	Factor       float64       // default 3
	MinCount     int           // default 20
	Cooldown     time.Duration // default 6h
}

func (o Options) withDefaults() Options {
	o.Window = cmp.Or(o.Window, time.Hour)
	o.BaselineDays = cmp.Or(o.BaselineDays, 7)
	o.Factor = cmp.Or(o.Factor, 3)
	o.MinCount = cmp.Or(o.MinCount, 20)
	o.Cooldown = cmp.Or(o.Cooldown, 6*time.Hour)
	return o
}

// Key is what is counted: an institution, and optionally a category ("" for
// every mention of the institution).
type Key struct {
	Institution string
	Category    string
}

// Spike is one detected volume spike.
type Spike struct {
	Key      Key
	At       time.Time
	Count    int     // mentions in the window
	Baseline float64 // mean of the same window on the previous days
	Window   time.Duration
	// TopSources and TopTerms describe what the window's mentions are:
	// where they come from and which words their titles share.
	TopSources []Ranked
	TopTerms   []Ranked
}

// Ranked is a value with its count.
type Ranked struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Mention is what the detector needs of a mention.
type Mention struct {
	At           time.Time
	Institutions []string
	Categories   []string
	Source       string
	Title        string
}

// recent is a mention kept for describing a spike.
type recent struct {
	at     time.Time
	source string
	title  string
}

// Detector counts mentions and reports spikes.
type Detector struct {
	opts Options
	// slots[key][minute] is the count of the minute starting at that Unix
	// minute.
	slots map[Key]map[int64]int
	// recents per institution, for the sources and terms of a spike.
	recents   map[string][]recent
	lastSpike map[Key]time.Time
	// lastCheck spaces the baseline checks of a key past its minimum
	// count: a spike builds up over the window, so looking every few
	// seconds finds it as well as looking at every mention, at a fraction
	// of the cost.
	lastCheck map[Key]time.Time
}

// checkEvery is the least time between two checks of one key.
const checkEvery = 10 * time.Second

// New returns an empty Detector.
func New(opts Options) *Detector {
	return &Detector{opts: opts.withDefaults(), slots: map[Key]map[int64]int{}, recents: map[string][]recent{}, lastSpike: map[Key]time.Time{}, lastCheck: map[Key]time.Time{}}
}

func minute(t time.Time) int64 { return t.Unix() / 60 }

// Add counts n mentions for key in the minute of t: how stored counts are
// loaded back.
func (d *Detector) Add(key Key, t time.Time, n int) {
	m := d.slots[key]
	if m == nil {
		m = map[int64]int{}
		d.slots[key] = m
	}
	m[minute(t)] += n
}

// KeysOf returns the keys a mention counts under: each of its
// institutions, and each institution with each of its categories.
func KeysOf(m Mention) []Key {
	var keys []Key
	for _, inst := range m.Institutions {
		keys = append(keys, Key{Institution: inst})
		for _, c := range m.Categories {
			if c != "" {
				keys = append(keys, Key{Institution: inst, Category: c})
			}
		}
	}
	return keys
}

// Observe counts one mention and returns the spikes it completes, in a
// stable order.
func (d *Detector) Observe(m Mention) []Spike {
	keys := KeysOf(m)
	for _, inst := range m.Institutions {
		rs := append(d.recents[inst], recent{at: m.At, source: m.Source, title: m.Title})
		if len(rs) > maxRecent {
			rs = rs[len(rs)-maxRecent:]
		}
		d.recents[inst] = rs
	}
	var out []Spike
	for _, k := range keys {
		d.Add(k, m.At, 1)
		if s, ok := d.check(k, m.At); ok {
			out = append(out, s)
		}
	}
	return out
}

// maxRecent bounds the mentions kept per institution to describe a spike.
const maxRecent = 2000

// count sums key's slots in [from, to), a minute at a time.
func (d *Detector) count(key Key, from, to time.Time) int {
	slots, n := d.slots[key], 0
	for m := minute(from); m < minute(to); m++ {
		n += slots[m]
	}
	return n
}

func (d *Detector) check(key Key, now time.Time) (Spike, bool) {
	if last, ok := d.lastSpike[key]; ok && now.Sub(last) < d.opts.Cooldown {
		return Spike{}, false
	}
	end := now.Truncate(time.Minute).Add(time.Minute)
	start := end.Add(-d.opts.Window)
	n := d.count(key, start, end)
	if n < d.opts.MinCount {
		return Spike{}, false
	}
	// Past the minimum, the baseline is worth a look only every few
	// seconds: the window moves little in between.
	if last, ok := d.lastCheck[key]; ok && now.Sub(last) >= 0 && now.Sub(last) < checkEvery {
		return Spike{}, false
	}
	d.lastCheck[key] = now
	total := 0
	for day := 1; day <= d.opts.BaselineDays; day++ {
		back := time.Duration(day) * 24 * time.Hour
		total += d.count(key, start.Add(-back), end.Add(-back))
	}
	baseline := float64(total) / float64(d.opts.BaselineDays)
	// A quiet baseline counts as one mention per window, so that five
	// mentions after a silent week are no spike but fifty are.
	if float64(n) < d.opts.Factor*max(baseline, 1) {
		return Spike{}, false
	}
	d.lastSpike[key] = now
	s := Spike{Key: key, At: now, Count: n, Baseline: baseline, Window: d.opts.Window}
	s.TopSources, s.TopTerms = d.describe(key.Institution, start)
	return s, true
}

// describe ranks the sources and title words of an institution's mentions
// since start.
func (d *Detector) describe(institution string, since time.Time) (sources, terms []Ranked) {
	bySource, byTerm := map[string]int{}, map[string]int{}
	for _, r := range d.recents[institution] {
		if r.at.Before(since) {
			continue
		}
		bySource[r.source]++
		seen := map[string]bool{}
		for _, w := range strings.FieldsFunc(strings.ToLower(r.title), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			// Numbers are left out: a title can carry a number that
			// identifies someone, and a term list travels in the alert.
			if utf8.RuneCountInString(w) < 4 || stopword(w) || seen[w] || strings.ContainsFunc(w, unicode.IsDigit) {
				continue
			}
			seen[w] = true
			byTerm[w]++
		}
	}
	return top(bySource, 5), top(byTerm, 10)
}

func top(counts map[string]int, n int) []Ranked {
	out := make([]Ranked, 0, len(counts))
	for _, v := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, Ranked{Value: v, Count: counts[v]})
	}
	slices.SortStableFunc(out, func(a, b Ranked) int { return cmp.Compare(b.Count, a.Count) })
	return out[:min(n, len(out))]
}

// stopword reports the commonest words of Dutch, English and French
// titles, which say nothing about a story.
func stopword(w string) bool {
	switch w {
	case "deze", "voor", "niet", "maar", "over", "naar", "zijn", "wordt", "worden", "heeft", "hebben", "door", "met",
		"this", "that", "with", "from", "have", "will", "your", "about", "what", "they", "their",
		"dans", "pour", "avec", "sont", "plus", "cette", "leur":
		return true
	}
	return false
}

// Prune drops the counts and mentions no window or baseline will read
// again.
func (d *Detector) Prune(now time.Time) {
	oldest := minute(now.Add(-time.Duration(d.opts.BaselineDays+1)*24*time.Hour - d.opts.Window))
	for k, m := range d.slots {
		for min := range m {
			if min < oldest {
				delete(m, min)
			}
		}
		if len(m) == 0 {
			delete(d.slots, k)
		}
	}
	since := now.Add(-d.opts.Window)
	for inst, rs := range d.recents {
		i := slices.IndexFunc(rs, func(r recent) bool { return !r.at.Before(since) })
		if i < 0 {
			delete(d.recents, inst)
			continue
		}
		d.recents[inst] = slices.Clone(rs[i:])
	}
}
