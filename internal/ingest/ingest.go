// Package ingest is the one write path for stored files: the CLI's
// `uploader put` and the web upload handler both go through Put, so every
// stored file has been sniffed, size-checked, given a safe stored name and
// recorded in the database the same way. The bytes go to a Storage: the
// private root (PRIVATE_ROOT/{owner_id}/{stored_name}) or a bucket
// ({owner_id}/{file_id}/{stored_name}, storage.Key).
package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/storage"
)

// Store is the part of the database ingest needs; *postgres.DB implements it.
type Store interface {
	// NewFileID reserves the id of a row CreateFile will insert.
	NewFileID(ctx context.Context) (int64, error)
	// TakenNames returns which of names the owner's files already use.
	TakenNames(ctx context.Context, ownerID int64, names []string) ([]string, error)
	// CreateFile inserts f (with its reserved ID), counting it against
	// its owner's quota q, calls place inside the transaction and
	// commits. A file that does not fit is EQUOTA, a taken (owner, stored
	// name) ECONFLICT; place is not called then. If it fails after place,
	// the row may have committed all the same (a lost reply to COMMIT):
	// the caller asks FileExists before it removes the bytes.
	CreateFile(ctx context.Context, f *filegate.File, q filegate.Quota, place func() error) error
	// FileExists reports whether file id of owner ownerID has a row, once
	// every change to the owner's files in progress has ended, so that a
	// CreateFile whose reply was lost has committed or not by then.
	FileExists(ctx context.Context, ownerID, id int64) (bool, error)
	// DeleteFile deletes the row of file id, frees its quota and returns
	// it; ENOTFOUND.
	DeleteFile(ctx context.Context, id int64) (filegate.File, error)
	// AllFiles returns every row.
	AllFiles(ctx context.Context) ([]filegate.File, error)
	// DeleteUser deletes user id with all its file rows; ENOTFOUND.
	DeleteUser(ctx context.Context, id int64) ([]filegate.File, error)
}

const (
	// numberedTries is how many "-2", "-3", … suffixes Put tries before
	// random ones, so a much-reused name does not cost a query per copy.
	numberedTries = 20
	// randomTries bounds the random suffixes; exhausting them means
	// something other than a collision is wrong.
	randomTries = 5
)

// Ingester stores uploads. It is safe for concurrent use.
type Ingester struct {
	storage Storage
	store   Store
	maxSize int64
	allowed allowlist
	quota   filegate.Quota
	log     *slog.Logger
	// Sweep's inFlight, unfinishedGrace and settle; tests shorten them.
	grace, unfinishedGrace, settle time.Duration
}

// New returns an Ingester keeping bytes in storage (the caller's to
// close) and rows in store. maxSize is the largest accepted file in
// bytes; allowed lists the accepted MIME types as detected from the bytes
// (config's FILEGATE_ALLOWED_TYPES); a type the detector does not know is
// an error, so typos fail at startup. quota is what each user may store
// in all (config's FILEGATE_QUOTA and FILEGATE_QUOTA_FILES). A nil log
// discards.
func New(storage Storage, store Store, maxSize int64, allowed []string, quota filegate.Quota, log *slog.Logger) (*Ingester, error) {
	if maxSize <= 0 || maxSize == math.MaxInt64 {
		return nil, fmt.Errorf("ingest: max size %d out of range", maxSize)
	}
	if quota.Bytes <= 0 || quota.Files <= 0 {
		return nil, fmt.Errorf("ingest: quota of %d bytes in %d files out of range", quota.Bytes, quota.Files)
	}
	types, err := newAllowlist(allowed)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingester{storage: storage, store: store, maxSize: maxSize, allowed: types, quota: quota, log: log,
		grace: inFlight, unfinishedGrace: unfinishedGrace, settle: settle}, nil
}

// Limits is what Put accepts, for the upload page and API clients.
type Limits struct {
	MaxSize int64    `json:"max_upload"`    // bytes
	Types   []string `json:"allowed_types"` // MIME types, as detected
	Names   string   `json:"-"`             // the types for people: "PDF, PNG, …"
}

// Limits returns what Put accepts.
func (in *Ingester) Limits() Limits {
	return Limits{MaxSize: in.maxSize, Types: in.allowed.list, Names: in.allowed.human}
}

// Put stores one upload of owner ownerID, reading r to the end but never
// more than the size limit plus one byte, and holding no more of it in
// memory than Storage does (a few KiB on disk, one part in a bucket).
// name is the client's untrusted file name; it only shapes the display
// and stored names. The type comes from the bytes, sniffed before
// anything is written. It returns the committed row. Errors carry a
// code: EINVALID (empty file, interrupted upload), ETOOLARGE (also for
// r's *http.MaxBytesError), EUNSUPPORTED, ENOSPACE, EQUOTA (the file
// would pass the owner's quota), or the database's or the file store's
// (EUNAVAILABLE…); a done ctx returns its error. Whatever fails, neither
// bytes nor a row remain, but for what Sweep finds: a store lost
// mid-upload may keep an unfinished upload, and a database lost at the
// commit, when it cannot tell whether the row committed, the bytes.
func (in *Ingester) Put(ctx context.Context, ownerID int64, name string, r io.Reader) (filegate.File, error) {
	f, err := in.put(ctx, ownerID, name, r)
	if err != nil {
		return filegate.File{}, fmt.Errorf("ingest: put: %w", err)
	}
	in.log.Info("ingest: stored", "id", f.ID, "path", f.Path(), "type", f.ContentType, "size", f.Size)
	return f, nil
}

