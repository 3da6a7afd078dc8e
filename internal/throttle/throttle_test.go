package throttle_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
	"github.com/filegate/filegate/internal/throttle"
)

// unreachable is a Redis nobody listens on: the throttle counts in
// process.
const unreachable = "redis://127.0.0.1:1/0"

// backends are the two places a throttle counts: the test Redis, and
// memory when Redis cannot be reached. The limits must hold in both.
var backends = []struct{ name, url string }{{"redis", testenv.RedisURL()}, {"redis down", unreachable}}

// open returns a throttle with the default limits on url under prefix,
// and its clock. On the test Redis, the throttle must never have fallen
// back to memory (a broken script would hide behind the fallback), unless
// the test says it expects to with *fallback.
func open(t *testing.T, url, prefix string) (thr *throttle.Throttle, c *testenv.Clock, fallback *bool) {
	t.Helper()
	c = testenv.NewClockAt(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	var logs bytes.Buffer
	thr, err := throttle.Open(url, prefix, throttle.DefaultLimits, c.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	fallback = new(bool)
	t.Cleanup(func() {
		thr.Close()
		if warned := strings.Contains(logs.String(), "redis unreachable"); url == testenv.RedisURL() && warned != *fallback {
			t.Errorf("fell back to memory: %t, want %t; log:\n%s", warned, *fallback, logs.String())
		}
	})
	return thr, c, fallback
}

var (
	wrong     = filegate.Errorf(filegate.EUNAUTHORIZED, "Wrong user name or password.")
	forbidden = filegate.Errorf(filegate.EFORBIDDEN, "Wrong password.")
	down      = filegate.Errorf(filegate.EUNAVAILABLE, "The database is unavailable.")
	addrA     = netip.MustParseAddr("198.51.100.7")
	addrB     = netip.MustParseAddr("198.51.100.8")
)

// guess makes one login attempt whose check answers result, and returns
// the wait (0: not refused) and whether the check ran.
func guess(t *testing.T, thr *throttle.Throttle, subject string, addr netip.Addr, result error) (time.Duration, bool) {
	t.Helper()
	ran := false
	wait, err := thr.Guard(context.Background(), "login", subject, addr, func() error {
		ran = true
		return result
	})
	if wait > 0 && (ran || err != nil) {
		t.Fatalf("refused attempt: check ran %t, err %v", ran, err)
	}
	if wait == 0 && (!ran || err != result) {
		t.Fatalf("admitted attempt: check ran %t, err %v, want %v", ran, err, result)
	}
	return wait, ran
}

// wantAdmitted makes n attempts that must all be checked.
func wantAdmitted(t *testing.T, thr *throttle.Throttle, n int, subject string, addr netip.Addr, result error) {
	t.Helper()
	for i := range n {
		if wait, _ := guess(t, thr, subject, addr, result); wait > 0 {
			t.Fatalf("attempt %d of %q from %s refused (wait %v), want it checked", i+1, subject, addr, wait)
		}
	}
}

// wantRefused makes one attempt (with the right password) that must be
// refused with exactly wait.
func wantRefused(t *testing.T, thr *throttle.Throttle, subject string, addr netip.Addr, wait time.Duration) {
	t.Helper()
	got, _ := guess(t, thr, subject, addr, nil)
	if got != wait {
		t.Fatalf("%q from %s: wait %v, want %v", subject, addr, got, wait)
	}
}

// After 5 wrong guesses for one name from one address, that name from
// that address is refused, right password or not, until the oldest
// failure is 15 minutes old; then exactly one more attempt gets through.
// Other names and other addresses are not affected.
func TestSubjectLimit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			thr, c, _ := open(t, b.url, testenv.RedisPrefix(t))
			for range 5 { // at t0, t0+1m, ..., t0+4m
				wantAdmitted(t, thr, 1, "alice", addrA, wrong)
				c.Advance(time.Minute)
			}
			wantRefused(t, thr, "alice", addrA, 10*time.Minute) // t0+5m: the first failure leaves at t0+15m
			wantAdmitted(t, thr, 1, "bob", addrA, nil)
			wantAdmitted(t, thr, 1, "alice", addrB, nil)

			c.Advance(10*time.Minute - time.Millisecond)
			wantRefused(t, thr, "alice", addrA, time.Millisecond)
			c.Advance(time.Millisecond) // t0+15m: the first failure has left
			wantAdmitted(t, thr, 1, "alice", addrA, wrong)
			wantRefused(t, thr, "alice", addrA, time.Minute) // the second leaves at t0+16m
			c.Advance(time.Minute)
			wantAdmitted(t, thr, 1, "alice", addrA, nil)
		})
	}
}

