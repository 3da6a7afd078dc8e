package cache_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/testenv"
)

// names are the Redis keys of the facts of key under prefix, as an
// attacker who reads Redis finds them.
type names struct {
	viewer, session, owner, file string // entries
	viewerGen, ownerGen, fileGen string
}

func keysOf(prefix string) names {
	prefix = cache.KeyPrefix(prefix)
	return names{
		viewer: prefix + "c:u:1", session: prefix + "c:s:" + hex.EncodeToString(key.SessionHash[:]),
		owner: prefix + "c:u:2", file: prefix + "c:f:2/a.pdf",
		viewerGen: prefix + "g:u:1", ownerGen: prefix + "g:u:2", fileGen: prefix + "g:f:2/a.pdf",
	}
}

func (n names) entries() []string { return []string{n.viewer, n.session, n.owner, n.file} }

// get returns what Redis holds under name.
func get(t *testing.T, rdb *goredis.Client, name string) string {
	t.Helper()
	v, err := rdb.Get(context.Background(), name).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", name, err)
	}
	return v
}

// set writes v under name, keeping its expiry.
func set(t *testing.T, rdb *goredis.Client, name, v string) {
	t.Helper()
	if err := rdb.Set(context.Background(), name, v, goredis.KeepTTL).Err(); err != nil {
		t.Fatal(err)
	}
}

// edit replaces old with new in the entry under name, leaving its MAC as
// it was.
func edit(t *testing.T, rdb *goredis.Client, name, old, new string) {
	t.Helper()
	v := get(t, rdb, name)
	if !strings.Contains(v[sha256.Size:], old) {
		t.Fatalf("%s holds no %s: %q", name, old, v[sha256.Size:])
	}
	set(t, rdb, name, v[:sha256.Size]+strings.Replace(v[sha256.Size:], old, new, 1))
}

// Whoever can write to Redis cannot make authz decide on facts authz did
// not read: every forged entry is a miss (the caller's facts come from
// load, which lookup checks), is counted, and is replaced by an
// authentic one on the same request.
func TestForgedEntriesAreMisses(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	c := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	rdb := testenv.RedisClient(t)
	n := keysOf(prefix)
	for _, tt := range []struct {
		name  string
		bad   uint64 // how many entries the forgery spoils
		forge func()
	}{
		{"the file's path pointed at another file", 1, func() { edit(t, rdb, n.file, `"path":"2/a.pdf"`, `"path":"1/secret.pdf"`) }},
		{"the viewer made staff", 1, func() { edit(t, rdb, n.viewer, `"e":true`, `"e":true,"s":true`) }},
		{"the session handed to another user", 1, func() { edit(t, rdb, n.session, `"u":1`, `"u":2`) }},
		{"the MAC flipped", 1, func() {
			v := []byte(get(t, rdb, n.owner))
			v[0] ^= 1
			set(t, rdb, n.owner, string(v))
		}},
		{"a public owner's entry moved onto the viewer's key, with its tag", 1, func() {
			set(t, rdb, n.viewer, get(t, rdb, n.owner))
			set(t, rdb, n.viewerGen, get(t, rdb, n.ownerGen))
		}},
		{"plain JSON, as entries were before they were authenticated", 1, func() {
			v := get(t, rdb, n.file)
			set(t, rdb, n.file, v[sha256.Size:])
		}},
		{"shorter than a MAC", 1, func() { set(t, rdb, n.file, "x") }},
		{"empty", 1, func() { set(t, rdb, n.session, "") }},
		{"written under another key (a forger's, or before a key rotation)", 4, func() {
			other, err := cache.Open(testenv.RedisURL(), prefix, time.Minute, []byte(strings.Repeat("k", cache.MinKeySize)), quiet)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			// other finds all four of c's entries forged, reads the
			// facts and writes them under its own key.
			if lookup(t, other) {
				t.Fatal("entries written under one key were a hit under another")
			}
		}},
	} {
		lookup(t, c)
		if !lookup(t, c) {
			t.Fatalf("%s: no hit before the forgery", tt.name)
		}
		before := c.BadEntries()
		tt.forge()
		if lookup(t, c) {
			t.Errorf("%s: the forged entry was a hit", tt.name)
		}
		if got := c.BadEntries() - before; got != tt.bad {
			t.Errorf("%s: %d entries counted as bad, want %d", tt.name, got, tt.bad)
		}
		if !lookup(t, c) {
			t.Errorf("%s: the forged entry was not replaced", tt.name)
		}
	}
}

