package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mediawatch/mediawatch/alerts"
	"github.com/mediawatch/mediawatch/bus"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/index"
	"github.com/mediawatch/mediawatch/mention"
	"github.com/mediawatch/mediawatch/triage"
	"github.com/nats-io/nats.go/jetstream"
)

// The stores Erase changes, in the order it changes them, as named in its
// result and messages.
const (
	StoreIndex         = "index"
	StoreNotifications = StreamNotifications
	StoreTriage        = triage.StreamTriage
	StoreStories       = alerts.BucketStories
	StoreAlerts        = bus.StreamAlerts
	StoreMentions      = bus.StreamMentions
)

// MinEraseText is the shortest --text Erase accepts, in characters: a
// shorter one matches half the store.
const MinEraseText = 3

// ErrNothingMatched is returned by Erase when no store holds anything of
// the post.
var ErrNothingMatched = errors.New("nothing matched")

// EraseOptions say which post Erase removes: by URL or by text, not both.
type EraseOptions struct {
	// URL matches the mentions (and alerts) whose URL is the same post,
	// compared in the form alerts.NormaliseURL gives (scheme, trailing
	// slash, fragment and tracking parameters left out, case ignored).
	URL string
	// Text matches the mentions whose title or text contains it, and the
	// alerts whose title does, ignoring case.
	Text string
	// DryRun counts what would be removed and changes nothing.
	DryRun bool
}

// EraseCount is what Erase removed from one store (with DryRun: would
// remove).
type EraseCount struct {
	Store string
	// Unit is what N counts: messages, events, keys or documents.
	Unit string
	N    int
	// Err says why the store could not be changed (N is what was removed
	// before that). Skipped stores were left alone because a store that
	// is needed to find the post again failed first.
	Err     error
	Skipped bool
}

// EraseResult sums up an Erase, store by store in the order they are
// changed.
type EraseResult struct {
	DryRun bool
	// MentionIDs are the ids of the post's mentions (one per feed it was
	// seen in); AlertIDs the ids of the alerts raised on them. Sorted.
	MentionIDs []string
	AlertIDs   []string
	Stores     []EraseCount
}

// Count returns the count of one store.
func (r EraseResult) Count(store string) int {
	for _, c := range r.Stores {
		if c.Store == store {
			return c.N
		}
	}
	return 0
}

// Total is the sum of every store's count.
func (r EraseResult) Total() int {
	n := 0
	for _, c := range r.Stores {
		n += c.N
	}
	return n
}

// Erase removes one post from everything mediawatch stores: its mentions
// from MENTIONS, their alerts from ALERTS (with the repeats folded into
// them), the triage events of those alerts from TRIAGE, the notifications
// that carried them from NOTIFICATIONS, the stories pointing at them from
// mediawatch_stories and the mentions' documents from the index. Stream
// messages are deleted securely: their bytes are overwritten on the server.
//
// The daemon must be stopped: Erase opens the index first, which takes the
// data dir's lock, and refuses when a daemon holds it. It then starts the
// embedded server on the data dir itself, or connects to nats.url.
//
// The stores that only hold copies (index, notifications, triage, stories)
// are changed first, every one of them even when one fails; ALERTS and
// MENTIONS, where the post is found again, only once all of those
// succeeded, and MENTIONS last. So after any failure, running Erase again
// finds and removes the rest. The error names every store that could not
// be changed; it is ErrNothingMatched when no store holds anything of the
// post.
func Erase(ctx context.Context, cfg *config.Config, opts EraseOptions, logger *slog.Logger) (EraseResult, error) {
	res := EraseResult{DryRun: opts.DryRun}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := newPostMatcher(opts)
	if err != nil {
		return res, err
	}

	// The index first, like the daemon: holding its lock keeps a daemon
	// from starting on the data dir meanwhile, and failing to get it means
	// a daemon runs there. A data dir without an index has none to clean
	// (and no daemon ever ran on it).
	var ix *index.Index
	if _, err := os.Stat(IndexPath(cfg)); err == nil {
		ix, err = index.Open(IndexPath(cfg), index.Options{Logger: logger})
		if errors.Is(err, index.ErrLocked) {
			return res, fmt.Errorf("a mediawatch daemon (or another command) is running on this data dir and holds the index %s: stop it first: %w", IndexPath(cfg), err)
		}
		if err != nil {
			return res, err
		}
		defer ix.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return res, fmt.Errorf("index %s: %w", IndexPath(cfg), err)
	}

	if cfg.NATS.URL == "" {
		if _, err := os.Stat(NATSStoreDir(cfg)); errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("%w: there is no NATS store at %s", ErrNothingMatched, NATSStoreDir(cfg))
		}
	}
	conn, closeNATS, err := connectForTool(ctx, cfg, "mediawatch-erase", false, logger)
	if err != nil {
		return res, err
	}
	defer closeNATS()

	p, err := planErase(ctx, conn.JS, ix, m)
	if err != nil {
		return res, err
	}
	res.MentionIDs, res.AlertIDs = sortedKeys(p.mentionIDs), sortedKeys(p.alertIDs)
	counts := p.counts()
	if sum(counts) == 0 {
		return res, fmt.Errorf("%w: no mention, alert, notification or index document of %s", ErrNothingMatched, m)
	}
	if opts.DryRun {
		res.Stores = counts
		return res, nil
	}
	logger.Info("erasing", "post", m.String(), "mentions", len(p.mentionIDs), "alerts", len(p.alertIDs))
	res.Stores = p.apply(ctx, conn.JS, ix, logger)
	var errs []error
	for _, c := range res.Stores {
		switch {
		case c.Err != nil:
			errs = append(errs, fmt.Errorf("%s could not be changed (%d %s removed): %w", c.Store, c.N, c.Unit, c.Err))
		case c.Skipped:
			errs = append(errs, fmt.Errorf("%s left alone so that the post can be found again: run erase again once the stores above are fixed", c.Store))
		}
	}
	return res, errors.Join(errs...)
}

