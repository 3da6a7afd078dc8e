package ingest

import (
	"context"
	"io"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/storage"
)

// Storage keeps the bytes of stored files: storage/fs (the private root,
// FILEGATE_STORAGE=fs) or storage/s3 (a bucket). Ingest calls it around
// the row's transaction in the order that makes every failure leave
// nothing behind: the bytes are durable before the row commits, removed
// when it does not commit, and removed only after a deleted row is gone,
// so a row never points at missing bytes; bytes without a row are what
// Sweep finds.
type Storage interface {
	// Write streams r into new bytes for the upload whose row will be f:
	// OwnerID, ID (reserved, not yet inserted), ContentType and the
	// StoredName tried first are set. They are durable when Write
	// returns. An error reading r is returned wrapped (%w) as it is;
	// whatever fails, nothing is left (a store that goes away mid-upload
	// may keep an unfinished upload, which Sweep lists).
	Write(ctx context.Context, f filegate.File, r io.Reader) (storage.Staged, error)
	// Delete removes the bytes of row f, which is gone. Bytes already
	// missing are fs.ErrNotExist where the backend can tell.
	Delete(ctx context.Context, f filegate.File) error
	// RemoveOwner removes all bytes of owner id, whose rows are gone.
	RemoveOwner(ctx context.Context, ownerID int64) error

	// List returns, sorted by Name, every object Sweep may judge: stored
	// bytes, and bytes of uploads that never finished. What it does not
	// recognize it logs and leaves out.
	List(ctx context.Context) ([]storage.Object, error)
	// Name is the Name under which List shows the bytes of row f.
	Name(f filegate.File) string
	// Exists reports whether the bytes of row f are there.
	Exists(ctx context.Context, f filegate.File) (bool, error)
	// Remove removes an object List returned.
	Remove(ctx context.Context, o storage.Object) error
}
