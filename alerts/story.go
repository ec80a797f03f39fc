package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketStories is the key-value bucket of stories: which alert a repeat of
// the same story is folded into.
const BucketStories = "mediawatch_stories"

// DefaultStoryWindow is how long after its last repeat a story stays open
// for more.
const DefaultStoryWindow = 24 * time.Hour

// maxStoryMentions bounds the mention ids a story remembers, to recognise a
// mention processed twice (a redelivery) as no new repeat.
const maxStoryMentions = 64

// story is what the bucket keeps under each of a story's keys.
type story struct {
	AlertID   string    `json:"alert_id"`
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Mentions  []string  `json:"mentions"`
	// Keys are every key the story is kept under.
	Keys []string `json:"keys"`
}

// Stories folds repeats of one story into one alert with a count, the way
// Alertmanager groups: the same post seen again (same URL), the same known
// false claim (same narrative rule), or the same author breaking the same
// rule again, for the same institution and category within the window.
// Ten messages about one story become one alert the team sees grow.
type Stories struct {
	kv     jetstream.KeyValue
	window time.Duration
}

// NewStories creates or opens the stories bucket; keys expire a window
// after their last repeat.
func NewStories(ctx context.Context, js jetstream.JetStream, window time.Duration) (*Stories, error) {
	if window <= 0 {
		window = DefaultStoryWindow
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketStories,
		Description: "Stories: repeats of one post, claim or author's breach folded into one alert.",
		TTL:         window,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketStories, err)
	}
	return &Stories{kv: kv, window: window}, nil
}

// storyKeys are the keys under which an alert finds earlier repeats, most
// specific first.
func storyKeys(a *Alert) []string {
	var keys []string
	add := func(kind string, parts ...string) {
		h := sha256.Sum256([]byte(strings.Join(append([]string{kind, a.Institution, a.Category}, parts...), "\x00")))
		keys = append(keys, kind+"."+hex.EncodeToString(h[:12]))
	}
	if u := normaliseURL(a.Mention.URL); u != "" {
		add("url", u)
	}
	for _, r := range a.Rules {
		if strings.HasPrefix(r, "misinformation.narrative_") {
			add("claim", r)
		}
	}
	if author := strings.ToLower(strings.TrimSpace(a.Mention.Author)); author != "" && len(a.Rules) > 0 {
		add("author", author, a.Rules[0])
	}
	return keys
}

// NormaliseURL is the form under which one post's URL is recognised
// whichever feed it came from: without the scheme, a trailing slash, the
// fragment and tracking parameters, in lower case. Stories match repeats on
// it, and `mediawatch erase --url` finds a post's copies with it.
func NormaliseURL(raw string) string { return normaliseURL(raw) }

// normaliseURL drops what makes one post's URL differ between feeds: the
// scheme, a trailing slash, the fragment and tracking parameters.
func normaliseURL(raw string) string {
	u := strings.TrimSpace(raw)
	if u == "" {
		return ""
	}
	u, _, _ = strings.Cut(u, "#")
	if base, query, ok := strings.Cut(u, "?"); ok {
		var keep []string
		for p := range strings.SplitSeq(query, "&") {
			if name, _, _ := strings.Cut(p, "="); !strings.HasPrefix(name, "utm_") && name != "fbclid" && name != "gclid" && p != "" {
				keep = append(keep, p)
			}
		}
		u = base
		if len(keep) > 0 {
			u += "?" + strings.Join(keep, "&")
		}
	}
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	return strings.ToLower(strings.TrimSuffix(u, "/"))
}

