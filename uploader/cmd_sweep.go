package main

import (
	"context"
	"fmt"
	"time"
)

// sweep reports files without rows, rows without files, a bucket's
// unfinished multipart uploads, and sessions that can never be used again
// (expired or revoked); with --apply it removes them too.
func (a *app) sweep(ctx context.Context, args []string) error {
	fs := newFlags("sweep")
	apply := fs.Bool("apply", false, "remove what the report lists")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	in, err := a.ingester()
	if err != nil {
		return err
	}
	rep, err := in.Sweep(ctx, *apply)
	if err != nil {
		return err
	}
	for _, p := range rep.OrphanFiles {
		fmt.Println("file without row:", p)
	}
	for _, f := range rep.MissingFiles {
		fmt.Printf("row without file: id %d %s\n", f.ID, f.Path())
	}
	for _, u := range rep.Unfinished {
		fmt.Printf("unfinished upload: %s (upload %s, started %s)\n", u.Name, u.Upload, u.Modified.UTC().Format(time.RFC3339))
	}
	fmt.Printf("sweep: %d files without rows, %d rows without files", len(rep.OrphanFiles), len(rep.MissingFiles))
	if len(rep.Unfinished) > 0 {
		fmt.Printf(", %d unfinished uploads", len(rep.Unfinished))
	}
	if *apply {
		fmt.Printf(", %d removed", rep.Removed)
	}
	fmt.Println()
	return a.sweepSessions(ctx, *apply)
}

// sweepSessions reports the expired and revoked sessions, and with apply
// deletes them, as serve does every hour.
func (a *app) sweepSessions(ctx context.Context, apply bool) error {
	count := a.db.StaleSessions
	if apply {
		count = a.db.DeleteStaleSessions
	}
	n, err := count(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("sweep: %s expired or revoked", sessionCount(n))
	if apply {
		fmt.Print(", deleted")
	}
	fmt.Println()
	return nil
}
