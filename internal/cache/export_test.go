package cache

import "time"

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
