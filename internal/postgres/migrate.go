package postgres

import (
	"context"
	"fmt"
	"io/fs"

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

func (db *DB) migrateOne(ctx context.Context, name string) (bool, error) {
	body, err := fs.ReadFile(sqlfiles.Migrations, name)
	if err != nil {
		return false, fmt.Errorf("postgres: migrate %s: %w", name, err)
	}
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, wrap("migrate: begin", err)
	}
	defer tx.Rollback()
	// Any constant works as the key; it only has to be the same everywhere.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7316001)`); err != nil {
		return false, wrap("migrate: lock", err)
	}
	// Under the lock, so two first runs cannot race to create it.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return false, wrap("migrate: create schema_migrations", err)
	}
	var done bool
	if err := tx.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name); err != nil {
		return false, wrap("migrate: check "+name, err)
	}
	if done {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return false, wrap("migrate: apply "+name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
		return false, wrap("migrate: record "+name, err)
	}
	return true, wrap("migrate: commit "+name, tx.Commit())
}
