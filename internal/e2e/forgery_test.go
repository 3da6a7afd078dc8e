package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// attacker can read and write the stack's Redis, and knows where authz
// keeps what (docs/interface.md#cache): entries under c:, generation
// tokens under g:. It does not have the key that authenticates entries.
type attacker struct {
	t      *testing.T
	rdb    *goredis.Client
	prefix string
	d      *demo
}

// in returns a for the (sub)test t.
func (a attacker) in(t *testing.T) attacker {
	a.t = t
	return a
}

func (a attacker) userEntry(id int64) string { return a.prefix + "c:u:" + strconv.FormatInt(id, 10) }
func (a attacker) userGen(id int64) string   { return a.prefix + "g:u:" + strconv.FormatInt(id, 10) }

// fileEntry and fileGen name the keys of the file at the download URL u.
func (a attacker) fileEntry(u string) string {
	return a.prefix + "c:f:" + strings.TrimPrefix(u, "/files/")
}
func (a attacker) fileGen(u string) string {
	return a.prefix + "g:f:" + strings.TrimPrefix(u, "/files/")
}

func (a attacker) sessionEntry(cookie *http.Cookie) string {
	claims, err := a.d.Sessions.Decode(cookie.Value)
	if err != nil {
		a.t.Fatal(err)
	}
	h := session.HashToken(claims.Token)
	return a.prefix + "c:s:" + hex.EncodeToString(h[:])
}

func (a attacker) get(name string) string {
	a.t.Helper()
	v, err := a.rdb.Get(context.Background(), name).Result()
	if err != nil {
		a.t.Fatalf("GET %s: %v", name, err)
	}
	return v
}

// set writes v under name, keeping its expiry, and returns v. authz
// answers from memory what it read before (docs/interface.md#cache), so
// that the forgery is read at all, set then makes every authz drop its
// memory.
func (a attacker) set(name, v string) string {
	a.t.Helper()
	if err := a.rdb.Set(context.Background(), name, v, goredis.KeepTTL).Err(); err != nil {
		a.t.Fatal(err)
	}
	a.dropMemory()
	return v
}

// dropMemory makes every authz drop its memory layer, as anyone who can
// write to Redis can: with an unreadable message on the invalidation
// channel. It waits until each has given its lease back and holds a new
// one, with an empty memory.
func (a attacker) dropMemory() {
	a.t.Helper()
	ctx := context.Background()
	leases := func() []string {
		m, err := a.rdb.ZRange(ctx, a.prefix+"m:leases", 0, -1).Result()
		if err != nil {
			a.t.Fatal(err)
		}
		return m
	}
	before := leases()
	if len(before) == 0 {
		a.t.Fatal("no authz holds a lease: is the memory layer off?")
	}
	if err := a.rdb.Publish(ctx, a.prefix+"m:inval", "forged").Err(); err != nil {
		a.t.Fatal(err)
	}
	waitFor(a.t, "every authz dropping its memory", func() bool {
		now := leases()
		return len(now) == len(before) && !slices.ContainsFunc(now, func(m string) bool { return slices.Contains(before, m) })
	})
}

// edit replaces old with new in the facts of the entry under name, and
// returns what it wrote. It leaves the entry's MAC (its first 32 bytes)
// alone: it cannot make a new one.
func (a attacker) edit(name, old, new string) string {
	a.t.Helper()
	v := a.get(name)
	if !strings.Contains(v[sha256.Size:], old) {
		a.t.Fatalf("%s holds no %s: %q", name, old, v[sha256.Size:])
	}
	return a.set(name, v[:sha256.Size]+strings.Replace(v[sha256.Size:], old, new, 1))
}

// replaced fails the test unless authz has written over the forgery it
// refused.
func (a attacker) replaced(what, name, forged string) {
	a.t.Helper()
	if got := a.get(name); got == forged {
		a.t.Errorf("%s: the forged entry is still there", what)
	}
}

