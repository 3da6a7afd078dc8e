package account

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// FlushInterval is how often a Recorder run by Run writes: a session's
// "last used" time lags by at most about this much.
const FlushInterval = 30 * time.Second

// Touches is the part of the store a Recorder writes to.
type Touches interface {
	// TouchSessions sets each session's last use to the time given,
	// unless it is older than the one recorded, in one statement.
	TouchSessions(ctx context.Context, lastUsed map[int64]time.Time) error
}

// Recorder notes when sessions are used and writes the times in batches,
// so that a download or a page view costs a map update, not a database
// write: the store sees one statement per Flush, however many uses there
// were. authz and the uploader each run one. It is safe for concurrent
// use.
type Recorder struct {
	store Touches
	now   func() time.Time

	mu   sync.Mutex
	seen map[int64]time.Time // session id → latest use since the last flush
}

// NewRecorder returns a Recorder writing to store. now is the clock; nil
// means time.Now.
func NewRecorder(store Touches, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{store: store, now: now, seen: map[int64]time.Time{}}
}

// Used notes that session id is being used now.
func (r *Recorder) Used(id int64) {
	t := r.now()
	r.mu.Lock()
	r.note(id, t)
	r.mu.Unlock()
}

// note keeps t for id unless a later time is noted; r.mu is held.
func (r *Recorder) note(id int64, t time.Time) {
	if t.After(r.seen[id]) {
		r.seen[id] = t
	}
}

// Flush writes the uses noted since the last flush, in one statement, or
// nothing when there were none. When the write fails, the uses are kept
// for the next flush and the error is returned.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.seen
	r.seen = map[int64]time.Time{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := r.store.TouchSessions(ctx, batch)
	if err != nil {
		r.mu.Lock()
		for id, t := range batch {
			r.note(id, t)
		}
		r.mu.Unlock()
	}
	return err
}

// Close flushes what was noted, within five seconds of its own: the
// process's context has usually ended by then. Call it once nothing can
// note a use any more, after the server has stopped.
func (r *Recorder) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		return fmt.Errorf("sessions: record last use: %w", err)
	}
	return nil
}

// Run flushes every interval until ctx ends, logging failures (the uses
// wait for the next flush). It does not flush when ctx ends: Close does.
func (r *Recorder) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	every(ctx, interval, func() {
		if err := r.Flush(ctx); err != nil {
			log.WarnContext(ctx, "sessions: cannot record last use; retrying at the next flush", "err", err)
		}
	})
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
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
