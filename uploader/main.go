// Command uploader is the filegate web app and its admin CLI. main only
// wires: it reads the configuration, opens the store, the cache and the
// private root, and hands them to the command asked for.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/config"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
	"github.com/filegate/filegate/internal/link"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/storage/fs"
	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/throttle"
	"github.com/filegate/filegate/internal/web"
)

// The adapters main wires in must be what their users ask for.
var (
	_ web.Store            = (*postgres.DB)(nil)
	_ web.Ingester         = (*ingest.Ingester)(nil)
	_ web.Sessions         = (*session.Codec)(nil)
	_ web.Throttle         = (*throttle.Throttle)(nil)
	_ ingest.Store         = (*postgres.DB)(nil)
	_ account.Users        = (*postgres.DB)(nil)
	_ account.Passwords    = (*postgres.DB)(nil)
	_ account.Touches      = (*postgres.DB)(nil)
	_ account.Stale        = (*postgres.DB)(nil)
	_ account.AdminStore   = (*postgres.DB)(nil)
	_ account.UserFiles    = (*ingest.Ingester)(nil)
	_ ingest.Storage       = (*fs.Root)(nil)
	_ ingest.Storage       = (*s3.Bucket)(nil)
	_ web.Admin            = (*account.Admin)(nil)
	_ web.Uses             = (*account.Recorder)(nil)
	_ web.Links            = (*link.Service)(nil)
	_ link.Store           = (*postgres.DB)(nil)
	_ link.Tokens          = (*session.Codec)(nil)
	_ filegate.Invalidator = (*cache.Cache)(nil)
)

// commands is every command (their contract: docs/interface.md#commands),
// in the order usage lists them; the README's "Admin CLI" block is the
// same list, which main_test.go checks. A command is one row here and
// one function in its cmd_*.go file; a two-word name makes a subcommand
// ("user add").
var commands = []command{
	{"serve", "", "run the web app on UPLOADER_ADDR", (*app).serve},
	{"healthcheck", "", "exit 0 when the web app on UPLOADER_ADDR answers /healthz with 200, else 1", (*app).healthcheck},
	{"migrate", "", "apply sql/ migrations (idempotent)", (*app).migrate},
	{"user add", "NAME --password-stdin [--public] [--staff]", "create a user; the password is the first line of standard input", (*app).userAdd},
	{"user set", "NAME [--public=true|false] [--staff=true|false]", "change whether a user's files are public and whether they are staff", (*app).userSet},
	{"user remove", "NAME", "delete a user with all of their files and sessions", (*app).userRemove},
	{"user passwd", "NAME --password-stdin", "set a user's password (first line of standard input) and log out all of their sessions", (*app).userPasswd},
	{"user logout", "NAME", "log out every session of a user", (*app).userLogout},
	{"put", "NAME FILE...", "store files for NAME, as a web upload would", (*app).put},
	{"sweep", "[--apply]", "report (and remove) files without rows, rows without files, unfinished uploads to the bucket, and expired or revoked sessions", (*app).sweep},
	{"link create", "NAME STORED_NAME [--expires-in D] [--max-downloads N] [--password-stdin]", "share a file of NAME by a link and print its URL; a password is the first line of standard input", (*app).linkCreate},
	{"link list", "NAME", "list the share links NAME made, with their state and downloads", (*app).linkList},
	{"link revoke", "ID", "revoke a share link; its next download is refused", (*app).linkRevoke},
	{"audit", "[--user NAME] [--file ID] [--since D]", "print the audit log's events (by NAME, about file ID, in the last D): who downloaded this file?", (*app).showAudit},
}

func main() {
	// CLI commands print their own results; their log is for trouble only.
	level := slog.LevelWarn
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(os.Args[1:], log); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "uploader:", err)
		os.Exit(1)
	}
}

// printUsage prints the commands, then the environment variables the
// uploader reads.
func printUsage() {
	fmt.Fprint(os.Stderr, "Usage:\n", commandList("  "), "\n")
	config.Usage(os.Stderr, "DATABASE_URL", "REDIS_URL", "FILEGATE_REDIS_PREFIX", "FILEGATE_STORAGE", "FILEGATE_PRIVATE_ROOT",
		"FILEGATE_S3_ENDPOINT", "FILEGATE_S3_BUCKET", "FILEGATE_S3_REGION", "FILEGATE_S3_ACCESS_KEY", "FILEGATE_S3_SECRET_KEY",
		"FILEGATE_SESSION_KEYS", "FILEGATE_COOKIE_SECURE", "FILEGATE_MAX_UPLOAD", "FILEGATE_ALLOWED_TYPES", "UPLOADER_ADDR", "UPLOADER_METRICS_ADDR", "FILEGATE_PPROF",
		"AUTHZ_CACHE_TTL", "FILEGATE_SESSION_TTL", "FILEGATE_TRUSTED_PROXIES",
		"FILEGATE_MAX_FILES_PER_REQUEST", "FILEGATE_QUOTA", "FILEGATE_QUOTA_FILES", "FILEGATE_LINK_MAX_TTL", "FILEGATE_AUDIT_LOG")
}

