package bus

import (
	"testing"
	"time"
)

// The embedded server syncs always unless told otherwise; a period gives
// nats-server's interval policy with that period.
func TestStartEmbeddedSyncPolicy(t *testing.T) {
	for _, tc := range []struct {
		interval   time.Duration
		syncAlways bool
	}{
		{0, true},
		{-time.Second, true},
		{time.Minute, false},
	} {
		ns := startServerWith(t, ServerOptions{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(), SyncInterval: tc.interval})
		cfg := ns.JetStreamConfig()
		if cfg == nil {
			t.Fatal("JetStream is not enabled")
		}
		if cfg.SyncAlways != tc.syncAlways {
			t.Errorf("SyncInterval %v: JetStream SyncAlways = %v, want %v", tc.interval, cfg.SyncAlways, tc.syncAlways)
		}
		if !tc.syncAlways && cfg.SyncInterval != tc.interval {
			t.Errorf("SyncInterval %v: JetStream sync interval = %v", tc.interval, cfg.SyncInterval)
		}
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}
