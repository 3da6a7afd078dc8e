package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The protocol that keeps the memory layer (memory.go) as current as
// Redis: a change is visible on the very next request, on every replica
// (docs/interface.md#cache). It is the one Chubby uses for its client
// caches: a change is acknowledged only once every cache that may hold
// the old facts has dropped them, or has lost its lease and with it the
// right to answer from memory.
//
// Replica (a Cache with EnableMemory):
//   - holds a lease: a member of the sorted set m:leases, fresh for each
//     subscription, scored by when the lease ends by Redis's clock,
//     renewed every renewEvery;
//   - holds a subscription to the channel m:inval, read with a Receive
//     loop: go-redis's Channel() reconnects by itself and could lose
//     messages unseen;
//   - holds its lease on the server it hears the invalidations from:
//     the subscription's connection notes the epoch it claimed
//     (epoch.go), and the first sequence number is read, and each lease
//     granted, only where the epoch is still that. Anywhere else (a
//     failover that left the old primary up: go-redis moves the commands
//     to the new one, never the subscription) ends the subscription, and
//     the next one starts where the commands go;
//   - applies each invalidation to its map, then acknowledges it by
//     pushing its lease member and the message's random nonce onto the
//     list m:ack:{seq} (out of sequence too, once memory is dropped), so
//     that a message someone else published under the next number cannot
//     stand in for the real one: its acknowledgement carries the wrong
//     nonce, and the real one then arrives out of sequence;
//   - answers from memory only while its subscription is confirmed and in
//     sequence, its lease is valid by its own monotonic clock less
//     leaseMargin, and it has applied every invalidation published before
//     the lease was granted. Any error, reconnection, sequence gap or
//     unreadable message drops the whole map.
//
// Writer (every Cache: the uploader's, which has no entry key, too): one
// script sets the fresh generation tokens, numbers the invalidation,
// publishes it and lists the leases valid at that moment, all at once;
// then the change waits until each holder has acknowledged or its lease
// has run out by the writer's clock. With Redis unreachable no lease can
// be renewed, and a change waits until one lease after the writer first
// failed to reach it.
//
// Clocks: only rates matter. A replica measures its lease from before it
// asked for it; a writer measures a holder's remaining lease from after
// the script ran; both err on the safe side. Lease ends are compared with
// Redis's TIME in one script, so Redis's clock must not step (see
// docs/operating.md#cache-behaviour).

const (
	// LeaseTTL is how long a replica's lease lasts unless renewed: how
	// long a change waits at most for a replica that cannot be reached,
	// and how long memory may answer after Redis went away.
	LeaseTTL = 2 * time.Second
	// renewEvery: four renewals per lease, so that a slow or lost one
	// does not end it. It is also how long the subscription may be silent
	// before it is pinged.
	renewEvery = LeaseTTL / 4
	// leaseMargin: a replica stops answering this long before its lease
	// ends by its own clock. It covers clocks running at different rates
	// (NTP slews at most 500 ppm, 1 ms over a lease) and Redis's
	// millisecond TIME, many times over.
	leaseMargin = 150 * time.Millisecond
	// holderSlack: a writer waits for a silent holder this long past its
	// lease.
	holderSlack = 20 * time.Millisecond
	// ackPoll is the longest one BLPOP waits for an acknowledgement: less
	// than the client's 300 ms read timeout.
	ackPoll = 200 * time.Millisecond
	// ackKeep: acknowledgements outlive any writer waiting for them.
	ackKeep = 5 * LeaseTTL
	// publishBatch bounds the generation keys of one invalidation.
	publishBatch = 500
)

func (c *Cache) seqKey() string    { return c.prefix + "m:seq" }
func (c *Cache) leasesKey() string { return c.prefix + "m:leases" }
func (c *Cache) channel() string   { return c.prefix + "m:inval" }
func (c *Cache) ackKey(seq int64) string {
	return c.prefix + "m:ack:" + strconv.FormatInt(seq, 10)
}

