package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/match"
)

// syncBuffer is a bytes.Buffer safe for the daemon's goroutines to write
// while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The demo is what a newcomer runs first: it must show alerts within
// seconds, with no internet and no setup, and stop cleanly.
func TestDemoShowsAlerts(t *testing.T) {
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--http", "127.0.0.1:0", "--data-dir", t.TempDir()}, &stdout, &stderr)
	}()

	dashboard := regexp.MustCompile(`dashboard  (http://\S+)`)
	alertLine := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  \S+ +(umc-utrecht|uz-leuven) +(patient_data|logo_misuse|misinformation|conduct) `)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := stdout.String()
		if dashboard.MatchString(out) && len(alertLine.FindAllString(out, -1)) >= 5 {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited early with %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo showed too few alerts within 60s\nstdout:\n%s\nstderr:\n%s", out, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := stdout.String()
	base := dashboard.FindStringSubmatch(out)[1]
	resp, err := http.Get(base + "api/feeds")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), `"healthy": false`) {
		t.Errorf("a demo feed failed: %s", body)
	}
	// The corpus leaks BSNs and Belgian national numbers; none may reach
	// the terminal.
	if leaked := append(match.FindBSNs(out), match.FindBelgianNNs(out)...); len(leaked) > 0 {
		t.Errorf("the demo printed personal numbers unmasked: %v", leaked)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exit code %d\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s of the signal")
	}
}
