// Package audit is the append-only log of who did what: reveals of
// personal data, triage changes, silences, logins and other admin actions.
// The dashboard's audit log page reads it; a reviewer relies on it.
//
// Records live on the AUDIT stream, one subject per kind
// (mediawatch.audit.<kind>), kept a year. The stream denies deletes and
// purges, so not even someone with NATS access to the stream API can take
// a record out before it ages out. A record says who, when, what and on
// what; the text of a post never goes in it.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The stream and its subjects. They are a contract with whoever reviews
// the trail with other tools (the nats CLI, a backup) and never change.
const (
	Stream        = "AUDIT"
	SubjectPrefix = "mediawatch.audit." // one subject per kind: mediawatch.audit.<kind>
)

// MaxAge is how long a record is kept.
const MaxAge = 365 * 24 * time.Hour

// Kinds.
const (
	KindReveal  = "reveal"  // personal data shown
	KindTriage  = "triage"  // alert status change (ack, assign, resolve, false-positive, escalate)
	KindSilence = "silence" // silence created or expired
	KindLogin   = "login"   // login success, failure, logout
	KindAdmin   = "admin"   // other admin actions (rules reload, user changes)
)

// Kinds lists every kind, for a filter on the audit log page.
func Kinds() []string {
	return []string{KindReveal, KindTriage, KindSilence, KindLogin, KindAdmin}
}

func knownKind(kind string) bool {
	switch kind {
	case KindReveal, KindTriage, KindSilence, KindLogin, KindAdmin:
		return true
	}
	return false
}

// Limits on a record. A record is a line on a page, not a document: the
// bounds keep it that way, and leave no room to paste a post into it.
const (
	MaxField  = 256  // actor, action, target, alert id, mention id, one rule
	MaxReason = 2000 // as a triage note
	MaxDetail = 256
	MaxRules  = 100
)

// Query limits: a page holds DefaultLimit records unless asked for more,
// and never more than MaxLimit.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrInvalid is returned for a record or a query that is not well formed.
var ErrInvalid = errors.New("invalid audit record")

// Event is one audit record. Post text never goes in it: only who, when,
// what, on what. The JSON field names are a contract: the reveal records
// written before this package have the same names for the fields they
// share.
type Event struct {
	Seq     uint64    `json:"-"` // stream sequence, set when read
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`           // e.g. "resolve", "create", "failed", "logout"
	Target  string    `json:"target,omitempty"` // alert id, silence id, user name
	AlertID string    `json:"alert_id,omitempty"`
	Mention string    `json:"mention_id,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Rules   []string  `json:"rules,omitempty"`
	Detail  string    `json:"detail,omitempty"` // short: "new → resolved", "via oidc", client address for logins
}

// check validates and tidies a record as a caller hands it in.
func (e *Event) check() error {
	e.Kind, e.Actor, e.Action = strings.TrimSpace(e.Kind), strings.TrimSpace(e.Actor), strings.TrimSpace(e.Action)
	e.Target, e.AlertID, e.Mention = strings.TrimSpace(e.Target), strings.TrimSpace(e.AlertID), strings.TrimSpace(e.Mention)
	e.Reason, e.Detail = strings.TrimSpace(e.Reason), strings.TrimSpace(e.Detail)
	switch {
	case !knownKind(e.Kind):
		return fmt.Errorf("%w: kind %q is not one of %s", ErrInvalid, e.Kind, strings.Join(Kinds(), ", "))
	case e.Actor == "":
		return fmt.Errorf("%w: %s record without an actor", ErrInvalid, e.Kind)
	case e.Action == "":
		return fmt.Errorf("%w: %s record without an action", ErrInvalid, e.Kind)
	case e.At.IsZero():
		return fmt.Errorf("%w: %s record without a time", ErrInvalid, e.Kind)
	case len(e.Actor) > MaxField || len(e.Action) > MaxField || len(e.Target) > MaxField || len(e.AlertID) > MaxField || len(e.Mention) > MaxField:
		return fmt.Errorf("%w: %s record: actor, action, target, alert or mention id longer than %d bytes", ErrInvalid, e.Kind, MaxField)
	case len(e.Reason) > MaxReason:
		return fmt.Errorf("%w: %s record: reason longer than %d bytes", ErrInvalid, e.Kind, MaxReason)
	case len(e.Detail) > MaxDetail:
		return fmt.Errorf("%w: %s record: detail longer than %d bytes", ErrInvalid, e.Kind, MaxDetail)
	case len(e.Rules) > MaxRules:
		return fmt.Errorf("%w: %s record: more than %d rules", ErrInvalid, e.Kind, MaxRules)
	}
	for _, r := range e.Rules {
		if len(r) > MaxField {
			return fmt.Errorf("%w: %s record: rule name longer than %d bytes", ErrInvalid, e.Kind, MaxField)
		}
	}
	e.At = e.At.UTC()
	return nil
}

