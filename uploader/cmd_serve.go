package main

import (
	"context"
	"time"

	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/throttle"
	"github.com/filegate/filegate/internal/web"
)

// sessionTTL is how long a login lasts.
const sessionTTL = 14 * 24 * time.Hour

// serve runs the web app on UPLOADER_ADDR until ctx ends; see
// internal/web. Missing or short session keys stop it before it listens.
func (a *app) serve(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("serve"), args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("serve: takes no arguments")
	}
	sessions, err := session.New(a.cfg.SessionKeys, a.cfg.CookieSecure, sessionTTL, nil)
	if err != nil {
		return err
	}
	in, err := a.ingester()
	if err != nil {
		return err
	}
	// Counts failed logins in the same Redis as the cache, shared by
	// every replica.
	thr, err := throttle.Open(a.cfg.RedisURL, a.cfg.RedisPrefix, throttle.DefaultLimits, time.Now, a.log)
	if err != nil {
		return err
	}
	defer thr.Close()
	srv := &web.Server{
		Store:          a.db,
		Files:          in,
		Sessions:       sessions,
		Throttle:       thr,
		Log:            a.log,
		TrustedProxies: a.cfg.TrustedProxies,

		MaxFilesPerRequest: a.cfg.MaxFilesPerRequest,
	}
	return httpserver.Run(ctx, "uploader", a.cfg.UploaderAddr, srv.Handler(), a.log)
}
