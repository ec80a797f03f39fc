package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Tail calls fn with every message stored on stream under subject after
// sequence after, in order, until ctx ends (it then returns nil) or fn
// returns an error (returned as it is). after 0 starts with the messages
// stored from now on. It reads with an ordered consumer, which leaves
// nothing behind on the server: a dashboard page that goes away costs
// nothing, and one that comes back resumes at the sequence it last saw.
func Tail(ctx context.Context, js jetstream.JetStream, stream, subject string, after uint64, fn func(seq uint64, data []byte) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverNewPolicy}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tail %s: %w", stream, err)
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("tail %s: %w", stream, err)
	}
	// Next blocks until a message comes or Stop is called: stop it when
	// the caller goes away.
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	defer msgs.Stop()
	for {
		msg, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("tail %s: %w", stream, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("tail %s: message metadata: %w", stream, err)
		}
		if err := fn(meta.Sequence.Stream, msg.Data()); err != nil {
			return err
		}
	}
}
