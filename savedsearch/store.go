// Package savedsearch keeps the searches each dashboard user saves, on a
// JetStream key-value bucket that every dashboard replica shares.
//
// A saved search is the search page's query string under a name. Queries
// can name a person (an author, a phrase), so the bucket is keyed by hashes
// rather than by the user's and the search's names, and a deleted search
// is purged, not just marked deleted.
package savedsearch

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mediawatch/mediawatch/match"
	"github.com/mediawatch/mediawatch/web"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket holds the saved searches.
const Bucket = "mediawatch_saved_searches"

// MaxPerUser is how many searches one user may keep: a list to pick from
// on a page, not an archive.
const MaxPerUser = 50

// ErrTooMany is returned by Save for a new name when the user already
// keeps MaxPerUser searches.
var ErrTooMany = fmt.Errorf("%w: at most %d per user", web.ErrTooManySaved, MaxPerUser)

// ErrInvalid is returned for an empty user or search name.
var ErrInvalid = errors.New("invalid saved search")

// record is a saved search as stored. The user and the name are kept in
// full (the key only has their hashes) so a listing can show them.
type record struct {
	User    string    `json:"user"`
	Name    string    `json:"name"`
	Query   string    `json:"query"`
	SavedAt time.Time `json:"saved_at"`
}

// Store keeps saved searches; it implements web.SavedSearches and is safe
// for concurrent use.
type Store struct {
	kv  jetstream.KeyValue
	now func() time.Time
}

var _ web.SavedSearches = (*Store)(nil)

// Open creates the bucket or opens it as it is.
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Saved searches of dashboard users, keyed by the hashes of the user's and the search's names.",
		Storage:     jetstream.FileStorage,
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, now: time.Now}, nil
}

// userPrefix is the first token of every key of the user's searches. User
// names are case-insensitive everywhere in the dashboard (logins, the
// accounts in the config), so they are here.
func userPrefix(user string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(user)))
	return hex.EncodeToString(sum[:])
}

// key is the bucket key of one search. Hex digits and a dot are always a
// valid key, whatever the names hold.
func key(user, name string) string {
	sum := sha256.Sum256([]byte(name))
	return userPrefix(user) + "." + hex.EncodeToString(sum[:])
}

func clean(user, name string) (string, string, error) {
	user, name = strings.TrimSpace(user), strings.TrimSpace(name)
	switch {
	case user == "":
		return "", "", fmt.Errorf("%w: no user", ErrInvalid)
	case name == "":
		return "", "", fmt.Errorf("%w: search of %q without a name", ErrInvalid, user)
	}
	return user, name, nil
}

// List returns the user's saved searches sorted by name.
func (s *Store) List(ctx context.Context, user string) ([]web.SavedSearch, error) {
	user = strings.TrimSpace(user)
	if user == "" {
		return nil, fmt.Errorf("%w: no user", ErrInvalid)
	}
	recs, err := s.list(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]web.SavedSearch, 0, len(recs))
	for _, r := range recs {
		out = append(out, web.SavedSearch{Name: r.Name, Query: r.Query})
	}
	// Sorted as people read names: case and accents aside ("Ünïcode"
	// between "SEH" and "Wachtlijst"), then exactly, for a stable order.
	slices.SortFunc(out, func(a, b web.SavedSearch) int {
		return cmp.Or(strings.Compare(match.FoldString(a.Name), match.FoldString(b.Name)), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// list reads the user's records: one watch over the user's keys, which
// delivers the current value of each and then a nil marker.
func (s *Store) list(ctx context.Context, user string) ([]record, error) {
	w, err := s.kv.Watch(ctx, userPrefix(user)+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("saved searches of %q: %w", user, err)
	}
	defer func() { _ = w.Stop() }()
	var out []record
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("saved searches of %q: %w", user, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("saved searches of %q: the watch ended early", user)
			}
			if e == nil {
				return out, nil
			}
			var r record
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				// A record this code did not write: leave it out rather
				// than make the search page fail.
				continue
			}
			out = append(out, r)
		}
	}
}

// Save keeps s under its name for the user, replacing a search of the same
// name. A new name is refused with ErrTooMany once the user has
// MaxPerUser searches. Two saves of new names by the same user at the same
// moment may both pass the count; the limit bounds a list on a page, and
// one search over it does no harm.
func (s *Store) Save(ctx context.Context, user string, ss web.SavedSearch) error {
	user, name, err := clean(user, ss.Name)
	if err != nil {
		return err
	}
	k := key(user, name)
	data, err := json.Marshal(record{User: user, Name: name, Query: ss.Query, SavedAt: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("saved search %q of %q: %w", name, user, err)
	}
	if _, err := s.kv.Get(ctx, k); err == nil {
		if _, err := s.kv.Put(ctx, k, data); err != nil {
			return fmt.Errorf("saved search %q of %q: %w", name, user, err)
		}
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("saved search %q of %q: %w", name, user, err)
	}
	recs, err := s.list(ctx, user)
	if err != nil {
		return err
	}
	if len(recs) >= MaxPerUser {
		return fmt.Errorf("saved search %q of %q: %w", name, user, ErrTooMany)
	}
	// Put rather than Create: a save racing another save of the same name
	// should simply win or lose, not fail.
	if _, err := s.kv.Put(ctx, k, data); err != nil {
		return fmt.Errorf("saved search %q of %q: %w", name, user, err)
	}
	return nil
}

// Delete removes the user's search of that name; a name that is not saved
// is no error. The value is purged, so the query does not stay in the
// bucket's history.
func (s *Store) Delete(ctx context.Context, user, name string) error {
	user, name, err := clean(user, name)
	if err != nil {
		return err
	}
	k := key(user, name)
	if _, err := s.kv.Get(ctx, k); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // nothing to delete: leave no marker either
	} else if err != nil {
		return fmt.Errorf("delete saved search %q of %q: %w", name, user, err)
	}
	if err := s.kv.Purge(ctx, k); err != nil {
		return fmt.Errorf("delete saved search %q of %q: %w", name, user, err)
	}
	return nil
}
