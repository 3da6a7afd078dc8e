package postgres

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"

	sqlfiles "github.com/filegate/filegate/sql"
)

// Migrate applies the migrations of sql/ that are not yet recorded in
// schema_migrations, each in its own transaction, and returns the names it
// applied. It is idempotent and safe to run from several processes at once
// (an advisory lock serializes them).
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	names, err := fs.Glob(sqlfiles.Migrations, "*.sql") // sorted, hence in order
	if err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	var applied []string
	for _, name := range names {
		ok, err := db.migrateOne(ctx, name)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, name)
		}
	}
	return applied, nil
}

// migrateOne applies migration name unless schema_migrations records it,
// under the advisory lock, in one transaction with its record; it reports
// whether it applied it.
func (db *DB) migrateOne(ctx context.Context, name string) (bool, error) {
	body, err := fs.ReadFile(sqlfiles.Migrations, name)
	if err != nil {
		return false, fmt.Errorf("postgres: migrate %s: %w", name, err)
	}
	applied := false
	err = db.inTx(ctx, "migrate "+name, func(tx *sqlx.Tx) error {
		// Any constant works as the key; it only has to be the same everywhere.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316001)`); err != nil {
			return wrap("migrate: lock", err)
		}
		// Under the lock, so two first runs cannot race to create it.
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return wrap("migrate: create schema_migrations", err)
		}
		var done bool
		if err := tx.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name); err != nil {
			return wrap("migrate: check "+name, err)
		}
		if done {
			return nil
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return wrap("migrate: apply "+name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
			return wrap("migrate: record "+name, err)
		}
		applied = true
		return nil
	})
	return applied, err
}
