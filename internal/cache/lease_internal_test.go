package cache

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// The replica's rules, step by step, without Redis: a lease serves only
// once every invalidation published before it was granted is applied;
// an invalidation out of sequence drops everything; a fill that an
// invalidation overtook keeps nothing.
func TestReplicaRules(t *testing.T) {
	c, err := Open("redis://127.0.0.1:1/0", "p:", time.Minute, make([]byte, MinKeySize), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := newMemory(c, 10)
	k := filegate.FactsKey{ViewerID: 1, OwnerID: 2, StoredName: "a.pdf"}
	entry := func() *memEntry { return c.factsEntry(k, filegate.Facts{}, c.now().UnixMilli()) }
	holds := func() bool { return m.get(memKey{facts: k}, c.now().UnixMilli()) != nil }
	apply := func(seq int64, gens ...string) bool {
		inOrder, _ := m.apply(seq, gens)
		return inOrder
	}
	lease := func(seq int64) {
		m.mu.Lock()
		m.pending = grant{until: m.mono() + int64(time.Second), seq: seq}
		m.grantPending()
		m.mu.Unlock()
	}

	// Subscribed when invalidation 5 was the last; a lease granted after
	// 7 went out waits for 6 and 7.
	m.subscribed, m.applied = true, 5
	lease(7)
	if m.serving() {
		t.Fatal("serving before the invalidations published before the lease were applied")
	}
	if !apply(6) || m.serving() {
		t.Fatal("serving with invalidation 7 not applied")
	}
	if !apply(7) || !m.serving() {
		t.Fatal("not serving with every invalidation applied")
	}

	// A fill overtaken by an invalidation keeps nothing; one that was not
	// is kept, and dropped by an invalidation naming one of its
	// generation keys.
	f := m.begin()
	apply(8, "p:g:u:9")
	m.put(f, entry())
	if holds() {
		t.Fatal("a fill overtaken by an invalidation was kept")
	}
	m.put(m.begin(), entry())
	if !holds() {
		t.Fatal("a fill was not kept")
	}
	apply(9, c.fileGen(2, "a.pdf"))
	if holds() {
		t.Fatal("the invalidation of the file's generation left the entry")
	}

	// Out of sequence, in either direction: everything goes.
	for _, seq := range []int64{9, 11} {
		m.mu.Lock()
		m.subscribed, m.applied, m.prev = true, 9, 9
		m.mu.Unlock()
		lease(9)
		m.put(m.begin(), entry())
		if !holds() {
			t.Fatal("a fill was not kept")
		}
		if apply(seq) {
			t.Errorf("invalidation %d after 9 taken as in sequence", seq)
		}
		if holds() || m.serving() {
			t.Errorf("invalidation %d after 9: memory still answers", seq)
		}
	}

	// A lease that ran out stops memory answering by itself.
	m.mu.Lock()
	m.subscribed, m.applied, m.prev = true, 9, 9
	m.pending = grant{until: m.mono() + int64(50*time.Millisecond), seq: 9}
	m.grantPending()
	m.mu.Unlock()
	m.put(m.begin(), entry())
	time.Sleep(60 * time.Millisecond)
	if holds() {
		t.Error("memory answers after its lease ran out")
	}
}
