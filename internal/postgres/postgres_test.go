package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// changes records what the store reported, in order.
type changes []string

func (c *changes) UserChanged(_ context.Context, id int64) {
	*c = append(*c, fmt.Sprintf("user %d", id))
}
func (c *changes) FileChanged(_ context.Context, owner int64, name string) {
	*c = append(*c, fmt.Sprintf("file %d/%s", owner, name))
}
func (c *changes) LinkChanged(_ context.Context, id int64) {
	*c = append(*c, fmt.Sprintf("link %d", id))
}

func open(t *testing.T) (*postgres.DB, *changes) {
	t.Helper()
	db := testenv.OpenDB(t)
	c := &changes{}
	db.Invalidator = c
	return db, c
}

func user(t *testing.T, db *postgres.DB, name string) filegate.User {
	t.Helper()
	return testenv.AddUser(t, db, testenv.User{Name: name})
}

func TestMigrateIsIdempotent(t *testing.T) {
	db, _ := open(t) // already migrated once
	for range 2 {
		applied, err := db.Migrate(context.Background())
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate again = %v, %v; want nothing applied", applied, err)
		}
	}
}

func TestUsers(t *testing.T) {
	db, ch := open(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	dup := filegate.User{Username: "Alice2", Slug: "alice", DisplayName: "x", PasswordHash: []byte("x")}
	if err := db.CreateUser(ctx, &dup); filegate.ErrorCode(err) != filegate.ECONFLICT {
		t.Errorf("duplicate slug: %v, want ECONFLICT", err)
	}
	yes := true
	u, err := db.UpdateUser(ctx, alice.ID, filegate.UserUpdate{IsPublic: &yes})
	if err != nil || !u.IsPublic || u.IsStaff {
		t.Errorf("UpdateUser = %+v, %v", u, err)
	}
	if _, err := db.UpdateUser(ctx, 999, filegate.UserUpdate{IsPublic: &yes}); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("update unknown user: %v, want ENOTFOUND", err)
	}
	if _, err := db.UserBySlug(ctx, "nobody"); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("unknown slug: %v, want ENOTFOUND", err)
	}
	want := fmt.Sprintf("[user %d user %d]", alice.ID, alice.ID)
	if got := fmt.Sprint(*ch); got != want {
		t.Errorf("invalidations = %s, want %s (failed changes report nothing)", got, want)
	}
}

