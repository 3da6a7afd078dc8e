package authz_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// expect asks for uri with cookie twice (the second time from the cache
// when the first filled it) and fails unless both answer want.
func (f *fixture) expect(t *testing.T, what, cookie, uri string, want int) {
	t.Helper()
	for i := range 2 {
		if got := status(f.askWith(t, cookie, uri)); got != want {
			t.Fatalf("%s (round %d): status %d, want %d", what, i, got, want)
		}
	}
}

// A revoked session is refused on the very next request, although its
// allowed decision was cached a moment before.
func TestRevokedSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, mine := f.login(t, f.alice, time.Hour)
	copied := mine // a cookie copied before logout is the same value
	f.expect(t, "before logout", mine, f.aliceFile.URL(), 200)
	claims, _ := f.codec.Decode(mine)
	s, _, err := f.db.SessionByToken(ctx, session.HashToken(claims.Token))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.RevokeSession(ctx, f.alice.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "copied cookie after logout", copied, f.aliceFile.URL(), 401)
	f.expect(t, "copied cookie, someone else's public file", copied, f.bobFile.URL(), 401)
	f.expect(t, "copied cookie, no such file", copied, "/files/999/x.pdf", 401)
}

// Logging out everywhere, or changing the password, ends the other
// sessions on their next request; a password change keeps the one that
// asked.
func TestRevokeAllSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, a := f.login(t, f.alice, time.Hour)
	_, b := f.login(t, f.alice, time.Hour)
	_, bobs := f.login(t, f.bob, time.Hour)
	for _, c := range []string{a, b} {
		f.expect(t, "alice logged in twice", c, f.aliceFile.URL(), 200)
	}
	f.expect(t, "bob", bobs, f.bobFile.URL(), 200)
	if _, err := f.db.RevokeSessions(ctx, f.alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "first session after logout everywhere", a, f.aliceFile.URL(), 401)
	f.expect(t, "second session after logout everywhere", b, f.aliceFile.URL(), 401)
	f.expect(t, "another user's session", bobs, f.bobFile.URL(), 200)

	alice := f.alice
	alice.PasswordHash, _ = account.HashPassword("old password")
	if _, err := f.db.SetPassword(ctx, alice.ID, nil, alice.PasswordHash, 0); err != nil {
		t.Fatal(err)
	}
	keepClaims, keep := f.login(t, alice, time.Hour)
	_, other := f.login(t, alice, time.Hour)
	f.expect(t, "kept session before", keep, f.aliceFile.URL(), 200)
	f.expect(t, "other session before", other, f.aliceFile.URL(), 200)
	kept, _, _ := f.db.SessionByToken(ctx, session.HashToken(keepClaims.Token))
	if _, err := account.ChangePassword(ctx, f.db, alice, "old password", "new password", kept.ID); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "session that changed the password", keep, f.aliceFile.URL(), 200)
	f.expect(t, "other session after the password change", other, f.aliceFile.URL(), 401)
}

// A cookie pairs a user id with a session token. Only the pair that was
// issued together is valid: a cookie naming another user than its
// session's (possible only with the keys, but checked anyway) is a 401,
// whether the session's facts were cached or not.
func TestSessionOfAnotherUser(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	carolClaims, carols := f.login(t, f.carol, time.Hour) // staff: sees everything
	f.expect(t, "carol", carols, f.aliceFile.URL(), 200)
	swapped := carolClaims
	swapped.UserID = f.bob.ID
	f.expect(t, "bob's id with carol's session, cached", f.encode(t, swapped), f.aliceFile.URL(), 401)
	f.cache.UserChanged(context.Background(), f.carol.ID)
	f.cache.UserChanged(context.Background(), f.bob.ID)
	f.expect(t, "bob's id with carol's session, uncached", f.encode(t, swapped), f.bobFile.URL(), 401)
	f.expect(t, "carol's own cookie still", carols, f.aliceFile.URL(), 200)
}

// Cookies from before sessions were records carry no session token; they
// are refused, once, and the browser logs in again.
func TestCookieWithoutSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	keys := session.GenerateKeys()
	f.codec, _ = session.New(keys, false, nil)
	f.srv.Sessions = f.codec
	f.expect(t, "cookie without a session", testenv.LegacyCookie(t, keys, f.carol.ID), f.bobFile.URL(), 401)
}

