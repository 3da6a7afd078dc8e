// Package fs keeps files in the private root on a filesystem
// (FILEGATE_STORAGE=fs, the default): PRIVATE_ROOT/{owner_id}/{stored_name},
// sent by nginx from disk. Every disk access goes through an os.Root, so
// no name can reach outside the private root.
package fs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/storage"
)

// tempPrefix starts the name of a file still being written. The leading
// dot can never match StoredNamePattern, so nginx never serves it.
const tempPrefix = ".upload-"

// Root is the private root. It is safe for concurrent use.
type Root struct {
	root *os.Root
	log  *slog.Logger
}

// Open returns the private root at dir, which it creates (0750) when
// missing. A nil log discards. Call Close.
func Open(dir string, log *slog.Logger) (*Root, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("fs: create private root: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fs: open private root: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Root{root: root, log: log}, nil
}

// Close releases the private root.
func (r *Root) Close() error { return r.root.Close() }

// Write copies src into a new temp file in f's owner directory (created
// if needed), syncs it and returns it staged; Place links it to its
// final name. On error the temp file is already gone.
func (r *Root) Write(ctx context.Context, f filegate.File, src io.Reader) (storage.Staged, error) {
	dir := strconv.FormatInt(f.OwnerID, 10)
	if err := r.root.Mkdir(dir, 0o750); err != nil && !errors.Is(err, iofs.ErrExist) {
		return nil, diskError("create owner directory", err)
	}
	// The reserved file id makes the temp name unique.
	tmp := dir + "/" + tempPrefix + strconv.FormatInt(f.ID, 10)
	file, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, diskError("create temp file", err)
	}
	if err := fill(file, src); err != nil {
		if rmErr := r.root.Remove(tmp); rmErr != nil {
			r.log.Error("fs: remove temp file", "path", tmp, "err", rmErr)
		}
		return nil, err
	}
	return &staged{r: r, tmp: tmp}, nil
}

// fill copies src to file, syncs and closes it. It closes file in every
// case. src's errors come back as they are.
func fill(file *os.File, src io.Reader) error {
	defer file.Close() // a second Close after the checked one is harmless
	// Fixed buffers: memory does not grow with the file. By hand, not
	// io.Copy, to tell a failing disk (diskError) from a failing src. The
	// writes go through 256 KiB: a multipart part reads at most 4 KiB at a
	// time, and a write(2) per 4 KiB made the disk the uploads' bottleneck.
	buf := make([]byte, 32<<10)
	w := bufio.NewWriterSize(file, 256<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return diskError("write", werr)
			}
		}
		if err == io.EOF {
			break
		} else if err != nil {
			return fmt.Errorf("fs: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return diskError("write", err)
	}
	// Sync before the row commits: a row must never point at bytes that a
	// crash can still lose.
	if err := file.Sync(); err != nil {
		return diskError("sync", err)
	}
	if err := file.Close(); err != nil {
		return diskError("close", err)
	}
	return nil
}

// staged is a synced temp file waiting for its row.
type staged struct {
	r   *Root
	tmp string
}

// Place links the temp file to f's path. Link, unlike Rename, fails when
// the path exists, so a file left on disk without a row (see Sweep) is
// never overwritten.
func (s *staged) Place(_ context.Context, f filegate.File) error {
	if err := s.r.root.Link(s.tmp, f.Path()); errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("fs: link: %w", filegate.Wrap(filegate.ECONFLICT, "That name is already taken.", err))
	} else if err != nil {
		return diskError("link", err)
	}
	s.r.syncDir(strconv.FormatInt(f.OwnerID, 10))
	return nil
}

// Close removes the temp name; a placed file keeps its final one.
func (s *staged) Close(context.Context) error {
	if err := s.r.root.Remove(s.tmp); err != nil {
		return fmt.Errorf("fs: remove temp file %s: %w", s.tmp, err)
	}
	return nil
}

// syncDir makes the new directory entry durable. It is best effort: the
// bytes are already synced, and a lost entry shows up in Sweep.
func (r *Root) syncDir(dir string) {
	d, err := r.root.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		r.log.Warn("fs: sync directory", "dir", dir, "err", err)
	}
}

// Delete removes f's file; iofs.ErrNotExist when it was not there.
func (r *Root) Delete(_ context.Context, f filegate.File) error {
	if err := r.root.Remove(f.Path()); err != nil {
		return fmt.Errorf("fs: remove %s: %w", f.Path(), err)
	}
	return nil
}

// RemoveOwner removes the owner's directory with everything in it.
func (r *Root) RemoveOwner(_ context.Context, ownerID int64) error {
	dir := strconv.FormatInt(ownerID, 10)
	if err := r.root.RemoveAll(dir); err != nil {
		return fmt.Errorf("fs: remove %s: %w", dir, err)
	}
	return nil
}

// Name is f's path below the root.
func (r *Root) Name(f filegate.File) string { return f.Path() }

// Exists stats f's path.
func (r *Root) Exists(_ context.Context, f filegate.File) (bool, error) {
	_, err := r.root.Lstat(f.Path())
	if errors.Is(err, iofs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("fs: stat %s: %w", f.Path(), err)
	}
	return true, nil
}

// Remove removes a file List returned.
func (r *Root) Remove(_ context.Context, o storage.Object) error {
	if err := r.root.Remove(o.Name); err != nil {
		return fmt.Errorf("fs: remove %s: %w", o.Name, err)
	}
	return nil
}

// List returns the stored and temp files in the owner directories,
// sorted. Entries it does not recognize (not an owner directory, not a
// regular file, not a stored or temp name) are logged and left out, so
// Sweep never touches them.
func (r *Root) List(context.Context) ([]storage.Object, error) {
	owners, err := r.readDir(".")
	if err != nil {
		return nil, err
	}
	var out []storage.Object
	for _, owner := range owners {
		if _, isOwner := filegate.ParseID(owner.Name()); !owner.IsDir() || !isOwner {
			r.log.Warn("fs: sweep skipped unexpected entry", "path", owner.Name())
			continue
		}
		files, err := r.readDir(owner.Name())
		if err != nil {
			return nil, err
		}
		for _, e := range files {
			p := owner.Name() + "/" + e.Name()
			if !e.Type().IsRegular() || !(filegate.StoredNamePattern.MatchString(e.Name()) || strings.HasPrefix(e.Name(), tempPrefix)) {
				r.log.Warn("fs: sweep skipped unexpected entry", "path", p)
				continue
			}
			info, err := r.root.Lstat(p)
			if errors.Is(err, iofs.ErrNotExist) {
				continue // removed since the listing
			} else if err != nil {
				return nil, fmt.Errorf("fs: stat %s: %w", p, err)
			}
			out = append(out, storage.Object{Name: p, Modified: info.ModTime()})
		}
	}
	slices.SortFunc(out, func(a, b storage.Object) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// readDir lists directory name below the root.
func (r *Root) readDir(name string) ([]iofs.DirEntry, error) {
	d, err := r.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("fs: list %s: %w", name, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("fs: list %s: %w", name, err)
	}
	return entries, nil
}

// diskError wraps a file system error, giving a full disk or quota its code.
func diskError(op string, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("fs: %s: %w", op, filegate.Wrap(filegate.ENOSPACE, "There is no space left to store this file.", err))
	}
	return fmt.Errorf("fs: %s: %w", op, err)
}