// put does Put's work; Put adds the "ingest: put" context to its errors.
func (in *Ingester) put(ctx context.Context, ownerID int64, name string, r io.Reader) (filegate.File, error) {
	if ownerID <= 0 {
		return filegate.File{}, fmt.Errorf("invalid owner id %d", ownerID)
	}
	display := DisplayName(name)
	src := &source{ctx: ctx, r: io.LimitReader(r, in.maxSize+1), hash: sha256.New(), max: in.maxSize,
		tooLarge: func() error { return in.tooLarge(display, nil) }}

	head := make([]byte, sniffLen)
	n, err := io.ReadFull(src, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return filegate.File{}, in.readError(display, err)
	}
	if n == 0 {
		return filegate.File{}, filegate.Errorf(filegate.EINVALID, "%q is empty.", display)
	}
	head = head[:n]
	typ := detect(head)
	if !in.allowed.types[typ.bare] {
		return filegate.File{}, in.unsupported(display, typ.bare)
	}

	// The id and the first free name come before the bytes: a bucket's
	// key holds both, and renaming an object costs a copy.
	names := candidates(StoredBase(display), typ.ext)
	f := filegate.File{OwnerID: ownerID, DisplayName: display, ContentType: typ.contentType}
	if f.ID, err = in.store.NewFileID(ctx); err != nil {
		return filegate.File{}, err
	}
	taken, err := in.store.TakenNames(ctx, ownerID, names)
	if err != nil {
		return filegate.File{}, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(taken, n) })
	if len(names) == 0 {
		return filegate.File{}, noFreeName(display)
	}
	f.StoredName = names[0]

	staged, err := in.storage.Write(ctx, f, io.MultiReader(bytes.NewReader(head), src))
	if err != nil {
		if srcErr, ok := errors.AsType[*sourceError](err); ok {
			return filegate.File{}, in.readError(display, srcErr.err)
		}
		return filegate.File{}, err
	}
	// Close in every case: after success the bytes also have their final
	// name, after failure they must not stay at all.
	defer func() {
		ctx, cancel := storage.Cleanup(ctx)
		defer cancel()
		if err := staged.Close(ctx); err != nil {
			in.log.Error("ingest: remove staged upload", "id", f.ID, "err", err)
		}
	}()
	f.Size, f.SHA256 = src.n, hex.EncodeToString(src.hash.Sum(nil))
	if err := in.create(ctx, &f, staged, names); err != nil {
		return filegate.File{}, err
	}
	return f, nil
}

// candidates returns the stored names an upload tries, in order:
// "base.ext", "base-2.ext", … "base-20.ext", then random suffixes.
func candidates(base, ext string) []string {
	names := make([]string, 0, numberedTries+randomTries)
	for i := 1; i <= numberedTries+randomTries; i++ {
		var suffix string
		switch {
		case i == 1:
		case i <= numberedTries:
			suffix = "-" + strconv.Itoa(i)
		default:
			suffix = "-" + randomHex(4)
		}
		names = append(names, storedName(base, suffix, ext))
	}
	return names
}

// create inserts f's row and places the staged bytes under its name in
// the same transaction, trying names in order until one is free both in
// the database and in storage. It fills in f.StoredName and f.CreatedAt.
func (in *Ingester) create(ctx context.Context, f *filegate.File, staged storage.Staged, names []string) error {
	for _, name := range names {
		f.StoredName = name
		if !validStoredName(f.StoredName) {
			// StoredBase and the detected extension should make this impossible.
			return fmt.Errorf("built invalid stored name %q", f.StoredName)
		}
		err := in.createAs(ctx, f, staged)
		if filegate.ErrorCode(err) != filegate.ECONFLICT {
			return err
		}
	}
	return noFreeName(f.DisplayName)
}

// noFreeName is the ECONFLICT of an upload whose every candidate name is taken.
func noFreeName(display string) error {
	return filegate.Errorf(filegate.ECONFLICT, "Could not find a free name for %q; rename the file and try again.", display)
}

// createAs is one attempt of create, with f.StoredName already chosen.
// ECONFLICT means the name is taken, in the database or in storage.
func (in *Ingester) createAs(ctx context.Context, f *filegate.File, staged storage.Staged) error {
	placed := false
	err := in.store.CreateFile(ctx, f, in.quota, func() error {
		if err := staged.Place(ctx, *f); err != nil {
			return err
		}
		placed = true
		return nil
	})
	if err != nil && placed {
		return in.commitFailed(ctx, *f, err)
	}
	return err
}