// postMatcher recognises the post to erase.
type postMatcher struct {
	url  string // normalised
	text string // lower case
}

func newPostMatcher(opts EraseOptions) (postMatcher, error) {
	url, text := strings.TrimSpace(opts.URL), strings.TrimSpace(opts.Text)
	switch {
	case url != "" && text != "":
		return postMatcher{}, errors.New("erase: give a URL or a text, not both")
	case url != "":
		n := alerts.NormaliseURL(url)
		if n == "" {
			return postMatcher{}, fmt.Errorf("erase: URL %q is empty once normalised", opts.URL)
		}
		return postMatcher{url: n}, nil
	case text != "":
		if utf8.RuneCountInString(text) < MinEraseText {
			return postMatcher{}, fmt.Errorf("erase: text %q is too short to single out a post: want at least %d characters", text, MinEraseText)
		}
		return postMatcher{text: strings.ToLower(text)}, nil
	}
	return postMatcher{}, errors.New("erase: give the URL or a text of the post")
}

func (m postMatcher) String() string {
	if m.url != "" {
		return "url " + m.url
	}
	return fmt.Sprintf("text %q", m.text)
}

func (m postMatcher) matchURL(u string) bool {
	return m.url != "" && u != "" && alerts.NormaliseURL(u) == m.url
}

func (m postMatcher) matchText(fields ...string) bool {
	if m.text == "" {
		return false
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), m.text) {
			return true
		}
	}
	return false
}

// erasePlan is what Erase found of the post, store by store.
type erasePlan struct {
	mentionIDs map[string]bool
	alertIDs   map[string]bool

	mentionSeqs      []uint64
	alertSeqs        []uint64
	triageSeqs       map[string][]uint64 // by subject
	notificationSeqs []uint64
	storyKeys        int
	indexDocs        []string
}

// alertRef is what the plan keeps of each message in ALERTS.
type alertRef struct {
	seq                   uint64
	id, mentionID         string
	institution, category string
	matched               bool
}

