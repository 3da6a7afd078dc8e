// Package testenv gives tests the real services: a fresh PostgreSQL
// database per NewDatabase call, a private Redis key prefix, and (in
// stack.go) a whole stack behind a real nginx. Tests never skip for a missing service: they fail with the
// reason, since `make test` installs and starts everything.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"

	_ "github.com/lib/pq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/postgres"
)

// T is the part of testing.TB the harness needs. Tests pass their
// *testing.T; the benchmark program (bench/) brings its own.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}

// AdminURL is the server-level PostgreSQL URL; TEST_DATABASE_URL overrides.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis tests use; TEST_REDIS_URL overrides.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// RedisClient returns a plain client on RedisURL, closed when the test
// ends, for tests that look at or forge what filegate keeps in Redis.
func RedisClient(t T) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// RandomID returns a short random lowercase hex string for names.
func RandomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RedisPrefix returns a key prefix no other test run uses; its keys are
// deleted when the test ends.
func RedisPrefix(t T) string {
	prefix := "filegate-test-" + RandomID() + ":"
	t.Cleanup(func() {
		opt, err := goredis.ParseURL(RedisURL())
		if err != nil {
			return
		}
		c := goredis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// NewDatabase creates an empty database, migrates it, and drops it when
// the test ends. It returns the database's URL.
func NewDatabase(t T) string {
	t.Helper()
	admin, err := sql.Open("postgres", AdminURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer admin.Close()
	name := "filegate_test_" + RandomID()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("testenv: create database (is PostgreSQL running at %s?): %v", AdminURL(), err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("postgres", AdminURL())
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	db, err := postgres.Open(dbURL)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	return dbURL
}

// OpenDB returns the store on a fresh, migrated database (NewDatabase),
// closed when the test ends.
func OpenDB(t T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(NewDatabase(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
