package testenv

import (
	"sync"
	"time"
)

// Clock is a clock tests move by hand, for the packages that take one
// (sessions expire by it). It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock standing at the current time, cut to whole
// microseconds as PostgreSQL keeps times, so a time that went through the
// database compares equal.
func NewClock() *Clock { return NewClockAt(time.Now().Truncate(time.Microsecond)) }

// NewClockAt returns a Clock standing at t.
func NewClockAt(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
