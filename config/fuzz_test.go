package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "example.yaml")
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("feeds: &a [*a]"))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not a non-empty Problems: %T %v", err, err)
			}
			if c != nil {
				t.Fatal("config returned together with problems")
			}
			for _, p := range ps {
				if p.File != "fuzz.yaml" || p.Line < 0 || p.Msg == "" {
					t.Fatalf("malformed problem %+v", p)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
		// Whatever got through validation must honour its promises.
		ids := map[string]bool{}
		for _, f := range c.Feeds {
			if ids[f.ID] || f.ID == "" || strings.ContainsAny(f.ID, ". *>") {
				t.Fatalf("feed id %q unusable or repeated", f.ID)
			}
			ids[f.ID] = true
			if f.Interval.D() < 30*time.Second {
				t.Fatalf("feed %s interval %s below 30s", f.ID, f.Interval)
			}
			if !strings.HasPrefix(f.URL, "http://") && !strings.HasPrefix(f.URL, "https://") {
				t.Fatalf("feed %s URL %q not http(s)", f.ID, f.URL)
			}
		}
		if len(c.AllowedPrivateNetworks()) != len(c.Ingest.AllowPrivateNetworks) {
			t.Fatal("a validated network did not parse")
		}
	})
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "example.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
