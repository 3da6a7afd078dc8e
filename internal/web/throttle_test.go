package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/config"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
	"github.com/filegate/filegate/internal/throttle"
	"github.com/filegate/filegate/internal/web"
)

// loopback is the default FILEGATE_TRUSTED_PROXIES: nginx on this host.
var loopback = func() []netip.Prefix {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return cfg.TrustedProxies
}()

// newThrottle returns the real login throttle on the test Redis, under a
// key prefix of this test's own.
func newThrottle(t *testing.T, log *slog.Logger) *throttle.Throttle {
	t.Helper()
	thr, err := throttle.Open(testenv.RedisURL(), testenv.RedisPrefix(t), throttle.DefaultLimits, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { thr.Close() })
	return thr
}

// client is where a login comes from: the TCP peer and the X-Real-IP
// header it sends, if any.
type client struct{ peer, realIP string }

var (
	viaNginx  = func(ip string) client { return client{peer: "127.0.0.1:41234", realIP: ip} }
	direct    = func(ip string) client { return client{peer: ip + ":41234"} }
	throttled = "Too many failed logins; try again in 15 minutes."
)

// loginFrom posts the login form from c.
func (a *testApp) loginFrom(c client, name, password string, json bool) response {
	a.t.Helper()
	rq := request{method: "POST", target: "/login", json: json, peer: c.peer,
		form: url.Values{"username": {name}, "password": {password}}}
	if c.realIP != "" {
		rq.header = map[string]string{"X-Real-IP": c.realIP}
	}
	return a.do(rq)
}

// wantThrottled checks a 429 answer: Retry-After within the window, the
// sentence, no cookie; a browser gets the login form again.
func wantThrottled(t *testing.T, r response) {
	t.Helper()
	wantStatus(t, r, http.StatusTooManyRequests)
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
		t.Errorf("Retry-After = %q, want 1 to 900 seconds", r.Header.Get("Retry-After"))
	}
	if c := sessionCookie(r); c != nil {
		t.Errorf("throttled login set a cookie")
	}
	if r.Header.Get("Content-Type") == "application/json" {
		if s := r.errorSentence(t); s != throttled {
			t.Errorf("error = %q, want %q", s, throttled)
		}
		return
	}
	for _, want := range []string{`<form method="post" action="/login"`, throttled} {
		if !strings.Contains(r.body, want) {
			t.Errorf("429 page lacks %q", want)
		}
	}
}

// The per name and address limit at the web layer, where the address
// comes from: X-Real-IP from a trusted proxy, else the TCP peer.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	a.addUser("bob", false, false)
	home, office := viaNginx("198.51.100.7"), viaNginx("198.51.100.8")

	for i := range 5 {
		wantStatus(t, a.loginFrom(home, "alice", "wrong-password", i%2 == 0), http.StatusUnauthorized)
	}
	wantThrottled(t, a.loginFrom(home, "alice", "wrong-password", true))
	wantThrottled(t, a.loginFrom(home, "alice", testPassword, true)) // the right password too
	r := a.loginFrom(home, " ALICE", testPassword, false)            // the name as login reads it
	wantThrottled(t, r)
	if !strings.Contains(r.body, `value=" ALICE"`) {
		t.Errorf("429 form does not keep the user name")
	}
	wantRedirect(t, a.loginFrom(home, "bob", testPassword, false), "/")
	wantRedirect(t, a.loginFrom(office, "alice", testPassword, false), "/")
	wantRedirect(t, a.loginFrom(viaNginx("2001:db8:7::1"), "alice", testPassword, false), "/")

	// Not from a trusted proxy: X-Real-IP is ignored, the peer is counted.
	spoofer := direct("203.0.113.5")
	for i := range 5 {
		spoofer.realIP = fmt.Sprintf("192.0.2.%d", i+1)
		wantStatus(t, a.loginFrom(spoofer, "bob", "wrong-password", true), http.StatusUnauthorized)
	}
	spoofer.realIP = "198.51.100.99"
	wantThrottled(t, a.loginFrom(spoofer, "bob", testPassword, true))
	wantRedirect(t, a.loginFrom(viaNginx("198.51.100.99"), "bob", testPassword, false), "/")

	// A trusted proxy that sends no usable X-Real-IP is counted itself.
	for _, bad := range []string{"", "not-an-address", "198.51.100.7, 10.0.0.1", strings.Repeat("1", 8<<10)} {
		wantStatus(t, a.loginFrom(viaNginx(bad), "alice", "wrong-password", true), http.StatusUnauthorized)
	}
	wantStatus(t, a.loginFrom(viaNginx("127.0.0.1"), "alice", "wrong-password", true), http.StatusUnauthorized)
	wantThrottled(t, a.loginFrom(viaNginx("::ffff:127.0.0.1"), "alice", testPassword, true))
}

// countingStore is the real store, counting the user look-ups that come
// before every bcrypt comparison in account.Authenticate.
type countingStore struct {
	web.Store
	lookups atomic.Int64
}

func (c *countingStore) UserBySlug(ctx context.Context, slug string) (filegate.User, error) {
	c.lookups.Add(1)
	return c.Store.UserBySlug(ctx, slug)
}

// The CPU protection: a refused attempt costs no bcrypt. 24 connections
// guessing at once get exactly 5 passwords checked; every other attempt
// is answered without looking the user up. The times are reported, not
// asserted (a busy machine makes any bound flaky).
func TestThrottledLoginSkipsBcrypt(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	store := &countingStore{Store: a.db}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	srv := &web.Server{Store: store, Sessions: a.sessions, Throttle: newThrottle(t, log), Log: log, TrustedProxies: loopback}
	a.h = srv.Handler()

	const conns, each = 24, 8
	var statuses sync.Map // status → *atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for range each {
				r := a.loginFrom(direct("198.51.100.7"), "alice", "wrong-password", true)
				n, _ := statuses.LoadOrStore(r.StatusCode, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}
	wg.Wait()
	count := func(status int) int64 {
		n, ok := statuses.Load(status)
		if !ok {
			return 0
		}
		return n.(*atomic.Int64).Load()
	}
	if store.lookups.Load() != 5 || count(401) != 5 || count(429) != conns*each-5 {
		t.Fatalf("%d concurrent attempts: %d look-ups, %d answered 401, %d answered 429; want 5, 5 and the rest",
			conns*each, store.lookups.Load(), count(401), count(429))
	}

	// One at a time: a failed check (bcrypt) against a refused attempt.
	timed := func(c client, n int, want int) time.Duration {
		start := time.Now()
		for range n {
			wantStatus(t, a.loginFrom(c, "alice", "wrong-password", true), want)
		}
		return time.Since(start) / time.Duration(n)
	}
	failed := timed(direct("198.51.100.8"), 5, http.StatusUnauthorized)
	refused := timed(direct("198.51.100.8"), 100, http.StatusTooManyRequests)
	t.Logf("per attempt: failed login (bcrypt) %v, refused login %v (x%.0f)", failed, refused, float64(failed)/float64(refused))
	if store.lookups.Load() != 10 {
		t.Fatalf("%d look-ups, want 10: a refused attempt looked the user up", store.lookups.Load())
	}
}
