package authz

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// TallyInterval is how often authz's main flushes its Tally: a link's
// count on the Links page lags its downloads by about this much.
const TallyInterval = time.Second

// LinkCounts is the part of the store a Tally writes to; implemented by
// postgres.DB.
type LinkCounts interface {
	// AddLinkDownloads adds n downloads to each link id of counts
	// without a limit, in one statement.
	AddLinkDownloads(ctx context.Context, counts map[int64]int64) error
}

// Tally counts the downloads of share links without a limit in memory and
// writes them in batches, so that such a download costs a map update, not
// an UPDATE of the link's row that every concurrent download of the link
// waits for. Only links without a limit are counted this way: no answer
// depends on their counts, which the Links page shows. A limited link's
// count decides who gets the last download, so the store counts each of
// its downloads when it happens (Store.CountLinkDownload), and every
// download of either kind has its audit line when it is decided. It is
// safe for concurrent use.
type Tally struct {
	store LinkCounts

	mu sync.Mutex
	n  map[int64]int64 // link id → downloads since the last flush
}

// NewTally returns a Tally writing to store.
func NewTally(store LinkCounts) *Tally {
	return &Tally{store: store, n: map[int64]int64{}}
}

// Add counts one download of link id, which has no limit.
func (t *Tally) Add(id int64) {
	t.mu.Lock()
	t.n[id]++
	t.mu.Unlock()
}

// Flush writes the downloads counted since the last flush in one
// statement, or nothing when there were none. When the write fails, the
// counts are kept for the next flush and the error is returned.
func (t *Tally) Flush(ctx context.Context) error {
	t.mu.Lock()
	batch := t.n
	t.n = map[int64]int64{}
	t.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := t.store.AddLinkDownloads(ctx, batch)
	if err != nil {
		t.mu.Lock()
		for id, n := range batch {
			t.n[id] += n
		}
		t.mu.Unlock()
	}
	return err
}

// Run flushes every interval until ctx ends, logging failures (the counts
// wait for the next flush). It does not flush when ctx ends: Close does.
func (t *Tally) Run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.Flush(ctx); err != nil {
				log.WarnContext(ctx, "links: cannot write download counts; retrying at the next flush", "err", err)
			}
		}
	}
}

// Close flushes what was counted, within five seconds of its own. Call it
// once nothing can count a download any more, after the server has
// stopped.
func (t *Tally) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Flush(ctx); err != nil {
		return fmt.Errorf("links: write download counts: %w", err)
	}
	return nil
}
