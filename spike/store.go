package spike

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket keeps mention counts per key and hour, so that a restarted daemon
// compares with the days before it instead of with nothing (which would
// make every busy hour of its first week a spike).
const Bucket = "mediawatch_volume"

// Store persists a Detector's counts by hour.
type Store struct {
	kv      jetstream.KeyValue
	pending map[string]uint64 // key → mentions not yet stored
}

// OpenStore creates or opens the bucket; counts are kept as long as the
// baseline reads them.
func OpenStore(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Mention counts per institution, category and hour, for volume spikes.",
		TTL:         time.Duration(opts.BaselineDays+2)*24*time.Hour + opts.Window,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", Bucket, err)
	}
	return &Store{kv: kv, pending: map[string]uint64{}}, nil
}

// storeKey is institution.category.hour, with _ for no category; ids and
// categories are subject-safe tokens.
func storeKey(k Key, hour int64) string {
	cat := k.Category
	if cat == "" {
		cat = "_"
	}
	return k.Institution + "." + cat + "." + strconv.FormatInt(hour, 10)
}

func parseStoreKey(s string) (Key, time.Time, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Key{}, time.Time{}, false
	}
	hour, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return Key{}, time.Time{}, false
	}
	k := Key{Institution: parts[0], Category: parts[1]}
	if k.Category == "_" {
		k.Category = ""
	}
	return k, time.Unix(hour*3600, 0), true
}

// Note records a counted mention, to be stored at the next Flush.
func (s *Store) Note(k Key, at time.Time) {
	s.pending[storeKey(k, at.Unix()/3600)]++
}

// Flush adds the pending counts to the bucket, each with a compare-and-set
// loop so that several processes can count at once.
func (s *Store) Flush(ctx context.Context) error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(s.pending)) {
		if err := s.add(ctx, key, s.pending[key]); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.pending, key)
	}
	return errors.Join(errs...)
}

func (s *Store) add(ctx context.Context, key string, n uint64) error {
	for range 5 {
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := s.kv.Create(ctx, key, binary.BigEndian.AppendUint64(nil, n)); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("volume %s: %w", key, err)
			}
		case err != nil:
			return fmt.Errorf("volume %s: %w", key, err)
		default:
			cur := uint64(0)
			if len(e.Value()) == 8 {
				cur = binary.BigEndian.Uint64(e.Value())
			}
			if _, err := s.kv.Update(ctx, key, binary.BigEndian.AppendUint64(nil, cur+n), e.Revision()); err == nil {
				return nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return fmt.Errorf("volume %s: %w", key, err)
			}
		}
	}
	return fmt.Errorf("volume %s: changed concurrently too often", key)
}

// Load adds the stored counts to the detector, each at the start of its
// hour.
func (s *Store) Load(ctx context.Context, d *Detector) error {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", Bucket, err)
	}
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	for _, name := range names {
		k, at, ok := parseStoreKey(name)
		if !ok {
			continue
		}
		e, err := s.kv.Get(ctx, name)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // expired meanwhile
			}
			return fmt.Errorf("volume %s: %w", name, err)
		}
		if len(e.Value()) == 8 {
			d.Add(k, at, int(binary.BigEndian.Uint64(e.Value())))
		}
	}
	return nil
}
