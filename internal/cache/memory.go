package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// The memory layer: each authz replica keeps the facts it decided on in
// its own memory, decoded, in front of Redis (docs/interface.md#cache).
// A hit costs a clock read and a map lookup: no round trip, no MAC, no
// JSON.
//
// What makes it safe with any number of replicas is in lease.go: memory
// answers only while the replica holds a lease and an unbroken
// subscription to the invalidations, and every change waits until each
// lease holder has applied it or lost its lease. This file is the map:
// entries indexed under the generation keys they depend on, so that an
// invalidation naming a generation key drops exactly them, and bounded
// in size.

// evictSample is how many entries eviction looks at to pick one that has
// not been used since it was last looked at (second chance); Go's map
// iteration starts at a random place, so the sample is random.
const evictSample = 8

// memKey names one memory entry: the facts of a request, or a link's.
type memKey struct {
	facts filegate.FactsKey
	link  int64
}

// memEntry is immutable once in the map, but for used.
type memEntry struct {
	key   memKey
	facts filegate.Facts
	link  filegate.LinkFacts
	// expires (unix milliseconds) is when the oldest of the facts was
	// read from PostgreSQL plus the TTL: memory never extends the
	// staleness bound of the entries it copies.
	expires int64
	gens    []string // the generation keys the entry is indexed under
	used    atomic.Bool
}

// fill is what a lookup that missed memory noted before it read Redis:
// its facts may be kept only if nothing was invalidated or dropped
// meanwhile. The zero fill keeps nothing.
type fill struct {
	epoch, changes uint64
	ok             bool
}

// memory is one replica's memory layer. Its lease and subscription
// (lease.go) decide when it may answer; mu guards both the map and that
// state, which changes rarely.
type memory struct {
	c   *Cache
	max int

	base  time.Time    // the origin of mono
	until atomic.Int64 // mono: answer from memory only before it; 0 never

	mu      sync.RWMutex
	entries map[memKey]*memEntry
	byGen   map[string]map[*memEntry]struct{}
	// epoch counts flushes; changes counts invalidations applied. A fill
	// that saw either move keeps nothing.
	epoch, changes uint64

	// member names the current subscription's lease in the lease set and
	// signs its acknowledgements: a fresh one for each subscription, so
	// that a late renewal or release of an earlier one never touches it.
	member string
	// server is the epoch the subscription's connection claimed
	// (epoch.go): it names the server the subscription listens on.
	server     string
	subscribed bool  // the current subscription is confirmed and in order
	applied    int64 // every invalidation up to this sequence number is applied
	prev       int64 // the last sequence number received
	pending    grant // a lease granted before applied reached its seq

	evictions atomic.Uint64

	stop    chan struct{}
	kick    chan struct{} // asks for a lease at once
	wg      sync.WaitGroup
	closers sync.Mutex // guards pubsub and the closing of stop
	pubsub  interface{ Close() error }
	acks    ackQueue
	// lastOn, lastOff and lastWarn rate-limit the logs of the layer
	// going on, going off, and of other trouble, each on its own.
	lastOn, lastOff, lastWarn atomic.Int64
}

// mono is the replica's monotonic clock: only its rate matters, and a
// step of the wall clock does not move it.
func (m *memory) mono() int64 { return int64(time.Since(m.base)) }

// serving reports whether memory may answer now.
func (m *memory) serving() bool { return m.mono() < m.until.Load() }

