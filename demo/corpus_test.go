package demo

import (
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"
	ext "github.com/mmcdole/gofeed/extensions"
)

// corpusItem is one parsed item with its feed.
type corpusItem struct {
	feed Feed
	item *gofeed.Item
	text string
}

// parseCorpus parses every embedded feed and returns its items keyed by
// feed id and guid.
func parseCorpus(t *testing.T) map[[2]string]corpusItem {
	t.Helper()
	items := make(map[[2]string]corpusItem)
	for _, f := range Feeds() {
		parsed := parseFeed(t, f)
		for _, it := range parsed.Items {
			k := [2]string{f.ID, it.GUID}
			if _, dup := items[k]; dup {
				t.Errorf("feed %s: duplicate guid %q", f.ID, it.GUID)
			}
			items[k] = corpusItem{feed: f, item: it, text: itemText(it)}
		}
	}
	return items
}

func parseFeed(t *testing.T, f Feed) *gofeed.Feed {
	t.Helper()
	body, err := fs.ReadFile(feedFiles, "feeds"+f.Path)
	if err != nil {
		t.Fatalf("feed %s: %v", f.ID, err)
	}
	parsed, err := gofeed.NewParser().ParseString(string(body))
	if err != nil {
		t.Fatalf("feed %s (%s): %v", f.ID, f.Path, err)
	}
	return parsed
}

// itemText is everything a reader of the item sees: title, summary, body and
// the descriptions of its media (alt text), where many leaks hide.
func itemText(it *gofeed.Item) string {
	parts := []string{it.Title, it.Description, it.Content}
	var walk func(ext.Extension)
	walk = func(e ext.Extension) {
		parts = append(parts, e.Value)
		for _, children := range e.Children {
			for _, c := range children {
				walk(c)
			}
		}
	}
	for _, byName := range it.Extensions {
		for _, list := range byName {
			for _, e := range list {
				walk(e)
			}
		}
	}
	return strings.Join(parts, "\n")
}

func TestFeedsParse(t *testing.T) {
	tests := []struct {
		feedID   string
		feedType string
		items    int
	}{
		{"be-news", "rss", 13},
		{"blogs", "json", 9},
		{"forum", "atom", 10},
		{"gnews", "rss", 10},
		{"mastodon-umcutrecht", "rss", 14},
		{"mastodon-uzleuven", "rss", 12},
		{"nl-news", "rss", 13},
		{"reddit", "atom", 11},
	}
	feeds := Feeds()
	if len(feeds) != len(tests) {
		t.Fatalf("Feeds() has %d feeds, test table %d", len(feeds), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.feedID, func(t *testing.T) {
			f := feeds[i]
			if f.ID != tt.feedID {
				t.Fatalf("Feeds()[%d].ID = %q, want %q", i, f.ID, tt.feedID)
			}
			parsed := parseFeed(t, f)
			if parsed.FeedType != tt.feedType {
				t.Errorf("feed type %q, want %q", parsed.FeedType, tt.feedType)
			}
			if len(parsed.Items) != tt.items {
				t.Errorf("%d items, want %d", len(parsed.Items), tt.items)
			}
			start := time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)
			end := start.AddDate(0, 1, 0)
			for j, it := range parsed.Items {
				if it.GUID == "" || it.Link == "" {
					t.Errorf("item %d %q: guid %q, link %q: both are required", j, it.Title, it.GUID, it.Link)
				}
				if it.PublishedParsed == nil || it.PublishedParsed.Before(start) || !it.PublishedParsed.Before(end) {
					t.Errorf("item %q: published %v, want a date in November 2026", it.GUID, it.PublishedParsed)
				}
				if strings.TrimSpace(it.Description+it.Content) == "" {
					t.Errorf("item %q: no body", it.GUID)
				}
			}
		})
	}
}

