package bus

import (
	"testing"
	"time"
)

// The client never gives up reconnecting: nats.go's default stops after 60
// attempts (two minutes or so), after which every publish would fail until
// the process is restarted.
func TestConnectReconnectsForever(t *testing.T) {
	ns := startServer(t, "127.0.0.1:-1", t.TempDir())
	conn := connect(t, ns.ClientURL(), nil)
	opts := conn.NC.Opts
	if !opts.AllowReconnect || opts.MaxReconnect >= 0 {
		t.Errorf("AllowReconnect %v, MaxReconnect %d: want reconnects without limit (a negative MaxReconnect)", opts.AllowReconnect, opts.MaxReconnect)
	}
	if opts.ReconnectWait <= 0 || opts.ReconnectWait > 5*time.Second {
		t.Errorf("ReconnectWait %v: want a short wait between attempts", opts.ReconnectWait)
	}
	if opts.ReconnectBufSize <= 0 {
		t.Errorf("ReconnectBufSize %d: publishes made while reconnecting would fail at once", opts.ReconnectBufSize)
	}
}
