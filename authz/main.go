// Command authz is the auth_request endpoint nginx asks before every
// download. main only wires: configuration, store, cache, server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/config"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/storage/s3"
)

// The adapters main wires in must be what the server asks for.
var (
	_ authz.Store      = (*postgres.DB)(nil)
	_ authz.Sessions   = (*session.Codec)(nil)
	_ authz.Cache      = (*cache.Cache)(nil)
	_ authz.Uses       = (*account.Recorder)(nil)
	_ authz.Presigner  = (*s3.Signer)(nil)
	_ account.Touches  = (*postgres.DB)(nil)
	_ authz.LinkCounts = (*postgres.DB)(nil)
)

func main() {
	flag.Usage = func() {
		fmt.Fprint(os.Stderr, "Usage: authz [-healthcheck]\n\nAnswers nginx's auth_request subrequests for /files/ and /s/ (share link) downloads.\n\n")
		flag.PrintDefaults()
		fmt.Fprintln(os.Stderr)
		config.Usage(os.Stderr, "DATABASE_URL", "REDIS_URL", "FILEGATE_REDIS_PREFIX", "FILEGATE_SESSION_KEYS",
			"FILEGATE_INLINE_TYPES", "AUTHZ_ADDR", "AUTHZ_METRICS_ADDR", "FILEGATE_PPROF", "AUTHZ_CACHE_TTL", "AUTHZ_MEMORY_CACHE", "AUTHZ_HIDE_PRIVATE", "FILEGATE_AUDIT_LOG",
			"FILEGATE_STORAGE", "FILEGATE_S3_ENDPOINT", "FILEGATE_S3_BUCKET", "FILEGATE_S3_REGION", "FILEGATE_S3_ACCESS_KEY", "FILEGATE_S3_SECRET_KEY")
	}
	healthcheck := flag.Bool("healthcheck", false, "exit 0 when the authz on AUTHZ_ADDR answers /healthz with 200, else 1 (compose's healthcheck: the image has no curl)")
	flag.Parse()
	if *healthcheck {
		os.Exit(probe())
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("authz stopped", "err", err)
		os.Exit(1)
	}
}

// probe is authz -healthcheck: it asks the /healthz of the authz on
// AUTHZ_ADDR and returns the exit status, 0 for healthy.
func probe() int {
	cfg, err := config.Load(os.Getenv)
	if err == nil {
		err = httpserver.Probe(context.Background(), cfg.AuthzAddr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authz: unhealthy:", err)
		return 1
	}
	fmt.Println("ok")
	return 0
}

func run(log *slog.Logger) error {
	// Every decision allocates a few KiB in net/http, and authz's live
	// heap is small, so at Go's default (GOGC=100) it collected about 25
	// times a second at half its peak, and those pauses were the tail of
	// its latency. Collecting when the heap has grown 4 times over
	// instead cut that 7-fold (docs/performance.md), for a heap of at
	// most 5 times what it keeps (tens of MiB with a full memory layer).
	// GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	// The session lifetime is the uploader's business; authz checks the
	// expiry of the cookie and of the session it names.
	sessions, err := session.New(cfg.SessionKeys, cfg.CookieSecure, nil)
	if err != nil {
		return err
	}
	cacheKey, err := session.CacheKey(cfg.SessionKeys)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// authz starts even when PostgreSQL is down: it answers 503 until the
	// database returns, which is the honest answer for nginx.
	db, err := postgres.Open(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	factsCache, err := cache.Open(cfg.RedisURL, cfg.RedisPrefix, cfg.CacheTTL, cacheKey, log)
	if err != nil {
		return err
	}
	defer factsCache.Close()
	// The memory layer answers repeated decisions without a round trip to
	// Redis; changes still show on the next request (docs/interface.md#cache).
	// The cookies of the sessions it serves are decoded once, too.
	factsCache.EnableMemory(cfg.MemoryEntries)
	if cfg.MemoryEntries > 0 {
		sessions.Remember(cfg.MemoryEntries)
	}

	// The audit log: its own file, which SIGHUP reopens after rotation,
	// or standard output, apart from the diagnostics on standard error.
	auditOut, err := audit.Open(cfg.AuditLog, os.Stdout)
	if err != nil {
		return err
	}
	defer auditOut.Close()
	defer auditOut.ReopenOn(log, syscall.SIGHUP)()

	// Metrics have a listener of their own, which nginx never proxies to.
	reg := metrics.NewRegistry()
	authzMetrics := metrics.NewAuthz(reg, metrics.CacheStats{BadEntries: factsCache.BadEntries, RedisErrors: factsCache.RedisErrors,
		MemoryEvictions: factsCache.MemoryEvictions, MemoryEntries: factsCache.MemoryEntries})
	waitMetrics, err := metrics.Start(ctx, "authz", cfg.AuthzMetricsAddr, reg, cfg.Profiles, log)
	if err != nil {
		return err
	}

	inline := make(map[string]bool)
	for _, t := range cfg.InlineTypes {
		inline[filegate.MediaType(t)] = true
	}
	// Downloads note their session's use in memory; the times reach
	// PostgreSQL in one statement every FlushInterval, and once more
	// when authz stops.
	uses := account.NewRecorder(db, nil)
	// Close flushes once more after the server stops; it waits for the
	// runs to end first, so that no flush of theirs outlives it.
	var flushers sync.WaitGroup
	flushers.Go(func() { uses.Run(ctx, account.FlushInterval, log) })
	// Downloads of links without a limit are counted in memory too, and
	// written every TallyInterval; a limited link's are counted in
	// PostgreSQL as they happen.
	tally := authz.NewTally(db)
	flushers.Go(func() { tally.Run(ctx, authz.TallyInterval, log) })
	srv := &authz.Server{
		Sessions:     sessions,
		Store:        db,
		Cache:        factsCache,
		HidePrivate:  cfg.HidePrivate,
		InlineTypes:  inline,
		StoreTimeout: 3 * time.Second,
		Uses:         uses,
		Tally:        tally,
		Log:          log,
		Audit:        audit.New(auditOut),
		Metrics:      authzMetrics,
	}
	if cfg.Storage == "s3" {
		// authz only signs: it never talks to the store.
		bucket, err := s3.NewSigner(s3.Config(cfg.S3))
		if err != nil {
			return err
		}
		srv.Bucket = bucket
	}
	err = httpserver.Run(ctx, "authz", cfg.AuthzAddr, srv.Handler(), log)
	stop() // the metrics, and the flushes, stop with authz, also when it could not listen
	flushers.Wait()
	return errors.Join(err, waitMetrics(), uses.Close(), tally.Close())
}