func TestFeedsTable(t *testing.T) {
	feeds := Feeds()
	if !slices.IsSortedFunc(feeds, func(a, b Feed) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Feeds() is not sorted by ID")
	}
	paths := make(map[string]bool)
	for i, f := range feeds {
		if i > 0 && feeds[i-1].ID == f.ID {
			t.Errorf("duplicate feed id %q", f.ID)
		}
		if f.Name == "" || f.Source == "" || !strings.HasPrefix(f.Path, "/") {
			t.Errorf("feed %+v: name, source and an absolute path are required", f)
		}
		paths["feeds"+f.Path] = true
	}
	// Every embedded file must be reachable, or it is dead weight in the binary.
	err := fs.WalkDir(feedFiles, "feeds", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !paths[p] {
			t.Errorf("embedded file %s belongs to no feed", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorpusComposition(t *testing.T) {
	items := parseCorpus(t)
	if n := len(items); n < 70 || n > 100 {
		t.Errorf("corpus has %d items, want 70-100", n)
	}
	byCategory := make(map[string]int)
	for _, e := range Expectations() {
		byCategory[e.Category]++
	}
	for _, c := range []string{"patient_data", "logo_misuse", "misinformation", "conduct"} {
		if byCategory[c] < 3 {
			t.Errorf("%d %s items, want at least 3", byCategory[c], c)
		}
	}
	if byCategory[""] < 25 {
		t.Errorf("%d hard negatives, want at least 25", byCategory[""])
	}
}

func TestExpectationsReferToItems(t *testing.T) {
	items := parseCorpus(t)
	exps := Expectations()
	if len(exps) == 0 {
		t.Fatal("no expectations")
	}
	for _, e := range exps {
		if _, ok := items[[2]string{e.FeedID, e.GUID}]; !ok {
			t.Errorf("expectation %s %q: no such item", e.FeedID, e.GUID)
		}
	}
	if !slices.IsSortedFunc(exps, func(a, b Expectation) int {
		return strings.Compare(a.FeedID+"\x00"+a.GUID, b.FeedID+"\x00"+b.GUID)
	}) {
		t.Error("Expectations() is not sorted by feed id and guid")
	}
}

// TestHostileItems checks that the corpus carries the two spam items with
// active markup, so the daemon's sanitising is exercised by every demo run.
func TestHostileItems(t *testing.T) {
	items := parseCorpus(t)
	labelled := make(map[[2]string]Expectation)
	for _, e := range Expectations() {
		labelled[[2]string{e.FeedID, e.GUID}] = e
	}
	var hostile int
	for k, ci := range items {
		if !strings.Contains(ci.item.Title, "<script>alert(1)</script>") {
			continue
		}
		hostile++
		body := ci.item.Description + ci.item.Content
		for _, want := range []string{"<script>alert(1)</script>", "onerror=", "javascript:"} {
			if !strings.Contains(body, want) {
				t.Errorf("hostile item %s %q: body lacks %q", k[0], k[1], want)
			}
		}
		if !strings.Contains(ci.text, "UZ Leuven") {
			t.Errorf("hostile item %s %q does not mention UZ Leuven", k[0], k[1])
		}
		if e, ok := labelled[k]; !ok || e.Category == "" {
			t.Errorf("hostile item %s %q is not labelled as a breach", k[0], k[1])
		}
	}
	if hostile != 2 {
		t.Errorf("%d hostile items, want 2", hostile)
	}
}

// validBSN applies the Dutch 11-check: 9×d1 + 8×d2 + … + 2×d8 − d9 must be
// divisible by 11.
func validBSN(s string) bool {
	if len(s) != 9 {
		return false
	}
	sum := 0
	for i, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		d := int(r - '0')
		if i == 8 {
			sum -= d
		} else {
			sum += (9 - i) * d
		}
	}
	return sum%11 == 0
}

// validRRN checks a Belgian national register number written as
// YY.MM.DD-XXX.CC: CC = 97 − (YYMMDDXXX mod 97), where people born in 2000
// or later have a 2 put in front of the nine digits. It reports whether the
// number is valid and whether it was valid only under the 2000 rule.
func validRRN(s string) (valid, born2000 bool) {
	digits := strings.NewReplacer(".", "", "-", "").Replace(s)
	if len(digits) != 11 {
		return false, false
	}
	base, err1 := strconv.ParseInt(digits[:9], 10, 64)
	check, err2 := strconv.ParseInt(digits[9:], 10, 64)
	if err1 != nil || err2 != nil {
		return false, false
	}
	if 97-base%97 == check {
		return true, false
	}
	if 97-(2_000_000_000+base)%97 == check {
		return true, true
	}
	return false, false
}

func TestChecksums(t *testing.T) {
	tests := []struct {
		number   string
		bsn      bool
		rrn      bool
		born2000 bool
	}{
		{number: "111222333", bsn: true},
		{number: "123456782", bsn: true},
		{number: "123456789"},
		{number: "016332211"},
		{number: "12345678"},
		{number: "12345678a"},
		{number: "85.07.30-033.28", rrn: true},
		{number: "85.07.30-033.29"},
		{number: "17.07.30-033.84", rrn: true, born2000: true},
		{number: "17.07.30-033.xx"},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			if got := validBSN(tt.number); got != tt.bsn {
				t.Errorf("validBSN = %v, want %v", got, tt.bsn)
			}
			valid, born2000 := validRRN(tt.number)
			if valid != tt.rrn || born2000 != tt.born2000 {
				t.Errorf("validRRN = %v, %v; want %v, %v", valid, born2000, tt.rrn, tt.born2000)
			}
		})
	}
}

var (
	bsnPattern = regexp.MustCompile(`\b\d{9}\b|\b\d{4}\.\d{2}\.\d{3}\b`)
	rrnPattern = regexp.MustCompile(`\b\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}\b`)
)

// TestLeakedNumbers checks that the leaks in the corpus are real leaks (the
// numbers pass their checksum, so a detector that validates them must fire)
// and that numbers anywhere else are not (so a detector that fires there is
// wrong, not the corpus).
func TestLeakedNumbers(t *testing.T) {
	items := parseCorpus(t)
	category := make(map[[2]string]string)
	for _, e := range Expectations() {
		category[[2]string{e.FeedID, e.GUID}] = e.Category
	}
	var bsns, rrns, rrns2000 int
	for k, ci := range items {
		leak := category[k] == "patient_data"
		for _, m := range bsnPattern.FindAllString(ci.text, -1) {
			n := strings.ReplaceAll(m, ".", "")
			switch valid := validBSN(n); {
			case leak && !valid:
				t.Errorf("%s %q: leaked BSN %s fails the 11-check", k[0], k[1], m)
			case !leak && valid:
				t.Errorf("%s %q: %s passes the 11-check but the item is not labelled patient_data", k[0], k[1], m)
			case leak:
				bsns++
			}
		}
		for _, m := range rrnPattern.FindAllString(ci.text, -1) {
			valid, born2000 := validRRN(m)
			switch {
			case leak && !valid:
				t.Errorf("%s %q: leaked national register number %s fails mod 97", k[0], k[1], m)
			case !leak && valid:
				t.Errorf("%s %q: %s passes mod 97 but the item is not labelled patient_data", k[0], k[1], m)
			case leak && born2000:
				rrns2000++
			case leak:
				rrns++
			}
		}
	}
	if bsns == 0 || rrns == 0 || rrns2000 == 0 {
		t.Errorf("leaks found: %d BSN, %d national register numbers, %d born 2000 or later; want at least one of each", bsns, rrns, rrns2000)
	}
}
