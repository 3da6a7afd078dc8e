// Package account creates users, checks and changes passwords, and starts
// sessions. Both the CLI and the web app go through it, so the rules for
// names, passwords and sessions live once.
package account

import (
	"context"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/filegate/filegate/internal/filegate"
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 8

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// LoginName returns the form of a typed user name that logins look up:
// names are case-insensitive and surrounding spaces do not count. The
// login throttle counts failures under the same form, so "Alice" and
// " alice" are one user to it too.
func LoginName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// Slug derives the URL slug of a user name: the lowercase name
// (docs/interface.md#commands). A name whose lowercase form is not a valid
// slug is EINVALID.
func Slug(name string) (string, error) {
	s := LoginName(name)
	if !slugPattern.MatchString(s) {
		return "", filegate.Errorf(filegate.EINVALID, "A user name is 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit.")
	}
	return s, nil
}

// NewUser returns a user ready to be stored: slug derived, password hashed.
// EINVALID for a bad name or a password HashPassword refuses.
func NewUser(name, password string, public, staff bool) (filegate.User, error) {
	slug, err := Slug(name)
	if err != nil {
		return filegate.User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return filegate.User{}, err
	}
	name = strings.TrimSpace(name)
	return filegate.User{Username: name, Slug: slug, DisplayName: name, PasswordHash: hash, IsPublic: public, IsStaff: staff}, nil
}

// HashPassword returns the bcrypt hash of a new password. A password
// shorter than MinPasswordLen characters or longer than 72 bytes is
// EINVALID.
func HashPassword(password string) ([]byte, error) {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return nil, filegate.Errorf(filegate.EINVALID, "A password needs at least %d characters.", MinPasswordLen)
	}
	if len(password) > 72 {
		// bcrypt ignores everything past 72 bytes; refuse rather than
		// silently accept a prefix.
		return nil, filegate.Errorf(filegate.EINVALID, "A password can be at most 72 bytes long.")
	}
	return bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
}

// Users is the part of the store Authenticate needs.
type Users interface {
	UserBySlug(ctx context.Context, slug string) (filegate.User, error)
}

// dummyHash is compared against when the user does not exist, so an
// unknown name costs the same bcrypt work as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("filegate-no-such-user"), bcrypt.DefaultCost)

// errDenied is the one answer to a login that fails, whatever the reason.
var errDenied = filegate.Errorf(filegate.EUNAUTHORIZED, "Wrong user name or password.")

// Authenticate returns the user when name and password match. Unknown user
// and wrong password give the same EUNAUTHORIZED error in about the same
// time; a failing store is passed through (EUNAVAILABLE). With a wrong
// password of an existing user, the User returned holds its ID alone, for
// the audit log to name whose password was guessed; otherwise a failure
// returns the zero User.
func Authenticate(ctx context.Context, users Users, name, password string) (filegate.User, error) {
	hash := dummyHash
	u, err := users.UserBySlug(ctx, LoginName(name))
	switch code := filegate.ErrorCode(err); code {
	case "":
		hash = u.PasswordHash
	case filegate.ENOTFOUND:
	default:
		return filegate.User{}, err
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || err != nil {
		var whose filegate.User
		if err == nil {
			whose.ID = u.ID
		}
		return whose, errDenied
	}
	return u, nil
}

// Passwords is the part of the store ChangePassword needs.
type Passwords interface {
	SetPassword(ctx context.Context, userID int64, oldHash, newHash []byte, keepID int64) (int64, error)
}

// errWrongPassword answers a password change whose current password is
// not the user's.
var errWrongPassword = filegate.Errorf(filegate.EFORBIDDEN, "The current password is wrong.")

// ChangePassword sets u's password to next when current is u's password,
// and revokes every session of u except keepSessionID (the one asking);
// it returns how many it revoked. A wrong current password is
// EFORBIDDEN, and so is a password changed by someone else since u was
// read; a next password HashPassword refuses is EINVALID.
func ChangePassword(ctx context.Context, store Passwords, u filegate.User, current, next string, keepSessionID int64) (int64, error) {
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(current)) != nil {
		return 0, errWrongPassword
	}
	hash, err := HashPassword(next)
	if err != nil {
		return 0, err
	}
	n, err := store.SetPassword(ctx, u.ID, u.PasswordHash, hash, keepSessionID)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return 0, errWrongPassword
	}
	return n, err
}
