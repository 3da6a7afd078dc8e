package policy_test

import (
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	var (
		file     = filegate.Target{Exists: true, Path: "2/a.pdf"}
		noFile   = filegate.Target{}
		viewer   = filegate.Profile{ID: 1, Exists: true}
		staff    = filegate.Profile{ID: 1, Exists: true, Staff: true}
		gone     = filegate.Profile{ID: 1}
		private  = filegate.Profile{ID: 2, Exists: true}
		public   = filegate.Profile{ID: 2, Exists: true, Public: true}
		self     = filegate.Profile{ID: 1, Exists: true}
		noOwner  = filegate.Profile{ID: 2}
		staffOwn = filegate.Profile{ID: 2, Exists: true, Staff: true}
		live     = filegate.SessionState{ID: 7, Exists: true, UserID: 1, Expires: now.Add(time.Hour).Unix()}
		noCookie = filegate.SessionState{}
	)
	tests := []struct {
		name   string
		facts  filegate.Facts
		hide   bool
		want   policy.Decision
		status int
	}{
		// docs/interface.md#access-rules, row by row.
		{"no or bad cookie", filegate.Facts{Owner: public, File: file}, false, policy.Unauthenticated, 401},
		{"no cookie, missing file", filegate.Facts{Session: noCookie, Owner: noOwner, File: noFile}, false, policy.Unauthenticated, 401},
		{"cookie of a removed user", filegate.Facts{Viewer: gone, Session: live, Owner: public, File: file}, false, policy.Unauthenticated, 401},
		{"unknown owner", filegate.Facts{Viewer: viewer, Session: live, Owner: noOwner, File: noFile}, false, policy.NotFound, 404},
		{"unknown stored name", filegate.Facts{Viewer: viewer, Session: live, Owner: public, File: noFile}, false, policy.NotFound, 404},
		{"unknown name, staff", filegate.Facts{Viewer: staff, Session: live, Owner: private, File: noFile}, false, policy.NotFound, 404},
		{"staff sees private", filegate.Facts{Viewer: staff, Session: live, Owner: private, File: file}, false, policy.Allow, 200},
		{"owner sees own private", filegate.Facts{Viewer: viewer, Session: live, Owner: self, File: file}, false, policy.Allow, 200},
		{"anyone sees public", filegate.Facts{Viewer: viewer, Session: live, Owner: public, File: file}, false, policy.Allow, 200},
		{"stranger, private", filegate.Facts{Viewer: viewer, Session: live, Owner: private, File: file}, false, policy.Deny, 403},
		{"owner being staff shares nothing", filegate.Facts{Viewer: viewer, Session: live, Owner: staffOwn, File: file}, false, policy.Deny, 403},
		{"stranger, private, hidden", filegate.Facts{Viewer: viewer, Session: live, Owner: private, File: file}, true, policy.NotFound, 404},
		{"hide keeps public open", filegate.Facts{Viewer: viewer, Session: live, Owner: public, File: file}, true, policy.Allow, 200},
		{"hide keeps 401", filegate.Facts{Owner: private, File: file}, true, policy.Unauthenticated, 401},
		{"zero facts fail closed", filegate.Facts{}, false, policy.Unauthenticated, 401},
		// The session the cookie names decides before anything else.
		{"unknown session", filegate.Facts{Viewer: staff, Session: noCookie, Owner: public, File: file}, false, policy.Unauthenticated, 401},
		{"unknown session, missing file", filegate.Facts{Viewer: viewer, Session: noCookie, Owner: noOwner, File: noFile}, false, policy.Unauthenticated, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.Decide(tt.facts, now, tt.hide); got != tt.want {
				t.Errorf("Decide = %v, want %v (HTTP %d)", got, tt.want, tt.status)
			}
		})
	}
}

func TestSessionValid(t *testing.T) {
	exp := now.Add(time.Hour)
	live := filegate.SessionState{ID: 7, Exists: true, UserID: 1, Expires: exp.Unix()}
	revoked, other, unknown := live, live, filegate.SessionState{}
	revoked.Revoked = true
	other.UserID = 2
	tests := []struct {
		name   string
		s      filegate.SessionState
		viewer int64
		at     time.Time
		want   bool
	}{
		{"live", live, 1, now, true},
		{"just before expiry", live, 1, exp.Add(-time.Nanosecond), true},
		{"at expiry", live, 1, exp, false},
		{"after expiry", live, 1, exp.Add(time.Hour), false},
		{"revoked", revoked, 1, now, false},
		{"unknown", unknown, 1, now, false},
		{"another user's session", other, 1, now, false},
		{"cookie of no user", filegate.SessionState{Exists: true, Expires: exp.Unix()}, 0, now, false},
	}
	for _, tt := range tests {
		if got := policy.SessionValid(tt.s, tt.viewer, tt.at); got != tt.want {
			t.Errorf("%s: SessionValid = %v, want %v", tt.name, got, tt.want)
		}
	}
	// A session is the same fact whether read from a record or a cache.
	rec := filegate.Session{ID: 7, UserID: 1, ExpiresAt: exp}
	if rec.State() != live {
		t.Errorf("State() = %+v, want %+v", rec.State(), live)
	}
	at := now
	rec.RevokedAt = &at
	if policy.SessionValid(rec.State(), 1, now) {
		t.Error("a revoked record is valid")
	}
}

// The zero Decision must be a denial, so a forgotten branch fails closed.
func TestZeroDecisionDenies(t *testing.T) {
	var d policy.Decision
	if d != policy.Deny {
		t.Fatalf("zero Decision = %v, want deny", d)
	}
}
