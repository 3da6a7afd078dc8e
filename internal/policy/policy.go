// Package policy is the access rule (docs/interface.md#access-rules) as a
// pure function: no I/O, and the time is an argument, so every row of the
// rule is one line of a table test.
package policy

import (
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// Decision is the outcome of one access check.
type Decision int

const (
	// Deny is the zero value so that a forgotten branch fails closed.
	Deny            Decision = iota // a logged-in viewer who may not see the file: 403
	Allow                           // 200
	Unauthenticated                 // no valid session, or its user is gone: 401
	NotFound                        // no such file: 404
	Gone                            // a share link that expired, was revoked or is used up: 410
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Unauthenticated:
		return "unauthenticated"
	case NotFound:
		return "not_found"
	case Gone:
		return "gone"
	default:
		return "deny"
	}
}

// Decide applies the access rule at time now. f describes the viewer (the
// user the request's cookie names, or the zero Profile without a valid
// cookie), the session the cookie names, the file's owner and the file.
// With hidePrivate, a denial is reported as NotFound so strangers cannot
// probe which private files exist.
func Decide(f filegate.Facts, now time.Time, hidePrivate bool) Decision {
	switch {
	case !SessionValid(f.Session, f.Viewer.ID, now) || !f.Viewer.Exists:
		return Unauthenticated
	case !f.Owner.Exists || !f.File.Exists:
		return NotFound
	case MayView(f.Viewer, f.Owner):
		return Allow
	case hidePrivate:
		return NotFound
	default:
		return Deny
	}
}

// SessionValid reports whether s is a live session of viewerID at now:
// it exists, is not revoked, belongs to viewerID (the user the cookie
// names) and has not expired. Downloads and the web app ask the same
// question.
func SessionValid(s filegate.SessionState, viewerID int64, now time.Time) bool {
	return s.Exists && !s.Revoked && viewerID > 0 && s.UserID == viewerID && now.Before(time.Unix(s.Expires, 0))
}

// MayView reports whether viewer may see owner's files, both known to
// exist: staff see everything, everyone sees their own files and those of
// public owners. Lists and downloads ask the same question.
func MayView(viewer, owner filegate.Profile) bool {
	return viewer.Staff || owner.Public || viewer.ID == owner.ID
}

// MayDelete reports whether viewer may delete a file of ownerID: the
// owner and staff may.
func MayDelete(viewer filegate.Profile, ownerID int64) bool {
	return viewer.Staff || viewer.ID == ownerID
}
