package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// synctestReceiver builds a receiver of typ posting over an in-memory
// network to a real http.Server running rec, inside the current bubble.
func synctestReceiver(t *testing.T, typ string, rec *recorder, retry RetryConfig, timeout time.Duration) (Receiver, func()) {
	t.Helper()
	client, stop := servePipe(rec)
	r, _ := buildOne(t, ReceiverConfig{Name: "hook", Type: typ, URL: "http://hooks.example/secret", Retry: retry, Timeout: Duration(timeout)},
		Deps{HTTPClient: client})
	return r, stop
}

// gaps returns the time between consecutive requests.
func gaps(reqs []request) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(reqs); i++ {
		out = append(out, reqs[i].At.Sub(reqs[i-1].At))
	}
	return out
}

// TestBackoffTiming checks the waits between attempts on the fake clock:
// each is within [b/2, b] for b = 1s, 2s, 4s, 8s (exponential, jittered),
// and they are not all the same (the jitter is there).
func TestBackoffTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{responses: []response{{status: 503}, {status: 500}, {status: 502}, {status: 504}, {status: 200}}}
		r, stop := synctestReceiver(t, TypeGeneric, rec, RetryConfig{}, 0)
		defer stop()
		start := time.Now()
		if err := r.Send(t.Context(), testMessage()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		reqs := rec.all()
		if len(reqs) != 5 {
			t.Fatalf("%d requests, want 5", len(reqs))
		}
		b := time.Second
		for i, g := range gaps(reqs) {
			if g < b/2 || g > b {
				t.Errorf("wait %d = %v, want within [%v, %v]", i+1, g, b/2, b)
			}
			b *= 2
		}
		if total := time.Since(start); total > 15*time.Second {
			t.Errorf("total %v, want at most 1+2+4+8 s", total)
		}
	})
}

// TestBackoffJitterVaries sends many times and expects the first wait not
// to be always the same.
func TestBackoffJitterVaries(t *testing.T) {
	p := DefaultRetryPolicy()
	seen := map[time.Duration]bool{}
	for range 50 {
		d := p.backoff(1)
		if d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("backoff(1) = %v, want within [0.5s, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Errorf("backoff(1) gave %d distinct values in 50 draws: no jitter", len(seen))
	}
	if d := p.backoff(30); d < p.MaxBackoff/2 || d > p.MaxBackoff {
		t.Errorf("backoff(30) = %v, want capped at %v", d, p.MaxBackoff)
	}
}

// TestRetryAfter honours the server's Retry-After exactly, capped by
// MaxRetryAfter.
func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name  string
		value string
		want  time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"capped", "3600", time.Minute},
		{"http date", "", 20 * time.Second}, // filled in below on the fake clock
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				value := c.value
				if value == "" {
					value = time.Now().Add(c.want).UTC().Format(http.TimeFormat)
				}
				rec := &recorder{responses: []response{{status: 429, header: map[string]string{"Retry-After": value}}, {status: 200}}}
				r, stop := synctestReceiver(t, TypeSlack, rec, RetryConfig{}, 0)
				defer stop()
				if err := r.Send(t.Context(), testMessage()); err != nil {
					t.Fatalf("Send: %v", err)
				}
				g := gaps(rec.all())
				if len(g) != 1 || g[0] != c.want {
					t.Errorf("waits = %v, want [%v]", g, c.want)
				}
			})
		})
	}
}

// TestGiveUpAfterMaxAttempts stops after the configured attempts.
func TestGiveUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{responses: []response{{status: 500, body: "down"}}}
		r, stop := synctestReceiver(t, TypeMattermost, rec, RetryConfig{MaxAttempts: 4}, 0)
		defer stop()
		err := r.Send(t.Context(), testMessage())
		if err == nil || !strings.Contains(err.Error(), "giving up after 4 attempts") || !strings.Contains(err.Error(), "500") {
			t.Fatalf("err = %v", err)
		}
		if n := len(rec.all()); n != 4 {
			t.Errorf("%d requests, want 4", n)
		}
	})
}

// TestMaxElapsed stops when the next wait would pass the total time.
func TestMaxElapsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{responses: []response{{status: 503}}}
		retry := RetryConfig{MaxAttempts: 100, InitialBackoff: Duration(4 * time.Second), MaxBackoff: Duration(4 * time.Second), MaxElapsed: Duration(10 * time.Second)}
		r, stop := synctestReceiver(t, TypeGeneric, rec, retry, 0)
		defer stop()
		start := time.Now()
		err := r.Send(t.Context(), testMessage())
		if err == nil || !strings.Contains(err.Error(), "giving up after") {
			t.Fatalf("err = %v", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("took %v, more than MaxElapsed", el)
		}
		// Waits of 2–4 s in 10 s: at least 3 attempts, at most 6.
		if n := len(rec.all()); n < 3 || n > 6 {
			t.Errorf("%d requests", n)
		}
	})
}

// TestTimeoutRetried: an attempt that hangs past the timeout is retried.
func TestTimeoutRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{responses: []response{{status: 200, delay: time.Minute}, {status: 200}}}
		r, stop := synctestReceiver(t, TypeTeams, rec, RetryConfig{}, 5*time.Second)
		defer stop()
		start := time.Now()
		if err := r.Send(t.Context(), testMessage()); err != nil {
			t.Fatalf("Send: %v", err)
		}
		reqs := rec.all()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		// 5 s timeout, then a wait in [0.5 s, 1 s].
		if g := gaps(reqs)[0]; g < 5500*time.Millisecond || g > 6*time.Second {
			t.Errorf("second attempt after %v", g)
		}
		if el := time.Since(start); el > 6*time.Second {
			t.Errorf("took %v", el)
		}
	})
}

// TestCancelDuringBackoff returns as soon as the context ends.
func TestCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{responses: []response{{status: 500}}}
		r, stop := synctestReceiver(t, TypeGeneric, rec, RetryConfig{InitialBackoff: Duration(time.Hour), MaxBackoff: Duration(time.Hour), MaxElapsed: Duration(10 * time.Hour)}, 0)
		defer stop()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		err := r.Send(ctx, testMessage())
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `receiver "hook"`) {
			t.Fatalf("err = %v, want the context's deadline, naming the receiver", err)
		}
		if el := time.Since(start); el != 10*time.Second {
			t.Errorf("returned after %v, want 10s", el)
		}
		if n := len(rec.all()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-3", 0},
		{"12", 12 * time.Second},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999", 24 * time.Hour},
	}
	for _, c := range cases {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}
