package main

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/throttle"
	"github.com/filegate/filegate/internal/web"
)

// cleanupInterval is how often serve deletes expired and revoked
// sessions.
const cleanupInterval = time.Hour

// serve runs the web app on UPLOADER_ADDR, and its metrics on
// UPLOADER_METRICS_ADDR, until ctx ends; see internal/web. Missing or
// short session keys stop it before it listens.
func (a *app) serve(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("serve"), args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("serve: takes no arguments")
	}
	// Audit lines go to their own file, which SIGHUP reopens after
	// rotation, or to standard output, apart from the log on standard
	// error.
	links, sessions, err := a.links(os.Stdout)
	if err != nil {
		return err
	}
	defer a.auditOut.ReopenOn(a.log, syscall.SIGHUP)()
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
	// Metrics have a listener of their own, which nginx never proxies to.
	reg := metrics.NewRegistry()
	m := metrics.NewUploader(reg)
	links.Metrics = m
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	waitMetrics, err := metrics.Start(ctx, "uploader", a.cfg.UploaderMetricsAddr, reg, a.cfg.Profiles, a.log)
	if err != nil {
		return err
	}
	// Page views note their session's use in memory; the times reach
	// PostgreSQL in one statement every FlushInterval, and once more
	// when serve stops.
	uses := account.NewRecorder(a.db, nil)
	var flushing sync.WaitGroup // Close's last flush waits for Run to end
	flushing.Go(func() { uses.Run(ctx, account.FlushInterval, a.log) })
	go account.CleanSessions(ctx, a.db, cleanupInterval, a.log)
	// The admin page's changes go through the CLI's code, and into the
	// same audit stream as the links'.
	admin := account.NewAdmin(a.db, in)
	admin.Audit = links.Audit
	srv := &web.Server{
		Store:          a.db,
		Files:          in,
		Sessions:       sessions,
		Links:          links,
		Audit:          a.auditLog,
		Admin:          admin,
		Throttle:       thr,
		Log:            a.log,
		TrustedProxies: a.cfg.TrustedProxies,
		SessionTTL:     a.cfg.SessionTTL,
		Uses:           uses,
		Metrics:        m,

		MaxFilesPerRequest: a.cfg.MaxFilesPerRequest,
		Quota:              a.quota(),
	}
	err = httpserver.Run(ctx, "uploader", a.cfg.UploaderAddr, srv.Handler(), a.log)
	stop() // the metrics and the flushes stop with the web app, also when it could not listen
	flushing.Wait()
	return errors.Join(err, waitMetrics(), uses.Close())
}
