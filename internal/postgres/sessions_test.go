package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// newSession starts a session of u lasting ttl from now through the
// account package, as a login does, and returns it with its token's hash.
func newSession(t *testing.T, db *postgres.DB, u filegate.User, ttl time.Duration) (filegate.Session, [32]byte) {
	t.Helper()
	ctx := context.Background()
	claims, err := account.StartSession(ctx, db, u, "Mozilla/5.0 (test)", time.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	hash := session.HashToken(claims.Token)
	s, owner, err := db.SessionByToken(ctx, hash)
	if err != nil || owner.ID != u.ID {
		t.Fatalf("SessionByToken = %+v of %d, %v", s, owner.ID, err)
	}
	return s, hash
}

func TestSessions(t *testing.T) {
	t.Parallel()
	db, ch := open(t)
	ctx := context.Background()
	alice, bob := user(t, db, "alice"), user(t, db, "bob")
	*ch = nil
	s1, h1 := newSession(t, db, alice, time.Hour)
	s2, _ := newSession(t, db, alice, time.Hour)
	s3, h3 := newSession(t, db, bob, time.Hour)
	if s1.UserAgent != "Mozilla/5.0 (test)" || s1.RevokedAt != nil || !s1.ExpiresAt.After(s1.CreatedAt) || !s1.LastUsedAt.Equal(s1.CreatedAt) {
		t.Errorf("new session = %+v", s1)
	}
	if s1.ExpiresAt.Nanosecond() != 0 {
		t.Errorf("expiry %v is not in whole seconds, as the cookie keeps it", s1.ExpiresAt)
	}
	if _, _, err := db.SessionByToken(ctx, session.HashToken("unknown")); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("unknown token: %v, want ENOTFOUND", err)
	}

	active := func(u filegate.User) []int64 {
		t.Helper()
		ss, err := db.ActiveSessions(ctx, u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, s := range ss {
			ids = append(ids, s.ID)
		}
		return ids
	}
	if got := fmt.Sprint(active(alice)); got != fmt.Sprint([]int64{s2.ID, s1.ID}) {
		t.Errorf("alice's sessions = %s, want the newest first", got)
	}

	// Someone else's session is not revoked by id.
	if err := db.RevokeSession(ctx, alice.ID, s3.ID); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := db.SessionByToken(ctx, h3); s.RevokedAt != nil {
		t.Error("alice revoked bob's session")
	}
	if err := db.RevokeSession(ctx, alice.ID, s1.ID); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := db.SessionByToken(ctx, h1); s.RevokedAt == nil {
		t.Error("revoked session is not revoked")
	}
	if got := fmt.Sprint(active(alice)); got != fmt.Sprint([]int64{s2.ID}) {
		t.Errorf("alice's sessions after revoking one = %s", got)
	}
	s4, _ := newSession(t, db, alice, time.Hour)
	if n, err := db.RevokeSessions(ctx, alice.ID, s4.ID); err != nil || n != 1 {
		t.Errorf("RevokeSessions keeping one = %d, %v; want s2 only", n, err)
	}
	if n, err := db.RevokeSessions(ctx, alice.ID, 0); err != nil || n != 1 || len(active(alice)) != 0 {
		t.Errorf("RevokeSessions of all = %d, %v; left %v", n, err, active(alice))
	}
	if len(active(bob)) != 1 {
		t.Error("revoking alice's sessions touched bob's")
	}
	// Every revocation bumps the user's generation, which tags the cached
	// facts of all of the user's sessions; a new session needs none.
	want := fmt.Sprintf("[user %[1]d user %[1]d user %[1]d user %[1]d]", alice.ID)
	if got := fmt.Sprint(*ch); got != want {
		t.Errorf("invalidations = %s, want %s", got, want)
	}
}

func TestSetPassword(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	alice := testenv.AddUser(t, db, testenv.User{Name: "alice", Password: "old password"})
	keep, _ := newSession(t, db, alice, time.Hour)
	newSession(t, db, alice, time.Hour)
	newSession(t, db, alice, time.Hour)
	newHash, _ := account.HashPassword("new password")
	if n, err := db.SetPassword(ctx, alice.ID, alice.PasswordHash, newHash, keep.ID); err != nil || n != 2 {
		t.Fatalf("SetPassword = %d, %v; want 2 others revoked", n, err)
	}
	if ss, _ := db.ActiveSessions(ctx, alice.ID, time.Now()); len(ss) != 1 || ss[0].ID != keep.ID {
		t.Errorf("left %+v, want only the kept session", ss)
	}
	// A change checked against the old password comes too late.
	if _, err := db.SetPassword(ctx, alice.ID, alice.PasswordHash, []byte("x"), 0); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("second change against the old hash: %v, want ENOTFOUND", err)
	}
	// So does a login checked against it: no session is made.
	if _, err := account.StartSession(ctx, db, alice, "", time.Now(), time.Hour); filegate.ErrorCode(err) != filegate.EUNAUTHORIZED {
		t.Errorf("login with the old password's hash: %v, want EUNAUTHORIZED", err)
	}
	// The administrator's reset needs no old hash and revokes all.
	if n, err := db.SetPassword(ctx, alice.ID, nil, []byte("reset"), 0); err != nil || n != 1 {
		t.Errorf("reset = %d, %v; want the kept session revoked", n, err)
	}
	if _, err := db.SetPassword(ctx, 999, nil, []byte("x"), 0); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("unknown user: %v, want ENOTFOUND", err)
	}
}

