// Package storage holds what the two places files can live in share: the
// object key of an upload, and the types ingest's Storage interface
// speaks in. The backends are its subpackages: the private
// root on a filesystem (today's layout, <owner_id>/<stored_name>, sent by
// nginx from disk) and s3, a bucket reached through presigned URLs.
package storage

import (
	"context"
	"strconv"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// Key is the object key of one upload in a bucket:
// <owner_id>/<file_id>/<stored_name>. The file id is new for every upload,
// so a key is never reused: a file deleted and uploaded again under the
// same name gets a new key, and no cache in front of the store can answer
// for the new file with the old bytes.
func Key(ownerID, fileID int64, storedName string) string {
	return strconv.FormatInt(ownerID, 10) + "/" + strconv.FormatInt(fileID, 10) + "/" + storedName
}

// CleanupTimeout bounds the removal of bytes that must go whatever the
// caller does: an aborted upload, staged bytes, a file whose row is gone.
// Cleanup runs after the client may have left, so without a bound a store
// that hangs would hold the request's goroutine forever; what a timed-out
// cleanup leaves, Sweep finds.
const CleanupTimeout = time.Minute

// Cleanup returns the context a cleanup runs in: ctx's values, not its
// cancellation, and CleanupTimeout.
func Cleanup(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
}

// Staged is an upload's bytes, written by a backend and waiting for
// their row.
type Staged interface {
	// Place gives the bytes the name row f says (f.StoredName may differ
	// from the one they were written for, when another upload took that
	// name meanwhile). It is called inside the row's transaction.
	// ECONFLICT: bytes without a row already have that name; they are
	// never overwritten.
	Place(ctx context.Context, f filegate.File) error
	// Close removes whatever of the upload is not under a placed name.
	// If the row did not commit after Place, the caller has removed the
	// placed bytes first.
	Close(ctx context.Context) error
}

// Object is one thing a backend lists for sweep.
type Object struct {
	// Name is the path below the private root ("7/report.pdf") or the
	// object key ("7/42/report.pdf").
	Name     string
	Modified time.Time
	// Upload is the id of an unfinished multipart upload to key Name;
	// empty for stored bytes.
	Upload string
}
