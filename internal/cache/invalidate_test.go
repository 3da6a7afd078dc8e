package cache_test

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/testenv"
)

// behindProxy returns a cache that reaches Redis through a proxy the test
// can cut, and a watcher on the same keys that reaches Redis directly,
// with the facts of key cached.
func behindProxy(t *testing.T, ttl time.Duration) (c, watcher *cache.Cache, p *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	p = testenv.NewProxy(t, u.Host)
	prefix := testenv.RedisPrefix(t)
	c = openAt(t, "redis://"+p.Addr+u.Path, prefix, ttl)
	watcher = openAt(t, testenv.RedisURL(), prefix, ttl)
	lookup(t, c) // a pooled connection through the proxy
	if !lookup(t, watcher) {
		t.Fatal("no hit after a miss was filled")
	}
	return c, watcher, p
}

// eventually polls cond every 20 ms for up to 10 s.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// Redis closed the connection the cache would use (a restart, an idle
// timeout): the invalidation is written anyway, before the change returns.
func TestInvalidationSurvivesAClosedConnection(t *testing.T) {
	c, watcher, p := behindProxy(t, time.Minute)
	p.Cut()
	p.Restore()
	c.UserChanged(context.Background(), 2)
	if lookup(t, watcher) {
		t.Fatal("the invalidation was lost with the closed connection")
	}
}

// Redis away for a moment shorter than the patience of an invalidation:
// the change waits for it and is seen on the next request.
func TestInvalidationWaitsForRedis(t *testing.T) {
	c, watcher, p := behindProxy(t, time.Minute)
	p.Cut()
	go func() { time.Sleep(200 * time.Millisecond); p.Restore() }()
	c.FileChanged(context.Background(), 2, "a.pdf")
	if lookup(t, watcher) {
		t.Fatal("an invalidation was lost to a 200 ms blip")
	}
}

// Redis away for longer: the change returns after a second, later changes
// do not wait at all, and both invalidations are written once Redis is
// back.
func TestInvalidationRetriedInBackground(t *testing.T) {
	c, watcher, p := behindProxy(t, time.Minute)
	ctx := context.Background()
	p.Cut()
	start := time.Now()
	c.UserChanged(ctx, 2)
	first := time.Since(start)
	start = time.Now()
	c.FileChanged(ctx, 2, "a.pdf")
	second := time.Since(start)
	t.Logf("with Redis away, the first change waited %s, the second %s", first, second)
	if second > first/2 {
		t.Errorf("the second change waited %s for a Redis known to be away (the first: %s)", second, first)
	}
	if got := cache.Pending(c); got != 2 {
		t.Fatalf("%d invalidations wait, want 2", got)
	}
	if !lookup(t, watcher) {
		t.Fatal("Redis saw an invalidation while cut off") // the proxy is broken, not the cache
	}
	p.Restore()
	if !eventually(func() bool { return cache.Pending(c) == 0 }) {
		t.Fatalf("%d invalidations still wait 10 s after Redis came back", cache.Pending(c))
	}
	if lookup(t, watcher) {
		t.Fatal("the retried invalidations did not reach Redis")
	}
}

// An invalidation that cannot be written within the TTL is given up: every
// entry it would have dropped has expired by then.
func TestInvalidationGivenUpAfterTTL(t *testing.T) {
	c, _, p := behindProxy(t, 300*time.Millisecond)
	p.Cut()
	c.UserChanged(context.Background(), 2)
	if !eventually(func() bool { return cache.Pending(c) == 0 }) {
		t.Fatalf("%d invalidations still wait 10 s after their TTL of 300 ms", cache.Pending(c))
	}
}

// However many changes Redis misses, at most MaxPending invalidations
// wait in memory.
func TestPendingIsBounded(t *testing.T) {
	c := open(t, "redis://127.0.0.1:1/0", time.Minute)
	ctx := context.Background()
	for id := range cache.MaxPending + 10 {
		c.UserChanged(ctx, int64(id))
	}
	if got := cache.Pending(c); got != cache.MaxPending {
		t.Errorf("%d invalidations wait, want %d", got, cache.MaxPending)
	}
}

// A caller whose context is already cancelled still invalidates: the
// background retry writes what the cancelled attempt could not.
func TestInvalidationWithCancelledContext(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	c := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	lookup(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.UserChanged(ctx, 1)
	if !eventually(func() bool { return cache.Pending(c) == 0 }) || lookup(t, c) {
		t.Fatal("an invalidation asked for with a cancelled context never reached Redis")
	}
}

// A Redis that requires a password (redis://:password@host:port/db) works
// with the right one; with a wrong one or none every lookup is a miss,
// never an error.
func TestRedisPassword(t *testing.T) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed: %v", err)
	}
	addr := testenv.FreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	// The configuration comes on standard input, as compose.yaml passes
	// it, so the password is not on the command line.
	srv := exec.Command(path, "-")
	srv.Stdin = strings.NewReader("bind 127.0.0.1\nport " + port + "\nsave \"\"\nappendonly no\nrequirepass s3cret-pass\n")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	good := open(t, "redis://:s3cret-pass@"+addr+"/0", time.Minute)
	if !eventually(func() bool { lookup(t, good); return lookup(t, good) }) {
		t.Fatal("no hit with the right password")
	}
	for _, u := range []string{"redis://:wrong@" + addr + "/0", "redis://" + addr + "/0"} {
		c := open(t, u, time.Minute)
		if lookup(t, c) || lookup(t, c) {
			t.Errorf("%s: a hit", u)
		}
	}
}
