// Package ingest is the one write path for stored files: the CLI's
// `uploader put` and the web upload handler both go through Put, so every
// file on disk has been sniffed, size-checked, given a safe stored name and
// recorded in the database the same way. Files live at
// PRIVATE_ROOT/{owner_id}/{stored_name}; every disk access goes through an
// os.Root, so no name can reach outside the private root.
package ingest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/filegate/filegate/internal/filegate"
)

// Store is the part of the database ingest needs; *postgres.DB implements it.
type Store interface {
	// CreateFile inserts f, counting it against its owner's quota q, calls
	// place inside the transaction and commits. A file that does not fit
	// is EQUOTA, a taken (owner, stored name) ECONFLICT; place is not
	// called then. If the commit fails after place, the caller removes
	// the bytes.
	CreateFile(ctx context.Context, f *filegate.File, q filegate.Quota, place func() error) error
	// DeleteFile deletes the row of file id, frees its quota and returns
	// it; ENOTFOUND.
	DeleteFile(ctx context.Context, id int64) (filegate.File, error)
	// AllFiles returns every row.
	AllFiles(ctx context.Context) ([]filegate.File, error)
	// DeleteUser deletes user id with all its file rows; ENOTFOUND.
	DeleteUser(ctx context.Context, id int64) ([]filegate.File, error)
}

const (
	// tempPrefix starts the name of a file still being written. The leading
	// dot can never match StoredNamePattern, so nginx never serves it.
	tempPrefix = ".upload-"
	// numberedTries is how many "-2", "-3", … suffixes Put tries before
	// random ones, so a much-reused name does not cost a query per copy.
	numberedTries = 20
	// randomTries bounds the random suffixes; exhausting them means
	// something other than a collision is wrong.
	randomTries = 5
)

// Ingester stores uploads. It is safe for concurrent use.
type Ingester struct {
	root    *os.Root
	store   Store
	maxSize int64
	allowed allowlist
	quota   filegate.Quota
	log     *slog.Logger
}

// New returns an Ingester writing below privateRoot, which it creates
// (0750) when missing. maxSize is the largest accepted file in bytes;
// allowed lists the accepted MIME types as detected from the bytes
// (config's FILEGATE_ALLOWED_TYPES); a type the detector does not know is
// an error, so typos fail at startup. quota is what each user may store
// in all (config's FILEGATE_QUOTA and FILEGATE_QUOTA_FILES). A nil log
// discards. Call Close.
func New(privateRoot string, store Store, maxSize int64, allowed []string, quota filegate.Quota, log *slog.Logger) (*Ingester, error) {
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
	if err := os.MkdirAll(privateRoot, 0o750); err != nil {
		return nil, fmt.Errorf("ingest: create private root: %w", err)
	}
	root, err := os.OpenRoot(privateRoot)
	if err != nil {
		return nil, fmt.Errorf("ingest: open private root: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingester{root: root, store: store, maxSize: maxSize, allowed: types, quota: quota, log: log}, nil
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

// Close releases the private root. The store is the caller's to close.
func (in *Ingester) Close() error { return in.root.Close() }

// Put stores one upload of owner ownerID, reading r to the end but never
// more than the size limit plus one byte, and never holding more than a
// few KiB of it in memory. name is the client's untrusted file name; it
// only shapes the display and stored names. The type comes from the bytes.
// It returns the committed row. Errors carry a code: EINVALID (empty file,
// interrupted upload), ETOOLARGE (also for r's *http.MaxBytesError),
// EUNSUPPORTED, ENOSPACE, EQUOTA (the file would pass the owner's quota),
// or the store's (EUNAVAILABLE…); a done ctx returns its error. Whatever
// fails, neither bytes nor a row remain.
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
	src := &source{ctx: ctx, r: io.LimitReader(r, in.maxSize+1)}

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

	dir := strconv.FormatInt(ownerID, 10)
	tmp, size, sum, err := in.writeTemp(dir, display, head, src)
	if err != nil {
		return filegate.File{}, err
	}
	// The temp name goes in every case: after success the bytes also
	// have their final name, after failure they must not stay at all.
	defer func() {
		if err := in.root.Remove(tmp); err != nil {
			in.log.Error("ingest: remove temp file", "path", tmp, "err", err)
		}
	}()

	f := filegate.File{OwnerID: ownerID, DisplayName: display, ContentType: typ.contentType, Size: size, SHA256: sum}
	if err := in.create(ctx, &f, tmp, StoredBase(display), typ.ext); err != nil {
		return filegate.File{}, err
	}
	return f, nil
}

// writeTemp creates owner directory dir if needed and copies head and
// then rest into a new temp file there, hashing as it goes. It returns
// the temp file's path (relative to the root), the size and the hex
// SHA-256. On error the temp file is already gone.
func (in *Ingester) writeTemp(dir, display string, head []byte, rest io.Reader) (string, int64, string, error) {
	if err := in.root.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", 0, "", diskError("create owner directory", err)
	}
	tmp := dir + "/" + tempPrefix + randomHex(12)
	file, err := in.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return "", 0, "", diskError("create temp file", err)
	}
	size, sum, err := in.fill(file, display, head, rest)
	if err != nil {
		if rmErr := in.root.Remove(tmp); rmErr != nil {
			in.log.Error("ingest: remove temp file", "path", tmp, "err", rmErr)
		}
		return "", 0, "", err
	}
	return tmp, size, sum, nil
}

