// Package filegate holds the domain types shared by both binaries: users,
// files, the facts authz decides on, and the error codes every adapter maps
// to its own protocol. It imports nothing but the standard library and,
// for Extension, the type detector's table.
package filegate

import (
	"context"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ChangeTimeout bounds a change to the database that has no client left
// to wait for it (postgres runs every change detached from its caller).
// A change that has not sent its COMMIT by then never commits, which is
// what lets sweep know how long an upload can take to commit its row.
const ChangeTimeout = 10 * time.Second

// User is a person who can log in. PasswordHash is a bcrypt hash and never
// leaves the uploader process.
type User struct {
	ID           int64     `db:"id"`
	Username     string    `db:"username"`
	Slug         string    `db:"slug"`
	DisplayName  string    `db:"display_name"`
	PasswordHash []byte    `db:"password_hash" json:"-"` // never in any answer
	IsPublic     bool      `db:"is_public"`
	IsStaff      bool      `db:"is_staff"`
	CreatedAt    time.Time `db:"created_at"`
}

// UserUsage is a user as the staff admin page lists them: what they
// store, counted against the quota (filegate.Quota), and how many live
// sessions they have. PasswordHash is left empty.
type UserUsage struct {
	User
	UsedBytes int64 `db:"used_bytes"`
	UsedFiles int64 `db:"used_files"`
	Sessions  int64 `db:"sessions"`
}

// File is one stored upload. Its bytes live at PRIVATE_ROOT/Path().
type File struct {
	ID          int64     `db:"id"`
	OwnerID     int64     `db:"owner_id"`
	StoredName  string    `db:"stored_name"`
	DisplayName string    `db:"display_name"`
	ContentType string    `db:"content_type"`
	Size        int64     `db:"size"`
	SHA256      string    `db:"sha256"`
	CreatedAt   time.Time `db:"created_at"`
}

// ListedFile is a file with its owner's slug and display name, as the
// lists show it.
type ListedFile struct {
	File
	OwnerSlug string `db:"owner_slug"`
	OwnerName string `db:"owner_name"`
}

// Quota is how much one user may store: Bytes in total over at most
// Files files. Uploads that would pass either are refused (EQUOTA).
type Quota struct {
	Bytes int64
	Files int64
}

// Cursor is a position in a newest-first file list: the creation time and
// id of the last file of a page. The next page holds the files before it:
// older ones, and as old ones with a smaller id. The zero Cursor stands
// before nothing: the list from its newest file.
type Cursor struct {
	CreatedAt time.Time
	ID        int64
}

// IsZero reports whether c is the zero Cursor.
func (c Cursor) IsZero() bool { return c.ID == 0 }

// CursorAt returns the cursor whose page continues after f.
func CursorAt(f File) Cursor { return Cursor{CreatedAt: f.CreatedAt, ID: f.ID} }

// UserUpdate lists the fields of a user to change; nil fields stay as
// they are.
type UserUpdate struct {
	IsPublic *bool
	IsStaff  *bool
}

// StoredNamePattern is the shape of every stored name
// (docs/interface.md#downloads). Anything else can never name a file, so it
// is checked before any lookup. sql/0001_init.sql and nginx/filegate.conf
// hold the same pattern; TestStoredNamePatternAgrees proves they accept
// exactly the same names.
var StoredNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$`)

// MediaType returns contentType lowercased and without parameters:
// "text/plain; charset=utf-8" is "text/plain". Allowlists and inline lists
// hold such bare types.
func MediaType(contentType string) string {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return mt
	}
	t, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// ParseID reads an id as Path and URL write it: a positive decimal
// without sign or leading zeros. Any other spelling is not an id, so two
// spellings can never name the same file.
func ParseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0 && strconv.FormatInt(id, 10) == s
}

// Path is the file's location relative to the private root. It is built from
// the database row only, never from a request URL.
func (f File) Path() string { return fmt.Sprintf("%d/%s", f.OwnerID, f.StoredName) }

// URL is the public download URL nginx gates.
func (f File) URL() string { return "/files/" + f.Path() }

// ParseFileURI splits "/files/{owner_id}/{stored_name}" as nginx normalized
// it, the inverse of URL. It accepts only the canonical form: a decimal id
// without sign or leading zeros and a name matching StoredNamePattern.
// Anything else cannot name a file. authz decides downloads by it; the web
// app's login tells a file's URL from other pages by it.
func ParseFileURI(uri string) (ownerID int64, name string, ok bool) {
	rest, found := strings.CutPrefix(uri, "/files/")
	if !found {
		return 0, "", false
	}
	idStr, name, found := strings.Cut(rest, "/")
	if !found || !StoredNamePattern.MatchString(name) {
		return 0, "", false
	}
	id, ok := ParseID(idStr)
	if !ok {
		return 0, "", false
	}
	return id, name, true
}

// Profile is what authz needs to know about a user: whether the user
// exists at all, and the two flags the access rules read.
type Profile struct {
	ID     int64 `json:"id"`
	Exists bool  `json:"e"`
	Public bool  `json:"p,omitempty"`
	Staff  bool  `json:"s,omitempty"`
}

// Profile returns u as the access rules see it.
func (u User) Profile() Profile {
	return Profile{ID: u.ID, Exists: true, Public: u.IsPublic, Staff: u.IsStaff}
}

// Target is what authz needs to know about a requested file. When Exists is
// false the other fields are empty.
type Target struct {
	Exists      bool   `json:"e"`
	ID          int64  `json:"id,omitempty"` // for the audit log's file.id
	Path        string `json:"path,omitempty"`
	ContentType string `json:"type,omitempty"`
	DisplayName string `json:"name,omitempty"`
}

// Target returns f as authz serves it. The path comes from the row, never
// from a request.
func (f File) Target() Target {
	return Target{Exists: true, ID: f.ID, Path: f.Path(), ContentType: f.ContentType, DisplayName: f.DisplayName}
}

// Session is one login: the server-side record a session cookie names
// (docs/interface.md#session-cookie). The cookie carries a secret token;
// the store keeps only its SHA-256 (TokenHash), so a copy of the table
// cannot be replayed as cookies.
type Session struct {
	ID         int64      `db:"id"`
	UserID     int64      `db:"user_id"`
	TokenHash  []byte     `db:"token_hash" json:"-"`
	UserAgent  string     `db:"user_agent"`
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt time.Time  `db:"last_used_at"`
	ExpiresAt  time.Time  `db:"expires_at"`
	RevokedAt  *time.Time `db:"revoked_at"` // nil while the session is live
}

// State returns s as the access rules see it.
func (s Session) State() SessionState {
	return SessionState{ID: s.ID, Exists: true, UserID: s.UserID, Revoked: s.RevokedAt != nil, Expires: s.ExpiresAt.Unix()}
}

// SessionState is what authz needs to know about the session a cookie
// names. When Exists is false the other fields are empty.
type SessionState struct {
	ID      int64 `json:"id,omitempty"`
	Exists  bool  `json:"e"`
	UserID  int64 `json:"u,omitempty"`
	Revoked bool  `json:"r,omitempty"`
	Expires int64 `json:"x,omitempty"` // Unix seconds; the session is valid before
}

// FactsKey names the facts of one access decision: the viewer and the
// session their cookie names (the SHA-256 of its token), and the
// requested file.
type FactsKey struct {
	ViewerID    int64
	SessionHash [32]byte
	OwnerID     int64
	StoredName  string
}

// Facts are the inputs of one access decision, as read from the store or the
// cache.
type Facts struct {
	Viewer  Profile
	Session SessionState
	Owner   Profile
	File    Target
}

// Invalidator is told about every committed change that can alter an access
// decision, so that caches drop what they hold before the next request.
// Implementations must not fail the change: they log and rely on the TTL.
type Invalidator interface {
	// UserChanged: the user, or any of the user's sessions, changed.
	UserChanged(ctx context.Context, userID int64)
	FileChanged(ctx context.Context, ownerID int64, storedName string)
	// LinkChanged: the share link was created, revoked or deleted.
	LinkChanged(ctx context.Context, linkID int64)
}
