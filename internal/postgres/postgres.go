// Package postgres stores users, sessions and files in PostgreSQL. Every method is one
// transaction (or one statement), and every committed change that can alter
// an access decision is reported to the Invalidator before the method
// returns, so no caller can forget it. Besides the codes each method names,
// any method may fail with EUNAVAILABLE when the database cannot be reached.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/filegate/filegate/internal/filegate"
)

// DB is the store. The zero value is not usable; call Open.
type DB struct {
	db *sqlx.DB
	// Invalidator is told about every committed change; nil means no cache.
	Invalidator filegate.Invalidator

	facts atomic.Pointer[sqlx.Stmt] // see factsStmt
}

// Open prepares a connection pool for dsn without connecting: authz must
// start, and answer 503, while the database is down. The first query, or
// Ping, reports an unreachable database as EUNAVAILABLE. A malformed dsn
// is an error here, at startup, and the error never quotes the dsn (it
// may hold a password).
func Open(dsn string) (*DB, error) {
	conn, err := pq.NewConnector(dsn)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("postgres: DATABASE_URL: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "postgres")
	// authz asks on every download: keep warm connections, but do not hoard.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{db: db}, nil
}

// Close closes the connection pool.
func (db *DB) Close() error {
	if stmt := db.facts.Swap(nil); stmt != nil {
		stmt.Close()
	}
	return db.db.Close()
}

// Ping reports whether the database answers; used by /healthz.
func (db *DB) Ping(ctx context.Context) error { return wrap("ping", db.db.PingContext(ctx)) }

// detach returns the context a change runs in: the caller's values, but
// not its cancellation, and filegate.ChangeTimeout. A change that can alter an
// access decision, once asked for, is carried out to a known end whatever
// the client does: a client hanging up mid-statement must not leave a
// change committed that the store believes failed, and so never reports
// to the Invalidator (docs/interface.md#cache).
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), filegate.ChangeTimeout)
}

// uncertain reports whether err may have come after PostgreSQL committed
// the change anyway: a lost reply to COMMIT, the change timeout. Only a
// refusal with a domain code (not found, conflict, quota, invalid) is
// certain. Callers tell the Invalidator of an uncertain change all the
// same: an invalidation too many costs one cache miss, one too few a
// stale decision.
func uncertain(err error) bool {
	code := filegate.ErrorCode(err)
	return code == filegate.EINTERNAL || code == filegate.EUNAVAILABLE
}

// userChanged and fileChanged tell the Invalidator about a committed
// change. They run even when ctx was cancelled in the meantime: a client
// that drops the connection right after a logout or an unsharing must not
// leave the old decision cached.
func (db *DB) userChanged(ctx context.Context, id int64) {
	if db.Invalidator != nil {
		db.Invalidator.UserChanged(context.WithoutCancel(ctx), id)
	}
}

func (db *DB) fileChanged(ctx context.Context, ownerID int64, storedName string) {
	if db.Invalidator != nil {
		db.Invalidator.FileChanged(context.WithoutCancel(ctx), ownerID, storedName)
	}
}

// inTx runs fn in one transaction and commits it if fn returns nil; on any
// error the transaction is rolled back. It is for methods that need more
// than one statement, or work between a statement and the commit; one
// statement alone is atomic without it. fn's errors are returned as they
// are (fn wraps its own); failures to begin or commit are wrapped with op.
func (db *DB) inTx(ctx context.Context, op string, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return wrap(op+": begin", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return wrap(op+": commit", tx.Commit())
}

// wrap adds context to err and gives it a domain code where one applies:
// a lost or refused connection is EUNAVAILABLE (503), a unique violation
// ECONFLICT. Other errors stay internal.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w", op, filegate.Wrap(filegate.EUNAVAILABLE, "The database is unavailable; try again shortly.", err))
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		return fmt.Errorf("postgres: %s: %w", op, filegate.Wrap(filegate.ECONFLICT, "That name is already taken.", err))
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func unavailable(err error) bool {
	var netErr net.Error
	var pqErr *pq.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.DeadlineExceeded),
		// A connection accepted and closed at once (a proxy or pooler
		// whose server is gone) ends in EOF.
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &netErr):
		return true
	case errors.As(err, &pqErr):
		// 08: connection exception; 57P0x: server shutting down; 53: out of resources.
		class := pqErr.Code.Class()
		return class == "08" || class == "53" || pqErr.Code == "57P01" || pqErr.Code == "57P02" || pqErr.Code == "57P03"
	}
	return false
}
