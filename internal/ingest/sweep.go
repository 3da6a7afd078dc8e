package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/storage"
)

// inFlight is how recent bytes without a row may be and still belong to
// an upload in progress: Put writes the bytes first and commits the row
// after, so only older ones are leftovers. A bucket's lifecycle rule
// aborting unfinished uploads should wait at least as long.
const inFlight = time.Hour

// SweepReport is what Sweep found, and with apply, fixed.
type SweepReport struct {
	// OrphanFiles are the names (Storage.Name: "7/report.pdf" on disk,
	// "7/42/report.pdf" in a bucket) of bytes without a row: stored files
	// a failed delete left, and temp files of uploads that died. Nothing
	// serves them; they only take space.
	OrphanFiles []string
	// MissingFiles are rows whose bytes are gone; downloads of them fail.
	MissingFiles []filegate.File
	// Unfinished are a bucket's multipart uploads that were never
	// completed nor aborted (the uploader died or lost the store), with
	// the key each was for. Their parts take space, uncounted.
	Unfinished []storage.Object
	// Removed counts orphans removed, missing rows deleted and unfinished
	// uploads aborted.
	Removed int
}

// Sweep compares storage with the rows; the CLI runs it by hand or from
// cron. Bytes without a row and unfinished uploads count once they are
// older than an hour (younger ones may be uploads in flight). With apply
// it removes the orphans, aborts the unfinished uploads and deletes the
// missing rows. A failure to list storage or read the rows ends the
// sweep; failures to fix single entries are joined into the returned
// error alongside the report.
func (in *Ingester) Sweep(ctx context.Context, apply bool) (SweepReport, error) {
	var rep SweepReport
	// Storage first, rows second: bytes written after the listing are not
	// seen, and bytes written before it have either committed their row
	// by the time rows are read, or are younger than inFlight.
	objects, err := in.storage.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	rows, err := in.store.AllFiles(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	listed := make(map[string]bool, len(objects))
	for _, o := range objects {
		if o.Upload == "" {
			listed[o.Name] = true
		}
	}
	claimed := make(map[string]bool, len(rows))
	for _, f := range rows {
		name := in.storage.Name(f)
		claimed[name] = true
		if listed[name] {
			continue
		}
		// Ask again now, after reading the rows: a committed row's bytes
		// were durable before its commit, so absence now is real.
		if ok, err := in.storage.Exists(ctx, f); err != nil {
			return rep, fmt.Errorf("ingest: sweep: %w", err)
		} else if !ok {
			rep.MissingFiles = append(rep.MissingFiles, f)
		}
	}
	var orphans []storage.Object
	for _, o := range objects {
		switch {
		case time.Since(o.Modified) < in.grace:
		case o.Upload != "":
			rep.Unfinished = append(rep.Unfinished, o)
		case !claimed[o.Name]:
			orphans = append(orphans, o)
			rep.OrphanFiles = append(rep.OrphanFiles, o.Name)
		}
	}
	if !apply {
		return rep, nil
	}

	// A bucket dates a multipart object from the start of its upload, so
	// an upload slower than inFlight can complete after the listing and
	// commit its row after the rows were read: read them once more.
	if len(orphans) > 0 {
		if rows, err = in.store.AllFiles(ctx); err != nil {
			return rep, fmt.Errorf("ingest: sweep: %w", err)
		}
		for _, f := range rows {
			claimed[in.storage.Name(f)] = true
		}
		orphans = slices.DeleteFunc(orphans, func(o storage.Object) bool { return claimed[o.Name] })
	}
	var errs []error
	for _, o := range append(orphans, rep.Unfinished...) {
		if err := in.storage.Remove(ctx, o); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", o.Name, err))
			continue
		}
		in.log.Info("ingest: sweep removed orphan", "key", o.Name, "upload", o.Upload)
		rep.Removed++
	}
	for _, f := range rep.MissingFiles {
		// ENOTFOUND: deleted meanwhile, which is what we wanted anyway.
		if _, err := in.store.DeleteFile(ctx, f.ID); err != nil && filegate.ErrorCode(err) != filegate.ENOTFOUND {
			errs = append(errs, fmt.Errorf("delete row %d: %w", f.ID, err))
			continue
		}
		in.log.Info("ingest: sweep deleted row without file", "id", f.ID, "key", in.storage.Name(f))
		rep.Removed++
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	return rep, nil
}
