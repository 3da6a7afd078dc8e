package cache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// entryKey authenticates the entries of the caches tests open.
var entryKey = []byte("0123456789abcdef0123456789abcdef")

func open(t testing.TB, url string, ttl time.Duration) *cache.Cache {
	t.Helper()
	return openAt(t, url, testenv.RedisPrefix(t), ttl)
}

// openAt opens a cache on the Redis at url with keys under prefix, closed
// when the test ends.
func openAt(t testing.TB, url, prefix string, ttl time.Duration) *cache.Cache {
	t.Helper()
	c, err := cache.Open(url, prefix, ttl, entryKey, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	facts = filegate.Facts{
		Viewer:  filegate.Profile{ID: 1, Exists: true},
		Session: filegate.SessionState{ID: 7, Exists: true, UserID: 1, Expires: 1767225600},
		Owner:   filegate.Profile{ID: 2, Exists: true, Public: true},
		File:    filegate.Target{Exists: true, Path: "2/a.pdf", ContentType: "application/pdf", DisplayName: "a.pdf"},
	}
	// key names facts: viewer 1 with the session of token "t1", asking
	// for owner 2's "a.pdf".
	key = filegate.FactsKey{ViewerID: 1, SessionHash: session.HashToken("t1"), OwnerID: 2, StoredName: "a.pdf"}
)

// lookup asks c for the facts of key, loading facts on a miss, and
// reports whether they came from the cache.
func lookup(t *testing.T, c *cache.Cache) (hit bool) {
	t.Helper()
	return lookupKey(t, c, key)
}

func lookupKey(t *testing.T, c *cache.Cache, k filegate.FactsKey) (hit bool) {
	t.Helper()
	hit = true
	got, err := c.Facts(context.Background(), k, func() (filegate.Facts, error) {
		hit = false
		return facts, nil
	})
	if err != nil || got != facts {
		t.Fatalf("Facts = %+v, %v; want the loaded facts", got, err)
	}
	return hit
}

func TestFacts(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Minute)
	ctx := context.Background()
	if lookup(t, c) {
		t.Fatal("hit on an empty cache")
	}
	if !lookup(t, c) {
		t.Fatal("no hit after a miss was filled")
	}
	// Each kind of change drops exactly what it touched. The viewer's
	// change stands for a revocation of any of the viewer's sessions.
	for name, change := range map[string]func(){
		"viewer or their sessions changed": func() { c.UserChanged(ctx, 1) },
		"owner changed":                    func() { c.UserChanged(ctx, 2) },
		"file changed":                     func() { c.FileChanged(ctx, 2, "a.pdf") },
	} {
		change()
		if lookup(t, c) {
			t.Errorf("%s: still a hit", name)
		}
		if !lookup(t, c) {
			t.Errorf("%s: no hit after refilling", name)
		}
	}
	c.FileChanged(ctx, 2, "other.pdf")
	c.UserChanged(ctx, 3)
	if !lookup(t, c) {
		t.Error("unrelated changes dropped the entry")
	}
	// Another session of the same viewer has facts of its own.
	other := key
	other.SessionHash = session.HashToken("t2")
	if lookupKey(t, c, other) {
		t.Error("another session's facts came from the cache")
	}
	if !lookupKey(t, c, other) || !lookup(t, c) {
		t.Error("two sessions of one viewer do not both stay cached")
	}
}

// A session's entry is tagged with the generation of the user the
// request names. Asked for with a cookie naming another user, it is a
// miss; and whoever it was last written for, a change of the session's
// user drops it.
func TestSessionEntryFollowsViewer(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Minute)
	ctx := context.Background()
	c.UserChanged(ctx, 1)
	c.UserChanged(ctx, 3)
	lookup(t, c)
	swapped := key
	swapped.ViewerID = 3
	if lookupKey(t, c, swapped) {
		t.Error("a cookie of user 3 got the entry cached for user 1's")
	}
	c.UserChanged(ctx, 1)
	if lookup(t, c) {
		t.Error("the session's user changed, yet its entry answered")
	}
}

// A failed load is returned as is and leaves nothing cached.
func TestFactsLoadError(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Minute)
	broken := errors.New("database down")
	_, err := c.Facts(context.Background(), key, func() (filegate.Facts, error) {
		return facts, broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("Facts error = %v, want the load's error", err)
	}
	if lookup(t, c) {
		t.Fatal("the facts of a failed load were cached")
	}
}

// An invalidation Redis never saw is bounded by the TTL.
func TestStalenessBoundedByTTL(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Second)
	lookup(t, c)
	if !lookup(t, c) {
		t.Fatal("no hit right after a miss was filled")
	}
	time.Sleep(1100 * time.Millisecond)
	if lookup(t, c) {
		t.Fatal("entry outlived its TTL")
	}
}

