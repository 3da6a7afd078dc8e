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

const (
	// inFlight is how recent bytes without a row may be and still belong
	// to an upload in progress: Put writes the bytes first and commits the
	// row after, so only older ones are leftovers.
	inFlight = time.Hour
	// unfinishedGrace is how old an unfinished multipart upload must be
	// before Sweep aborts it. It is dated from its start, and a large
	// upload over a slow link can run for hours: aborting it would fail
	// it. A bucket's lifecycle rule aborting unfinished uploads should
	// wait as long.
	unfinishedGrace = 24 * time.Hour
	// settle is how long after listing storage Sweep waits before it reads
	// the rows a second time, with apply. A bucket dates a multipart
	// object from the start of its upload, so an old object may have just
	// been completed, its row not yet committed: the commit can wait on
	// the owner's row, which another upload holds during a copy. Put asks
	// for the commit as soon as the object is complete, and a change sends
	// no COMMIT later than filegate.ChangeTimeout after it began; the
	// margin is for the commit itself. By then the row of every object the
	// listing showed is there, or never will be.
	settle = filegate.ChangeTimeout + 5*time.Second
)

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
// cron. Bytes without a row count once they are older than an hour, and
// unfinished uploads once they started a day ago (younger ones may be
// uploads in flight). With apply it removes the orphans, aborts the
// unfinished uploads and deletes the missing rows; before it removes an
// orphan it reads the rows again, settle (15 s) after the listing, so
// apply takes that long when there are orphans. A failure to list
// storage or read the rows ends the sweep; failures to fix single
// entries are joined into the returned error alongside the report.
func (in *Ingester) Sweep(ctx context.Context, apply bool) (SweepReport, error) {
	var rep SweepReport
	// Storage first, rows second: bytes written after the listing are not
	// seen, and bytes written before it have either committed their row
	// by the time rows are read, or are younger than inFlight, or are
	// checked again after settle.
	objects, err := in.storage.List(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: sweep: %w", err)
	}
	listedAt := time.Now()
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
		age := time.Since(o.Modified)
		switch {
		case o.Upload != "":
			if age >= in.unfinishedGrace {
				rep.Unfinished = append(rep.Unfinished, o)
			}
		case age < in.grace:
		case !claimed[o.Name]:
			orphans = append(orphans, o)
			rep.OrphanFiles = append(rep.OrphanFiles, o.Name)
		}
	}
	if !apply {
		return rep, nil
	}

	// An orphan may be an upload slower than inFlight whose row has not
	// committed yet (see settle): read the rows again once it has.
	if len(orphans) > 0 {
		in.log.Info("ingest: sweep waits for uploads about to commit", "orphans", len(orphans), "until", listedAt.Add(in.settle))
		select {
		case <-time.After(time.Until(listedAt.Add(in.settle))):
		case <-ctx.Done():
			return rep, fmt.Errorf("ingest: sweep: %w", ctx.Err())
		}
		if rows, err = in.store.AllFiles(ctx); err != nil {
			return rep, fmt.Errorf("ingest: sweep: %w", err)
		}
		for _, f := range rows {
			claimed[in.storage.Name(f)] = true
		}
		orphans = slices.DeleteFunc(orphans, func(o storage.Object) bool { return claimed[o.Name] })
		rep.OrphanFiles = rep.OrphanFiles[:0]
		for _, o := range orphans {
			rep.OrphanFiles = append(rep.OrphanFiles, o.Name)
		}
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
