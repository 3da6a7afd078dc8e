package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
)

// put stores each file through the same ingest path as a web upload. It
// prints one line per file and fails if any file failed.
func (a *app) put(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("put"), args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageError("put: want NAME and at least one FILE")
	}
	u, in, err := a.userFiles(ctx, pos[0])
	if err != nil {
		return err
	}
	failed := 0
	for _, path := range pos[1:] {
		if err := putOne(ctx, in, u.ID, path); err != nil {
			failed++
			fmt.Printf("%s: error: %s\n", path, filegate.ErrorMessage(err))
			if filegate.ErrorCode(err) == filegate.EINTERNAL {
				a.log.Error("put failed", "file", path, "err", err)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("put: %d of %d files failed", failed, len(pos)-1)
	}
	return nil
}

func putOne(ctx context.Context, in *ingest.Ingester, ownerID int64, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return filegate.Errorf(filegate.EINVALID, "cannot open: %v", errors.Unwrap(err))
	}
	defer f.Close()
	stored, err := in.Put(ctx, ownerID, filepath.Base(path), f)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s, %d bytes)\n", path, stored.URL(), stored.ContentType, stored.Size)
	return nil
}