// A right guess clears the name's failures from that address; a wrong
// guess that is EFORBIDDEN (a wrong current password) counts like
// EUNAUTHORIZED; a check that decided nothing (the store is down) does
// not count.
func TestWhatCounts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			thr, _, _ := open(t, b.url, testenv.RedisPrefix(t))
			wantAdmitted(t, thr, 4, "alice", addrA, wrong)
			wantAdmitted(t, thr, 1, "alice", addrA, nil)
			wantAdmitted(t, thr, 10, "alice", addrA, down)
			wantAdmitted(t, thr, 3, "alice", addrA, wrong)
			wantAdmitted(t, thr, 2, "alice", addrA, forbidden)
			wantRefused(t, thr, "alice", addrA, 15*time.Minute)
		})
	}
}

// 50 failures from one address, whatever the names, refuse every name
// from it. Right guesses in between neither count nor clear the address's
// failures, so an attacker cannot reset them by logging in to an account
// of their own.
func TestAddressLimit(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			thr, c, _ := open(t, b.url, testenv.RedisPrefix(t))
			for i := range 49 {
				wantAdmitted(t, thr, 1, fmt.Sprintf("user%d", i), addrA, wrong)
				wantAdmitted(t, thr, 1, "mallory", addrA, nil)
			}
			c.Advance(time.Minute)
			wantAdmitted(t, thr, 1, "user49", addrA, wrong)
			wantRefused(t, thr, "never-tried", addrA, 14*time.Minute)
			wantRefused(t, thr, "mallory", addrA, 14*time.Minute)
			wantAdmitted(t, thr, 1, "never-tried", addrB, nil)
		})
	}
}

// The attack: 24 connections guessing at once. An attempt is
// counted before its check, so no more than 5 checks (bcrypt) ever run.
func TestConcurrentGuesses(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			thr, _, _ := open(t, b.url, testenv.RedisPrefix(t))
			var checks, refused atomic.Int64
			var wg sync.WaitGroup
			for range 24 {
				wg.Go(func() {
					for range 8 {
						wait, _ := thr.Guard(context.Background(), "login", "alice", addrA, func() error {
							checks.Add(1)
							time.Sleep(20 * time.Millisecond) // as long as a bcrypt
							return wrong
						})
						if wait > 0 {
							refused.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if checks.Load() != 5 || refused.Load() != 24*8-5 {
				t.Fatalf("%d checks ran and %d were refused, want 5 and %d", checks.Load(), refused.Load(), 24*8-5)
			}
		})
	}
}

// A client that hangs up is counted all the same, whether it is gone
// before its attempt is reserved or while it is checked; and it is
// counted in Redis, not mistaken for an outage.
func TestCancelledGuessCounts(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			thr, _, _ := open(t, b.url, testenv.RedisPrefix(t))
			for i := range 5 {
				ctx, cancel := context.WithCancel(context.Background())
				if i%2 == 0 {
					cancel()
				}
				thr.Guard(ctx, "login", "alice", addrA, func() error { cancel(); return wrong })
			}
			wantRefused(t, thr, "alice", addrA, 15*time.Minute)
		})
	}
}

// Scopes count apart: failed link passwords do not lock a login.
// Addresses count as the limits intend: an IPv4-mapped address is its
// IPv4 address, an IPv6 address counts as its /64, and clients with no
// known address share one count.
func TestScopesAndAddresses(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			thr, _, _ := open(t, b.url, testenv.RedisPrefix(t))
			wantAdmitted(t, thr, 5, "alice", addrA, wrong)
			if wait, _ := thr.Guard(context.Background(), "link", "alice", addrA, func() error { return nil }); wait != 0 {
				t.Fatalf("link scope refused after failed logins (wait %v)", wait)
			}
			wantRefused(t, thr, "alice", netip.MustParseAddr("::ffff:198.51.100.7"), 15*time.Minute)

			for i := range 5 {
				wantAdmitted(t, thr, 1, "alice", netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), wrong)
			}
			wantRefused(t, thr, "alice", netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff"), 15*time.Minute)
			wantAdmitted(t, thr, 1, "alice", netip.MustParseAddr("2001:db8:1:3::1"), nil)

			wantAdmitted(t, thr, 5, "alice", netip.Addr{}, wrong)
			wantRefused(t, thr, "alice", netip.Addr{}, 15*time.Minute)
		})
	}
}

