package cache_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
)

// replica opens a cache with the memory layer on, as authz does, on the
// Redis at url under prefix, and waits until memory answers.
func replica(t testing.TB, url, prefix string) *cache.Cache {
	t.Helper()
	c := openAt(t, url, prefix, time.Minute)
	c.EnableMemory(1000)
	if !eventually(c.MemoryServing) {
		t.Fatal("the memory layer never started answering")
	}
	return c
}

// writer opens a cache that only invalidates, as the uploader does.
func writer(t testing.TB, prefix string) *cache.Cache {
	t.Helper()
	return writerAt(t, testenv.RedisURL(), prefix)
}

// writerAt is writer on the Redis at url.
func writerAt(t testing.TB, url, prefix string) *cache.Cache {
	t.Helper()
	c, err := cache.Open(url, prefix, time.Minute, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// warm looks k up on c until memory holds its facts.
func warm(t *testing.T, c *cache.Cache, k filegate.FactsKey) {
	t.Helper()
	if !eventually(func() bool { lookupKey(t, c, k); return cache.InMemory(c, k) }) {
		t.Fatal("the facts never reached memory")
	}
}

// proxied returns a Redis URL through a proxy the test can cut, and the
// proxy.
func proxied(t *testing.T) (string, *testenv.Proxy) {
	t.Helper()
	u, err := url.Parse(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProxy(t, u.Host)
	return "redis://" + p.Addr + u.Path, p
}

// A memory hit asks Redis nothing: with the entries gone from Redis,
// memory still answers, and writes nothing back.
func TestMemoryAnswers(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	c := replica(t, testenv.RedisURL(), prefix)
	ctx := context.Background()
	if lookup(t, c) {
		t.Fatal("hit on an empty cache")
	}
	if !cache.InMemory(c, key) {
		t.Fatal("the loaded facts did not reach memory")
	}
	rdb := testenv.RedisClient(t)
	n := keysOf(prefix)
	rdb.Del(ctx, n.entries()...)
	if !lookup(t, c) {
		t.Fatal("memory did not answer")
	}
	if got := rdb.Exists(ctx, n.entries()...).Val(); got != 0 {
		t.Fatalf("%d entries written to Redis by a memory hit", got)
	}
	// A second replica fills its memory from Redis, not from the database.
	other := replica(t, testenv.RedisURL(), prefix)
	lookup(t, c)
	c.UserChanged(ctx, 3) // unrelated: Redis has the entries again
	lookup(t, other)
	if !lookup(t, other) || !cache.InMemory(other, key) {
		t.Fatal("the second replica did not keep the facts")
	}
}

// versioned returns a load whose facts carry the current version as
// their session's expiry: the version stands for the database.
func versioned(version *atomic.Int64) func() (filegate.Facts, error) {
	return func() (filegate.Facts, error) {
		f := facts
		f.Session.Expires = version.Load()
		return f, nil
	}
}

// Two and three replicas: after each kind of change, made by a cache that
// only invalidates (the uploader's), every replica's very next lookup
// answers the new facts, although each answered from memory just before.
// A version stands for the database: each change stores a new one, then
// invalidates.
func TestMemoryNextRequestOnEveryReplica(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(strconv.Itoa(n)+" replicas", func(t *testing.T) {
			prefix := testenv.RedisPrefix(t)
			var replicas []*cache.Cache
			for range n {
				replicas = append(replicas, replica(t, testenv.RedisURL(), prefix))
			}
			w := writer(t, prefix)
			ctx := context.Background()
			var version atomic.Int64
			load := versioned(&version)
			for _, change := range []struct {
				name string
				make func()
			}{
				{"the viewer's sessions revoked", func() { w.UserChanged(ctx, 1) }},
				{"the owner made private, or removed", func() { w.UserChanged(ctx, 2) }},
				{"the file deleted", func() { w.FileChanged(ctx, 2, "a.pdf") }},
			} {
				for _, r := range replicas {
					if !eventually(func() bool { r.Facts(ctx, key, load); return cache.InMemory(r, key) }) {
						t.Fatal("the facts never reached memory")
					}
				}
				v := version.Add(1)
				start := time.Now()
				change.make()
				took := time.Since(start)
				for i, r := range replicas {
					if f, _ := r.Facts(ctx, key, load); f.Session.Expires != v {
						t.Errorf("%s: replica %d answered version %d, want %d", change.name, i, f.Session.Expires, v)
					}
				}
				t.Logf("%s: the change waited %v for %d replicas", change.name, took, n)
			}
			// A share link's facts likewise.
			const id = 42
			loadLink := func() (filegate.LinkFacts, error) {
				return filegate.LinkFacts{Exists: true, ID: id, Expires: version.Load(), File: facts.File}, nil
			}
			for _, r := range replicas {
				if !eventually(func() bool {
					r.Link(ctx, id, loadLink)
					hit := true
					r.Link(ctx, id, func() (filegate.LinkFacts, error) { hit = false; return loadLink() })
					return hit
				}) {
					t.Fatal("the link's facts never came from the cache")
				}
			}
			v := version.Add(1)
			w.LinkChanged(ctx, id)
			for i, r := range replicas {
				if lf, _ := r.Link(ctx, id, loadLink); lf.Expires != v {
					t.Errorf("link revoked: replica %d answered version %d, want %d", i, lf.Expires, v)
				}
			}
		})
	}
}

// The model: lookups run on three replicas while a writer changes the
// facts again and again, each time committing first (a version counter
// stands for the database) and invalidating after. A lookup that starts
// after a change returned never sees an older version.
func TestMemoryNeverStale(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	var replicas []*cache.Cache
	for range 3 {
		replicas = append(replicas, replica(t, testenv.RedisURL(), prefix))
	}
	w := writer(t, prefix)
	ctx := context.Background()
	var version atomic.Int64
	load := versioned(&version)
	type seen struct {
		start   time.Time
		version int64
	}
	var (
		mu       sync.Mutex
		observed []seen
		done     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for _, r := range replicas {
		{
			wg.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					start := time.Now()
					f, err := r.Facts(ctx, key, load)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					observed = append(observed, seen{start, f.Session.Expires})
					mu.Unlock()
				}
			})
		}
	}
	returned := []time.Time{{}} // when the change to each version returned
	var took time.Duration
	for v := 1; v <= 40; v++ {
		time.Sleep(time.Duration(v%7) * 3 * time.Millisecond)
		version.Store(int64(v))
		start := time.Now()
		w.UserChanged(ctx, 1)
		returned = append(returned, time.Now())
		took = max(took, time.Since(start))
	}
	close(done)
	wg.Wait()
	stale := 0
	for _, o := range observed {
		// The newest version whose change had returned when o started.
		v := 0
		for v+1 < len(returned) && returned[v+1].Before(o.start) {
			v++
		}
		if o.version < int64(v) {
			stale++
		}
	}
	if stale > 0 {
		t.Errorf("%d of %d lookups saw a version older than the last change that had returned", stale, len(observed))
	}
	t.Logf("%d lookups on 3 replicas during 40 changes; the slowest change waited %v", len(observed), took)
}

