// Package httpserver runs an http.Handler until its context ends, then
// shuts down gracefully: both binaries stop the same way on SIGTERM.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// Run listens on addr and serves h until ctx is done, then gives in-flight
// requests up to 10 seconds to finish. It returns nil after a clean
// shutdown.
func Run(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger) error {
	ln, err := Listen(name, addr)
	if err != nil {
		return err
	}
	return Serve(ctx, name, ln, h, log)
}

// Listen opens addr for Serve. A binary with a second listener (its
// metrics) opens it before serving anything, so a taken address stops it
// at once.
func Listen(name, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	return ln, nil
}

// Serve is Run on a listener Listen opened; it closes ln.
func Serve(ctx context.Context, name string, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute, // nginx keeps upstream connections alive
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info(name+" listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("%s: serve: %w", name, err)
	case <-ctx.Done():
	}
	log.Info(name + " shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: shutdown: %w", name, err)
	}
	return nil
}

// Healthz returns the /healthz handler of both binaries: 200 "ok" when
// ping (the database) answers within two seconds, else 503. Anything
// else a binary uses is optional by design and not checked.
func Healthz(ping func(context.Context) error, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ping(ctx); err != nil {
			log.WarnContext(ctx, "healthz: database unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "database unreachable\n")
			return
		}
		io.WriteString(w, "ok\n")
	}
}

// ProbeTimeout bounds a Probe: Healthz's own two seconds, and a second
// for the rest.
const ProbeTimeout = 3 * time.Second

// Probe asks GET /healthz of the server listening on addr (as AUTHZ_ADDR
// or UPLOADER_ADDR give it) and returns nil when it answers 200 within
// ProbeTimeout, else why not. An unspecified host (0.0.0.0, [::], none)
// is asked on the loopback address: a healthcheck runs next to the
// server it checks. Both binaries' healthcheck commands call it for
// compose, whose image has no curl.
func Probe(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("healthcheck: address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