// get returns the entry under k if memory may answer and it is younger
// than the TTL at now (unix milliseconds). Checking the lease before the
// map matters: a change whose writer stopped waiting for this replica
// when its lease ran out is reflected by the map, or the lease check
// fails.
func (m *memory) get(k memKey, now int64) *memEntry {
	if m == nil || !m.serving() {
		return nil
	}
	m.mu.RLock()
	e := m.entries[k]
	m.mu.RUnlock()
	if e == nil || now > e.expires {
		return nil
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// begin notes, before a lookup reads Redis or PostgreSQL, what put needs
// to know whether the facts read are still current. Memory not
// answering keeps nothing.
func (m *memory) begin() fill {
	if m == nil || !m.serving() {
		return fill{}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fill{epoch: m.epoch, changes: m.changes, ok: true}
}

// put keeps e unless an invalidation was applied or memory dropped since
// f was taken: its facts may then predate a change this replica has
// acknowledged already. Full, it evicts an entry first.
func (m *memory) put(f fill, e *memEntry) {
	if m == nil || !f.ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch != f.epoch || m.changes != f.changes || !m.serving() {
		return
	}
	if old := m.entries[e.key]; old != nil {
		m.remove(old)
	}
	if len(m.entries) >= m.max {
		m.evict(m.c.now().UnixMilli())
	}
	m.entries[e.key] = e
	for _, g := range e.gens {
		set := m.byGen[g]
		if set == nil {
			set = map[*memEntry]struct{}{}
			m.byGen[g] = set
		}
		set[e] = struct{}{}
	}
}

// remove takes e out of the map and the index; mu is held.
func (m *memory) remove(e *memEntry) {
	delete(m.entries, e.key)
	for _, g := range e.gens {
		if set := m.byGen[g]; set != nil {
			delete(set, e)
			if len(set) == 0 {
				delete(m.byGen, g)
			}
		}
	}
}

// evict removes one entry: an expired one, else one not used since
// eviction last looked at it, from a random sample; mu is held. now is
// in unix milliseconds.
func (m *memory) evict(now int64) {
	var victim *memEntry
	n := 0
	for _, e := range m.entries {
		victim = e
		if now > e.expires || !e.used.Swap(false) {
			break
		}
		if n++; n == evictSample {
			break
		}
	}
	if victim != nil {
		m.remove(victim)
		m.evictions.Add(1)
	}
}

// invalidate drops every entry indexed under one of gens; mu is held.
func (m *memory) invalidate(gens []string) {
	m.changes++
	for _, g := range gens {
		for e := range m.byGen[g] {
			m.remove(e)
		}
	}
}

// flush drops everything and stops memory answering until a new lease
// is granted; mu is held.
func (m *memory) flush() {
	m.until.Store(0)
	m.pending = grant{}
	m.epoch++
	clear(m.entries)
	clear(m.byGen)
}

// len is how many entries memory holds.
func (m *memory) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.entries)
}

// MemoryEntries is how many entries the memory layer holds now; 0 with
// the layer off.
func (c *Cache) MemoryEntries() int {
	if c.mem == nil {
		return 0
	}
	return c.mem.len()
}

// MemoryEvictions is how many entries the memory layer has evicted to
// stay within its size since Open; 0 with the layer off.
func (c *Cache) MemoryEvictions() uint64 {
	if c.mem == nil {
		return 0
	}
	return c.mem.evictions.Load()
}

// factsEntry is the memory entry for the facts of k, written (unix
// milliseconds) at the oldest part's write time.
func (c *Cache) factsEntry(k filegate.FactsKey, f filegate.Facts, written int64) *memEntry {
	return &memEntry{key: memKey{facts: k}, facts: f, expires: written + c.ttl.Milliseconds(),
		gens: dedupe(c.userGen(k.ViewerID), c.userGen(k.OwnerID), c.fileGen(k.OwnerID, k.StoredName))}
}

// linkMemEntry is the memory entry for the facts of link id.
func (c *Cache) linkMemEntry(id int64, lf filegate.LinkFacts, written int64) *memEntry {
	return &memEntry{key: memKey{link: id}, link: lf, expires: written + c.ttl.Milliseconds(), gens: []string{c.linkGen(id)}}
}

func dedupe(names ...string) []string {
	out := names[:0]
	for _, n := range names {
		seen := false
		for _, o := range out {
			seen = seen || o == n
		}
		if !seen {
			out = append(out, n)
		}
	}
	return out
}

// MemoryServing reports whether the memory layer answers now: it is on,
// its lease is valid and its subscription unbroken.
func (c *Cache) MemoryServing() bool { return c.mem != nil && c.mem.serving() }

// Remembered returns the facts for key from the memory layer, when it is
// on, may answer now and holds them: what Facts would answer without any
// I/O. ok false means nothing more: Facts then reads Redis or the store.
// It lets authz count an answer from memory as such, and skip building
// Facts's load function when it is not needed.
func (c *Cache) Remembered(key filegate.FactsKey) (filegate.Facts, bool) {
	if c.macs == nil {
		return filegate.Facts{}, false
	}
	if e := c.mem.get(memKey{facts: key}, c.now().UnixMilli()); e != nil {
		return e.facts, true
	}
	return filegate.Facts{}, false
}

// RememberedLink is Remembered for the facts of link id (Link).
func (c *Cache) RememberedLink(id int64) (filegate.LinkFacts, bool) {
	if c.macs == nil {
		return filegate.LinkFacts{}, false
	}
	if e := c.mem.get(memKey{link: id}, c.now().UnixMilli()); e != nil {
		return e.link, true
	}
	return filegate.LinkFacts{}, false
}
