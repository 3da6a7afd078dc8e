package main

import (
	"context"
	"fmt"

	"github.com/filegate/filegate/internal/httpserver"
)

// healthcheck asks the /healthz of the `uploader serve` listening on
// UPLOADER_ADDR and fails unless it answers 200: compose's healthcheck,
// since the image has no curl. It touches neither the database nor the
// private root itself; serve's /healthz pings the database.
func (a *app) healthcheck(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("healthcheck"), args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("healthcheck: takes no arguments")
	}
	if err := httpserver.Probe(ctx, a.cfg.UploaderAddr); err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	fmt.Println("ok")
	return nil
}
