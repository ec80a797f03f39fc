package index

import (
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the op label of mediawatch_index_errors_total.
const (
	opIndex  = "index"
	opDelete = "delete"
	opSearch = "search"
)

// metrics is nil when Options has no Registerer; its methods accept that.
type metrics struct {
	reg           prometheus.Registerer
	batchDuration prometheus.Histogram
	batchSize     prometheus.Histogram
	docs          prometheus.GaugeFunc
	size          prometheus.GaugeFunc
	errors        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, docCount func() float64, dir string) (*metrics, error) {
	sizer := &dirSizer{path: dir, ttl: sizeCacheTTL, now: time.Now}
	m := &metrics{
		reg: reg,
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediawatch_index_batch_duration_seconds",
			Help:    "Time to write one batch of documents to the index.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mediawatch_index_batch_size",
			Help:    "Documents per batch written to the index.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000},
		}),
		docs: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediawatch_index_docs",
			Help: "Documents in the index.",
		}, docCount),
		size: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mediawatch_index_size_bytes",
			Help: "Bytes on disk of the index directory (measured at most every 10s).",
		}, sizer.bytes),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_index_errors_total",
			Help: "Failed index operations, by operation.",
		}, []string{"op"}),
	}
	for _, op := range []string{opIndex, opDelete, opSearch} {
		m.errors.WithLabelValues(op)
	}
	var registered []prometheus.Collector
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			for _, r := range registered {
				reg.Unregister(r)
			}
			return nil, err
		}
		registered = append(registered, c)
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.batchDuration, m.batchSize, m.docs, m.size, m.errors}
}

func (m *metrics) observeBatch(size int, took time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(size))
	m.batchDuration.Observe(took.Seconds())
}

func (m *metrics) observeError(op string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(op).Inc()
}

func (m *metrics) unregister() {
	if m == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

// sizeCacheTTL is how long a measured index size is reused: scrapes close
// together do not each walk the directory.
const sizeCacheTTL = 10 * time.Second

// dirSizer measures the bytes of the files under a directory, remembering
// the answer for ttl.
type dirSizer struct {
	path string
	ttl  time.Duration
	now  func() time.Time

	mu   sync.Mutex
	at   time.Time // when size was measured; zero: never
	size float64
}

func (d *dirSizer) bytes() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if !d.at.IsZero() && now.Sub(d.at) < d.ttl {
		return d.size
	}
	d.size, d.at = float64(dirBytes(d.path)), now
	return d.size
}

// dirBytes adds up the sizes of the regular files under root. Files that
// vanish during the walk (segments merged away) are skipped.
func dirBytes(root string) int64 {
	var total int64
	_ = filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
		return nil
	})
	return total
}