// Fold looks the alert's story up and, when this is a repeat, turns the
// alert into the story's: its id, first-seen time and a count one higher.
// A first sighting opens the story under every key of the alert. Fold
// reports whether the alert was a repeat. The same mention folded twice
// counts once.
func (s *Stories) Fold(ctx context.Context, a *Alert) (bool, error) {
	keys := storyKeys(a)
	if len(keys) == 0 {
		return false, nil
	}
	for range 5 { // a concurrent writer makes a create or update fail: look again
		var found *story
		var rev uint64
		foundKey := ""
		stale := map[string]uint64{} // keys of stories long over, by revision
		entries, errs := s.getAll(ctx, keys)
		for i, k := range keys {
			e, err := entries[i], errs[i]
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("story %s: %w", k, err)
			}
			var st story
			if json.Unmarshal(e.Value(), &st) != nil || st.AlertID == "" || a.DetectedAt.Sub(st.LastSeen) > s.window {
				stale[k] = e.Revision()
				continue
			}
			found, rev, foundKey = &st, e.Revision(), k
			break
		}
		if found == nil {
			st := story{AlertID: a.ID, Count: 1, FirstSeen: a.DetectedAt, LastSeen: a.DetectedAt, Mentions: []string{a.Mention.ID}, Keys: keys}
			if err := s.open(ctx, st, stale); errors.Is(err, jetstream.ErrKeyExists) {
				continue
			} else if err != nil {
				return false, err
			}
			return false, nil
		}
		st := *found
		repeat := st.AlertID != a.ID
		if !slices.Contains(st.Mentions, a.Mention.ID) {
			st.Count++
			st.LastSeen = a.DetectedAt
			st.Mentions = append(st.Mentions, a.Mention.ID)
			if len(st.Mentions) > maxStoryMentions {
				st.Mentions = st.Mentions[len(st.Mentions)-maxStoryMentions:]
			}
			for _, k := range keys {
				if !slices.Contains(st.Keys, k) {
					st.Keys = append(st.Keys, k)
				}
			}
			data, _ := json.Marshal(st)
			if _, err := s.kv.Update(ctx, foundKey, data, rev); err != nil {
				if errors.Is(err, jetstream.ErrKeyExists) {
					continue
				}
				return false, fmt.Errorf("story %s: %w", foundKey, err)
			}
			// Every key of the story learns the new count, so the next
			// repeat finds it whichever key it shares.
			others := slices.DeleteFunc(slices.Clone(st.Keys), func(k string) bool { return k == foundKey })
			if err := eachKey(others, func(k string) error {
				_, err := s.kv.Put(ctx, k, data)
				return err
			}); err != nil {
				return false, err
			}
		}
		a.ID, a.Count, a.FirstSeen, a.LastSeen = st.AlertID, st.Count, st.FirstSeen, st.LastSeen
		return repeat, nil
	}
	return false, fmt.Errorf("story of alert %s: %w", a.ID, jetstream.ErrKeyExists)
}

// open writes a new story under its keys: created where free, replacing
// stories long over where not.
func (s *Stories) open(ctx context.Context, st story, stale map[string]uint64) error {
	data, _ := json.Marshal(st)
	write := func(k string) error {
		var err error
		if rev, ok := stale[k]; ok {
			_, err = s.kv.Update(ctx, k, data, rev)
		} else {
			_, err = s.kv.Create(ctx, k, data)
		}
		return err
	}
	// The most specific key decides who opens the story: a writer that
	// lost the race on it looks again. The others are written together.
	if err := write(st.Keys[0]); err != nil {
		return fmt.Errorf("story %s: %w", st.Keys[0], err)
	}
	return eachKey(st.Keys[1:], func(k string) error {
		if err := write(k); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
		// Another story owns a less specific key: leave it to it.
		return nil
	})
}

// getAll reads keys at the same time: a story has up to three, and each
// read is a round trip to the server.
func (s *Stories) getAll(ctx context.Context, keys []string) ([]jetstream.KeyValueEntry, []error) {
	entries := make([]jetstream.KeyValueEntry, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { entries[i], errs[i] = s.kv.Get(ctx, k) })
	}
	wg.Wait()
	return entries, errs
}

// eachKey runs write for every key at the same time and returns the first
// error (in key order), naming its key.
func eachKey(keys []string, write func(k string) error) error {
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() { errs[i] = write(k) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("story %s: %w", keys[i], err)
		}
	}
	return nil
}

// ForgetStories removes from the stories bucket every key whose story is
// about one of alertIDs or counts one of mentionIDs among its repeats, and
// returns how many keys that is. With dryRun nothing is removed, only
// counted. Keys are purged, so no earlier revision of them stays behind. A
// bucket that does not exist holds nothing to forget.
//
// A story that loses its keys is not lost: the next repeat of it opens a
// new story, and so a new alert.
func ForgetStories(ctx context.Context, js jetstream.JetStream, alertIDs, mentionIDs map[string]bool, dryRun bool) (int, error) {
	kv, err := js.KeyValue(ctx, BucketStories)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("bucket %s: %w", BucketStories, err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("bucket %s: list keys: %w", BucketStories, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	// The listing ends early, without saying so, when ctx does.
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("bucket %s: list keys: %w", BucketStories, err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	n := 0
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired or removed meanwhile
		}
		if err != nil {
			return n, fmt.Errorf("story %s: %w", k, err)
		}
		var st story
		if json.Unmarshal(e.Value(), &st) != nil {
			continue
		}
		if !alertIDs[st.AlertID] && !slices.ContainsFunc(st.Mentions, func(id string) bool { return mentionIDs[id] }) {
			continue
		}
		if !dryRun {
			if err := kv.Purge(ctx, k); err != nil {
				return n, fmt.Errorf("story %s: %w", k, err)
			}
		}
		n++
	}
	return n, nil
}
