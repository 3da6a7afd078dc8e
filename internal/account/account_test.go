package account_test

import (
	"context"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", " bob.smith ": "bob.smith", "a_b-c9": "a_b-c9"} {
		if got, err := account.Slug(in); got != want || err != nil {
			t.Errorf("Slug(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-x", ".x", "a b", "a/b", "ä", strings.Repeat("a", 64), "../x"} {
		if _, err := account.Slug(bad); filegate.ErrorCode(err) != filegate.EINVALID {
			t.Errorf("Slug(%q): %v, want EINVALID", bad, err)
		}
	}
}

func TestNewUser(t *testing.T) {
	u, err := account.NewUser("Alice", "correct horse", true, false)
	if err != nil || u.Slug != "alice" || u.Username != "Alice" || !u.IsPublic || u.IsStaff {
		t.Fatalf("NewUser = %+v, %v", u, err)
	}
	if strings.Contains(string(u.PasswordHash), "correct") {
		t.Error("password stored in clear")
	}
	for _, pw := range []string{"short", strings.Repeat("x", 73)} {
		if _, err := account.NewUser("bob", pw, false, false); filegate.ErrorCode(err) != filegate.EINVALID {
			t.Errorf("password of %d bytes: %v, want EINVALID", len(pw), err)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	db := testenv.OpenDB(t)
	ctx := context.Background()
	u, err := account.NewUser("Alice", "correct horse", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	if got, err := account.Authenticate(ctx, db, "ALICE", "correct horse"); err != nil || got.ID != u.ID {
		t.Errorf("right password: %+v, %v", got, err)
	}
	wrong := func(name, pw string) (filegate.User, error) {
		return account.Authenticate(ctx, db, name, pw)
	}
	u1, e1 := wrong("alice", "wrong horse")
	u2, e2 := wrong("nobody", "correct horse")
	if filegate.ErrorCode(e1) != filegate.EUNAUTHORIZED || e1.Error() != e2.Error() {
		t.Errorf("wrong password %v and unknown user %v must be the same EUNAUTHORIZED", e1, e2)
	}
	// Whose password was wrong, for the audit log, and nothing else.
	if u1.ID != u.ID || u1.Slug != "" || u1.PasswordHash != nil || u2.ID != 0 {
		t.Errorf("wrong password: %+v, unknown user: %+v; want alice's id alone, then nothing", u1, u2)
	}

	down, err := postgres.Open("postgres://postgres@127.0.0.1:1/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	if _, err := account.Authenticate(ctx, down, "alice", "correct horse"); filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
		t.Errorf("database down: %v, want EUNAVAILABLE", err)
	}
}
