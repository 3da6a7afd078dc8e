// Package policy is the access rule (docs/interface.md#access-rules) as a
// pure function: no I/O, no clock, so every row of the rule is one line of
// a table test.
package policy

import "github.com/filegate/filegate/internal/filegate"

// Decision is the outcome of one access check.
type Decision int

const (
	// Deny is the zero value so that a forgotten branch fails closed.
	Deny            Decision = iota // a logged-in viewer who may not see the file: 403
	Allow                           // 200
	Unauthenticated                 // no valid session, or its user is gone: 401
	NotFound                        // no such file: 404
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "allow"
	case Unauthenticated:
		return "unauthenticated"
	case NotFound:
		return "not_found"
	default:
		return "deny"
	}
}

// Decide applies the access rule. authenticated reports whether the request carried
// a valid, unexpired session cookie; facts describe the session's user (the
// viewer), the file's owner and the file. With hidePrivate, a denial is
// reported as NotFound so strangers cannot probe which private files exist.
func Decide(authenticated bool, f filegate.Facts, hidePrivate bool) Decision {
	switch {
	case !authenticated || !f.Viewer.Exists:
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
