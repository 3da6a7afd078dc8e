package batch_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"

	"github.com/filegate/filegate/internal/batch"
)

// Values noted concurrently are merged per key and written in one call
// per flush; a write that fails loses nothing, and what was noted
// meanwhile merges with what it kept.
func TestMap(t *testing.T) {
	var writes []map[string]int
	fail := true
	b := batch.New("test counts", func(_ context.Context, m map[string]int) error {
		if fail {
			return errors.New("store down")
		}
		writes = append(writes, maps.Clone(m))
		return nil
	}, func(old, v int) int { return old + v })
	if err := b.Flush(context.Background()); err != nil || len(writes) != 0 {
		t.Fatalf("an empty flush: %v, %d writes", err, len(writes))
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 100 {
				b.Note("a", 1)
			}
			b.Note("b", 2)
		})
	}
	wg.Wait()
	if err := b.Close(); err == nil {
		t.Fatal("a failed write reported no error")
	}
	b.Note("a", 5)
	fail = false
	if err := b.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 1 || writes[0]["a"] != 1005 || writes[0]["b"] != 20 || len(writes[0]) != 2 {
		t.Fatalf("writes %v, want one of a=1005 b=20", writes)
	}
	if err := b.Flush(context.Background()); err != nil || len(writes) != 1 {
		t.Fatalf("a second flush wrote again: %v, %v", err, writes)
	}
}
