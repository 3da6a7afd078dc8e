package httpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
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