// A login whose password was checked just before a password change
// commits must not produce a session that survives the change: the
// insert waits for the change's lock and then finds the new hash.
func TestLoginRacingPasswordChange(t *testing.T) {
	t.Parallel()
	url := testenv.NewDatabase(t)
	db, err := postgres.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	alice := testenv.AddUser(t, db, testenv.User{Name: "alice", Password: "old password"})

	// The change has written the new hash but not yet committed.
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE users SET password_hash = 'new' WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() {
		_, err := account.StartSession(ctx, db, alice, "", time.Now(), time.Hour)
		started <- err
	}()
	select {
	case err := <-started:
		t.Fatalf("the login finished (%v) while a password change held the user's row", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-started; filegate.ErrorCode(err) != filegate.EUNAUTHORIZED {
		t.Errorf("login checked against the old password: %v, want EUNAUTHORIZED", err)
	}
	if ss, _ := db.ActiveSessions(ctx, alice.ID, time.Now()); len(ss) != 0 {
		t.Errorf("a session outlived the password change: %+v", ss)
	}
}

func TestTouchSessions(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	s1, h1 := newSession(t, db, alice, time.Hour)
	s2, h2 := newSession(t, db, alice, time.Hour)
	later := s1.LastUsedAt.Add(time.Minute).Truncate(time.Microsecond)
	err := db.TouchSessions(ctx, map[int64]time.Time{s1.ID: later, s2.ID: s2.LastUsedAt.Add(-time.Hour), 999999: later})
	if err != nil {
		t.Fatal(err)
	}
	if s, _, _ := db.SessionByToken(ctx, h1); !s.LastUsedAt.Equal(later) {
		t.Errorf("last used = %v, want %v", s.LastUsedAt, later)
	}
	if s, _, _ := db.SessionByToken(ctx, h2); !s.LastUsedAt.Equal(s2.LastUsedAt) {
		t.Errorf("an older time moved last use back: %v, want %v", s.LastUsedAt, s2.LastUsedAt)
	}
	if err := db.TouchSessions(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func TestStaleSessions(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	live, liveHash := newSession(t, db, alice, time.Hour)
	expired, _ := newSession(t, db, alice, time.Minute)
	revoked, _ := newSession(t, db, alice, time.Hour)
	if err := db.RevokeSession(ctx, alice.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	at := expired.ExpiresAt // the short one has just expired, the others not
	if n, err := db.StaleSessions(ctx, at); err != nil || n != 2 {
		t.Errorf("StaleSessions = %d, %v; want 2", n, err)
	}
	if n, err := db.DeleteStaleSessions(ctx, at); err != nil || n != 2 {
		t.Errorf("DeleteStaleSessions = %d, %v; want 2", n, err)
	}
	if n, _ := db.StaleSessions(ctx, at); n != 0 {
		t.Errorf("%d stale sessions left", n)
	}
	if s, _, err := db.SessionByToken(ctx, liveHash); err != nil || s.ID != live.ID {
		t.Errorf("the live session went: %v", err)
	}
	// Removing a user takes the sessions along.
	if _, err := db.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SessionByToken(ctx, liveHash); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("session of a removed user: %v, want ENOTFOUND", err)
	}
}

// leaving cancels the request's context the moment the store reports a
// change, as a client that drops the connection right after the commit
// does, and records whether the report could still reach the cache.
type leaving struct {
	cancel context.CancelFunc
	lost   []string
}

func (l *leaving) UserChanged(ctx context.Context, id int64) {
	l.cancel()
	if ctx.Err() != nil {
		l.lost = append(l.lost, fmt.Sprintf("user %d", id))
	}
}

func (l *leaving) FileChanged(ctx context.Context, owner int64, name string) {
	l.cancel()
	if ctx.Err() != nil {
		l.lost = append(l.lost, fmt.Sprintf("file %d/%s", owner, name))
	}
}

func (l *leaving) LinkChanged(ctx context.Context, id int64) {
	l.cancel()
	if ctx.Err() != nil {
		l.lost = append(l.lost, fmt.Sprintf("link %d", id))
	}
}

// A logout whose client is gone by the time the revocation commits still
// reaches the cache: the invalidation does not depend on the request.
func TestInvalidationOutlivesTheRequest(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	alice := user(t, db, "alice")
	s, _ := newSession(t, db, alice, time.Hour)
	f := testenv.AddFileRow(t, db, alice.ID, "a.pdf", "a.pdf", "")
	for name, change := range map[string]func(ctx context.Context) error{
		"logout": func(ctx context.Context) error { return db.RevokeSession(ctx, alice.ID, s.ID) },
		"logout everywhere": func(ctx context.Context) error {
			_, err := db.RevokeSessions(ctx, alice.ID, 0)
			return err
		},
		"password change": func(ctx context.Context) error {
			_, err := db.SetPassword(ctx, alice.ID, nil, []byte("x"), 0)
			return err
		},
		"delete": func(ctx context.Context) error {
			_, err := db.DeleteFile(ctx, f.ID)
			return err
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		l := &leaving{cancel: cancel}
		db.Invalidator = l
		if err := change(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(l.lost) > 0 {
			t.Errorf("%s: invalidation of %v had a cancelled context", name, l.lost)
		}
		db.Invalidator = nil
	}
}

// A change asked for by a client that is already gone is carried out and
// reported all the same: its outcome is never left unknown to the store,
// which would then not tell the cache (see detach).
func TestChangeOutlivesItsClient(t *testing.T) {
	t.Parallel()
	db, ch := open(t)
	alice := user(t, db, "alice")
	f := testenv.AddFileRow(t, db, alice.ID, "a.pdf", "a.pdf", "")
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	*ch = nil
	yes := true
	if _, err := db.UpdateUser(gone, alice.ID, filegate.UserUpdate{IsPublic: &yes}); err != nil {
		t.Fatalf("update with the client gone: %v", err)
	}
	if _, err := db.DeleteFile(gone, f.ID); err != nil {
		t.Fatalf("delete with the client gone: %v", err)
	}
	want := fmt.Sprintf("[user %d file %d/a.pdf]", alice.ID, alice.ID)
	if got := fmt.Sprint(*ch); got != want {
		t.Errorf("invalidations = %s, want %s", got, want)
	}
	if u, err := db.UserByID(context.Background(), alice.ID); err != nil || !u.IsPublic {
		t.Errorf("after the update: %+v, %v; want public", u, err)
	}
}
