package app

import (
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/config"
)

func TestRetentionSettings(t *testing.T) {
	for _, tt := range []struct {
		retention, interval time.Duration
	}{
		{30 * 24 * time.Hour, time.Hour},
		{24 * time.Hour, time.Hour},
		{time.Hour, 150 * time.Second},
		{2 * time.Second, 2 * time.Second / 24},
		{time.Millisecond, 50 * time.Millisecond},
	} {
		if got := expiryInterval(tt.retention); got != tt.interval {
			t.Errorf("expiryInterval(%s) = %s, want %s", tt.retention, got, tt.interval)
		}
	}

	cfg := config.Default()
	if got := retentionOf(cfg); got != 30*24*time.Hour {
		t.Errorf("default retention %s", got)
	}
	if got := retentionOf(&config.Config{}); got != 30*24*time.Hour {
		t.Errorf("retention of a config built in code without one: %s, want the default", got)
	}
	if got := storyWindowOf(cfg); got != 24*time.Hour {
		t.Errorf("story window %s, want its own 24h", got)
	}
	cfg.Retention = config.Duration(6 * time.Hour)
	if got := storyWindowOf(cfg); got != 6*time.Hour {
		t.Errorf("story window with a 6h retention: %s, want 6h", got)
	}
}
