package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/testenv"
)

// A request in flight when the context ends (SIGTERM in main) finishes,
// and Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	addr := testenv.FreeAddr(t)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- httpserver.Run(ctx, "test", addr, h, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	type answer struct {
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- answer{string(b), err}
	}()
	<-started
	cancel()
	if a := <-got; a.err != nil || a.body != "done" {
		t.Errorf("in-flight request: %q, %v; want it to finish", a.body, a.err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run = %v, want nil after a clean shutdown", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still listening after shutdown")
	}
}

// Probe is the healthcheck of both binaries: 200 from /healthz is
// healthy, anything else (another status, nobody listening) is not, and
// an unspecified listen address is asked on the loopback.
func TestProbe(t *testing.T) {
	var status atomic.Int32 // what /healthz answers
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "database unreachable\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, tt := range []struct {
		addr   string
		status int
		ok     bool
	}{
		{ln.Addr().String(), http.StatusOK, true},
		{"0.0.0.0:" + port, http.StatusOK, true},
		{":" + port, http.StatusOK, true},
		{ln.Addr().String(), http.StatusServiceUnavailable, false},
		{testenv.FreeAddr(t), http.StatusOK, false},
		{"no-port", http.StatusOK, false},
	} {
		status.Store(int32(tt.status))
		err := httpserver.Probe(context.Background(), tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("Probe(%q) with /healthz answering %d: %v, want healthy %t", tt.addr, tt.status, err, tt.ok)
		}
	}
}
