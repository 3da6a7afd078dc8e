package batch_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

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

// Close waits for a flush in progress: when that one fails and keeps its
// values, Close's own flush writes them, instead of finding the map
// emptied by the first and returning with the values put back behind it.
func TestCloseWaitsForFlush(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var written []map[string]int
	calls := 0
	b := batch.New("test counts", func(_ context.Context, m map[string]int) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(started)
			<-release
			return errors.New("the database went away")
		}
		mu.Lock()
		written = append(written, maps.Clone(m))
		mu.Unlock()
		return nil
	}, func(old, v int) int { return old + v })
	b.Note("link 7", 3)
	flushed := make(chan error)
	go func() { flushed <- b.Flush(context.Background()) }()
	<-started
	closed := make(chan error)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a flush was in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-flushed; err == nil {
		t.Error("the first flush: nil error, want its write's")
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(written) != 1 || written[0]["link 7"] != 3 {
		t.Errorf("written after Close: %v, want link 7's 3 once", written)
	}
}