// commitFailed settles an upload whose bytes were placed and whose commit
// failed with err. A lost reply to COMMIT fails it even when the row
// committed, so the bytes go only once the store says the row is not
// there; the upload succeeded (nil) when it is. If the store cannot say,
// the bytes stay: bytes without a row are what Sweep finds, while a row
// without bytes is a file that fails to download.
func (in *Ingester) commitFailed(ctx context.Context, f filegate.File, err error) error {
	ctx, cancel := storage.Cleanup(ctx)
	defer cancel()
	exists, existsErr := in.store.FileExists(ctx, f.OwnerID, f.ID)
	switch {
	case existsErr != nil:
		in.log.Error("ingest: commit of upload uncertain, bytes kept for sweep", "id", f.ID, "key", in.storage.Name(f), "err", existsErr)
	case exists:
		in.log.Warn("ingest: upload committed although its commit failed", "id", f.ID, "err", err)
		return nil
	default:
		if rmErr := in.storage.Delete(ctx, f); rmErr != nil {
			in.log.Error("ingest: remove file after failed insert", "key", in.storage.Name(f), "err", rmErr)
		}
	}
	return err
}

// Delete removes the row of file id and then its bytes, and returns the
// row. The caller has checked that the user may. Once the row is gone the
// file is unreachable, so a failure to remove the bytes is only logged
// (Sweep reports them); store errors (ENOTFOUND, EUNAVAILABLE) pass through.
func (in *Ingester) Delete(ctx context.Context, id int64) (filegate.File, error) {
	f, err := in.store.DeleteFile(ctx, id)
	if err != nil {
		return f, fmt.Errorf("ingest: delete file %d: %w", id, err)
	}
	ctx, cancel := storage.Cleanup(ctx)
	defer cancel()
	if err := in.storage.Delete(ctx, f); errors.Is(err, fs.ErrNotExist) {
		in.log.Warn("ingest: deleted file had no bytes", "id", id, "key", in.storage.Name(f))
	} else if err != nil {
		in.log.Error("ingest: remove deleted file", "id", id, "key", in.storage.Name(f), "err", err)
	}
	return f, nil
}

// RemoveUser deletes user id, its rows, then all its bytes (caller has
// checked permission). Bytes left by a failed removal are logged;
// without rows they are never served, and sweep reports them.
func (in *Ingester) RemoveUser(ctx context.Context, id int64) ([]filegate.File, error) {
	files, err := in.store.DeleteUser(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("ingest: remove user %d: %w", id, err)
	}
	ctx, cancel := storage.Cleanup(ctx)
	defer cancel()
	if err := in.storage.RemoveOwner(ctx, id); err != nil {
		in.log.Error("ingest: remove files of removed user", "user", id, "err", err)
	}
	return files, nil
}

// unsupported is the EUNSUPPORTED error for a file that sniffed as t, in
// plain words: what the file is, and what its name promised when that is
// an allowed type (`"x.pdf" is a web page (HTML), not a PDF.`), else what
// may be uploaded.
func (in *Ingester) unsupported(display, t string) error {
	for _, allowed := range in.allowed.list {
		if filegate.HasExtension(display, allowed) {
			return filegate.Errorf(filegate.EUNSUPPORTED, "%q is %s, not %s.",
				display, filegate.TypeDescription(t), filegate.TypeDescription(allowed))
		}
	}
	return filegate.Errorf(filegate.EUNSUPPORTED, "%q is %s, which can't be uploaded here. Allowed: %s.",
		display, filegate.TypeDescription(t), in.allowed.human)
}

// tooLarge is the ETOOLARGE error for display, with its cause if any.
func (in *Ingester) tooLarge(display string, cause error) error {
	return filegate.Wrap(filegate.ETOOLARGE, fmt.Sprintf("%q is larger than the %s limit.", display, filegate.FormatSize(in.maxSize)), cause)
}

// readError classifies an error reading the upload: the HTTP server's
// body limit is ETOOLARGE like ours; anything else means the client or
// the caller gave up.
func (in *Ingester) readError(display string, err error) error {
	var maxErr *http.MaxBytesError
	switch {
	case filegate.ErrorCode(err) == filegate.ETOOLARGE: // source's own limit
		return fmt.Errorf("reading upload: %w", err)
	case errors.As(err, &maxErr):
		return fmt.Errorf("reading upload: %w", in.tooLarge(display, err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("reading upload: %w", err)
	}
	return fmt.Errorf("reading upload: %w", filegate.Wrap(filegate.EINVALID, "The upload was interrupted.", err))
}

// source is the upload reader. It stops when ctx is done, hashes and
// counts what it hands out, fails as soon as more than max bytes came
// (so a store streaming it aborts mid-upload rather than keeping a too
// large object) and marks its errors, so that a failing client is told
// apart from a failing store.
type source struct {
	ctx      context.Context
	r        io.Reader
	hash     hash.Hash
	n        int64
	max      int64
	tooLarge func() error
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, &sourceError{err}
	}
	n, err := s.r.Read(p)
	s.hash.Write(p[:n])
	if s.n += int64(n); s.n > s.max {
		return n, &sourceError{s.tooLarge()}
	}
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (Go 1.24+)
	return hex.EncodeToString(b)
}
