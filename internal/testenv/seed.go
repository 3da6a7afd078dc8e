package testenv

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
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
	Secret(u.Name+"'s password", u.Password)
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
	Secret(u.Name+"'s password", u.Password)
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

// Link describes a share link a test needs.
type Link struct {
	// Created is when the link was made: the clock the test gives authz
	// (default: now). Expires defaults to a week after it; a time before
	// now makes an expired link.
	Created, Expires time.Time
	MaxDownloads     int64  // 0: no limit
	Password         string // "": none (with one, bcrypt at its usual cost)
}

// AddLink stores a link to file, made by its owner, in db through the
// store, as `uploader link create` would, and returns the stored link and
// its URL (/s/{token}) with a token of codec's keys.
func AddLink(t T, db *postgres.DB, codec *session.Codec, file filegate.File, o Link) (filegate.Link, string) {
	t.Helper()
	if o.Created.IsZero() {
		o.Created = time.Now()
	}
	if o.Expires.IsZero() {
		o.Expires = o.Created.Add(7 * 24 * time.Hour)
	}
	l := filegate.Link{FileID: file.ID, CreatedBy: file.OwnerID, Nonce: make([]byte, session.LinkNonceSize),
		ExpiresAt: o.Expires, CreatedAt: o.Created}
	rand.Read(l.Nonce)
	if o.MaxDownloads > 0 {
		l.MaxDownloads = &o.MaxDownloads
	}
	if o.Password != "" {
		hash, err := account.HashPassword(o.Password)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		l.PasswordHash = hash
	}
	if err := db.CreateLink(context.Background(), &l); err != nil {
		t.Fatalf("testenv: create a link to file %d: %v", file.ID, err)
	}
	token := codec.LinkToken(l.ID, l.Nonce)
	Secret("a link's password", o.Password)
	Secret("a link's token", token)
	return l, filegate.LinkURL(token)
}

// AddLink stores a link to the file at the download URL fileURL (as Put
// returns it) and returns it and its URL, as the package's AddLink does.
func (s *Stack) AddLink(t T, fileURL string, o Link) (filegate.Link, string) {
	t.Helper()
	return AddLink(t, s.Store, s.Sessions, s.File(t, fileURL), o)
}

// File returns the row of the file at the download URL fileURL, one of
// its owner's newest thousand.
func (s *Stack) File(t T, fileURL string) filegate.File {
	t.Helper()
	ownerID, name, _ := strings.Cut(strings.TrimPrefix(fileURL, "/files/"), "/")
	owner, ok := filegate.ParseID(ownerID)
	if !ok {
		t.Fatalf("testenv: %q is no download URL", fileURL)
	}
	f, err := s.Store.FileByName(context.Background(), owner, name)
	if err != nil {
		t.Fatalf("testenv: the file at %s: %v", fileURL, err)
	}
	return f
}
