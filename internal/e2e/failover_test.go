package e2e

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/testenv"
)

// The Redis failover tests: the stack's REDIS_URL names a primary
// through three sentinels (testenv.StartSentinel), and the primary is
// killed with SIGKILL. Their figures are in docs/scale.md.

// sources returns how many of authz's decisions so far took their facts
// from PostgreSQL and how many from Redis or memory.
func sources(t *testing.T, metricsURL string) (db, cached float64) {
	t.Helper()
	m := testenv.Scrape(t, metricsURL)
	const name = "filegate_authz_decisions_total"
	return m.Value(name, "source", "db"), m.Value(name, "source", "redis") + m.Value(name, "source", "memory")
}

// The primary dies in the middle of a download run while ann's files
// flip between public and private through the web app: every answer
// stays right (no 200 after a revocation returned, no 5xx), decisions
// come from PostgreSQL while no primary answers, and from Redis and
// memory again once the replica is promoted.
func TestRedisFailover(t *testing.T) {
	t.Parallel()
	sen := testenv.StartSentinel(t)
	s, c := faultWorld(t, testenv.Options{RedisURL: sen.URL})
	metrics := s.Authz.MetricsURL(t)
	c.t = goT{t}

	run := startDownloads(s, c.tg, 4)
	stopFlips := make(chan struct{})
	var flips sync.WaitGroup
	flips.Go(func() {
		for public := false; ; public = !public {
			select {
			case <-stopFlips:
				return
			case <-time.After(100 * time.Millisecond):
			}
			c.setPublicWeb("ann", public)
		}
	})
	time.Sleep(2 * time.Second)
	db0, cached0 := sources(t, metrics)
	if cached0 == 0 {
		t.Fatalf("no decision from Redis or memory before the failover (%v from PostgreSQL)", db0)
	}

	t1 := time.Now()
	sen.Primary.Kill(t)
	sen.WaitPrimary(t, sen.ReplicaAddr, 30*time.Second)
	t2 := time.Now()
	db1, cached1 := sources(t, metrics)
	// Back on Redis: over a quiet half second, decisions come from Redis
	// or memory and none from PostgreSQL but the flips' own misses.
	back := waitFor(t, "decisions from Redis again", func() bool {
		db, cached := sources(t, metrics)
		time.Sleep(500 * time.Millisecond)
		db2, cached2 := sources(t, metrics)
		return cached2-cached > 10*(db2-db)
	})
	t3 := time.Now()
	time.Sleep(time.Second)
	close(stopFlips)
	flips.Wait()
	obs := run.stop()
	t4 := time.Now()
	db4, cached4 := sources(t, metrics)

	c.h.judge(obs, nil).report(t, c.h)
	for _, p := range []struct {
		name     string
		from, to time.Time
	}{{"before", time.Time{}, t1}, {"failing over", t1, t2}, {"promoted", t2, t3}, {"back on Redis", t3, t4}} {
		pv := c.h.judge(between(obs, p.from, p.to), nil)
		t.Logf("%s: %v", p.name, pv)
		if pv.requests == 0 {
			t.Errorf("no download while %s", p.name)
		}
	}
	t.Logf("failover: primary killed to replica promoted %v; back on Redis %v after that; %d flips of ann's files",
		t2.Sub(t1).Round(time.Millisecond), back.Round(time.Millisecond), c.counts["public (web)"])
	t.Logf("decisions from PostgreSQL / from Redis or memory: before %v/%v, failing over %v/%v, after %v/%v",
		db0, cached0, db1-db0, cached1-cached0, db4-db1, cached4-cached1)
}

// A change that the primary acknowledged but never replicated: the
// replication link is cut, ann's files go private (the primary takes the
// fresh generation token and every authz drops its memory), and the
// primary dies. The promoted replica still holds the old token and the
// entries that said public; authz must not believe them. Every answer
// after the change is a 403, from PostgreSQL until entries of the new
// primary's epoch are written, then from Redis.
func TestRedisFailoverLostWrite(t *testing.T) {
	t.Parallel()
	sen := testenv.StartSentinel(t)
	s, c := faultWorld(t, testenv.Options{RedisURL: sen.URL})
	metrics := s.Authz.MetricsURL(t)
	ctx := context.Background()
	primary, replica := sen.Client(t, sen.PrimaryAddr), sen.Client(t, sen.ReplicaAddr)
	prefix := cache.KeyPrefix(s.RedisPrefix)
	ann, ben := c.ids["ann"], c.ids["ben"]
	annFile := c.slots["ann"]["a.txt"]
	client := newClient(1)
	get := func() observation {
		return download(client, s.URL, "GET", annFile, viewer(ben), c.tg.cookies[viewer(ben)])
	}

	if o := get(); o.status != 200 {
		t.Fatalf("before: %v", o)
	}
	annEntry, annGen := prefix+"c:u:"+strconv.FormatInt(ann, 10), prefix+"g:u:"+strconv.FormatInt(ann, 10)
	waitFor(t, "ann's entry on the replica", func() bool { return replica.Exists(ctx, annEntry).Val() == 1 })
	oldGen := replica.Get(ctx, annGen).Val()

	sen.ReplicaLink.Cut()
	c.setPublicWeb("ann", false)
	changed := time.Now()
	if o := get(); o.status != 403 {
		t.Fatalf("after the change, with the primary up: %v", o)
	}
	if newGen := primary.Get(ctx, annGen).Val(); newGen == oldGen || newGen == "" {
		t.Fatalf("the change left ann's generation as it was (%q)", newGen)
	}
	oldEpoch := primary.Get(ctx, prefix+"m:epoch").Val()

	sen.Primary.Kill(t)
	sen.WaitPrimary(t, sen.ReplicaAddr, 30*time.Second)
	promoted := time.Now()
	if got := replica.Get(ctx, annGen).Val(); got != oldGen {
		t.Fatalf("the promoted replica has ann's generation %q, not the old %q: the change was not lost, and this test shows nothing", got, oldGen)
	}
	db0, cached0 := sources(t, metrics)
	var obs []observation
	for time.Since(promoted) < 3*time.Second {
		obs = append(obs, get())
		time.Sleep(20 * time.Millisecond)
	}
	db1, cached1 := sources(t, metrics)
	for _, o := range obs {
		if o.status != 403 {
			t.Errorf("after the lost change and the failover: %v, want 403", o)
		}
	}
	if epoch := replica.Get(ctx, prefix+"m:epoch").Val(); epoch == oldEpoch || epoch == "" {
		t.Errorf("the promoted replica's epoch is %q, the old primary's was %q", epoch, oldEpoch)
	}
	if cached1-cached0 < float64(len(obs))/2 {
		t.Errorf("after the failover only %v of %d decisions came from Redis or memory (%v from PostgreSQL)", cached1-cached0, len(obs), db1-db0)
	}
	t.Logf("change to promotion %v; %d downloads after it, all 403: %v from PostgreSQL, %v from Redis or memory",
		promoted.Sub(changed).Round(time.Millisecond), len(obs), db1-db0, cached1-cached0)
}
