package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// inFlight is how recent a file without a row may be and still belong to
// an upload in progress: Put writes the temp file, links it to its final
// name and commits moments later, so only older files are leftovers.
const inFlight = time.Hour

// SweepReport is what Sweep found, and with apply, fixed.
type SweepReport struct {
	// OrphanFiles are paths relative to the root ("7/report.pdf") of files
	// without a row: stored files a failed delete left, and temp files of
	// uploads that died. Nothing serves them; they only take space.
	OrphanFiles []string
	// MissingFiles are rows whose bytes are gone; downloads of them fail.
	MissingFiles []filegate.File
	// Removed counts orphan files removed and missing rows deleted.
	Removed int
}

// Sweep compares the disk with the rows; the CLI runs it by hand or from
// cron. Files and temp files without a row count as orphans once they are
// older than an hour (younger ones may be uploads in flight). Entries it
// does not recognize (not an owner directory, not a regular file, not a
// stored or temp name) are logged and left alone. With apply it removes
// the orphan files and deletes the missing rows. A failure to list the
// disk or read the rows ends the sweep; failures to fix single entries
// are joined into the returned error alongside the report.
func (in *Ingester) Sweep(ctx context.Context, apply bool) (SweepReport, error) {
	var rep SweepReport
	// Disk first, rows second: a file linked after the listing is not
	// seen, and one linked before it has either committed its row by the
	// time rows are read, or is younger than inFlight.
	candidates, err := in.unclaimedCandidates()
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	rows, err := in.store.AllFiles(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	claimed := make(map[string]bool, len(rows))
	for _, f := range rows {
		claimed[f.Path()] = true
		// Stat now, after reading the rows: a committed row's file was
		// linked before its commit, so absence here is real.
		if _, err := in.root.Lstat(f.Path()); errors.Is(err, fs.ErrNotExist) {
			rep.MissingFiles = append(rep.MissingFiles, f)
		} else if err != nil {
			return rep, fmt.Errorf("ingest: sweep: stat %s: %w", f.Path(), err)
		}
	}
	for _, p := range candidates {
		if !claimed[p] {
			rep.OrphanFiles = append(rep.OrphanFiles, p)
		}
	}
	if !apply {
		return rep, nil
	}

	var errs []error
	for _, p := range rep.OrphanFiles {
		if err := in.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
			continue
		}
		in.log.Info("ingest: sweep removed orphan file", "path", p)
		rep.Removed++
	}
	for _, f := range rep.MissingFiles {
		// ENOTFOUND: deleted meanwhile, which is what we wanted anyway.
		if _, err := in.store.DeleteFile(ctx, f.ID); err != nil && filegate.ErrorCode(err) != filegate.ENOTFOUND {
			errs = append(errs, fmt.Errorf("delete row %d: %w", f.ID, err))
			continue
		}
		in.log.Info("ingest: sweep deleted row without file", "id", f.ID, "path", f.Path())
		rep.Removed++
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	return rep, nil
}

// unclaimedCandidates lists, sorted, the files on disk that would be
// orphans if no row claims them: stored names and temp files, both older
// than inFlight.
func (in *Ingester) unclaimedCandidates() ([]string, error) {
	owners, err := in.readDir(".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, owner := range owners {
		if _, isOwner := filegate.ParseID(owner.Name()); !owner.IsDir() || !isOwner {
			in.log.Warn("ingest: sweep skipped unexpected entry", "path", owner.Name())
			continue
		}
		files, err := in.readDir(owner.Name())
		if err != nil {
			return nil, err
		}
		for _, e := range files {
			p := owner.Name() + "/" + e.Name()
			if !e.Type().IsRegular() || !(validStoredName(e.Name()) || strings.HasPrefix(e.Name(), tempPrefix)) {
				in.log.Warn("ingest: sweep skipped unexpected entry", "path", p)
				continue
			}
			info, err := in.root.Lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the listing
			} else if err != nil {
				return nil, fmt.Errorf("stat %s: %w", p, err)
			}
			if time.Since(info.ModTime()) >= inFlight {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// readDir lists directory name below the root.
func (in *Ingester) readDir(name string) ([]fs.DirEntry, error) {
	d, err := in.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", name, err)
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", name, err)
	}
	return entries, nil
}
