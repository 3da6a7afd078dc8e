package main

import (
	"context"
	"fmt"
)

// sweep reports files without rows and rows without files; with --apply
// it removes them too.
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
	fmt.Printf("sweep: %d files without rows, %d rows without files", len(rep.OrphanFiles), len(rep.MissingFiles))
	if *apply {
		fmt.Printf(", %d removed", rep.Removed)
	}
	fmt.Println()
	return nil
}