// A replica whose connection to Redis is reset stops answering from
// memory at once, and the writer waits for it at most one lease.
func TestMemoryReplicaCutOff(t *testing.T) {
	u, p := proxied(t)
	prefix := testenv.RedisPrefix(t)
	cut := replica(t, u, prefix)
	other := replica(t, testenv.RedisURL(), prefix)
	w := writer(t, prefix)
	warm(t, cut, key)
	warm(t, other, key)
	p.Cut()
	start := time.Now()
	w.UserChanged(context.Background(), 1)
	took := time.Since(start)
	t.Logf("with one of two replicas cut off, the change waited %v (lease %v)", took, cache.LeaseTTL)
	if took > cache.LeaseTTL+250*time.Millisecond {
		t.Errorf("the change waited %v, more than a lease", took)
	}
	if cache.InMemory(cut, key) || cut.MemoryServing() {
		t.Error("the cut-off replica still answers from memory")
	}
	if lookup(t, cut) {
		t.Error("the cut-off replica answered from a cache")
	}
	if lookup(t, other) {
		t.Error("the other replica answered the old facts")
	}
}

// A replica whose Redis stops answering without a word (a partition, a
// hung server): its memory is out by the time the writer, who waits for
// its lease, returns.
func TestMemoryReplicaSilentlyCutOff(t *testing.T) {
	u, p := proxied(t)
	prefix := testenv.RedisPrefix(t)
	cut := replica(t, u, prefix)
	w := writer(t, prefix)
	warm(t, cut, key)
	p.Delay(time.Minute)
	start := time.Now()
	w.FileChanged(context.Background(), 2, "a.pdf")
	took := time.Since(start)
	if cache.InMemory(cut, key) {
		t.Error("the partitioned replica still answers from memory after the change returned")
	}
	t.Logf("with the only replica partitioned, the change waited %v (lease %v)", took, cache.LeaseTTL)
	if took > cache.LeaseTTL+250*time.Millisecond {
		t.Errorf("the change waited %v, more than a lease", took)
	}
	if lookup(t, cut) {
		t.Error("the partitioned replica answered from a cache")
	}
	p.Delay(0)
}

