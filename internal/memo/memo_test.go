package memo_test

import (
	"strconv"
	"sync"
	"testing"

	"github.com/filegate/filegate/internal/memo"
)

// A kept value comes back under its key only, and the map never holds
// more than its size, however many keys go in, from many goroutines.
func TestMap(t *testing.T) {
	m := memo.New[string, int](100)
	if _, ok := m.Get("a"); ok {
		t.Fatal("an empty map has a value")
	}
	m.Put("a", 1)
	m.Put("a", 2)
	if v, ok := m.Get("a"); !ok || v != 2 {
		t.Fatalf("Get(a) = %d, %v; want 2, true", v, ok)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				k := strconv.Itoa(g*1000 + i)
				m.Put(k, g*1000+i)
				if v, ok := m.Get(k); ok && v != g*1000+i {
					t.Errorf("Get(%s) = %d", k, v)
				}
			}
		}()
	}
	wg.Wait()
	if n := m.Len(); n != 100 {
		t.Errorf("Len = %d after 8000 keys, want the size, 100", n)
	}
	// A size below 1 still keeps the last value.
	one := memo.New[int, int](0)
	one.Put(1, 1)
	one.Put(2, 2)
	if _, ok := one.Get(1); ok || one.Len() != 1 {
		t.Errorf("a map of size 0 holds %d entries", one.Len())
	}
	if v, ok := one.Get(2); !ok || v != 2 {
		t.Errorf("Get(2) = %d, %v; want 2, true", v, ok)
	}
}