// Publishing: each attempt has its own deadline, so that an attempt made
// while the connection is down does not use up the caller's whole
// deadline, and a few attempts ride out a server restart or a leader
// election without holding a request for long.
const (
	publishAttempts = 4
	attemptTimeout  = 5 * time.Second
	firstRetryWait  = 100 * time.Millisecond
)

// readTimeout bounds one read of a record, for callers whose context has
// no deadline.
const readTimeout = 5 * time.Second

// Log appends records to the AUDIT stream and reads them back.
type Log struct {
	js  jetstream.JetStream
	str jetstream.Stream
	// directGet is the subject of the stream's direct get API, which
	// Query uses to read the last record of a kind before a sequence.
	directGet string
	// reads counts the messages Query has loaded, so that a test can
	// tell what a page costs.
	reads atomic.Uint64
}

// Open creates the AUDIT stream or brings an existing one to this
// definition. DenyDelete and DenyPurge make the log append-only: the
// stream API refuses to delete a record or purge any, for everyone. The
// server lets an update set these flags on an existing stream (such as one
// created before they were used) but never clear them: once Open has run,
// a definition of AUDIT without them is refused, so every process must
// declare the stream through Open. AllowDirect lets Query read the last
// record of a kind before a given sequence in one request.
func Open(ctx context.Context, js jetstream.JetStream) (*Log, error) {
	str, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "Audit log: who revealed, triaged, silenced, logged in or administered what, and when. Append-only.",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      MaxAge,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
		// Duplicates is left at the server's default window: Record
		// retries within seconds, with the same message id.
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	return &Log{js: js, str: str, directGet: apiPrefix(js.Options()) + "DIRECT.GET." + Stream}, nil
}

// apiPrefix is the JetStream API prefix js sends its requests to.
func apiPrefix(o jetstream.JetStreamOptions) string {
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "."
	}
	return jetstream.DefaultAPIPrefix
}

// Record appends e on SubjectPrefix+e.Kind and returns once the stream has
// stored it. The caller sets At. A timeout or a missing responder is
// retried a few times within ctx; the retries carry the same message id,
// so a record whose acknowledgement was lost is not stored twice.
func (l *Log) Record(ctx context.Context, e Event) error {
	if err := e.check(); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%s record: %w", e.Kind, err)
	}
	subject := SubjectPrefix + e.Kind
	id := newMsgID()
	wait := firstRetryWait
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		_, err = l.js.Publish(actx, subject, data, jetstream.WithMsgID(id), jetstream.WithExpectStream(Stream))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish %s: %w", subject, errors.Join(ctx.Err(), err))
		}
		if attempt == publishAttempts || !retryable(err) {
			return fmt.Errorf("publish %s: %w", subject, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("publish %s: %w", subject, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		wait *= 2
	}
}

// retryable reports whether a publish failed in a way that may pass on
// another try: no answer in time, or nobody answering (the server
// restarting, the stream's leader moving).
func retryable(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse)
}

// Query selects a page of records. Paging goes backwards: the next page
// of a query is the same query with Before set to the Seq of the last
// record of this page.
type Query struct {
	Kind   string // one of the kinds, or "" for all
	Actor  string // exactly this actor, or "" for all
	Before uint64 // only records with Seq < Before; 0 reads from the newest
	Limit  int    // at most this many records: 0 is DefaultLimit, above MaxLimit is MaxLimit
}

// Query lists records newest first. It reads backwards from Before, one
// record at a time, and skips sequences that are gone, so a page costs
// about Limit reads instead of a scan of the year:
//
//   - without a kind it loads sequence after sequence (stream get by
//     sequence), down to the stream's first;
//   - with a kind it asks the stream for the last message on that kind's
//     subject at or below a sequence (direct get, last by subject up to a
//     sequence), so records of other kinds cost nothing.
//
// An actor has no subject of its own, so filtering by actor reads the
// records in between as well: such a query is bounded by ctx, and the
// caller should give it a deadline.
func (l *Log) Query(ctx context.Context, q Query) ([]Event, error) {
	q.Kind, q.Actor = strings.TrimSpace(q.Kind), strings.TrimSpace(q.Actor)
	if q.Kind != "" && !knownKind(q.Kind) {
		return nil, fmt.Errorf("%w: query for kind %q, not one of %s", ErrInvalid, q.Kind, strings.Join(Kinds(), ", "))
	}
	switch {
	case q.Limit <= 0:
		q.Limit = DefaultLimit
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	if q.Before == 1 {
		return nil, nil // nothing comes before the first sequence
	}
	if q.Kind != "" {
		return l.queryKind(ctx, q)
	}
	return l.queryAll(ctx, q)
}

// queryAll reads sequence after sequence down from Before.
func (l *Log) queryAll(ctx context.Context, q Query) ([]Event, error) {
	info, err := l.str.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", Stream, err)
	}
	first, seq := info.State.FirstSeq, info.State.LastSeq
	if q.Before != 0 && q.Before-1 < seq {
		seq = q.Before - 1
	}
	out := make([]Event, 0, min(q.Limit, 64))
	for ; seq >= first && seq > 0 && len(out) < q.Limit; seq-- {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("stream %s: read record %d: %w", Stream, seq, err)
		}
		rctx, cancel := withReadTimeout(ctx)
		msg, err := l.str.GetMsg(rctx, seq)
		cancel()
		l.reads.Add(1)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // aged out while we read, or removed before the log was append-only
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s: read record %d: %w", Stream, seq, err)
		}
		e := decode(msg.Subject, msg.Sequence, msg.Time, msg.Data)
		if q.Actor == "" || e.Actor == q.Actor {
			out = append(out, e)
		}
	}
	return out, nil
}