// A generation key that disappears (evicted under memory pressure, or
// deleted) brings no entry back: entries are never tagged with an empty
// token, because a missing generation key is created before the database
// is read.
func TestLostGenerationRevivesNothing(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	c := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	rdb := testenv.RedisClient(t)
	ctx := context.Background()
	n := keysOf(prefix)
	// The first lookup finds no generation keys at all.
	lookup(t, c)
	for _, name := range []string{n.viewerGen, n.ownerGen, n.fileGen} {
		if get(t, rdb, name) == "" {
			t.Fatalf("%s was not created", name)
		}
	}
	for _, name := range n.entries() {
		var e struct {
			Gen string `json:"g"`
		}
		if err := json.Unmarshal([]byte(get(t, rdb, name)[sha256.Size:]), &e); err != nil || e.Gen == "" {
			t.Errorf("%s is tagged %q (%v)", name, e.Gen, err)
		}
	}
	if !lookup(t, c) {
		t.Fatal("no hit after a miss was filled")
	}
	// The owner changes (made private, say), nobody asks in between, and
	// then Redis drops the owner's generation key.
	c.UserChanged(ctx, 2)
	rdb.Del(ctx, n.ownerGen)
	if lookup(t, c) {
		t.Fatal("an entry from before the change answered once the generation key was gone")
	}
	if !lookup(t, c) {
		t.Fatal("no hit after refilling")
	}
	// Two replicas creating the same generation key at once agree on it.
	rdb.Del(ctx, n.fileGen)
	other := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	done := make(chan bool)
	go func() { done <- lookup(t, other) }()
	lookup(t, c)
	<-done
	if !lookup(t, c) || !lookup(t, other) {
		t.Error("two replicas that created a generation key at once tagged with different tokens")
	}
}

// An entry older than the TTL is a miss even if Redis still holds it (a
// Redis writer can make keys persist). With a restored generation token,
// such an entry would otherwise bring back facts from before a change for
// as long as the writer liked; the write time under the MAC bounds that by
// the TTL, as for a change Redis never heard of.
func TestEntriesAgeOut(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	c := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	clock := testenv.NewClock()
	cache.SetClock(c, clock.Now)
	rdb := testenv.RedisClient(t)
	ctx := context.Background()
	n := keysOf(prefix)
	lookup(t, c)
	old := get(t, rdb, n.ownerGen)
	for _, name := range n.entries() {
		rdb.Persist(ctx, name)
	}
	c.UserChanged(ctx, 2)
	set(t, rdb, n.ownerGen, old) // the writer rolls the generation back
	clock.Advance(time.Minute + time.Millisecond)
	before := c.BadEntries()
	if lookup(t, c) {
		t.Error("an entry older than the TTL answered")
	}
	if c.BadEntries() != before {
		t.Error("an authentic entry that aged out was counted as forged")
	}
}

// Replacing the key (a rotation of FILEGATE_SESSION_KEYS' first pair) turns
// every entry written before into a miss; nothing else changes.
func TestKeyRotation(t *testing.T) {
	prefix := testenv.RedisPrefix(t)
	c := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	lookup(t, c)
	rotated, err := cache.Open(testenv.RedisURL(), prefix, time.Minute, []byte(strings.Repeat("r", cache.MinKeySize)), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Close()
	if lookup(t, rotated) {
		t.Fatal("an entry written under the old key answered")
	}
	if !lookup(t, rotated) {
		t.Fatal("no hit after refilling under the new key")
	}
}

// A key shorter than MinKeySize is refused; nil makes a cache that only
// invalidates and never answers from Redis.
func TestOpenKey(t *testing.T) {
	if _, err := cache.Open(testenv.RedisURL(), "p:", time.Minute, []byte("short"), nil); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	prefix := testenv.RedisPrefix(t)
	c := openAt(t, testenv.RedisURL(), prefix, time.Minute)
	lookup(t, c)
	inval, err := cache.Open(testenv.RedisURL(), prefix, time.Minute, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer inval.Close()
	if lookup(t, inval) || lookup(t, inval) {
		t.Error("a cache without a key answered from Redis")
	}
	inval.UserChanged(context.Background(), 2)
	if lookup(t, c) {
		t.Error("a cache without a key did not invalidate")
	}
}