// fill writes head and then rest to file, syncs and closes it, and
// returns the size and the hex SHA-256. It closes file in every case.
func (in *Ingester) fill(file *os.File, display string, head []byte, rest io.Reader) (int64, string, error) {
	defer file.Close() // a second Close after the checked one is harmless
	h := sha256.New()
	w := io.MultiWriter(file, h)
	if _, err := w.Write(head); err != nil {
		return 0, "", diskError("write", err)
	}
	// io.Copy reuses one 32 KiB buffer: memory does not grow with the file.
	n, err := io.Copy(w, rest)
	size := int64(len(head)) + n
	var srcErr *sourceError
	switch {
	case errors.As(err, &srcErr):
		return 0, "", in.readError(display, srcErr.err)
	case err != nil:
		return 0, "", diskError("write", err)
	case size > in.maxSize:
		return 0, "", in.tooLarge(display, nil)
	}
	// Sync before the row commits: a row must never point at bytes that a
	// crash can still lose.
	if err := file.Sync(); err != nil {
		return 0, "", diskError("sync", err)
	}
	if err := file.Close(); err != nil {
		return 0, "", diskError("close", err)
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// create inserts f's row and links tmp to its final name in the same
// transaction, trying "base.ext", "base-2.ext", … "base-20.ext", then
// random suffixes, until a name is free both in the database and on disk.
// It fills in f.StoredName, f.ID and f.CreatedAt.
func (in *Ingester) create(ctx context.Context, f *filegate.File, tmp, base, ext string) error {
	for i := 1; i <= numberedTries+randomTries; i++ {
		var suffix string
		switch {
		case i == 1:
		case i <= numberedTries:
			suffix = "-" + strconv.Itoa(i)
		default:
			suffix = "-" + randomHex(4)
		}
		f.StoredName = storedName(base, suffix, ext)
		if !validStoredName(f.StoredName) {
			// StoredBase and the detected extension should make this impossible.
			return fmt.Errorf("built invalid stored name %q", f.StoredName)
		}
		err := in.createAs(ctx, f, tmp)
		if filegate.ErrorCode(err) != filegate.ECONFLICT {
			return err
		}
	}
	return filegate.Errorf(filegate.ECONFLICT, "Could not find a free name for %q; rename the file and try again.", f.DisplayName)
}

// createAs is one attempt of create, with f.StoredName already chosen.
// ECONFLICT means the name is taken, in the database or on disk.
func (in *Ingester) createAs(ctx context.Context, f *filegate.File, tmp string) error {
	final := f.Path()
	placed := false
	err := in.store.CreateFile(ctx, f, in.quota, func() error {
		// Link, unlike Rename, fails when final exists, so a file left on
		// disk without a row (see Sweep) is never overwritten.
		if err := in.root.Link(tmp, final); errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("link: %w", filegate.Wrap(filegate.ECONFLICT, "That name is already taken.", err))
		} else if err != nil {
			return diskError("link", err)
		}
		placed = true
		in.syncDir(strconv.FormatInt(f.OwnerID, 10))
		return nil
	})
	if err != nil && placed {
		// The row was rolled back (or its commit failed): the bytes go too.
		// If the commit did happen after all, Sweep reports the row.
		if rmErr := in.root.Remove(final); rmErr != nil {
			in.log.Error("ingest: remove file after failed insert", "path", final, "err", rmErr)
		}
	}
	return err
}

// syncDir makes the new directory entry durable. It is best effort: the
// bytes are already synced, and a lost entry shows up in Sweep.
func (in *Ingester) syncDir(dir string) {
	d, err := in.root.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		in.log.Warn("ingest: sync directory", "dir", dir, "err", err)
	}
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
	if err := in.root.Remove(f.Path()); errors.Is(err, fs.ErrNotExist) {
		in.log.Warn("ingest: deleted file had no bytes", "id", id, "path", f.Path())
	} else if err != nil {
		in.log.Error("ingest: remove deleted file", "id", id, "path", f.Path(), "err", err)
	}
	return f, nil
}

// RemoveUser deletes user id, its rows, then its folder of files (caller
// has checked permission). Bytes left by a failed removal are logged;
// without rows they are never served, and sweep reports them.
func (in *Ingester) RemoveUser(ctx context.Context, id int64) ([]filegate.File, error) {
	files, err := in.store.DeleteUser(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("ingest: remove user %d: %w", id, err)
	}
	dir := strconv.FormatInt(id, 10)
	if err := in.root.RemoveAll(dir); err != nil {
		in.log.Error("ingest: remove files of removed user", "user", id, "dir", dir, "err", err)
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
	case errors.As(err, &maxErr):
		return fmt.Errorf("reading upload: %w", in.tooLarge(display, err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("reading upload: %w", err)
	}
	return fmt.Errorf("reading upload: %w", filegate.Wrap(filegate.EINVALID, "The upload was interrupted.", err))
}

// diskError wraps a file system error, giving a full disk or quota its code.
func diskError(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%s: %w", op, filegate.Wrap(filegate.ENOSPACE, "There is no space left to store this file.", err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// source is the upload reader. It stops when ctx is done and marks its
// errors, so that a failing client is told apart from a failing disk
// after io.Copy.
type source struct {
	ctx context.Context
	r   io.Reader
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, &sourceError{err}
	}
	n, err := s.r.Read(p)
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