// The memory layer keeps the same bound: an entry it holds lives no
// longer than AUTHZ_CACHE_TTL from when it was written, although no
// invalidation ever comes for it.
func TestStalenessBoundedByTTLInMemory(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Second)
	c.EnableMemory(100)
	if !eventually(c.MemoryServing) {
		t.Fatal("the memory layer never started answering")
	}
	lookup(t, c)
	if !lookup(t, c) || !cache.InMemory(c, key) {
		t.Fatal("no hit from memory right after a miss was filled")
	}
	time.Sleep(1100 * time.Millisecond)
	if cache.InMemory(c, key) {
		t.Error("the memory entry outlived its TTL")
	}
	if lookup(t, c) {
		t.Error("a hit after the TTL")
	}
}

// With Redis unreachable every call is a quick miss, never an error or a
// hang, and nothing is stored. The first change waits one lease, so that
// no replica that lost Redis too still answers from memory; later ones
// do not wait.
func TestRedisDown(t *testing.T) {
	c := open(t, "redis://127.0.0.1:1/0", time.Minute)
	ctx := context.Background()
	start := time.Now()
	for range 20 {
		if lookup(t, c) {
			t.Fatal("hit from an unreachable Redis")
		}
		c.UserChanged(ctx, 1)
	}
	if d := time.Since(start); d > cache.LeaseTTL+time.Second {
		t.Errorf("20 rounds against a dead Redis took %s; the cache must fail fast", d)
	}
}

// A malformed REDIS_URL is reported without the URL: it may hold a
// password, and the error ends up in the startup log.
func TestOpenErrorHidesPassword(t *testing.T) {
	for _, u := range []string{"redis://u:s3cret@host:xx/0", "redis://u:s3cret@host:1/zz", "http://u:s3cret@host/0",
		"redis-sentinel://:s3cret@host:26379/", "redis-sentinel://:s3cret@host/filegate", "redis-sentinel://:s3cret@h:1,h2/filegate",
		"redis-sentinel://:s3cret@h:1/filegate/x", "redis-sentinel://s3cret@h:1/filegate", "redis-sentinel://:s3cret@h:1/filegate?sentinel_pasword=s3cret",
		"redis-sentinel://:%zz@h:1/filegate"} {
		_, err := cache.Open(u, "p:", time.Second, entryKey, nil)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error quotes the password: %v", err)
		}
	}
}

// BenchmarkFactsHit is the cache's share of a cached decision: one MGET
// against the real Redis, and reading the four entries it returns. A
// Redis call that times out on a busy machine is a miss, reported as
// misses/op.
func BenchmarkFactsHit(b *testing.B) {
	benchmarkFacts(b, open(b, testenv.RedisURL(), time.Minute))
}

// benchmarkFacts measures c's lookups of facts it holds.
func benchmarkFacts(b *testing.B, c *cache.Cache) {
	ctx := context.Background()
	misses := 0
	load := func() (filegate.Facts, error) { misses++; return facts, nil }
	c.Facts(ctx, key, load)
	misses = 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Facts(ctx, key, load); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(misses)/float64(b.N), "misses/op")
}

// With Sentinel, the cache follows the primary; pointed at a replica
// directly, it refuses to read there (a replica may hold a generation
// token a change has replaced) and every lookup loads. A restarted or
// promoted server has a new epoch: the entries written before are
// misses.
func TestPrimaryOnly(t *testing.T) {
	sen := testenv.StartSentinel(t)
	prefix := testenv.RedisPrefix(t)
	viaSentinel := openAt(t, sen.URL, prefix, time.Minute)
	lookup(t, viaSentinel)
	if !lookup(t, viaSentinel) {
		t.Error("no hit through the sentinels")
	}
	onReplica := openAt(t, "redis://"+sen.ReplicaAddr+"/0", prefix, time.Minute)
	for range 3 {
		if lookup(t, onReplica) {
			t.Error("a hit read from a replica")
		}
	}
	if onReplica.RedisErrors() == 0 {
		t.Error("the replica's connections were not refused")
	}

	// Another server's epoch, as a promoted replica holds it: the entries
	// are misses, until the next connection claims the epoch again.
	primary := sen.Client(t, sen.PrimaryAddr)
	if err := primary.Set(context.Background(), cache.KeyPrefix(prefix)+"m:epoch", "another/server/", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if lookup(t, viaSentinel) {
		t.Error("a hit on an entry of another epoch")
	}
	if !lookup(t, viaSentinel) {
		t.Error("no hit on the entry written under the epoch Redis now holds")
	}
	fresh := openAt(t, sen.URL, prefix, time.Minute)
	if lookup(t, fresh) {
		t.Error("a new connection did not claim the epoch: a hit on an entry of another epoch")
	}
}
