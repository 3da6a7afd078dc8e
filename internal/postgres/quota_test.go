package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
)

// wantCountersAgree checks every user's quota counters against the files
// table.
func wantCountersAgree(t *testing.T, raw *sql.DB) {
	t.Helper()
	var wrong int
	err := raw.QueryRow(`SELECT count(*) FROM users u
		LEFT JOIN (SELECT owner_id, sum(size) AS bytes, count(*) AS n FROM files GROUP BY owner_id) t ON t.owner_id = u.id
		WHERE u.used_bytes <> COALESCE(t.bytes, 0) OR u.used_files <> COALESCE(t.n, 0)`).Scan(&wrong)
	if err != nil || wrong != 0 {
		t.Errorf("%d users' quota counters disagree with their files (%v)", wrong, err)
	}
}

func usage(t *testing.T, raw *sql.DB, id int64) (bytes, files int64) {
	t.Helper()
	if err := raw.QueryRow(`SELECT used_bytes, used_files FROM users WHERE id = $1`, id).Scan(&bytes, &files); err != nil {
		t.Fatal(err)
	}
	return bytes, files
}

func TestCreateFileQuota(t *testing.T) {
	db, raw := openRaw(t)
	ctx := context.Background()
	alice, bob := user(t, db, "alice"), user(t, db, "bob")
	q := filegate.Quota{Bytes: 10, Files: 3}
	create := func(owner int64, name string, size int64, place func() error) (filegate.File, error) {
		f := filegate.File{OwnerID: owner, StoredName: name, DisplayName: name, ContentType: "application/pdf", Size: size, SHA256: "x"}
		if place == nil {
			place = func() error { return nil }
		}
		return f, db.CreateFile(ctx, &f, q, place)
	}
	placed := false
	notPlaced := func() error { placed = true; return nil }

	a, err := create(alice.ID, "a.pdf", 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create(alice.ID, "b.pdf", 4, nil); err != nil {
		t.Fatal(err)
	}
	_, err = create(alice.ID, "c.pdf", 3, notPlaced)
	if filegate.ErrorCode(err) != filegate.EQUOTA || placed {
		t.Fatalf("over the byte quota: %v, placed %t; want EQUOTA before place", err, placed)
	}
	if got, want := filegate.ErrorMessage(err), "This file (3 bytes) does not fit in your quota: 8 bytes of 10 bytes used; delete some files to make room."; got != want {
		t.Errorf("sentence %q, want %q", got, want)
	}
	if _, err := create(alice.ID, "c.pdf", 2, nil); err != nil {
		t.Fatalf("exactly filling the quota: %v", err)
	}
	_, err = create(alice.ID, "d.pdf", 1, notPlaced)
	if filegate.ErrorCode(err) != filegate.EQUOTA || placed {
		t.Fatalf("over the file quota: %v, placed %t", err, placed)
	}
	if got, want := filegate.ErrorMessage(err), "You have reached your quota of 3 files; delete some to upload more."; got != want {
		t.Errorf("sentence %q, want %q", got, want)
	}
	if b, n := usage(t, raw, alice.ID); b != 10 || n != 3 {
		t.Errorf("alice uses %d bytes in %d files, want 10 in 3", b, n)
	}

	// Failures after the count undo it with the rest of the transaction.
	if _, err := db.DeleteFile(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := create(alice.ID, "b.pdf", 1, nil); filegate.ErrorCode(err) != filegate.ECONFLICT {
		t.Errorf("taken name: %v, want ECONFLICT", err)
	}
	boom := errors.New("disk on fire")
	if _, err := create(alice.ID, "e.pdf", 1, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("failed place: %v", err)
	}
	if b, n := usage(t, raw, alice.ID); b != 6 || n != 2 {
		t.Errorf("alice uses %d bytes in %d files, want 6 in 2", b, n)
	}
	if _, err := create(bob.ID, "a.pdf", 10, nil); err != nil {
		t.Errorf("bob's quota is his own: %v", err)
	}
	if _, err := create(999999, "a.pdf", 1, notPlaced); filegate.ErrorCode(err) != filegate.ENOTFOUND || placed {
		t.Errorf("unknown owner: %v, placed %t; want ENOTFOUND", err, placed)
	}
	wantCountersAgree(t, raw)
}

// 0003_limits.sql counts what users stored before it and copies their
// public flags onto their files.
func TestMigrationBackfillsLimits(t *testing.T) {
	db, raw := openRaw(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	bob := testenv.AddUser(t, db, testenv.User{Name: "bob", Public: true})
	for _, name := range []string{"a.pdf", "b.pdf"} {
		testenv.AddFileRow(t, db, alice.ID, name, name, "")
		testenv.AddFileRow(t, db, bob.ID, name, name, "")
	}
	// Back to the schema before the migration, data kept.
	if _, err := raw.Exec(`DROP INDEX files_public_created_idx;
		ALTER TABLE files DROP COLUMN owner_public;
		ALTER TABLE users DROP COLUMN used_bytes, DROP COLUMN used_files;
		DELETE FROM schema_migrations WHERE name = '0003_limits.sql'`); err != nil {
		t.Fatal(err)
	}
	applied, err := db.Migrate(ctx)
	if err != nil || !slices.Equal(applied, []string{"0003_limits.sql"}) {
		t.Fatalf("Migrate = %v, %v", applied, err)
	}
	wantCountersAgree(t, raw)
	if b, n := usage(t, raw, alice.ID); b != 6 || n != 2 {
		t.Errorf("alice uses %d bytes in %d files, want 6 in 2", b, n)
	}
	visible, err := db.VisibleFiles(ctx, alice.ID, filegate.Cursor{}, 10)
	if err != nil || len(visible) != 4 {
		t.Errorf("alice sees %v, %v; want her files and bob's", names(visible), err)
	}
}

// Uploads and deletes of one user, all at once: each takes the owner's
// row before any file's, so none deadlocks, a file deleted twice is freed
// once, and the counters end where the files are.
func TestQuotaUnderConcurrentChanges(t *testing.T) {
	db, raw := openRaw(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	var ids []int64
	for i := range 20 {
		ids = append(ids, testenv.AddFileRow(t, db, alice.ID, fmt.Sprintf("old%d.pdf", i), "x", "").ID)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	deleted := 0
	for i := range 40 {
		wg.Go(func() {
			id := ids[i%len(ids)] // each file twice
			_, err := db.DeleteFile(ctx, id)
			switch filegate.ErrorCode(err) {
			case "":
				mu.Lock()
				deleted++
				mu.Unlock()
			case filegate.ENOTFOUND:
			default:
				t.Errorf("DeleteFile: %v", err)
			}
		})
		wg.Go(func() {
			// Same names as the deletes free: uniqueness waits meet row locks.
			f := filegate.File{OwnerID: alice.ID, StoredName: fmt.Sprintf("old%d.pdf", i%len(ids)), DisplayName: "x",
				ContentType: "application/pdf", Size: 5, SHA256: "x"}
			if err := db.CreateFile(ctx, &f, testenv.LargeQuota, func() error { return nil }); err != nil && filegate.ErrorCode(err) != filegate.ECONFLICT {
				t.Errorf("CreateFile: %v", err)
			}
		})
	}
	wg.Wait()
	if deleted != len(ids) {
		t.Errorf("%d deletes succeeded, want %d", deleted, len(ids))
	}
	wantCountersAgree(t, raw)

	// Removing the user while they delete files and flip their profile.
	files, err := db.OwnerFiles(ctx, alice.ID, filegate.Cursor{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, f := range files {
		wg.Go(func() {
			if _, err := db.DeleteFile(ctx, f.ID); err != nil && filegate.ErrorCode(err) != filegate.ENOTFOUND {
				t.Errorf("DeleteFile: %v", err)
			}
		})
		wg.Go(func() {
			if _, err := db.UpdateUser(ctx, alice.ID, filegate.UserUpdate{IsPublic: &yes}); err != nil && filegate.ErrorCode(err) != filegate.ENOTFOUND {
				t.Errorf("UpdateUser: %v", err)
			}
		})
	}
	wg.Go(func() {
		if _, err := db.DeleteUser(ctx, alice.ID); err != nil {
			t.Errorf("DeleteUser: %v", err)
		}
	})
	wg.Wait()
}
