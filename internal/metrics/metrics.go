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
// text format, and 404 for every other path. A collector that fails is
// logged and left out; the rest are still served.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // counts its own failures (promhttp_metric_handler_errors_total)
	}))
	return mux
}

// Start listens on addr and serves reg's metrics there (Handler) in the
// background until ctx ends. name is the binary's, for the log. It
// returns once it listens, with the listen error if it cannot: a binary
// calls it before serving anything else, so a taken address stops it at
// once. wait waits for the server to stop, after ctx ended, and returns
// its error (httpserver.Serve).
func Start(ctx context.Context, name, addr string, reg *prometheus.Registry, log *slog.Logger) (wait func() error, err error) {
	name += " metrics"
	ln, err := httpserver.Listen(name, addr)
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- httpserver.Serve(ctx, name, ln, Handler(reg, log), log) }()
	return func() error { return <-done }, nil
}

// label returns v when allowed holds it, else "other".
func label(v string, allowed []string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	return other
}

// newCounterVec registers a counter with one or two labels and creates
// the series of every value in values (each a full set of label values),
// so that they show from the start at 0: a rate over a series that only
// appears at its first event misses that event, and a dashboard shows
// "no data" instead of 0.
func newCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels []string, values ...[]string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(opts, labels)
	reg.MustRegister(v)
	for _, vals := range values {
		v.WithLabelValues(vals...)
	}
	return v
}

// each returns one set of label values per element of values, for a
// counter with one label.
func each(values []string) [][]string {
	out := make([][]string, len(values))
	for i, v := range values {
		out[i] = []string{v}
	}
	return out
}

// pairs returns every pair of a value of as and one of bs, for a counter
// with two labels.
func pairs(as, bs []string) [][]string {
	var out [][]string
	for _, a := range as {
		for _, b := range bs {
			out = append(out, []string{a, b})
		}
	}
	return out
}
