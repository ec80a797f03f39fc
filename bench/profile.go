package bench

import (
	"fmt"
	"strings"

	"github.com/google/pprof/profile"
)

// Stage CPU shares come from a CPU profile of the whole process taken
// while the daemon runs: every sample is put in one stage, by the pprof
// label "stage" the match stage sets on its goroutines (match, index,
// publish), else by the functions on its stack, looked for from the root
// (the goroutine's start) to the leaf:
//
//	ingest       the scheduler's polls: fetch, gofeed parse, normalise, the
//	             mention's JSON and its publish, feed state; and the HTTP
//	             client's connection goroutines
//	match        decoding mentions, matching, building alerts and documents
//	index        Bleve: the batch, and scorch's persister and merger
//	publish      story folds, alert publishes, mention acknowledgements,
//	             volume counts
//	nats_server  the embedded NATS server (JetStream storage for every stage)
//	nats_client  the client's reader and flusher (deliveries and acks for
//	             every stage)
//	gc           the garbage collector's own workers (assists count with the
//	             goroutine that allocates)
//	daemon_other the rest of the daemon: dashboard views, notifications,
//	             triage, metrics
//	feed_server  the synthetic feeds and the measurement itself
//	runtime      scheduler and whatever has no Go stack

// stages are every stage a sample can be put in.
var stages = []string{"ingest", "match", "index", "publish", "nats_server", "nats_client", "gc", "daemon_other", "feed_server", "runtime"}

var stageMarkers = []struct{ prefix, stage string }{
	{"github.com/mediawatch/mediawatch/bench.", "feed_server"},
	{"github.com/mediawatch/mediawatch/ingest.", "ingest"},
	{"net/http.(*persistConn)", "ingest"},
	{"github.com/mediawatch/mediawatch/index.", "index"},
	{"github.com/blevesearch/", "index"},
	{"github.com/nats-io/nats-server/", "nats_server"},
	{"github.com/nats-io/nats.go", "nats_client"},
	{"runtime.gcBgMarkWorker", "gc"},
}

// otherMarker takes what no marker above claims anywhere on the stack.
const otherMarker = "github.com/mediawatch/mediawatch/"

// stageShares decodes a CPU profile (as runtime/pprof writes it) and
// returns the CPU time per stage in seconds.
func stageShares(data []byte) (map[string]float64, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	valueIndex := len(p.SampleType) - 1 // cpu nanoseconds, after the sample count
	for i, t := range p.SampleType {
		if t.Type == "cpu" {
			valueIndex = i
		}
	}
	out := map[string]float64{}
	for _, s := range p.Sample {
		if valueIndex < 0 || valueIndex >= len(s.Value) {
			continue
		}
		out[stageOf(s)] += float64(s.Value[valueIndex]) / 1e9
	}
	return out, nil
}

// stageOf is the stage a sample's goroutine label names, else the one of
// the outermost function on its stack that names one.
func stageOf(s *profile.Sample) string {
	if st := s.Label["stage"]; len(st) > 0 {
		return st[0]
	}
	// Root first: the outermost frame that names a stage decides, so a
	// poll's publish to NATS counts as ingest.
	other := false
	for i := len(s.Location) - 1; i >= 0; i-- {
		lines := s.Location[i].Line
		for j := len(lines) - 1; j >= 0; j-- {
			if lines[j].Function == nil {
				continue
			}
			name := lines[j].Function.Name
			for _, m := range stageMarkers {
				if strings.HasPrefix(name, m.prefix) {
					return m.stage
				}
			}
			other = other || strings.HasPrefix(name, otherMarker)
		}
	}
	if other {
		return "daemon_other"
	}
	return "runtime"
}
