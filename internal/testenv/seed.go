package testenv

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
)

// User describes a user a test needs. Tests never assume ids: every
// builder returns the id the database gave.
type User struct {
	Name          string
	Password      string // "" stores a hash no password matches (no bcrypt cost)
	Public, Staff bool
}

// AddUser creates u in db through the store, as `uploader user add`
// would (slug = lowercase name), and returns the stored user.
func AddUser(t T, db *postgres.DB, u User) filegate.User {
	t.Helper()
	var stored filegate.User
	if u.Password == "" {
		slug, err := account.Slug(u.Name)
		if err != nil {
			t.Fatalf("testenv: user %q: %v", u.Name, err)
		}
		stored = filegate.User{Username: u.Name, Slug: slug, DisplayName: u.Name,
			PasswordHash: []byte("no password matches this"), IsPublic: u.Public, IsStaff: u.Staff}
	} else {
		var err error
		if stored, err = account.NewUser(u.Name, u.Password, u.Public, u.Staff); err != nil {
			t.Fatalf("testenv: user %q: %v", u.Name, err)
		}
	}
	if err := db.CreateUser(context.Background(), &stored); err != nil {
		t.Fatalf("testenv: create user %q: %v", u.Name, err)
	}
	return stored
}

// LargeQuota is a quota no test fills, for tests about something else.
var LargeQuota = filegate.Quota{Bytes: 1 << 40, Files: 1 << 20}

// AddFileRow records a file of owner named name in db without writing any
// bytes: enough for the store and authz, which never read them. The row's
// type is PDF unless contentType says otherwise. It counts against
// LargeQuota.
func AddFileRow(t T, db *postgres.DB, owner int64, name, display, contentType string) filegate.File {
	t.Helper()
	if contentType == "" {
		contentType = "application/pdf"
	}
	f := filegate.File{OwnerID: owner, StoredName: name, DisplayName: display, ContentType: contentType,
		Size: 3, SHA256: "not-hashed"}
	if err := db.CreateFile(context.Background(), &f, LargeQuota, func() error { return nil }); err != nil {
		t.Fatalf("testenv: create file %d/%s: %v", owner, name, err)
	}
	return f
}

var (
	addedID = regexp.MustCompile(`\(id (\d+),`)
	putURL  = regexp.MustCompile(`/files/\d+/[A-Za-z0-9._-]+`)
)

// AddUser creates u with `uploader user add`, as an operator would, and
// returns the id it printed.
func (s *Stack) AddUser(t T, u User) int64 {
	t.Helper()
	args := []string{"user", "add", u.Name, "--password-stdin"}
	if u.Public {
		args = append(args, "--public")
	}
	if u.Staff {
		args = append(args, "--staff")
	}
	out := s.CLI(t, u.Password+"\n", args...)
	m := addedID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("testenv: no id in %q", out)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// Put stores data as a file called name for user with `uploader put` (the
// same path as a web upload) and returns the download URL it printed.
func (s *Stack) Put(t T, user, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	out := s.CLI(t, "", "put", user, path)
	u := putURL.FindString(out)
	if u == "" {
		t.Fatalf("testenv: put printed no URL: %s", out)
	}
	return u
}
