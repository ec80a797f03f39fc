package notify

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestNATSReceiverPublishesOnItsSubject(t *testing.T) {
	js := natstest.Connect(t, natstest.StartJetStream(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	str, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NOTIFICATIONS", Subjects: []string{SubjectPrefix + ">"}})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(ctx context.Context, subject, msgID string, data []byte) error {
		_, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(msgID))
		return err
	}
	r, reg := buildOne(t, ReceiverConfig{Name: "press-uz-leuven", Type: TypeNATS, Retry: fastRetry()}, Deps{Publish: publish})
	m := testMessage()
	m.Receiver = "press-uz-leuven"
	for range 2 { // the same notification twice is stored once
		if err := r.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := str.GetLastMsgForSubject(ctx, SubjectPrefix+"press-uz-leuven")
	if err != nil {
		t.Fatal(err)
	}
	var got genericPayload
	if err := json.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Receiver != "press-uz-leuven" || got.GroupKey != m.GroupKey || len(got.Alerts) != len(m.Alerts) || got.Text == "" {
		t.Errorf("payload = %+v", got)
	}
	info, err := str.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages, want 1 (the repeat deduplicated)", info.State.Msgs)
	}
	if n := counter(t, reg, "mediawatch_notifications_sent_total", "press-uz-leuven", TypeNATS); n != 2 {
		t.Errorf("sent counter = %v, want 2", n)
	}
}

func TestNATSReceiverConfig(t *testing.T) {
	for _, c := range []ReceiverConfig{
		{Name: "press office", Type: TypeNATS},
		{Name: "press", Type: TypeNATS, URL: "https://example.org/hook"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
	if _, err := Build([]ReceiverConfig{{Name: "press", Type: TypeNATS}}, Deps{}); err == nil {
		t.Error("Build without a NATS connection succeeded")
	}
}
