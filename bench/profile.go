package bench

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
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

// stageShares decodes a gzipped CPU profile and returns the CPU time per
// stage in seconds.
func stageShares(gz []byte) (map[string]float64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	p, err := decodeProfile(raw)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	valueIndex := len(p.sampleTypes) - 1 // cpu nanoseconds, after the sample count
	for i, t := range p.sampleTypes {
		if p.str(t) == "cpu" {
			valueIndex = i
		}
	}
	out := map[string]float64{}
	for _, s := range p.samples {
		if valueIndex < 0 || valueIndex >= len(s.values) {
			continue
		}
		out[p.stageOf(s)] += float64(s.values[valueIndex]) / 1e9
	}
	return out, nil
}

func (p *profile) stageOf(s sample) string {
	for _, l := range s.labels {
		if p.str(l.key) == "stage" {
			return p.str(l.str)
		}
	}
	// Root first: the outermost frame that names a stage decides, so a
	// poll's publish to NATS counts as ingest.
	other := false
	for i := len(s.locations) - 1; i >= 0; i-- {
		lines := p.locations[s.locations[i]]
		for j := len(lines) - 1; j >= 0; j-- {
			name := p.str(p.functions[lines[j]])
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

// A minimal reader of the pprof protocol buffer: samples with their
// locations, values and string labels, locations' function ids, function
// names and the string table.

type profile struct {
	sampleTypes []int64 // string index of each value's type
	samples     []sample
	locations   map[uint64][]uint64 // location id → function ids, leaf first
	functions   map[uint64]int64    // function id → name's string index
	strings     []string
}

type sample struct {
	locations []uint64
	values    []int64
	labels    []label
}

type label struct{ key, str int64 }

func (p *profile) str(i int64) string {
	if i < 0 || int(i) >= len(p.strings) {
		return ""
	}
	return p.strings[i]
}

func decodeProfile(b []byte) (*profile, error) {
	p := &profile{locations: map[uint64][]uint64{}, functions: map[uint64]int64{}}
	err := fields(b, func(num int, wire int, v uint64, data []byte) error {
		switch num {
		case 1: // sample_type
			return fields(data, func(num, _ int, v uint64, _ []byte) error {
				if num == 1 {
					p.sampleTypes = append(p.sampleTypes, int64(v))
				}
				return nil
			})
		case 2: // sample
			var s sample
			err := fields(data, func(num, wire int, v uint64, data []byte) error {
				switch num {
				case 1:
					return varints(wire, v, data, func(x uint64) { s.locations = append(s.locations, x) })
				case 2:
					return varints(wire, v, data, func(x uint64) { s.values = append(s.values, int64(x)) })
				case 3:
					var l label
					err := fields(data, func(num, _ int, v uint64, _ []byte) error {
						switch num {
						case 1:
							l.key = int64(v)
						case 2:
							l.str = int64(v)
						}
						return nil
					})
					s.labels = append(s.labels, l)
					return err
				}
				return nil
			})
			p.samples = append(p.samples, s)
			return err
		case 4: // location
			var id uint64
			var funcs []uint64
			err := fields(data, func(num, _ int, v uint64, data []byte) error {
				switch num {
				case 1:
					id = v
				case 4: // line
					return fields(data, func(num, _ int, v uint64, _ []byte) error {
						if num == 1 {
							funcs = append(funcs, v)
						}
						return nil
					})
				}
				return nil
			})
			p.locations[id] = funcs
			return err
		case 5: // function
			var id uint64
			var name int64
			err := fields(data, func(num, _ int, v uint64, _ []byte) error {
				switch num {
				case 1:
					id = v
				case 2:
					name = int64(v)
				}
				return nil
			})
			p.functions[id] = name
			return err
		case 6: // string_table
			p.strings = append(p.strings, string(data))
		}
		return nil
	})
	return p, err
}

var errTruncated = errors.New("truncated protocol buffer")

// fields calls fn for every field of a message: its number, wire type and
// value (varint) or bytes (length-delimited).
func fields(b []byte, fn func(num, wire int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n := uvarint(b)
		if n <= 0 {
			return errTruncated
		}
		b = b[n:]
		num, wire := int(key>>3), int(key&7)
		var v uint64
		var data []byte
		switch wire {
		case 0:
			v, n = uvarint(b)
			if n <= 0 {
				return errTruncated
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return errTruncated
			}
			b = b[8:]
		case 2:
			l, n := uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return errTruncated
			}
			data = b[n : n+int(l)]
			b = b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return errTruncated
			}
			b = b[4:]
		default:
			return fmt.Errorf("unknown wire type %d", wire)
		}
		if err := fn(num, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}

// varints reads a repeated integer field, packed or not.
func varints(wire int, v uint64, data []byte, fn func(uint64)) error {
	if wire == 0 {
		fn(v)
		return nil
	}
	for len(data) > 0 {
		x, n := uvarint(data)
		if n <= 0 {
			return errTruncated
		}
		fn(x)
		data = data[n:]
	}
	return nil
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		if c < 0x80 {
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}
