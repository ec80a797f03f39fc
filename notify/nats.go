package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// SubjectPrefix is where receivers of type nats publish: a receiver named
// press-uz-leuven publishes on mediawatch.notifications.press-uz-leuven.
const SubjectPrefix = "mediawatch.notifications."

// Publish stores one message on NATS (on a JetStream stream, deduplicated
// by msgID) and returns once it is stored.
type Publish func(ctx context.Context, subject, msgID string, data []byte) error

// natsReceiver publishes the generic payload on the receiver's subject.
// The shipped receivers are of this type: they need no setup, and a press
// office or a privacy officer subscribes to exactly its own subject.
type natsReceiver struct {
	sender
	subject string
	render  *renderer
	publish Publish
}

func (n *natsReceiver) Name() string { return n.name }

func (n *natsReceiver) Send(ctx context.Context, m Message) error {
	text, err := n.render.render(m)
	if err != nil {
		return n.permanent(0, fmt.Errorf("render template: %w", err))
	}
	data, err := json.Marshal(encodeGeneric(&webhook{sender: n.sender}, m, text))
	if err != nil {
		return n.permanent(0, fmt.Errorf("encode payload: %w", err))
	}
	id := messageID(m)
	return n.run(ctx, func(ctx context.Context) error {
		if err := n.publish(ctx, n.subject, id, data); err != nil {
			return fmt.Errorf("publish %s: %w", n.subject, err)
		}
		return nil
	})
}

// messageID is the same for the same group at the same alert versions, so
// a notification published twice (a restart between sending and logging
// it) is stored once.
func messageID(m Message) string {
	var b strings.Builder
	b.WriteString(m.Receiver + "\x00" + m.GroupKey)
	for _, a := range m.Alerts {
		b.WriteString("\x00" + a.MsgID())
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:16])
}

// validSubjectToken reports whether a receiver name can end a subject.
func validSubjectToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
