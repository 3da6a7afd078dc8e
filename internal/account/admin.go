package account

import (
	"context"
	"crypto/rand"
	"net/netip"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
)

// AdminStore is the part of the store Admin changes users through;
// implemented by postgres.DB, which tells authz's cache about every
// change before it returns.
type AdminStore interface {
	CreateUser(ctx context.Context, u *filegate.User) error
	UpdateUser(ctx context.Context, id int64, upd filegate.UserUpdate) (filegate.User, error)
	SetPassword(ctx context.Context, userID int64, oldHash, newHash []byte, keepID int64) (int64, error)
	RevokeSessions(ctx context.Context, userID, keepID int64) (int64, error)
}

// UserFiles removes a user together with their files' rows and bytes;
// implemented by ingest.Ingester.
type UserFiles interface {
	RemoveUser(ctx context.Context, id int64) ([]filegate.File, error)
}

// Admin is the one way users are managed: the CLI's user commands and the
// staff admin page (/admin) both call it, so each change follows the same
// rules and writes the same audit line, whoever asked. Build it with
// NewAdmin; it is safe for concurrent use.
type Admin struct {
	store AdminStore
	files UserFiles

	// Audit receives one line per change, failed ones included; nil
	// writes none. No line ever carries a password.
	Audit *audit.Logger
}

// NewAdmin returns an Admin changing users in store and removing their
// files through files.
func NewAdmin(store AdminStore, files UserFiles) *Admin {
	return &Admin{store: store, files: files}
}

// Actor is who asks for a change, as the audit log records it: a staff
// user of the web app with the request's client address and id, or the
// operator at the CLI, the zero Actor.
type Actor struct {
	UserID    int64      // 0: the CLI
	Addr      netip.Addr // the client's address (web.Server.clientAddr)
	RequestID string     // nginx's request id, sanitized (audit.RequestID)
}

// errSelf refuses a staff member a change to their own account that
// could lock them (and perhaps everyone) out of /admin, or that skips the
// account page's check of the current password. Another staff member, or
// the operator at the CLI, can make it.
func errSelf(what string) error {
	return filegate.Errorf(filegate.EFORBIDDEN, "You can’t %s your own account here: another staff member can, or the operator with the uploader command.", what)
}

// NewPassword returns a one-time password for a user that staff create or
// reset: 26 characters of base32, 130 bits from crypto/rand. Whoever
// makes it shows it once and never logs it.
func NewPassword() string { return rand.Text() }

// Create makes a user called name with password (as HashPassword takes
// it), public and staff as given, and returns it. A bad name or password
// is EINVALID, a taken name ECONFLICT.
func (a *Admin) Create(ctx context.Context, by Actor, name, password string, public, staff bool) (filegate.User, error) {
	u, err := NewUser(name, password, public, staff)
	if err == nil {
		err = a.store.CreateUser(ctx, &u)
		if filegate.ErrorCode(err) == filegate.ECONFLICT {
			err = filegate.Errorf(filegate.ECONFLICT, "A user %q already exists.", u.Slug)
		}
	}
	a.log(ctx, "user.create", by, u.ID, err)
	if err != nil {
		return filegate.User{}, err
	}
	return u, nil
}

// ResetPassword sets user id's password to password (as HashPassword
// takes it) without asking for the old one, and in the same transaction
// revokes every session of the user; it returns how many it revoked.
// Whoever had the old password or a copied cookie is refused on their
// next request, downloads included. No such user is ENOTFOUND; a staff
// member's own password is EFORBIDDEN here (the account page changes it,
// knowing the current one).
func (a *Admin) ResetPassword(ctx context.Context, by Actor, id int64, password string) (int64, error) {
	var n int64
	var hash []byte
	var err error
	if by.UserID == id {
		err = errSelf("reset the password of")
	} else {
		hash, err = HashPassword(password)
	}
	if err == nil {
		n, err = a.store.SetPassword(ctx, id, nil, hash, 0)
		if filegate.ErrorCode(err) == filegate.ENOTFOUND {
			err = errNoUser
		}
	}
	a.log(ctx, "user.password_reset", by, id, err)
	return n, err
}

var errNoUser = filegate.Errorf(filegate.ENOTFOUND, "No such user.")

// Update changes the flags upd gives of user id and returns the user.
// No such user is ENOTFOUND; a staff member taking their own staff flag
// away is EFORBIDDEN, so the web page always keeps the staff member using
// it.
func (a *Admin) Update(ctx context.Context, by Actor, id int64, upd filegate.UserUpdate) (filegate.User, error) {
	var u filegate.User
	var err error
	if by.UserID == id && upd.IsStaff != nil && !*upd.IsStaff {
		err = errSelf("take staff away from")
	} else {
		u, err = a.store.UpdateUser(ctx, id, upd)
	}
	a.log(ctx, "user.update", by, id, err)
	return u, err
}

// Logout revokes every session of user id and returns how many it
// revoked; the cookies are refused from the next request on. A user
// without sessions, or none at all, is 0 revoked, not an error.
func (a *Admin) Logout(ctx context.Context, by Actor, id int64) (int64, error) {
	n, err := a.store.RevokeSessions(ctx, id, 0)
	a.log(ctx, "user.logout", by, id, err)
	return n, err
}

// Remove deletes user id with their files (rows, then bytes), links and
// sessions, and returns the files. No such user is ENOTFOUND; a staff
// member removing themselves is EFORBIDDEN.
func (a *Admin) Remove(ctx context.Context, by Actor, id int64) ([]filegate.File, error) {
	var files []filegate.File
	var err error
	if by.UserID == id {
		err = errSelf("remove")
	} else {
		files, err = a.files.RemoveUser(ctx, id)
	}
	a.log(ctx, "user.remove", by, id, err)
	return files, err
}

// log writes the audit line of action on user target by by, which ended
// in err.
func (a *Admin) log(ctx context.Context, action string, by Actor, target int64, err error) {
	e := audit.Event{Action: action, Outcome: audit.Success, UserID: by.UserID, TargetUserID: target,
		SourceIP: by.Addr, RequestID: by.RequestID}
	if err != nil {
		e.Outcome, e.Reason = audit.Failure, filegate.ErrorCode(err)
	}
	a.Audit.Log(ctx, e)
}
