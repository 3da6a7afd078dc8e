package authz

import (
	"context"
	"time"

	"github.com/filegate/filegate/internal/batch"
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
// safe for concurrent use; Flush, Close and Run are its batch.Map's.
type Tally struct {
	*batch.Map[int64, int64] // link id → downloads since the last flush
}

// NewTally returns a Tally writing to store.
func NewTally(store LinkCounts) *Tally {
	sum := func(old, n int64) int64 { return old + n }
	return &Tally{batch.New("links: count downloads", store.AddLinkDownloads, sum)}
}

// Add counts one download of link id, which has no limit.
func (t *Tally) Add(id int64) { t.Note(id, 1) }
