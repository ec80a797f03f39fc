package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values of the dashboard's metrics. Routes are the ServeMux patterns
// registered in Handler, so the route label has as many values as there
// are routes.
const (
	routeUnmatched = "unmatched" // no route: 404, 405 and the mux's redirects
	routeEvents    = "GET /events"

	loginLocal   = "local"
	loginOIDC    = "oidc"
	loginOK      = "ok"
	loginFailed  = "failed"
	loginRefused = "refused"
)

// webMetrics are the dashboard's metrics. They exist whether or not
// Options.Registerer is set (without it they are simply not exposed); the
// methods also accept a nil *webMetrics.
type webMetrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	logins        *prometheus.CounterVec
	auditFailures prometheus.Counter
	liveStreams   prometheus.Gauge
}

func newWebMetrics(reg prometheus.Registerer, logger *slog.Logger) *webMetrics {
	m := &webMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_http_requests_total",
			Help: "HTTP requests answered, by route (the pattern that matched, \"unmatched\" for none) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mediawatch_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route; the live event stream (GET /events) is not included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mediawatch_logins_total",
			Help: "Attempts to log in to the dashboard, by method (local or oidc) and result (ok, failed, or refused: too many failures, or an account without a role).",
		}, []string{"method", "result"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mediawatch_audit_record_failures_total",
			Help: "Dashboard events (logins, triage, silences) that could not be written to the audit log.",
		}),
		liveStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mediawatch_live_streams",
			Help: "Open live update streams (GET /events) of queue pages.",
		}),
	}
	for _, method := range []string{loginLocal, loginOIDC} {
		for _, result := range []string{loginOK, loginFailed, loginRefused} {
			m.logins.WithLabelValues(method, result)
		}
	}
	if reg == nil {
		return m
	}
	// A second Handler on the same registry (a test, a restarted server)
	// counts on the collectors already there.
	m.requests = register(reg, m.requests, logger)
	m.duration = register(reg, m.duration, logger)
	m.logins = register(reg, m.logins, logger)
	m.auditFailures = register(reg, m.auditFailures, logger)
	m.liveStreams = register(reg, m.liveStreams, logger)
	return m
}

// register registers c, or returns the equal collector already registered.
// Handler cannot fail, so any other error is logged and the metric goes
// unexposed.
func register[C prometheus.Collector](reg prometheus.Registerer, c C, logger *slog.Logger) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	logger.Error("web: register metrics", "err", err)
	return c
}

// preCreate makes the duration series of every route exist from the start.
func (m *webMetrics) preCreate(routes []string) {
	if m == nil {
		return
	}
	for _, route := range routes {
		if route != routeEvents {
			m.duration.WithLabelValues(route)
		}
	}
	m.duration.WithLabelValues(routeUnmatched)
}

// instrument counts and times every request by the route mux chooses for
// it. It sits outside every other handler, so requests turned away before
// the route runs (cross-origin) are counted too. The live event stream is
// counted when it ends but not timed: it lasts as long as the page is open.
func (m *webMetrics) instrument(mux *routeMux, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, route := mux.Handler(r)
		if route == "" {
			route = routeUnmatched
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code())).Inc()
		if route != routeEvents {
			m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}
	})
}

func (m *webMetrics) login(method, result string) {
	if m != nil {
		m.logins.WithLabelValues(method, result).Inc()
	}
}

func (m *webMetrics) auditFailed() {
	if m != nil {
		m.auditFailures.Inc()
	}
}

// streamOpened counts an open event stream; the returned function closes it.
func (m *webMetrics) streamOpened() func() {
	if m == nil {
		return func() {}
	}
	m.liveStreams.Inc()
	return m.liveStreams.Dec
}

// routeMux is a ServeMux that remembers the patterns registered on it, so
// that their metrics can be created up front.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// statusWriter notes the status code of a response. It passes Flush on
// (the event stream needs it) and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code is the status sent, 200 when the handler wrote nothing (as net/http
// answers then).
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