// Forged facts in Redis never turn into a wrong answer through the real
// stack: each forgery below would be a 200 (or serve other bytes) if authz
// believed it. authz reads PostgreSQL instead and writes the entry over.
func TestForgedCacheEntriesThroughNginx(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	a := attacker{t: t, rdb: testenv.RedisClient(t), prefix: cache.KeyPrefix(d.RedisPrefix), d: d}
	ctx := context.Background()
	download := func(t *testing.T, viewer int64, u string) (int, []byte) {
		t.Helper()
		resp, body := d.get(t, viewer, "GET", u)
		return resp.StatusCode, body
	}
	want := func(t *testing.T, what string, viewer int64, u string, status int) {
		t.Helper()
		if got, _ := download(t, viewer, u); got != status {
			t.Fatalf("%s: user %d GET %s: %d, want %d", what, viewer, u, got, status)
		}
	}

	t.Run("a file's entry pointed at a private file", func(t *testing.T) {
		a := a.in(t)
		want(t, "cache bob's file", d.bob, d.bobURL, 200)
		alicePath := strings.TrimPrefix(d.aliceURL, "/files/")
		forged := a.edit(a.fileEntry(d.bobURL), `"path":"`, `"path":"`+alicePath+`","x":"`)
		status, body := download(t, d.bob, d.bobURL)
		if status != 200 || !bytes.Equal(body, d.bobBytes) {
			t.Fatalf("bob's download after the forgery: %d %q, want his own bytes", status, body)
		}
		a.replaced("path", a.fileEntry(d.bobURL), forged)
	})

	t.Run("a private file's entry copied onto a file the viewer may read", func(t *testing.T) {
		a := a.in(t)
		want(t, "cache alice's file as bob sees it", d.bob, d.aliceURL, 403)
		want(t, "cache bob's file", d.bob, d.bobURL, 200)
		forged := a.set(a.fileEntry(d.bobURL), a.get(a.fileEntry(d.aliceURL)))
		a.set(a.fileGen(d.bobURL), a.get(a.fileGen(d.aliceURL)))
		status, body := download(t, d.bob, d.bobURL)
		if status != 200 || !bytes.Equal(body, d.bobBytes) {
			t.Fatalf("bob's download after the copy: %d %q, want his own bytes", status, body)
		}
		a.replaced("copy", a.fileEntry(d.bobURL), forged)
	})

	t.Run("a viewer made staff", func(t *testing.T) {
		a := a.in(t)
		want(t, "cache bob as viewer", d.bob, d.aliceURL, 403)
		forged := a.edit(a.userEntry(d.bob), `"e":true`, `"e":true,"s":true`)
		want(t, "bob forged as staff", d.bob, d.aliceURL, 403)
		a.replaced("staff", a.userEntry(d.bob), forged)
	})

	t.Run("a public user's profile moved onto a private owner's key", func(t *testing.T) {
		a := a.in(t)
		want(t, "cache alice as owner", d.bob, d.aliceURL, 403)
		want(t, "cache bob as owner", d.admin, d.bobURL, 200)
		// bob's entry, id and all, under alice's key, with alice's
		// generation set to the tag it carries.
		forged := a.set(a.userEntry(d.alice), strings.Replace(a.get(a.userEntry(d.bob)),
			`"id":`+strconv.FormatInt(d.bob, 10), `"id":`+strconv.FormatInt(d.alice, 10), 1))
		a.set(a.userGen(d.alice), a.get(a.userGen(d.bob)))
		want(t, "alice forged public", d.bob, d.aliceURL, 403)
		a.replaced("move", a.userEntry(d.alice), forged)
	})

	t.Run("a revoked session's facts forged live", func(t *testing.T) {
		a := a.in(t)
		cookie := d.login(t, "alice", "alice-password")
		d.wantStatus(t, "cache the session", cookie, "GET", d.aliceURL, 200)
		d.wantStatus(t, "cache the session", cookie, "GET", d.aliceURL, 200)
		staleSession, staleUser := a.get(a.sessionEntry(cookie)), a.get(a.userEntry(d.alice))
		if resp, _ := d.send(t, cookie, "POST", "/logout", url.Values{}); resp.StatusCode != 303 {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		// The entries from before the logout, retagged with alice's
		// generation after it: live and not revoked, as far as Redis
		// tells.
		gen := a.get(a.userGen(d.alice))
		retag := func(v string) string {
			body := v[sha256.Size:]
			i, j := strings.Index(body, `"g":"`)+5, strings.Index(body, `","t"`)
			return v[:sha256.Size] + body[:i] + gen + body[j:]
		}
		forged := a.set(a.sessionEntry(cookie), retag(staleSession))
		a.set(a.userEntry(d.alice), retag(staleUser))
		d.wantStatus(t, "forged live after logout", cookie, "GET", d.aliceURL, 401)
		a.replaced("session", a.sessionEntry(cookie), forged)
		d.wantStatus(t, "after the forgery was replaced", cookie, "GET", d.aliceURL, 401)
	})

	t.Run("a generation key lost before and after a change", func(t *testing.T) {
		a := a.in(t)
		public, private := true, false
		if _, err := d.Store.UpdateUser(ctx, d.alice, filegate.UserUpdate{IsPublic: &public}); err != nil {
			t.Fatal(err)
		}
		// Redis loses alice's generation key (expired, or evicted under
		// memory pressure) before her public answer is cached ...
		if err := a.rdb.Del(ctx, a.userGen(d.alice)).Err(); err != nil {
			t.Fatal(err)
		}
		want(t, "alice public", d.bob, d.aliceURL, 200)
		want(t, "alice public, cached", d.bob, d.aliceURL, 200)
		if _, err := d.Store.UpdateUser(ctx, d.alice, filegate.UserUpdate{IsPublic: &private}); err != nil {
			t.Fatal(err)
		}
		// ... and again after she went private, before anyone asked.
		if err := a.rdb.Del(ctx, a.userGen(d.alice)).Err(); err != nil {
			t.Fatal(err)
		}
		want(t, "alice private, her generation key gone", d.bob, d.aliceURL, 403)
	})
}