// app is what every command may use: the store and the cache are opened
// before any command runs (opening connects to nothing).
type app struct {
	cfg      config.Config
	log      *slog.Logger
	db       *postgres.DB
	cache    *cache.Cache
	in       *ingest.Ingester // see ingester
	disk     *fs.Root         // the private root, with FILEGATE_STORAGE=fs
	auditOut *audit.File      // see auditLog
	auditLog *audit.Logger
}

// run opens what any command may need, runs the command args name and
// closes what it opened. It prints the usage for a usageError (which main
// prints after it) and for flag.ErrHelp, usage asked for.
func run(args []string, log *slog.Logger) (err error) {
	defer func() {
		if _, bad := errors.AsType[usageError](err); bad || errors.Is(err, flag.ErrHelp) {
			printUsage()
		}
	}()
	if len(args) == 0 {
		return usageError("no command")
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return flag.ErrHelp
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	a := &app{cfg: cfg, log: log}
	if a.db, err = postgres.Open(cfg.DatabaseURL); err != nil {
		return err
	}
	defer a.db.Close()
	// Every command that changes data tells authz's cache through the
	// store. The uploader only invalidates, so it needs no entry key.
	if a.cache, err = cache.Open(cfg.RedisURL, cfg.RedisPrefix, cfg.CacheTTL, nil, log); err != nil {
		return err
	}
	defer a.cache.Close()
	a.db.Invalidator = a.cache
	defer func() {
		if a.disk != nil {
			a.disk.Close()
		}
		if a.auditOut != nil {
			a.auditOut.Close()
		}
	}()
	// Looked up only now, so that a bad environment is reported before a
	// bad command line, whether the command or its arguments are wrong.
	cmd, rest, err := lookup(args)
	if err != nil {
		return err
	}
	return cmd.run(a, ctx, rest)
}

// links returns the share links of the session keys' tokens, for serve
// and the link commands, writing their audit lines as auditLogger does.
func (a *app) links(std io.Writer) (*link.Service, *session.Codec, error) {
	codec, err := session.New(a.cfg.SessionKeys, a.cfg.CookieSecure, nil)
	if err != nil {
		return nil, nil, err
	}
	log, err := a.auditLogger(std)
	if err != nil {
		return nil, nil, err
	}
	links := link.New(a.db, codec, a.cfg.LinkMaxTTL)
	links.Audit = log
	return links, codec, nil
}

// auditLogger opens the audit log (FILEGATE_AUDIT_LOG) on first use, for
// the commands that write audit lines; run closes it. With "-" the lines
// go to std: standard output for serve, standard error for the CLI, whose
// standard output is what it prints.
func (a *app) auditLogger(std io.Writer) (*audit.Logger, error) {
	if a.auditLog == nil {
		out, err := audit.Open(a.cfg.AuditLog, std)
		if err != nil {
			return nil, err
		}
		a.auditOut, a.auditLog = out, audit.New(out)
	}
	return a.auditLog, nil
}

// ingester opens the storage FILEGATE_STORAGE names on first use, for
// the commands that touch files; run closes it.
func (a *app) ingester() (*ingest.Ingester, error) {
	if a.in == nil {
		st, err := a.storage()
		if err != nil {
			return nil, err
		}
		in, err := ingest.New(st, a.db, a.cfg.MaxUpload, a.cfg.AllowedTypes, a.quota(), a.log)
		if err != nil {
			return nil, err
		}
		a.in = in
	}
	return a.in, nil
}

// storage opens the private root or the bucket.
func (a *app) storage() (ingest.Storage, error) {
	if a.cfg.Storage != "s3" {
		disk, err := fs.Open(a.cfg.PrivateRoot, a.log)
		if err != nil {
			return nil, err
		}
		a.disk = disk
		return disk, nil
	}
	if a.cfg.MaxUpload > s3.MaxObjectSize {
		return nil, fmt.Errorf("FILEGATE_MAX_UPLOAD: at most %s with FILEGATE_STORAGE=s3", filegate.FormatSize(s3.MaxObjectSize))
	}
	bucket, err := s3.New(s3.Config(a.cfg.S3))
	if err != nil {
		return nil, err
	}
	bucket.Log = a.log
	return bucket, nil
}

// quota is what each user may store (FILEGATE_QUOTA, FILEGATE_QUOTA_FILES).
func (a *app) quota() filegate.Quota {
	return filegate.Quota{Bytes: a.cfg.Quota, Files: int64(a.cfg.QuotaFiles)}
}
