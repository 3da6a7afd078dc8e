// Package metrics holds the Prometheus collectors of both binaries and
// serves them at GET /metrics on a listener of their own, apart from the
// one nginx proxies to (docs/interface.md#metrics).
//
// Each binary makes one registry (NewRegistry), with the Go runtime and
// process collectors, and its own collectors on it: NewAuthz or
// NewUploader. The packages that count (authz, web, link) hold the
// *Authz or *Uploader and call its methods; only this package imports
// Prometheus. A nil *Authz or *Uploader records nothing, so tests and the
// CLI commands need none.
//
// Every label value is one of the constants below; a method given any
// other value counts it as "other". No user id, file name, link id or
// path can become a label: it would reach whoever scrapes, and grow the
// series without bound.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/filegate/filegate/internal/httpserver"
)

// other is the value of a label given a value outside its set.
const other = "other"

// NewRegistry returns the registry of one binary, holding the Go runtime
// (go_*) and process (process_*) collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg's metrics at GET (and HEAD) /metrics in Prometheus's
// text format and, with profiles (FILEGATE_PPROF), Go's profiles at
// /debug/pprof/ (net/http/pprof), and 404 for every other path. A
// collector that fails is logged and left out; the rest are still served.
func Handler(reg *prometheus.Registry, profiles bool, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // counts its own failures (promhttp_metric_handler_errors_total)
	}))
	if profiles {
		// Registered here, never on http.DefaultServeMux, so that they are
		// only ever on this listener, which nginx does not proxy to.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Start listens on addr and serves reg's metrics, and Go's profiles with
// profiles, there (Handler) in the
// background until ctx ends. name is the binary's, for the log. It
// returns once it listens, with the listen error if it cannot: a binary
// calls it before serving anything else, so a taken address stops it at
// once. wait waits for the server to stop, after ctx ended, and returns
// its error (httpserver.Serve).
func Start(ctx context.Context, name, addr string, reg *prometheus.Registry, profiles bool, log *slog.Logger) (wait func() error, err error) {
	name += " metrics"
	ln, err := httpserver.Listen(name, addr)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- httpserver.Serve(ctx, name, ln, Handler(reg, profiles, log), log) }()
	return func() error { return <-done }, nil
}

// counterVec is a counter whose labels each take their values from a
// fixed set. Every series of those values is made at the start, at 0: a
// rate over a series that only appears at its first event misses that
// event, and a dashboard shows "no data" instead of 0. Counting finds the
// series by a scan of a few strings, not by hashing the label values
// (authz counts on every download). A value outside its set counts as
// "other".
type counterVec struct {
	vec    *prometheus.CounterVec
	sets   [][]string           // each label's values
	series []prometheus.Counter // every combination, the last label varying fastest
}

// newCounterVec registers the counter opts with one label per element of
// labels, whose values are the matching element of sets.
func newCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels []string, sets ...[]string) *counterVec {
	c := &counterVec{vec: prometheus.NewCounterVec(opts, labels), sets: sets}
	reg.MustRegister(c.vec)
	var add func(prefix []string)
	add = func(prefix []string) {
		if len(prefix) == len(sets) {
			c.series = append(c.series, c.vec.WithLabelValues(prefix...))
			return
		}
		for _, v := range sets[len(prefix)] {
			add(append(prefix[:len(prefix):len(prefix)], v))
		}
	}
	add(nil)
	return c
}

// add adds n to the series of values, one per label.
func (c *counterVec) add(n float64, values ...string) {
	i := 0
	for l, v := range values {
		j := slices.Index(c.sets[l], v)
		if j < 0 {
			c.other(n, values)
			return
		}
		i = i*len(c.sets[l]) + j
	}
	c.series[i].Add(n)
}

// other adds n to the series of values with each value outside its set
// replaced by "other".
func (c *counterVec) other(n float64, values []string) {
	vals := make([]string, len(values))
	for l, v := range values {
		if vals[l] = v; !slices.Contains(c.sets[l], v) {
			vals[l] = other
		}
	}
	c.vec.WithLabelValues(vals...).Add(n)
}
