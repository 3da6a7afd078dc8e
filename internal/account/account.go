// Package account creates users and checks passwords. Both the CLI and the
// login form go through it, so the rules for names and passwords live once.
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
// EINVALID for a bad name or a short password.
func NewUser(name, password string, public, staff bool) (filegate.User, error) {
	slug, err := Slug(name)
	if err != nil {
		return filegate.User{}, err
	}
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return filegate.User{}, filegate.Errorf(filegate.EINVALID, "A password needs at least %d characters.", MinPasswordLen)
	}
	if len(password) > 72 {
		// bcrypt ignores everything past 72 bytes; refuse rather than
		// silently accept a prefix.
		return filegate.User{}, filegate.Errorf(filegate.EINVALID, "A password can be at most 72 bytes long.")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return filegate.User{}, err
	}
	name = strings.TrimSpace(name)
	return filegate.User{Username: name, Slug: slug, DisplayName: name, PasswordHash: hash, IsPublic: public, IsStaff: staff}, nil
}

// Users is the part of the store Authenticate needs.
type Users interface {
	UserBySlug(ctx context.Context, slug string) (filegate.User, error)
}

// dummyHash is compared against when the user does not exist, so an
// unknown name costs the same bcrypt work as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("filegate-no-such-user"), bcrypt.DefaultCost)

// Authenticate returns the user when name and password match. Unknown user
// and wrong password give the same EUNAUTHORIZED error in about the same
// time; a failing store is passed through (EUNAVAILABLE).
func Authenticate(ctx context.Context, users Users, name, password string) (filegate.User, error) {
	denied := filegate.Errorf(filegate.EUNAUTHORIZED, "Wrong user name or password.")
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
		return filegate.User{}, denied
	}
	return u, nil
}
