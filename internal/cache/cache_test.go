package cache_test

import (
	"context"
	"errors"
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

// lookup asks c for the facts of viewer 1, owner 2, "a.pdf", loading
// facts on a miss, and reports whether they came from the cache.
func lookup(t *testing.T, c *cache.Cache) (hit bool) {
	t.Helper()
	hit = true
	got, err := c.Facts(context.Background(), 1, 2, "a.pdf", func() (filegate.Facts, error) {
		hit = false
		return facts, nil
	})
	if err != nil || got != facts {
		t.Fatalf("Facts = %+v, %v; want the loaded facts", got, err)
	}
	return hit
}

func TestFacts(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Minute)
	ctx := context.Background()
	if lookup(t, c) {
		t.Fatal("hit on an empty cache")
	}
	if !lookup(t, c) {
		t.Fatal("no hit after a miss was filled")
	}
	// Each kind of change drops exactly what it touched.
	for name, change := range map[string]func(){
		"viewer changed": func() { c.UserChanged(ctx, 1) },
		"owner changed":  func() { c.UserChanged(ctx, 2) },
		"file changed":   func() { c.FileChanged(ctx, 2, "a.pdf") },
	} {
		change()
		if lookup(t, c) {
			t.Errorf("%s: still a hit", name)
		}
		if !lookup(t, c) {
			t.Errorf("%s: no hit after refilling", name)
		}
	}
	c.FileChanged(ctx, 2, "other.pdf")
	c.UserChanged(ctx, 3)
	if !lookup(t, c) {
		t.Error("unrelated changes dropped the entry")
	}
}

// A failed load is returned as is and leaves nothing cached.
func TestFactsLoadError(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Minute)
	broken := errors.New("database down")
	_, err := c.Facts(context.Background(), 1, 2, "a.pdf", func() (filegate.Facts, error) {
		return facts, broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("Facts error = %v, want the load's error", err)
	}
	if lookup(t, c) {
		t.Fatal("the facts of a failed load were cached")
	}
}

// An invalidation Redis never saw is bounded by the TTL.
func TestStalenessBoundedByTTL(t *testing.T) {
	c := open(t, testenv.RedisURL(), time.Second)
	lookup(t, c)
	if !lookup(t, c) {
		t.Fatal("no hit right after a miss was filled")
	}
	time.Sleep(1100 * time.Millisecond)
	if lookup(t, c) {
		t.Fatal("entry outlived its TTL")
	}
}

// With Redis unreachable every call is a quick miss, never an error or a
// hang, and nothing is stored.
func TestRedisDown(t *testing.T) {
	c := open(t, "redis://127.0.0.1:1/0", time.Minute)
	ctx := context.Background()
	start := time.Now()
	for range 20 {
		if lookup(t, c) {
			t.Fatal("hit from an unreachable Redis")
		}
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
