// Package memo keeps the results of pure functions that are costly enough
// to show in authz's profile (a cookie's decoding, an answer's headers),
// so that a repeated input costs a map lookup. A result depends on its
// key alone, never on the time or on the store: there is nothing to
// invalidate, only a size to bound.
package memo

import "sync"

// Map is a map of at most max entries, safe for concurrent use. Reads
// take a shared lock only.
type Map[K comparable, V any] struct {
	max int

	mu sync.RWMutex
	m  map[K]V
}

// New returns a Map that holds at most size entries (at least 1).
func New[K comparable, V any](size int) *Map[K, V] {
	return &Map[K, V]{max: max(size, 1), m: make(map[K]V)}
}

// Get returns the value kept under k, if any.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.RLock()
	v, ok := m.m[k]
	m.mu.RUnlock()
	return v, ok
}

// Put keeps v under k. Full, it first drops one entry, the first Go's
// map iteration gives: a random one. The inputs that repeat most are
// soon back, and one eviction costs no bookkeeping on every Get.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[k]; !ok && len(m.m) >= m.max {
		for old := range m.m {
			delete(m.m, old)
			break
		}
	}
	m.m[k] = v
}

// Len is how many entries m holds.
func (m *Map[K, V]) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.m)
}
