package throttle

import (
	"fmt"
	"testing"
	"time"
)

// While Redis is down, a flood of new addresses fills the in-process
// table. The logs per subject go first, so a new address still gets in
// while each address keeps its own count; only a table full of address
// logs refuses an attempt that needs a new log (forgetting one would reset
// that address's count), for as long as it takes the first log to
// expire. Stale logs are dropped, so the table does not grow with the
// addresses of the past.
func TestMemoryFull(t *testing.T) {
	m := newMemory(6)
	l := Limits{PerSubject: 5, PerAddress: 50, Window: 15 * time.Minute}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	k := func(i int) keys { return keys{subject: fmt.Sprintf("s%d", i), addr: fmt.Sprintf("a%d", i)} }
	for i := range 3 { // three addresses, one minute apart: 6 logs
		if wait := m.reserve(k(i), "x", now, l); wait != 0 {
			t.Fatalf("address %d refused: %v", i, wait)
		}
		now = now.Add(time.Minute)
	}
	// At start+3m the table is full: the subject logs go, the new address
	// gets in, and the old addresses keep their counts.
	if wait := m.reserve(k(3), "x", now, l); wait != 0 {
		t.Fatalf("new address on a full table: wait %v, want 0", wait)
	}
	for i := range 4 {
		if got := len(m.logs[k(i).addr]); got != 1 {
			t.Errorf("address %d's log holds %d entries, want 1", i, got)
		}
	}
	// More addresses: once address logs alone fill the table, a new
	// address waits until address 0's log expires at start+15m.
	m.reserve(k(4), "x", now, l)
	m.reserve(k(5), "x", now, l)
	if wait := m.reserve(k(6), "x", now, l); wait != 12*time.Minute {
		t.Fatalf("new address on a table full of address logs: wait %v, want 12m", wait)
	}
	if wait := m.reserve(k(1), "y", now, l); wait != 0 {
		t.Fatalf("known address on a full table: wait %v, want 0", wait)
	}
	now = now.Add(12 * time.Minute)
	if wait := m.reserve(k(6), "x", now, l); wait != 0 {
		t.Fatalf("new address once a log expired: wait %v", wait)
	}
	now = now.Add(time.Hour)
	m.reserve(k(7), "x", now, l)
	if len(m.logs) != 2 {
		t.Fatalf("after an hour the table holds %d logs, want only the newest address's 2", len(m.logs))
	}
}
