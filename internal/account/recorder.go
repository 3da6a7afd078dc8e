package account

import (
	"context"
	"time"

	"github.com/filegate/filegate/internal/batch"
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
	now func() time.Time
	// session id → latest use since the last flush; Flush, Close and Run
	// are its.
	*batch.Map[int64, time.Time]
}

// NewRecorder returns a Recorder writing to store. now is the clock; nil
// means time.Now.
func NewRecorder(store Touches, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	later := func(old, t time.Time) time.Time {
		if t.After(old) {
			return t
		}
		return old
	}
	return &Recorder{now: now, Map: batch.New("sessions: record last use", store.TouchSessions, later)}
}

// Used notes that session id is being used now.
func (r *Recorder) Used(id int64) {
	r.Note(id, r.now())
}
