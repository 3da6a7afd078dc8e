package throttle

import (
	"slices"
	"sync"
	"time"
)

// memoryKeys bounds the logs counted in process while Redis is down. A log
// holds at most 50 entries, so this is a few megabytes at worst.
const memoryKeys = 1 << 16

// memory is the fallback when Redis is unreachable: the same logs, in this
// process, with the same rules as reserveScript.
type memory struct {
	mu      sync.Mutex
	logs    map[string][]entry // oldest first
	maxKeys int
	// subjects are the keys of logs per subject and address, the first
	// to go when the table is full.
	subjects map[string]bool
	// swept is when stale logs were last dropped; full is when the table,
	// found full of live logs, will next have room.
	swept, full time.Time
}

type entry struct {
	at time.Time
	id string
}

func newMemory(maxKeys int) *memory {
	return &memory{logs: map[string][]entry{}, maxKeys: maxKeys, subjects: map[string]bool{}}
}

// reserve is reserveScript in process: it returns 0 and records the
// attempt, or the time until the fuller log lets one more entry in.
//
// When the table is full of live logs (many addresses failing while Redis
// is down), the logs per subject are forgotten first: each address keeps
// its own count (PerAddress), so a flood cannot refuse everyone who has
// not failed yet, and forgetting gives a guesser at most PerAddress
// attempts per window. Only a table full of address logs alone refuses an
// attempt that needs a new log, until one expires: forgetting those would
// let whoever fills the table reset every address's count.
func (m *memory) reserve(k keys, id string, now time.Time, l Limits) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.swept) >= l.Window {
		m.sweep(now, l.Window)
	}
	var wait time.Duration
	fresh := 0
	for _, c := range []struct {
		key string
		max int
	}{{k.subject, l.PerSubject}, {k.addr, l.PerAddress}} {
		log := m.prune(c.key, now, l.Window)
		if len(log) == 0 {
			fresh++
		}
		if n := len(log); n >= c.max {
			wait = max(wait, log[n-c.max].at.Add(l.Window).Sub(now))
		}
	}
	if wait > 0 {
		return wait
	}
	if fresh > 0 && len(m.logs)+fresh > m.maxKeys {
		if now.Before(m.full) {
			return m.full.Sub(now)
		}
		next := m.sweep(now, l.Window)
		if len(m.logs)+fresh > m.maxKeys {
			for key := range m.subjects {
				delete(m.logs, key)
			}
			clear(m.subjects)
			fresh = 0
			for _, key := range []string{k.subject, k.addr} {
				if m.logs[key] == nil {
					fresh++
				}
			}
		}
		if len(m.logs)+fresh > m.maxKeys {
			m.full = next
			return next.Sub(now)
		}
	}
	for _, key := range []string{k.subject, k.addr} {
		m.logs[key] = append(m.logs[key], entry{now, id})
	}
	m.subjects[k.subject] = true
	return 0
}

// settle undoes a reservation as Throttle.settle does in Redis.
func (m *memory) settle(k keys, id string, right bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if right {
		delete(m.logs, k.subject)
	} else {
		m.remove(k.subject, id)
	}
	m.remove(k.addr, id)
}

// prune drops key's entries that have left the window, and key itself
// when none is left, and returns what remains.
func (m *memory) prune(key string, now time.Time, window time.Duration) []entry {
	log := m.logs[key]
	i := 0
	for i < len(log) && !log[i].at.Add(window).After(now) {
		i++
	}
	if i == len(log) {
		delete(m.logs, key)
		return nil
	}
	if i > 0 {
		log = slices.Clone(log[i:])
		m.logs[key] = log
	}
	return log
}

func (m *memory) remove(key, id string) {
	log := slices.DeleteFunc(m.logs[key], func(e entry) bool { return e.id == id })
	if len(log) == 0 {
		delete(m.logs, key)
	} else {
		m.logs[key] = log
	}
}

// sweep prunes every log and returns when the first of those left will
// have expired entirely (now when none is left).
func (m *memory) sweep(now time.Time, window time.Duration) time.Time {
	m.swept = now
	next := time.Time{}
	for key := range m.logs {
		if log := m.prune(key, now, window); log != nil {
			if end := log[len(log)-1].at.Add(window); next.IsZero() || end.Before(next) {
				next = end
			}
		}
	}
	for key := range m.subjects {
		if m.logs[key] == nil {
			delete(m.subjects, key)
		}
	}
	if next.IsZero() {
		return now
	}
	return next
}