// Whoever can publish on the channel without being filegate cannot keep
// an entry alive past a real change: malformed, out-of-sequence and
// well-guessed messages drop memory at worst. Neither can a lease
// written into the set hold changes longer than a lease.
func TestMemoryForgedInvalidations(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	r := replica(t, testenv.RedisURL(), prefix)
	w := writer(t, prefix)
	rdb := testenv.RedisClient(t)
	ctx := context.Background()
	seq := func() int64 {
		v, err := rdb.Get(ctx, cache.SeqKey(r)).Int64()
		if err != nil && err != goredis.Nil {
			t.Fatal(err)
		}
		return v
	}
	for _, forge := range []struct {
		name    string
		message func() string
	}{
		{"garbage", func() string { return "garbage" }},
		{"not JSON", func() string { return fmt.Sprintf("%d nope", seq()+1) }},
		{"far ahead", func() string { return "999999999 forged []" }},
		{"replayed", func() string { return fmt.Sprintf("%d forged []", seq()) }},
		// Takes the number the real change gets next: the real one then
		// comes out of sequence.
		{"the next number, naming nothing", func() string { return fmt.Sprintf("%d forged []", seq()+1) }},
		// The same, and the counter moved on, so the real change comes in
		// sequence: it is applied like any other.
		{"the next number, counter moved", func() string {
			s := seq() + 1
			rdb.Incr(ctx, cache.SeqKey(r))
			return fmt.Sprintf("%d forged []", s)
		}},
	} {
		if !eventually(func() bool { warm(t, r, key); return r.MemoryServing() }) {
			t.Fatalf("%s: memory never answered again", forge.name)
		}
		if err := rdb.Publish(ctx, cache.Channel(r), forge.message()).Err(); err != nil {
			t.Fatal(err)
		}
		w.UserChanged(ctx, 1)
		if lookup(t, r) {
			t.Errorf("%s: the old facts were answered after the change", forge.name)
		}
	}
	// A lease far in the future, of a replica that does not exist.
	if err := rdb.ZAdd(ctx, cache.LeasesKey(r), goredis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: "ghost"}).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w.UserChanged(ctx, 1)
	if took := time.Since(start); took > cache.LeaseTTL+250*time.Millisecond {
		t.Errorf("a forged lease held the change for %v", took)
	}
}

// Whoever overwrites the epoch makes it name no server the replica
// listens on: memory is dropped, and comes back once a new subscription
// has claimed the epoch again.
func TestMemoryForgedEpoch(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	r := replica(t, testenv.RedisURL(), prefix)
	warm(t, r, key)
	rdb := testenv.RedisClient(t)
	ctx := context.Background()
	epoch := cache.KeyPrefix(prefix) + "m:epoch"
	if err := rdb.Set(ctx, epoch, "another/server/", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return !cache.InMemory(r, key) }) {
		t.Fatal("memory kept answering under a lease on a server whose epoch is not the subscription's")
	}
	if !eventually(func() bool { warm(t, r, key); return r.MemoryServing() }) {
		t.Fatal("memory never answered again")
	}
	if got := rdb.Get(ctx, epoch).Val(); got == "another/server/" {
		t.Error("the new subscription did not claim the epoch back")
	}
}

