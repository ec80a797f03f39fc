package index

import (
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
	errors        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, docCount func() float64) (*metrics, error) {
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
	return []prometheus.Collector{m.batchDuration, m.batchSize, m.docs, m.errors}
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