// The session's expiry is checked at decision time against the clock, so
// a cached decision never outlives its session.
func TestExpiredSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, short := f.login(t, f.alice, 10*time.Minute)
	f.expect(t, "fresh session", short, f.aliceFile.URL(), 200)
	f.clock.Advance(10*time.Minute - time.Second)
	f.expect(t, "a second before expiry", short, f.aliceFile.URL(), 200)

	// From here the database is gone: whatever answers comes from the
	// cache and the clock.
	f.srv.Store = deadStore(t)
	f.expect(t, "cached, still valid", short, f.aliceFile.URL(), 200)
	f.clock.Advance(time.Second)
	f.expect(t, "cached, expired", short, f.aliceFile.URL(), 401)
}

// When a session record expires before its cookie does (a cookie made
// with the keys, or a record an operator shortened), the record's expiry
// counts, and a cached copy of the record expires with it.
func TestSessionRecordExpiresFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	claims, _ := f.login(t, f.alice, 5*time.Minute)
	long := claims
	long.Expires = f.clock.Now().Add(time.Hour) // the cookie says an hour
	cookie := f.encode(t, long)
	f.expect(t, "valid", cookie, f.aliceFile.URL(), 200)
	f.clock.Advance(5 * time.Minute)
	f.expect(t, "record expired, cookie not", cookie, f.aliceFile.URL(), 401)
}

// A decision loaded from the database just before a revocation commits,
// and written to the cache just after, is never served.
func TestCacheRaceWithRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	claims, cookie := f.login(t, f.alice, time.Hour)
	hash := session.HashToken(claims.Token)
	s, _, _ := f.db.SessionByToken(ctx, hash)
	key := filegate.FactsKey{ViewerID: f.alice.ID, SessionHash: hash, OwnerID: f.alice.ID, StoredName: f.aliceFile.StoredName}
	if _, err := f.cache.Facts(ctx, key, func() (filegate.Facts, error) {
		stale, err := f.db.Facts(ctx, key)
		if err != nil {
			return stale, err
		}
		return stale, f.db.RevokeSession(ctx, f.alice.ID, s.ID)
	}); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "after a revocation that raced the load", cookie, f.aliceFile.URL(), 401)
}

// Without Redis, PostgreSQL decides: a revoked session is refused. Without
// PostgreSQL and nothing cached, 503; never 200.
func TestSessionsDegraded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	claims, cookie := f.login(t, f.alice, time.Hour)
	f.expect(t, "cached", cookie, f.aliceFile.URL(), 200)
	deadRedis := deadCache(t)
	f.srv.Cache = deadRedis
	s, _, _ := f.db.SessionByToken(ctx, session.HashToken(claims.Token))
	f.db.Invalidator = nil // the change reaches PostgreSQL only
	if err := f.db.RevokeSession(ctx, f.alice.ID, s.ID); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "revoked, Redis down", cookie, f.aliceFile.URL(), 401)

	_, fresh := f.login(t, f.alice, time.Hour)
	f.srv.Store = deadStore(t)
	for _, c := range []authz.Cache{deadRedis, f.cache} {
		f.srv.Cache = c
		f.expect(t, "uncached session, PostgreSQL down", fresh, f.aliceFile.URL(), 503)
	}
}

// touches counts what a Recorder writes to the real store.
type touches struct {
	db     *postgres.DB
	mu     sync.Mutex
	writes int
}

func (s *touches) TouchSessions(ctx context.Context, lastUsed map[int64]time.Time) error {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return s.db.TouchSessions(ctx, lastUsed)
}

// Downloads note their session's use in memory: however many there are,
// the database sees one write per flush, and last use moves to the time
// of the latest download. Refused requests note nothing.
func TestLastUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	store := &touches{db: f.db}
	rec := account.NewRecorder(store, f.clock.Now)
	f.srv.Uses = rec
	claims, cookie := f.login(t, f.alice, time.Hour)
	hash := session.HashToken(claims.Token)
	before, _, _ := f.db.SessionByToken(ctx, hash)
	for range 50 {
		f.clock.Advance(time.Second)
		f.askWith(t, cookie, f.aliceFile.URL())
	}
	f.askWith(t, cookie, f.bobFile.URL()) // a 200 of someone else's file counts too
	last := f.clock.Now()
	if store.writes != 0 {
		t.Fatalf("%d writes before the flush; downloads must not write", store.writes)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after, _, _ := f.db.SessionByToken(ctx, hash)
	if store.writes != 1 || !after.LastUsedAt.Equal(last) || !after.LastUsedAt.After(before.LastUsedAt) {
		t.Errorf("%d writes, last used %v → %v; want 1 write and %v", store.writes, before.LastUsedAt, after.LastUsedAt, last)
	}

	if _, err := f.db.RevokeSessions(ctx, f.alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	f.askWith(t, cookie, f.aliceFile.URL())
	if err := rec.Flush(ctx); err != nil || store.writes != 1 {
		t.Errorf("a refused request was noted: %d writes, %v", store.writes, err)
	}
}