// Memory holds at most its size, evicting what it must and counting it.
func TestMemoryBounded(t *testing.T) {
	c := openAt(t, testenv.RedisURL(), testenv.RedisPrefix(t), time.Minute)
	c.EnableMemory(10)
	if !eventually(c.MemoryServing) {
		t.Fatal("the memory layer never started answering")
	}
	for i := range 50 {
		k := key
		k.StoredName = fmt.Sprintf("f%d.pdf", i)
		lookupKey(t, c, k)
	}
	if n := cache.MemoryLen(c); n > 10 {
		t.Errorf("memory holds %d entries, room for 10", n)
	}
	if n := c.MemoryEvictions(); n < 40 {
		t.Errorf("%d evictions counted, want at least 40", n)
	}
}

// A change Redis does not take waits one lease, after which no replica
// that lost Redis too can answer from memory; the next changes in the
// same outage do not wait.
func TestChangeWithRedisDownWaitsALease(t *testing.T) {
	w, err := cache.Open("redis://127.0.0.1:1/0", "x:", time.Minute, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	start := time.Now()
	w.UserChanged(ctx, 1)
	first := time.Since(start)
	start = time.Now()
	w.UserChanged(ctx, 2)
	second := time.Since(start)
	if first < cache.LeaseTTL || first > cache.LeaseTTL+time.Second {
		t.Errorf("the first change waited %v, want a lease (%v)", first, cache.LeaseTTL)
	}
	if second > 200*time.Millisecond {
		t.Errorf("the second change waited %v", second)
	}
}

// BenchmarkFactsMemoryHit is BenchmarkFactsHit answered from memory.
func BenchmarkFactsMemoryHit(b *testing.B) {
	benchmarkFacts(b, replica(b, testenv.RedisURL(), testenv.RedisPrefix(b)))
}

// After a change made directly in SQL an operator drops every replica's
// memory by publishing anything unreadable on the channel
// (docs/operating.md#cache-behaviour).
func TestMemoryDroppedByUnreadableMessage(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	replicas := []*cache.Cache{replica(t, testenv.RedisURL(), prefix), replica(t, testenv.RedisURL(), prefix)}
	for _, r := range replicas {
		warm(t, r, key)
	}
	rdb := testenv.RedisClient(t)
	if err := rdb.Publish(context.Background(), cache.KeyPrefix(prefix)+"m:inval", "flush").Err(); err != nil {
		t.Fatal(err)
	}
	for i, r := range replicas {
		if !eventually(func() bool { return !cache.InMemory(r, key) }) {
			t.Errorf("replica %d kept its memory", i)
		}
	}
}

// A replica that stops gives its lease back: no change waits for it.
func TestMemoryCloseGivesLeaseBack(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	r := replica(t, testenv.RedisURL(), prefix)
	w := writer(t, prefix)
	warm(t, r, key)
	r.Close()
	if r.MemoryServing() {
		t.Error("a closed replica answers from memory")
	}
	if n := testenv.RedisClient(t).ZCard(context.Background(), cache.LeasesKey(r)).Val(); n != 0 {
		t.Errorf("%d leases left after the only replica stopped", n)
	}
	start := time.Now()
	w.UserChanged(context.Background(), 1)
	if took := time.Since(start); took > cache.LeaseTTL/4 {
		t.Errorf("a change waited %v for a replica that had stopped", took)
	}
}

// After a failover that leaves the old primary up (a partition, or the
// moments before the sentinels demote it), go-redis sends a replica's
// commands to the new primary but leaves its subscription on the old
// one. The replica then hears none of the changes made on the new
// primary, and must not answer from memory under a lease the new one
// grants. Here the new primary B was a replica of A until promoted, and
// A took three changes after that: B's changes come under numbers the
// replica has applied already, as after writes a failover lost.
func TestMemoryLeaseAndSubscriptionOnOneServer(t *testing.T) {
	a, b := testenv.StartRedis(t), testenv.StartRedis(t)
	onA, onB := goredis.NewClient(&goredis.Options{Addr: a}), goredis.NewClient(&goredis.Options{Addr: b})
	t.Cleanup(func() { onA.Close(); onB.Close() })
	ctx := context.Background()
	host, port, _ := net.SplitHostPort(a)
	if err := onB.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	p := testenv.NewProxy(t, a)
	prefix := testenv.RedisPrefix(t)
	r := replica(t, "redis://"+p.Addr+"/0", prefix)
	var version atomic.Int64
	load := versioned(&version)
	inMemory := func() bool { r.Facts(ctx, key, load); return cache.InMemory(r, key) }
	epoch := cache.KeyPrefix(prefix) + "m:epoch"
	idA := onA.Get(ctx, epoch).Val()
	if idA == "" || !eventually(func() bool { return onB.Get(ctx, epoch).Val() == idA }) {
		t.Fatal("B never replicated A's epoch")
	}
	if err := onB.ReplicaOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	wA := writerAt(t, "redis://"+a+"/0", prefix)
	for range 3 {
		wA.UserChanged(ctx, 3) // another user: the facts stay
	}
	if !eventually(inMemory) {
		t.Fatal("the facts never reached memory")
	}

	// The failover as go-redis makes it: what the replica connects anew
	// reaches B, its pooled connections are closed, its subscription
	// stays on A.
	p.Redirect(b)
	closeCommandConns(t, onA)
	// The replica's first connection to B claims B's epoch, and its first
	// renewal there drops memory. A lease later, whatever lease A granted
	// has run out.
	if !eventually(func() bool { id := onB.Get(ctx, epoch).Val(); return id != "" && id != idA }) {
		t.Fatal("the replica never reached B")
	}
	reached := time.Now()
	if !eventually(func() bool { return !cache.InMemory(r, key) }) {
		t.Error("memory kept answering with its lease on B and its subscription on A")
	} else {
		t.Logf("memory dropped %v after the replica reached B", time.Since(reached).Round(time.Millisecond))
	}
	time.Sleep(cache.LeaseTTL)
	wB := writerAt(t, "redis://"+b+"/0", prefix)
	v := version.Add(1)
	wB.UserChanged(ctx, 1)
	for end := time.Now().Add(cache.LeaseTTL); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if f, _ := r.Facts(ctx, key, load); f.Session.Expires != v {
			t.Fatalf("the replica answered version %d after a change on the new primary made it %d", f.Session.Expires, v)
		}
	}

	// With both on B, memory answers again, and hears B's changes.
	if !eventually(inMemory) {
		t.Fatal("memory never answered again on the new primary")
	}
	v = version.Add(1)
	wB.UserChanged(ctx, 1)
	if f, _ := r.Facts(ctx, key, load); f.Session.Expires != v {
		t.Errorf("the replica answered version %d after the next change on the new primary, want %d", f.Session.Expires, v)
	}
}

// closeCommandConns closes every connection to rdb's server but the
// subscribed ones, as go-redis closes a client's pooled connections, and
// not its subscriptions, on a failover. CLIENT KILL TYPE cannot tell
// them apart: a client subscribed over RESP3 counts as normal.
func closeCommandConns(t *testing.T, rdb *goredis.Client) {
	t.Helper()
	ctx := context.Background()
	cn := rdb.Conn()
	defer cn.Close()
	self := strconv.FormatInt(cn.ClientID(ctx).Val(), 10)
	list, err := cn.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for line := range strings.SplitSeq(strings.TrimSpace(list), "\n") {
		f := map[string]string{}
		for field := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(field, "=")
			f[k] = v
		}
		if f["id"] == self || f["sub"] != "0" || f["psub"] != "0" {
			continue
		}
		if err := cn.ClientKillByFilter(ctx, "ID", f["id"]).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatal("no connection to close")
	}
}
