package cache_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
)

func open(t *testing.T, url string, ttl time.Duration) *cache.Cache {
	t.Helper()
	c, err := cache.Open(url, testenv.RedisPrefix(t), ttl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var facts = filegate.Facts{
	Viewer: filegate.Profile{ID: 1, Exists: true},
	Owner:  filegate.Profile{ID: 2, Exists: true, Public: true},
	File:   filegate.Target{Exists: true, Path: "2/a.pdf", ContentType: "application/pdf", DisplayName: "a.pdf"},
}

func TestGetPut(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Minute)
	ctx := context.Background()
	_, tok, ok := c.Get(ctx, 1, 2, "a.pdf")
	if ok {
		t.Fatal("hit on an empty cache")
	}
	c.Put(ctx, tok, facts)
	got, _, ok := c.Get(ctx, 1, 2, "a.pdf")
	if !ok || got != facts {
		t.Fatalf("Get = %+v, %v; want the facts put", got, ok)
	}
	// Each kind of change drops exactly what it touched.
	for name, change := range map[string]func(){
		"viewer changed": func() { c.UserChanged(ctx, 1) },
		"owner changed":  func() { c.UserChanged(ctx, 2) },
		"file changed":   func() { c.FileChanged(ctx, 2, "a.pdf") },
	} {
		change()
		_, tok, ok := c.Get(ctx, 1, 2, "a.pdf")
		if ok {
			t.Errorf("%s: still a hit", name)
		}
		c.Put(ctx, tok, facts)
		if _, _, ok := c.Get(ctx, 1, 2, "a.pdf"); !ok {
			t.Errorf("%s: no hit after refilling", name)
		}
	}
	c.FileChanged(ctx, 2, "other.pdf")
	c.UserChanged(ctx, 3)
	if _, _, ok := c.Get(ctx, 1, 2, "a.pdf"); !ok {
		t.Error("unrelated changes dropped the entry")
	}
}

// An invalidation Redis never saw is bounded by the TTL.
func TestStalenessBoundedByTTL(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Second)
	ctx := context.Background()
	_, tok, _ := c.Get(ctx, 1, 2, "a.pdf")
	c.Put(ctx, tok, facts)
	if _, _, ok := c.Get(ctx, 1, 2, "a.pdf"); !ok {
		t.Fatal("no hit right after Put")
	}
	time.Sleep(1100 * time.Millisecond)
	if _, _, ok := c.Get(ctx, 1, 2, "a.pdf"); ok {
		t.Fatal("entry outlived its TTL")
	}
}

// With Redis unreachable every call is a quick miss, never an error or a
// hang, and Put stores nothing.
func TestRedisDown(t *testing.T) {
	c := open(t, "redis://127.0.0.1:1/0", time.Minute)
	ctx := context.Background()
	start := time.Now()
	for range 20 {
		_, tok, ok := c.Get(ctx, 1, 2, "a.pdf")
		if ok {
			t.Fatal("hit from an unreachable Redis")
		}
		c.Put(ctx, tok, facts)
		c.UserChanged(ctx, 1)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("20 rounds against a dead Redis took %s; the cache must fail fast", d)
	}
}

// A malformed REDIS_URL is reported without the URL: it may hold a
// password, and the error ends up in the startup log.
func TestOpenErrorHidesPassword(t *testing.T) {
	for _, u := range []string{"redis://u:s3cret@host:xx/0", "redis://u:s3cret@host:1/zz", "http://u:s3cret@host/0"} {
		_, err := cache.Open(u, "p:", time.Second, nil)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open error quotes the password: %v", err)
		}
	}
}
