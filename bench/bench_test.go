package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
	"github.com/mediawatch/mediawatch/ingest"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

func testGenerator(t *testing.T) *generator {
	t.Helper()
	cfg := config.Default()
	m, err := app.LoadMatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGenerator(context.Background(), m, cfg.Institutions, 7, time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// The corpus has the shares it promises, each post is what it was made to
// be, and texts are 0.3 to 3 KB (a breach's own text may add to that).
func TestCorpus(t *testing.T) {
	g := testGenerator(t)
	f := &feedInfo{id: "f", host: "news.example", lang: "nl"}
	const n = 2000
	count := map[kind]int{}
	for i := range n {
		if i%2 == 1 {
			f.lang = "en"
		} else {
			f.lang = "nl"
		}
		p := g.post(i, f, g.base)
		if size := p.textBytes(); size < minTextBytes || size > 2*maxTextBytes {
			t.Errorf("post %d: %d bytes of text", i, size)
		}
		m := g.mentionOf(snippet{title: p.title, author: p.author, url: p.link}, joinParagraphs(p.paragraphs))
		if got := g.classify(m); got != p.kind {
			t.Errorf("post %d is a %d, made as a %d:\n%s", i, got, p.kind, m.Text)
		}
		count[p.kind]++
	}
	if v := count[kindViolation]; v < n*3/100 || v > n*7/100 {
		t.Errorf("%d of %d posts break a guideline, want about 5%%", v, n)
	}
	if v := count[kindViolation] + count[kindInstitution]; v < n*26/100 || v > n*34/100 {
		t.Errorf("%d of %d posts mention an institution, want about 30%%", v, n)
	}
}

// Posts come out at the rate, per feed in turn; a document lists the
// newest window of them and answers an unchanged list with 304.
func TestFeedServer(t *testing.T) {
	g := testGenerator(t)
	s, err := startFeedServer(feedServerOptions{feeds: 3, items: 30, rate: 10, window: 4, interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(context.Background())
	s.use(g, false)
	start := time.Now().Add(-time.Hour) // every post is out
	s.begin(start)

	at := start.Add(1050 * time.Millisecond) // posts 0..10 are out
	if got := s.releasedTotal(at); got != 11 {
		t.Errorf("released at 1.05s: %d, want 11", got)
	}
	for i, want := range []int{4, 4, 3} {
		if got := s.released(s.feeds[i], at); got != want {
			t.Errorf("feed %d has %d posts out, want %d", i, got, want)
		}
	}
	if got := s.releasedTotal(start.Add(time.Hour)); got != 30 {
		t.Errorf("released in the end: %d, want 30", got)
	}

	for _, f := range s.feeds {
		body, etag, code := get(t, f.url, "")
		if code != http.StatusOK {
			t.Fatalf("%s: %d", f.url, code)
		}
		parsed, err := ingest.ParseFeed(body, contentTypes[f.format])
		if err != nil {
			t.Fatalf("%s (%s) does not parse: %v\n%s", f.url, f.format, err, body)
		}
		if len(parsed.Items) != 4 {
			t.Errorf("%s lists %d items, want the newest 4", f.url, len(parsed.Items))
		}
		if _, _, code := get(t, f.url, etag); code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %s: %d, want 304", f.url, etag, code)
		}
	}
	if s.feeds[0].polls == 0 {
		t.Error("polls are not counted")
	}
}

func get(t *testing.T, url, etag string) ([]byte, string, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, resp.Header.Get("ETag"), resp.StatusCode
}

func TestHistogramQuantile(t *testing.T) {
	h := &dto.Histogram{
		SampleCount: proto.Uint64(100),
		Bucket: []*dto.Bucket{
			{UpperBound: proto.Float64(0.01), CumulativeCount: proto.Uint64(50)},
			{UpperBound: proto.Float64(0.05), CumulativeCount: proto.Uint64(90)},
			{UpperBound: proto.Float64(0.1), CumulativeCount: proto.Uint64(100)},
		},
	}
	for q, want := range map[float64]float64{0.5: 0.01, 0.25: 0.005, 0.7: 0.03, 0.99: 0.095} {
		if got := histogramQuantile(h, q); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	if got := histogramQuantile(&dto.Histogram{}, 0.99); got != 0 {
		t.Errorf("empty histogram: %v", got)
	}
}

// A profile's samples are put in the stage their goroutine's label names.
func TestStageShares(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skipf("profiler busy: %v", err)
	}
	pprof.Do(context.Background(), pprof.Labels("stage", "match"), func(context.Context) {
		spin(300 * time.Millisecond)
	})
	pprof.StopCPUProfile()
	secs, err := stageShares(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	shares := normalise(secs)
	if shares["match"] < 0.5 {
		t.Errorf("a labelled busy loop counts as match for %.2f of the samples: %v", shares["match"], shares)
	}
	for _, st := range stages {
		if _, ok := shares[st]; !ok {
			t.Errorf("no share for %s", st)
		}
	}
}

func spin(d time.Duration) int {
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range 10000 {
			n += i * i
		}
	}
	return n
}