// invalidateScript: KEYS = seq, leases, generation keys; ARGV = channel,
// generation TTL (ms), the message's list of generation keys, one token
// per generation key. It returns the invalidation's number, Redis's time
// (ms) and the leases valid then, as id, end (ms) pairs. Being one
// script, the publish order is the number order, and the leases listed
// are exactly those valid when the invalidation went out.
var invalidateScript = goredis.NewScript(`
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[2])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], seq .. ' ' .. ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return {seq, now, redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')}
`)

// renewScript: KEYS = leases, seq, epoch; ARGV = lease member, lease
// (ms), the epoch the subscription claimed. It grants the lease by
// Redis's clock and returns the number of the last invalidation
// published before it: the replica answers under this lease only once
// it has applied that one. Where the epoch is not the subscription's,
// this server does not publish to it: the script grants nothing and
// returns -1. The lease set has no expiry,
// so that Redis's volatile-* eviction policies never take it; leases that
// ran out are removed by every renewal and every invalidation.
var renewScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('GET', KEYS[3]) ~= ARGV[3] then
  return -1
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
return tonumber(redis.call('GET', KEYS[2]) or '0')
`)

// errSplit ends a subscription whose server is not the one its lease
// would be held on.
var errSplit = errors.New("the subscription and the lease are on different Redis servers (a failover)")

// holder is a replica that held a lease when an invalidation went out:
// the change waits for its acknowledgement until until.
type holder struct {
	id    string
	until time.Time
}

// publish writes a fresh token to each generation key of names and tells
// every replica, in one script, as "{seq} {nonce} {JSON names}". It
// returns the invalidation's number, its nonce and the lease holders to
// wait for. A replica acknowledges with the nonce of the message it
// applied, so an acknowledgement of a message someone else published
// under the same number never counts for this one.
func (c *Cache) publish(ctx context.Context, names []string) (int64, string, []holder, error) {
	keys := append([]string{c.seqKey(), c.leasesKey()}, names...)
	body, _ := json.Marshal(names)
	nonce := newToken()
	args := []any{c.channel(), c.genTTL.Milliseconds(), nonce + " " + string(body)}
	for range names {
		args = append(args, newToken())
	}
	v, err := invalidateScript.Run(ctx, c.client, keys, args...).Slice()
	sent := time.Now()
	if err != nil {
		return 0, "", nil, err
	}
	seq, ok1 := v[0].(int64)
	now, ok2 := v[1].(int64)
	leases, ok3 := v[2].([]any)
	if len(v) != 3 || !ok1 || !ok2 || !ok3 || len(leases)%2 != 0 {
		return 0, "", nil, fmt.Errorf("invalidation script: unexpected reply %v", v)
	}
	var holders []holder
	for i := 0; i < len(leases); i += 2 {
		id, _ := leases[i].(string)
		end, err := strconv.ParseFloat(str(leases[i+1]), 64)
		if err != nil {
			return 0, "", nil, fmt.Errorf("invalidation script: lease end %v", leases[i+1])
		}
		// No lease is longer than LeaseTTL: a score further out (a clock
		// stepped back, someone writing to Redis) must not hold changes.
		left := min(time.Duration(int64(end)-now)*time.Millisecond, LeaseTTL)
		holders = append(holders, holder{id: id, until: sent.Add(left + holderSlack)})
	}
	return seq, nonce, holders, nil
}

// await returns once every holder has acknowledged invalidation seq with
// its nonce, or its lease has run out. Nothing cancels it: it is bounded
// by the leases, at most LeaseTTL plus holderSlack.
func (c *Cache) await(seq int64, nonce string, holders []holder) {
	ctx := context.Background()
	key := c.ackKey(seq)
	for {
		now := time.Now()
		holders = slices.DeleteFunc(holders, func(h holder) bool { return !now.Before(h.until) })
		if len(holders) == 0 {
			return
		}
		last := now
		for _, h := range holders {
			if h.until.After(last) {
				last = h.until
			}
		}
		wait := max(min(last.Sub(now), ackPoll), time.Millisecond)
		v, err := c.client.Do(ctx, "BLPOP", key, strconv.FormatFloat(wait.Seconds(), 'f', 3, 64)).StringSlice()
		switch {
		case err == nil && len(v) == 2:
			holders = slices.DeleteFunc(holders, func(h holder) bool { return h.id+" "+nonce == v[1] })
		case errors.Is(err, goredis.Nil):
			if time.Now().Add(ackPoll).After(last) && rateLimit(&c.lastSlow) {
				c.log.Warn("a replica did not acknowledge an invalidation; the change waits for its lease to run out",
					"replicas", len(holders), "lease", LeaseTTL)
			}
		default:
			// Redis cannot tell: wait the leases out, asking again now
			// and then.
			time.Sleep(min(25*time.Millisecond, last.Sub(now)))
		}
	}
}

// reached notes that Redis took an invalidation: it is reachable.
func (c *Cache) reached() {
	c.downMu.Lock()
	c.downSince = time.Time{}
	c.downMu.Unlock()
}

// outage waits, after an invalidation Redis did not take, until one lease
// after this writer first failed to reach Redis (failed, if it has not
// since it last succeeded). A replica that lost Redis as well cannot
// renew its lease, so none answers from memory any more; without memory,
// replicas read PostgreSQL while Redis is away. Changes later in the same
// outage do not wait.
func (c *Cache) outage(failed time.Time) {
	c.downMu.Lock()
	if c.downSince.IsZero() {
		c.downSince = failed
	}
	since := c.downSince
	c.downMu.Unlock()
	time.Sleep(time.Until(since.Add(LeaseTTL + holderSlack)))
}

// grant is a lease Redis granted: memory may answer until until (mono)
// once every invalidation up to seq is applied. The zero grant is none.
type grant struct {
	until, seq int64
}

// EnableMemory turns the memory layer on, with room for max entries: from
// now on the cache holds a lease and a subscription, and answers from
// memory whenever they allow. Call it once, before the cache is used;
// Close stops it. A cache without an entry key, or a max below 1, keeps
// it off.
func (c *Cache) EnableMemory(max int) {
	if c.macs == nil || max < 1 || c.mem != nil {
		return
	}
	m := newMemory(c, max)
	c.mem = m
	m.wg.Add(3)
	go m.listen()
	go m.renewals()
	go m.acknowledge()
}

// newMemory returns c's memory layer, off until its goroutines have a
// subscription and a lease.
func newMemory(c *Cache, max int) *memory {
	m := &memory{
		c: c, max: max, base: time.Now(),
		entries: map[memKey]*memEntry{}, byGen: map[string]map[*memEntry]struct{}{},
		stop: make(chan struct{}), kick: make(chan struct{}, 1),
	}
	m.acks.wake = make(chan struct{}, 1)
	return m
}

// close stops the layer and gives the lease back, so that no change waits
// for a replica that is gone.
func (m *memory) close() {
	m.closers.Lock()
	select {
	case <-m.stop: // closed before
	default:
		close(m.stop)
		if m.pubsub != nil {
			m.pubsub.Close()
		}
	}
	m.closers.Unlock()
	m.wg.Wait()
}

// end drops memory when a subscription has ended, and gives its lease
// back if Redis answers, so that no change waits for it.
func (m *memory) end() {
	m.mu.Lock()
	m.flush()
	m.subscribed = false
	member := m.member
	m.member, m.server = "", ""
	m.mu.Unlock()
	if member != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		m.c.client.ZRem(ctx, m.c.leasesKey(), member)
	}
}

// listen keeps a subscription, one after the other: whenever one ends,
// memory is dropped, the lease given back, and a new one starts after a
// backoff of 50 ms growing to a second.
func (m *memory) listen() {
	defer m.wg.Done()
	wait := 50 * time.Millisecond
	for {
		confirmed, err := m.subscribe()
		m.end()
		select {
		case <-m.stop:
			return
		default:
		}
		if confirmed {
			wait = 50 * time.Millisecond
		}
		if rateLimit(&m.lastOff) {
			m.c.log.Warn("memory layer off until Redis is back: the invalidation subscription ended", "err", err)
		}
		select {
		case <-m.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// subscribe runs one subscription until anything goes wrong, and says
// whether it was confirmed.
func (m *memory) subscribe() (confirmed bool, err error) {
	ctx := context.Background()
	ps := m.c.client.Subscribe(ctx)
	defer ps.Close()
	m.closers.Lock()
	select {
	case <-m.stop:
		m.closers.Unlock()
		return false, errors.New("closed")
	default:
		m.pubsub = ps
	}
	m.closers.Unlock()
	var server string
	if err := ps.Subscribe(context.WithValue(ctx, claimedKey{}, &server), m.c.channel()); err != nil {
		return false, err
	}
	msg, err := ps.ReceiveTimeout(ctx, renewEvery)
	if err != nil {
		return false, err
	}
	if s, ok := msg.(*goredis.Subscription); !ok || s.Kind != "subscribe" {
		return false, fmt.Errorf("subscription not confirmed: %v", msg)
	}
	// Invalidations numbered up to s0 went out before the subscription or
	// arrive on it, when s0 is read where the subscription listens: the
	// epoch read with it says so. The map is empty, and what fills it is
	// read after this, so none of them can leave a stale entry.
	v, err := m.c.client.MGet(ctx, m.c.seqKey(), m.c.epochKey()).Result()
	if err != nil {
		return false, err
	}
	if server == "" || str(v[1]) != server {
		return false, errSplit
	}
	var s0 int64
	if v[0] != nil {
		if s0, err = strconv.ParseInt(str(v[0]), 10, 64); err != nil {
			return false, fmt.Errorf("invalidation counter: %w", err)
		}
	}
	member := newToken()
	m.mu.Lock()
	m.subscribed, m.applied, m.prev, m.member, m.server = true, s0, 0, member, server
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}: // a lease now, not at the next tick
	default:
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, renewEvery)
		if err != nil {
			if m.split(member) {
				return true, errSplit
			}
			// A silent subscription is pinged once; still silent, it is
			// as good as broken.
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err := ps.Ping(ctx); err != nil {
					return true, err
				}
				pinged = true
				continue
			}
			return true, err
		}
		pinged = false
		switch msg := msg.(type) {
		case *goredis.Message:
			seq, nonce, gens, ok := parseInvalidation(msg.Payload)
			if !ok {
				return true, errors.New("unreadable invalidation")
			}
			// Acknowledged even out of sequence: memory is dropped then.
			inOrder, member := m.apply(seq, gens)
			m.acks.add(ack{seq, member + " " + nonce})
			if !inOrder {
				return true, fmt.Errorf("invalidation %d out of sequence", seq)
			}
		case *goredis.Pong:
		default:
			// Another subscription confirmed: the connection was made
			// again, and what went out meanwhile is lost.
			return true, fmt.Errorf("unexpected %v", msg)
		}
	}
}

// parseInvalidation reads "{seq} {nonce} {JSON list of generation keys}".
func parseInvalidation(payload string) (int64, string, []string, bool) {
	s, rest, ok1 := strings.Cut(payload, " ")
	nonce, body, ok2 := strings.Cut(rest, " ")
	seq, err := strconv.ParseInt(s, 10, 64)
	var gens []string
	if !ok1 || !ok2 || nonce == "" || err != nil || json.Unmarshal([]byte(body), &gens) != nil {
		return 0, "", nil, false
	}
	return seq, nonce, gens, true
}

// apply drops the entries indexed under gens and reports whether seq came
// in sequence: after the last one received, and at most one after the
// last one applied; and the lease member to acknowledge it as. Out of
// sequence, memory is dropped. An invalidation is applied whatever its
// number: dropping entries is always safe.
func (m *memory) apply(seq int64, gens []string) (bool, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.invalidate(gens)
	if seq <= m.prev || seq > m.applied+1 {
		m.flush()
		m.subscribed = false
		return false, m.member
	}
	m.prev = seq
	m.applied = max(m.applied, seq)
	m.grantPending()
	return true, m.member
}

// renewals renews the lease every renewEvery, and at once when a
// subscription is confirmed.
func (m *memory) renewals() {
	defer m.wg.Done()
	tick := time.NewTicker(renewEvery)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		case <-m.kick:
		}
		m.renew()
	}
}

// renew asks Redis for a lease, while the subscription is confirmed. A
// lease asked for under one subscription never serves another. Refused
// because the server is not the subscription's, it drops memory and
// ends the subscription.
func (m *memory) renew() {
	m.mu.RLock()
	epoch, subscribed, member, server := m.epoch, m.subscribed, m.member, m.server
	m.mu.RUnlock()
	if !subscribed {
		return
	}
	sent := m.mono()
	ctx, cancel := context.WithTimeout(context.Background(), renewEvery)
	defer cancel()
	seq, err := renewScript.Run(ctx, m.c.client, []string{m.c.leasesKey(), m.c.seqKey(), m.c.epochKey()},
		member, LeaseTTL.Milliseconds(), server).Int64()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		// The lease runs out by itself; once it has, the map goes too.
		if !m.serving() && len(m.entries) > 0 {
			m.flush()
		}
		m.warn("memory layer: lease renewal failed", err)
		return
	}
	if !m.subscribed || m.member != member {
		return
	}
	if seq < 0 {
		// The changes made where the commands go are not heard: nothing
		// in memory can be trusted, and the lease granted before must not
		// serve either. Closing the subscription makes listen start the
		// next one, where the commands go; split tells it why.
		m.flush()
		m.subscribed = false
		m.closers.Lock()
		m.pubsub.Close()
		m.closers.Unlock()
		return
	}
	if m.epoch != epoch {
		return
	}
	m.pending = grant{until: sent + int64(LeaseTTL-leaseMargin), seq: seq}
	m.grantPending()
}

// split reports whether renew ended the subscription whose lease is
// member, because its lease would be held on another server.
func (m *memory) split(member string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return !m.subscribed && m.member == member
}

// grantPending lets the pending lease serve once every invalidation
// published before it was granted is applied; mu is held.
func (m *memory) grantPending() {
	p := m.pending
	if p.until == 0 || m.applied < p.seq {
		return
	}
	m.pending = grant{}
	if p.until > m.until.Load() {
		if !m.serving() && rateLimit(&m.lastOn) {
			m.c.log.Info("memory layer on: answering from memory while the lease and the subscription hold")
		}
		m.until.Store(p.until)
	}
}

// warn logs a problem of the memory layer at most every ten seconds.
func (m *memory) warn(msg string, err error) {
	if rateLimit(&m.lastWarn) {
		m.c.log.Warn(msg, "err", err)
	}
}

// ack acknowledges invalidation seq as the lease member that applied it.
type ack struct {
	seq    int64
	member string // the lease member and the message's nonce: "{member} {nonce}"
}

// ackQueue holds the acknowledgements of applied invalidations until
// acknowledge sends them.
type ackQueue struct {
	mu   sync.Mutex
	acks []ack
	wake chan struct{}
}

func (q *ackQueue) add(a ack) {
	q.mu.Lock()
	q.acks = append(q.acks, a)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *ackQueue) take() []ack {
	q.mu.Lock()
	defer q.mu.Unlock()
	a := q.acks
	q.acks = nil
	return a
}

// acknowledge sends the acknowledgements, as many as are waiting in one
// round trip. A lost one only makes its writer wait for the lease.
func (m *memory) acknowledge() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case <-m.acks.wake:
		}
		acks := m.acks.take()
		send := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := m.c.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for _, a := range acks {
					p.RPush(ctx, m.c.ackKey(a.seq), a.member)
					p.PExpire(ctx, m.c.ackKey(a.seq), ackKeep)
				}
				return nil
			})
			return err
		}
		// Once more at once: a pooled connection Redis closed fails only
		// its first use.
		if err := send(); err != nil {
			if err := send(); err != nil {
				m.warn("memory layer: acknowledgement failed; the change waits for the lease", err)
			}
		}
	}
}