func TestCreateFile(t *testing.T) {
	db, ch := open(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	*ch = nil
	f := filegate.File{OwnerID: alice.ID, StoredName: "a.pdf", DisplayName: "a.pdf", ContentType: "application/pdf", Size: 1, SHA256: "x"}
	if err := db.CreateFile(ctx, &f, testenv.LargeQuota, func() error { return nil }); err != nil || f.ID == 0 {
		t.Fatalf("CreateFile = %v, id %d", err, f.ID)
	}

	placed := false
	again := f
	err := db.CreateFile(ctx, &again, testenv.LargeQuota, func() error { placed = true; return nil })
	if filegate.ErrorCode(err) != filegate.ECONFLICT || placed {
		t.Errorf("same name: %v, placed=%v; want ECONFLICT before place", err, placed)
	}

	boom := errors.New("disk on fire")
	other := filegate.File{OwnerID: alice.ID, StoredName: "b.pdf", DisplayName: "b", ContentType: "application/pdf", Size: 1, SHA256: "x"}
	if err := db.CreateFile(ctx, &other, testenv.LargeQuota, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("place failed: %v", err)
	}
	all, err := db.AllFiles(ctx)
	if err != nil || len(all) != 1 {
		t.Errorf("rows after a failed place: %d, %v; want only a.pdf", len(all), err)
	}

	if _, err := db.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteFile(ctx, f.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("second delete: %v, want ENOTFOUND", err)
	}
	want := fmt.Sprintf("[file %d/a.pdf file %d/a.pdf]", alice.ID, alice.ID)
	if got := fmt.Sprint(*ch); got != want {
		t.Errorf("invalidations = %s, want %s", got, want)
	}
}

func TestFacts(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	alice, bob := user(t, db, "alice"), user(t, db, "bob")
	yes := true
	db.UpdateUser(ctx, bob.ID, filegate.UserUpdate{IsPublic: &yes})
	f := filegate.File{OwnerID: bob.ID, StoredName: "a.pdf", DisplayName: "Ä.pdf", ContentType: "application/pdf", Size: 1, SHA256: "x"}
	if err := db.CreateFile(ctx, &f, testenv.LargeQuota, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	sess, hash := newSession(t, db, alice, time.Hour)
	got, err := db.Facts(ctx, filegate.FactsKey{ViewerID: alice.ID, SessionHash: hash, OwnerID: bob.ID, StoredName: "a.pdf"})
	want := filegate.Facts{
		Viewer:  filegate.Profile{ID: alice.ID, Exists: true},
		Session: sess.State(),
		Owner:   filegate.Profile{ID: bob.ID, Exists: true, Public: true},
		File:    filegate.Target{Exists: true, ID: f.ID, Path: f.Path(), ContentType: "application/pdf", DisplayName: "Ä.pdf"},
	}
	if err != nil || got != want {
		t.Errorf("Facts = %+v, %v\nwant %+v", got, err, want)
	}
	// The viewer's profile is complete too: the cache shares one entry per
	// user, whichever side it was read on. A session is read whoever it
	// belongs to; the policy compares.
	got, err = db.Facts(ctx, filegate.FactsKey{ViewerID: bob.ID, SessionHash: hash, OwnerID: alice.ID, StoredName: "none.pdf"})
	if err != nil || got.Viewer != (filegate.Profile{ID: bob.ID, Exists: true, Public: true}) || got.Session.UserID != alice.ID {
		t.Errorf("public viewer's profile = %+v, session %+v, %v", got.Viewer, got.Session, err)
	}
	if err := db.RevokeSession(ctx, alice.ID, sess.ID); err != nil {
		t.Fatal(err)
	}
	got, err = db.Facts(ctx, filegate.FactsKey{ViewerID: alice.ID, SessionHash: hash, OwnerID: bob.ID, StoredName: "a.pdf"})
	if err != nil || !got.Session.Revoked || !got.Session.Exists {
		t.Errorf("revoked session = %+v, %v", got.Session, err)
	}
	got, err = db.Facts(ctx, filegate.FactsKey{ViewerID: 999, SessionHash: session.HashToken("nope"), OwnerID: 998, StoredName: "nope"})
	want = filegate.Facts{Viewer: filegate.Profile{ID: 999}, Owner: filegate.Profile{ID: 998}}
	if err != nil || got != want {
		t.Errorf("Facts for unknowns = %+v, %v; want nothing exists", got, err)
	}
}

func TestUnavailable(t *testing.T) {
	db, err := postgres.Open("postgres://postgres@127.0.0.1:1/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Facts(context.Background(), filegate.FactsKey{ViewerID: 1, OwnerID: 2, StoredName: "a"}); filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
		t.Errorf("Facts with the database down: %v, want EUNAVAILABLE", err)
	}
	if err := db.Ping(context.Background()); filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
		t.Errorf("Ping with the database down: %v, want EUNAVAILABLE", err)
	}
}

func TestOpenHidesPassword(t *testing.T) {
	_, err := postgres.Open("postgres://postgres:s3cret-pw@127.0.0.1:port/x")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("Open of a malformed URL: %v; want an error without the password", err)
	}
}

func TestDeleteUser(t *testing.T) {
	db, ch := open(t)
	ctx := context.Background()
	alice, bob := user(t, db, "alice"), user(t, db, "bob")
	for _, name := range []string{"a.pdf", "b.pdf"} {
		f := filegate.File{OwnerID: alice.ID, StoredName: name, DisplayName: name, ContentType: "application/pdf", Size: 1, SHA256: "x"}
		if err := db.CreateFile(ctx, &f, testenv.LargeQuota, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	*ch = nil
	files, err := db.DeleteUser(ctx, alice.ID)
	if err != nil || len(files) != 2 {
		t.Fatalf("DeleteUser = %d files, %v", len(files), err)
	}
	want := fmt.Sprintf("[user %d file %d/a.pdf file %d/b.pdf]", alice.ID, alice.ID, alice.ID)
	if got := fmt.Sprint(*ch); got != want {
		t.Errorf("invalidations = %s, want %s", got, want)
	}
	if _, err := db.DeleteUser(ctx, alice.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("second delete: %v, want ENOTFOUND", err)
	}
	if _, err := db.UserByID(ctx, bob.ID); err != nil {
		t.Errorf("bob went too: %v", err)
	}
}