func planErase(ctx context.Context, js jetstream.JetStream, ix *index.Index, m postMatcher) (*erasePlan, error) {
	p := &erasePlan{mentionIDs: map[string]bool{}, alertIDs: map[string]bool{}, triageSeqs: map[string][]uint64{}}

	// Every mention's id and sequence; the post's are marked.
	seqsByMention := map[string][]uint64{}
	err := readAll(ctx, js, bus.StreamMentions, func(msg jetstream.Msg, seq uint64) error {
		var mn mention.Mention
		if err := json.Unmarshal(msg.Data(), &mn); err != nil || mn.ID == "" {
			return nil // the match stage discards these too; they are no post
		}
		seqsByMention[mn.ID] = append(seqsByMention[mn.ID], seq)
		if m.matchURL(mn.URL) || m.matchText(mn.Title, mn.Text) {
			p.mentionIDs[mn.ID] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Alerts carry the post's URL and title too: one whose mention has
	// already left MENTIONS still leads to the post's other traces.
	var refs []alertRef
	err = readAll(ctx, js, bus.StreamAlerts, func(msg jetstream.Msg, seq uint64) error {
		var a alerts.Alert
		if err := json.Unmarshal(msg.Data(), &a); err != nil {
			return nil
		}
		refs = append(refs, alertRef{seq: seq, id: a.ID, mentionID: a.Mention.ID, institution: a.Institution, category: a.Category,
			matched: m.matchURL(a.Mention.URL) || m.matchText(a.Mention.Title)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		if r.matched && r.mentionID != "" {
			p.mentionIDs[r.mentionID] = true
		}
	}
	for id := range p.mentionIDs {
		p.mentionSeqs = append(p.mentionSeqs, seqsByMention[id]...)
	}
	// The post's own alerts: the id of its mention, institution and
	// category. A repeat folded into a story carries the story's id
	// instead; a story the post opened carries the post's id on every
	// repeat.
	for _, r := range refs {
		if p.mentionIDs[r.mentionID] {
			p.alertIDs[alerts.ID(r.mentionID, r.institution, r.category)] = true
		}
	}
	for _, r := range refs {
		if p.mentionIDs[r.mentionID] || p.alertIDs[r.id] {
			p.alertSeqs = append(p.alertSeqs, r.seq)
		}
	}

	if err := p.planTriage(ctx, js); err != nil {
		return nil, err
	}
	if err := p.planNotifications(ctx, js, m); err != nil {
		return nil, err
	}
	if p.storyKeys, err = alerts.ForgetStories(ctx, js, p.alertIDs, p.mentionIDs, true); err != nil {
		return nil, err
	}
	if ix != nil && len(p.mentionIDs) > 0 {
		if p.indexDocs, err = ix.Existing(ctx, sortedKeys(p.mentionIDs)...); err != nil {
			return nil, err
		}
	}
	slices.Sort(p.mentionSeqs)
	slices.Sort(p.alertSeqs)
	return p, nil
}

// planTriage finds the events of every alert of the post, on its own
// subject.
func (p *erasePlan) planTriage(ctx context.Context, js jetstream.JetStream) error {
	if len(p.alertIDs) == 0 {
		return nil
	}
	str, err := js.Stream(ctx, triage.StreamTriage)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", triage.StreamTriage, err)
	}
	for _, id := range sortedKeys(p.alertIDs) {
		subject := triageSubject(id)
		for seq := uint64(1); ; seq++ {
			msg, err := str.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("stream %s: read %s: %w", triage.StreamTriage, subject, err)
			}
			p.triageSeqs[subject] = append(p.triageSeqs[subject], msg.Sequence)
			seq = msg.Sequence
		}
	}
	return nil
}

func triageSubject(alertID string) string { return "mediawatch.triage." + alertID }

// planNotifications finds the notifications that carried one of the post's
// alerts or mentions, by their ids anywhere in the message (a receiver's
// own text included) or, in the generic payload, by the post's URL.
func (p *erasePlan) planNotifications(ctx context.Context, js jetstream.JetStream, m postMatcher) error {
	var ids [][]byte
	for id := range p.alertIDs {
		ids = append(ids, []byte(id))
	}
	for id := range p.mentionIDs {
		ids = append(ids, []byte(id))
	}
	return readAll(ctx, js, StreamNotifications, func(msg jetstream.Msg, seq uint64) error {
		data := msg.Data()
		if slices.ContainsFunc(ids, func(id []byte) bool { return bytes.Contains(data, id) }) {
			p.notificationSeqs = append(p.notificationSeqs, seq)
			return nil
		}
		var payload struct {
			Alerts []alerts.Alert `json:"alerts"`
		}
		if json.Unmarshal(data, &payload) == nil && slices.ContainsFunc(payload.Alerts, func(a alerts.Alert) bool {
			return m.matchURL(a.Mention.URL) || m.matchText(a.Mention.Title)
		}) {
			p.notificationSeqs = append(p.notificationSeqs, seq)
		}
		return nil
	})
}

func (p *erasePlan) triageCount() int {
	n := 0
	for _, seqs := range p.triageSeqs {
		n += len(seqs)
	}
	return n
}

// counts is the plan as a dry run reports it, in the order apply works.
func (p *erasePlan) counts() []EraseCount {
	return []EraseCount{
		{Store: StoreIndex, Unit: "documents", N: len(p.indexDocs)},
		{Store: StoreNotifications, Unit: "messages", N: len(p.notificationSeqs)},
		{Store: StoreTriage, Unit: "events", N: p.triageCount()},
		{Store: StoreStories, Unit: "keys", N: p.storyKeys},
		{Store: StoreAlerts, Unit: "messages", N: len(p.alertSeqs)},
		{Store: StoreMentions, Unit: "messages", N: len(p.mentionSeqs)},
	}
}

func sum(cs []EraseCount) int {
	n := 0
	for _, c := range cs {
		n += c.N
	}
	return n
}

// apply carries the plan out: first the stores holding copies, each
// whatever happened to the others; then ALERTS and MENTIONS, only if all of
// those succeeded, MENTIONS last.
func (p *erasePlan) apply(ctx context.Context, js jetstream.JetStream, ix *index.Index, logger *slog.Logger) []EraseCount {
	out := p.counts()
	for i := range out {
		out[i].N = 0
	}
	failed := false
	do := func(i int, fn func(*EraseCount) error) {
		c := &out[i]
		if failed && (c.Store == StoreAlerts || c.Store == StoreMentions) {
			c.Skipped = true
			return
		}
		if err := fn(c); err != nil {
			c.Err = err
			failed = true
			return
		}
		logger.Info("erased", "store", c.Store, c.Unit, c.N)
	}
	do(0, func(c *EraseCount) error {
		if ix == nil || len(p.indexDocs) == 0 {
			return nil
		}
		if err := ix.Delete(ctx, p.indexDocs...); err != nil {
			return err
		}
		c.N = len(p.indexDocs)
		// A deleted document stays in its segment file until that is
		// merged: rewrite the index so nothing of the post stays on disk.
		return ix.Compact(ctx)
	})
	do(1, func(c *EraseCount) error {
		return secureDelete(ctx, js, StreamNotifications, p.notificationSeqs, &c.N)
	})
	do(2, func(c *EraseCount) error {
		if len(p.triageSeqs) == 0 {
			return nil
		}
		for _, subject := range sortedKeys(p.triageSeqs) {
			if err := secureDelete(ctx, js, triage.StreamTriage, p.triageSeqs[subject], &c.N); err != nil {
				return err
			}
		}
		// Whatever was stored on the alerts' subjects since they were
		// read goes too.
		str, err := js.Stream(ctx, triage.StreamTriage)
		if err != nil {
			return err
		}
		for id := range p.alertIDs {
			if err := str.Purge(ctx, jetstream.WithPurgeSubject(triageSubject(id))); err != nil {
				return fmt.Errorf("purge %s: %w", triageSubject(id), err)
			}
		}
		return nil
	})
	do(3, func(c *EraseCount) error {
		n, err := alerts.ForgetStories(ctx, js, p.alertIDs, p.mentionIDs, false)
		c.N = n
		return err
	})
	do(4, func(c *EraseCount) error {
		return secureDelete(ctx, js, bus.StreamAlerts, p.alertSeqs, &c.N)
	})
	do(5, func(c *EraseCount) error {
		return secureDelete(ctx, js, bus.StreamMentions, p.mentionSeqs, &c.N)
	})
	return out
}

// secureDelete deletes the messages at seqs from a stream, overwriting
// them on the server, and counts them in n. A message that is already gone
// (expired meanwhile) counts as deleted.
func secureDelete(ctx context.Context, js jetstream.JetStream, stream string, seqs []uint64, n *int) error {
	if len(seqs) == 0 {
		return nil
	}
	str, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	for _, seq := range seqs {
		if err := str.SecureDeleteMsg(ctx, seq); err != nil {
			if _, gerr := str.GetMsg(ctx, seq); !errors.Is(gerr, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("stream %s: delete message %d: %w", stream, seq, err)
			}
		}
		*n++
	}
	return nil
}

// readAll calls fn for every message stored in stream up to the last one at
// the time of the call, in order (see readOrdered). A stream that does not
// exist holds nothing.
func readAll(ctx context.Context, js jetstream.JetStream, stream string, fn func(jetstream.Msg, uint64) error) error {
	s, err := js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", stream, err)
	}
	return readOrdered(ctx, s, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}, fn)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
