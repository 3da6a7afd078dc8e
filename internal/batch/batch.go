// Package batch keeps what requests note in memory, one value per key,
// and writes it to the store in one call per flush, so that a request
// costs a map update instead of a statement (the sessions' last use, the
// downloads of links without a limit).
package batch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Map is the values noted since the last flush. It is safe for concurrent
// use.
type Map[K comparable, V any] struct {
	what  string // what the values are, for errors and logs
	write func(context.Context, map[K]V) error
	merge func(old, v V) V

	mu sync.Mutex
	m  map[K]V
	// flushing is held for a whole flush (take, write, put back on
	// failure), so that flushes take turns: Close waits for the one Run
	// has in progress, and cannot empty the map before that one puts its
	// values back.
	flushing sync.Mutex
}

// New returns a Map that writes with write, which must take every value
// of its map in one call, and keeps merge(old, v) when v is noted for a
// key that holds old. what names the values in errors and logs ("session
// use").
func New[K comparable, V any](what string, write func(context.Context, map[K]V) error, merge func(old, v V) V) *Map[K, V] {
	return &Map[K, V]{what: what, write: write, merge: merge, m: map[K]V{}}
}

// Note notes v for k.
func (b *Map[K, V]) Note(k K, v V) {
	b.mu.Lock()
	b.note(k, v)
	b.mu.Unlock()
}

// note merges v into k's value; b.mu is held.
func (b *Map[K, V]) note(k K, v V) {
	if old, ok := b.m[k]; ok {
		v = b.merge(old, v)
	}
	b.m[k] = v
}

// Flush writes what was noted since the last flush, in one call, or
// nothing when nothing was. When the write fails, the values are kept
// for the next flush and the error is returned.
func (b *Map[K, V]) Flush(ctx context.Context) error {
	b.flushing.Lock()
	defer b.flushing.Unlock()
	b.mu.Lock()
	batch := b.m
	b.m = map[K]V{}
	b.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := b.write(ctx, batch)
	if err != nil {
		b.mu.Lock()
		for k, v := range batch {
			b.note(k, v)
		}
		b.mu.Unlock()
	}
	return err
}

// flushTimeout bounds one flush: a database that hangs delays the next
// flush, or the process's exit, by this much at most.
const flushTimeout = 5 * time.Second

// Close flushes what was noted, within five seconds of its own: the
// process's context has usually ended by then. Call it once nothing can
// note anything any more, after the server has stopped.
func (b *Map[K, V]) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := b.Flush(ctx); err != nil {
		return fmt.Errorf("%s: write: %w", b.what, err)
	}
	return nil
}

// Run flushes every interval until ctx ends, logging failures (the values
// wait for the next flush). It does not flush when ctx ends: Close does.
// A flush is not cut short by ctx's end, which would put its values back
// after Close has run, but it is bounded like Close's.
func (b *Map[K, V]) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	Every(ctx, interval, func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := b.Flush(fctx); err != nil {
			log.WarnContext(ctx, b.what+": cannot write; retrying at the next flush", "err", err)
		}
	})
}

// Every calls fn every interval until ctx ends.
func Every(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn()
		}
	}
}
