package authz_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// The decision path of a download, from nginx's subrequest to authz's
// answer, wired as authz's main wires it: the cookie decoded, the facts
// looked up, the policy applied, the session's use noted, the decision
// counted and written to the audit log (a file), the headers written.
// With the facts from memory (the default), from Redis
// (AUTHZ_MEMORY_CACHE=off), and from PostgreSQL with Redis down, against
// the real Redis and PostgreSQL. A lookup that missed (a Redis call that
// timed out on a busy machine) reads PostgreSQL and is reported as
// misses/op. With files in a bucket (FILEGATE_STORAGE=s3), the answer is
// a presigned URL.
func BenchmarkAuthMemoryHit(b *testing.B)       { benchmarkAuth(b, "memory", false) }
func BenchmarkAuthRedisHit(b *testing.B)        { benchmarkAuth(b, "redis", false) }
func BenchmarkAuthRedisDown(b *testing.B)       { benchmarkAuth(b, "down", false) }
func BenchmarkAuthMemoryHitBucket(b *testing.B) { benchmarkAuth(b, "memory", true) }

func benchmarkAuth(b *testing.B, source string, bucket bool) {
	db := testenv.OpenDB(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := session.GenerateKeys()
	cacheKey, _ := session.CacheKey(keys)
	redisURL := testenv.RedisURL()
	if source == "down" {
		redisURL = "redis://" + testenv.FreeAddr(b) // nothing listens
	}
	c, err := cache.Open(redisURL, testenv.RedisPrefix(b), time.Minute, cacheKey, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if source == "memory" {
		enableMemory(b, c)
	}
	auditLog, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { auditLog.Close() })
	codec, err := session.New(keys, false, nil)
	if err != nil {
		b.Fatal(err)
	}
	if source == "memory" {
		codec.Remember(1000) // as authz's main does
	}
	alice := testenv.AddUser(b, db, testenv.User{Name: "alice"})
	bob := testenv.AddUser(b, db, testenv.User{Name: "bob", Public: true})
	file := testenv.AddFileRow(b, db, bob.ID, "shared.pdf", "shared.pdf", "")
	claims, err := account.StartSession(context.Background(), db, alice, "bench", time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cookie, err := codec.Encode(claims)
	if err != nil {
		b.Fatal(err)
	}
	misses := 0
	store := countingStore{DB: db, loads: &misses}
	srv := &authz.Server{Sessions: codec, Store: store, Cache: c, StoreTimeout: 2 * time.Second, Log: log,
		Uses: account.NewRecorder(db, nil), Audit: audit.New(auditLog), Metrics: metrics.NewAuthz(metrics.NewRegistry(), metrics.CacheStats{})}
	if bucket {
		if srv.Bucket, err = s3.NewSigner(s3.Config{Endpoint: "https://s3.example.com", Bucket: "files", Region: "us-east-1", AccessKey: "key", SecretKey: "secret"}); err != nil {
			b.Fatal(err)
		}
	}
	h := srv.Handler()
	r := httptest.NewRequest(http.MethodGet, "/auth", nil)
	r.Header.Set(authz.HeaderURI, file.URL())
	r.Header.Set(authz.HeaderMethod, http.MethodGet)
	r.Header.Set(authz.HeaderClient, "192.0.2.1")
	r.Header.Set(audit.HeaderRequestID, "0123456789abcdef0123456789abcdef")
	r.AddCookie(&http.Cookie{Name: session.CookieName, Value: cookie})
	w := &discard{header: http.Header{}}
	h.ServeHTTP(w, r)
	h.ServeHTTP(w, r)
	if w.status != http.StatusOK {
		b.Fatalf("status %d, want 200", w.status)
	}
	if source != "down" {
		misses = 0
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d, want 200", w.status)
		}
	}
	if source != "down" {
		b.ReportMetric(float64(misses)/float64(b.N), "misses/op")
	}
}

// discard is a ResponseWriter that keeps the status only.
type discard struct {
	header http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(status int)      { d.status = status }

// countingStore counts the facts it reads.
type countingStore struct {
	*postgres.DB
	loads *int
}

func (s countingStore) Facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, error) {
	*s.loads++
	return s.DB.Facts(ctx, key)
}