// queryKind reads the kind's records only, each with one direct get of
// the last message on the kind's subject at or below a sequence.
func (l *Log) queryKind(ctx context.Context, q Query) ([]Event, error) {
	subject := SubjectPrefix + q.Kind
	upTo := uint64(0) // 0: up to the stream's last sequence
	if q.Before != 0 {
		upTo = q.Before - 1
	}
	out := make([]Event, 0, min(q.Limit, 64))
	for len(out) < q.Limit {
		msg, found, err := l.lastBefore(ctx, subject, upTo)
		if err != nil {
			return nil, err
		}
		if !found {
			break
		}
		e := decode(msg.subject, msg.seq, msg.at, msg.data)
		if q.Actor == "" || e.Actor == q.Actor {
			out = append(out, e)
		}
		if msg.seq <= 1 {
			break
		}
		upTo = msg.seq - 1
	}
	return out, nil
}

type storedMsg struct {
	subject string
	seq     uint64
	at      time.Time
	data    []byte
}

// lastBefore returns the last message on subject with a sequence at or
// below upTo (0: the stream's last). It is a batched direct get with a
// single subject and a batch of one: the server answers with the message
// and then an end-of-batch marker, which the request no longer waits for
// and the client drops.
func (l *Log) lastBefore(ctx context.Context, subject string, upTo uint64) (storedMsg, bool, error) {
	req, err := json.Marshal(struct {
		MultiLast []string `json:"multi_last"`
		UpToSeq   uint64   `json:"up_to_seq,omitempty"`
		Batch     int      `json:"batch"`
	}{[]string{subject}, upTo, 1})
	if err != nil {
		return storedMsg{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return storedMsg{}, false, fmt.Errorf("stream %s: read %s up to %d: %w", Stream, subject, upTo, err)
	}
	rctx, cancel := withReadTimeout(ctx)
	defer cancel()
	resp, err := l.js.Conn().RequestWithContext(rctx, l.directGet, req)
	l.reads.Add(1)
	if err != nil {
		return storedMsg{}, false, fmt.Errorf("stream %s: read %s up to %d: %w", Stream, subject, upTo, err)
	}
	if len(resp.Data) == 0 && resp.Header.Get("Status") != "" {
		if resp.Header.Get("Status") == "404" {
			return storedMsg{}, false, nil
		}
		return storedMsg{}, false, fmt.Errorf("stream %s: read %s up to %d: status %s %s", Stream, subject, upTo, resp.Header.Get("Status"), resp.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return storedMsg{}, false, fmt.Errorf("stream %s: read %s up to %d: sequence: %w", Stream, subject, upTo, err)
	}
	at, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(jetstream.TimeStampHeaer))
	subj := resp.Header.Get(jetstream.SubjectHeader)
	if subj == "" {
		subj = subject
	}
	return storedMsg{subject: subj, seq: seq, at: at, data: resp.Data}, true, nil
}

// decode turns a stored message into an Event. The kind is the subject's:
// the reveal records written before this package carry neither kind nor
// action, and read back as kind and action "reveal". A record without a
// time has the stream's. A record that does not decode is still listed,
// with what the stream knows of it: an audit log does not hide what it
// cannot read.
func decode(subject string, seq uint64, stored time.Time, data []byte) Event {
	kind := strings.TrimPrefix(subject, SubjectPrefix)
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{Seq: seq, At: stored.UTC(), Kind: kind, Detail: "unreadable record"}
	}
	e.Seq, e.Kind = seq, kind
	if e.Action == "" && kind == KindReveal {
		e.Action = KindReveal
	}
	if e.At.IsZero() {
		e.At = stored.UTC()
	}
	return e
}

// withReadTimeout bounds one read when ctx has no deadline of its own.
func withReadTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, readTimeout)
}

func newMsgID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