// keys returns every key under prefix.
func keys(t *testing.T, rc *goredis.Client, prefix string) []string {
	t.Helper()
	ks, err := rc.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// Every uploader replica counts in the same Redis.
func TestReplicasShareCounts(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	one, _, _ := open(t, testenv.RedisURL(), prefix)
	two, _, _ := open(t, testenv.RedisURL(), prefix)
	wantAdmitted(t, one, 3, "alice", addrA, wrong)
	wantAdmitted(t, two, 2, "alice", addrA, wrong)
	wantRefused(t, one, "alice", addrA, 15*time.Minute)
	wantRefused(t, two, "alice", addrA, 15*time.Minute)
}

// Keys hold no user name, are short whatever was typed, live under the
// prefix's "t:" and expire with the window.
func TestKeys(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	thr, _, _ := open(t, testenv.RedisURL(), prefix)
	long := strings.Repeat("x", 64<<10)
	wantAdmitted(t, thr, 1, "secret-name", addrA, wrong)
	wantAdmitted(t, thr, 1, long, addrB, wrong)
	rc := testenv.RedisClient(t)
	ks := keys(t, rc, prefix)
	if len(ks) != 4 {
		t.Fatalf("keys %q, want 2 per attempt", ks)
	}
	for _, k := range ks {
		if !strings.HasPrefix(k, prefix+"t:login:{198.51.100.") || strings.Contains(k, "secret") || len(k) > len(prefix)+80 {
			t.Errorf("key %q", k)
		}
		if ttl := rc.PTTL(context.Background(), k).Val(); ttl <= 0 || ttl > 15*time.Minute {
			t.Errorf("key %q expires in %v", k, ttl)
		}
	}
}

// Redis goes away: the limits still hold, counted in process, and nobody
// else is locked out. Redis comes back: it is used again at once.
func TestRedisComesBack(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	thr, _, _ := open(t, "redis://"+proxy.Addr+"/0", prefix)
	rc := testenv.RedisClient(t)

	wantAdmitted(t, thr, 2, "alice", addrA, wrong)
	proxy.Cut()
	wantAdmitted(t, thr, 5, "bob", addrA, wrong)
	wantRefused(t, thr, "bob", addrA, 15*time.Minute)
	wantAdmitted(t, thr, 1, "carol", addrA, nil)
	wantAdmitted(t, thr, 1, "bob", addrB, nil)
	proxy.Restore()

	before := len(keys(t, rc, prefix))
	wantAdmitted(t, thr, 3, "alice", addrA, wrong) // with the 2 counted in Redis before the outage
	wantRefused(t, thr, "alice", addrA, 15*time.Minute)
	if after := len(keys(t, rc, prefix)); after != before || before != 2 {
		t.Fatalf("Redis holds %d keys before and %d after; want alice's 2 throughout", before, after)
	}
}

// Garbage in Redis (a key of the wrong type) makes Redis fail for that
// attempt: the count falls back to memory and still holds. Entries dated
// in the future cannot make a client wait longer than one window.
func TestForgedState(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	thr, c, fallback := open(t, testenv.RedisURL(), prefix)
	*fallback = true
	rc := testenv.RedisClient(t)
	ctx := context.Background()
	rc.Set(ctx, prefix+"t:login:{198.51.100.7}:a", "garbage", time.Hour)
	wantAdmitted(t, thr, 5, "alice", addrA, wrong)
	wantRefused(t, thr, "alice", addrA, 15*time.Minute)

	far := float64(c.Now().Add(1000 * time.Hour).UnixMilli())
	for i := range 50 {
		rc.ZAdd(ctx, prefix+"t:login:{198.51.100.8}:a", goredis.Z{Score: far, Member: i})
	}
	wantRefused(t, thr, "bob", addrB, 15*time.Minute)
}
