package cache

import (
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// SetClock makes c date and age its entries by now.
func SetClock(c *Cache, now func() time.Time) { c.now = now }

// Pending is how many invalidations wait for the background retry.
func Pending(c *Cache) int {
	c.retry.mu.Lock()
	defer c.retry.mu.Unlock()
	return len(c.retry.keys)
}

// MaxPending bounds Pending.
const MaxPending = maxPending

// InMemory reports whether c's memory layer would answer the facts of k
// now, without asking Redis or loading.
func InMemory(c *Cache, k filegate.FactsKey) bool {
	return c.mem.get(memKey{facts: k}, c.now().UnixMilli()) != nil
}

// MemoryLen is how many entries c's memory layer holds.
func MemoryLen(c *Cache) int { return c.mem.len() }

// Channel is where c publishes its invalidations; SeqKey numbers them;
// LeasesKey holds the leases.
func Channel(c *Cache) string   { return c.channel() }
func SeqKey(c *Cache) string    { return c.seqKey() }
func LeasesKey(c *Cache) string { return c.leasesKey() }
