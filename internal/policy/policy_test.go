package policy_test

import (
	"testing"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
)

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
	)
	tests := []struct {
		name   string
		authn  bool
		facts  filegate.Facts
		hide   bool
		want   policy.Decision
		status int
	}{
		// docs/interface.md#access-rules, row by row.
		{"no or bad cookie", false, filegate.Facts{Viewer: viewer, Owner: public, File: file}, false, policy.Unauthenticated, 401},
		{"no cookie, missing file", false, filegate.Facts{Owner: noOwner, File: noFile}, false, policy.Unauthenticated, 401},
		{"cookie of a removed user", true, filegate.Facts{Viewer: gone, Owner: public, File: file}, false, policy.Unauthenticated, 401},
		{"unknown owner", true, filegate.Facts{Viewer: viewer, Owner: noOwner, File: noFile}, false, policy.NotFound, 404},
		{"unknown stored name", true, filegate.Facts{Viewer: viewer, Owner: public, File: noFile}, false, policy.NotFound, 404},
		{"unknown name, staff", true, filegate.Facts{Viewer: staff, Owner: private, File: noFile}, false, policy.NotFound, 404},
		{"staff sees private", true, filegate.Facts{Viewer: staff, Owner: private, File: file}, false, policy.Allow, 200},
		{"owner sees own private", true, filegate.Facts{Viewer: viewer, Owner: self, File: file}, false, policy.Allow, 200},
		{"anyone sees public", true, filegate.Facts{Viewer: viewer, Owner: public, File: file}, false, policy.Allow, 200},
		{"stranger, private", true, filegate.Facts{Viewer: viewer, Owner: private, File: file}, false, policy.Deny, 403},
		{"owner being staff shares nothing", true, filegate.Facts{Viewer: viewer, Owner: staffOwn, File: file}, false, policy.Deny, 403},
		{"stranger, private, hidden", true, filegate.Facts{Viewer: viewer, Owner: private, File: file}, true, policy.NotFound, 404},
		{"hide keeps public open", true, filegate.Facts{Viewer: viewer, Owner: public, File: file}, true, policy.Allow, 200},
		{"hide keeps 401", false, filegate.Facts{Owner: private, File: file}, true, policy.Unauthenticated, 401},
		{"zero facts fail closed", true, filegate.Facts{}, false, policy.Unauthenticated, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.Decide(tt.authn, tt.facts, tt.hide); got != tt.want {
				t.Errorf("Decide = %v, want %v (HTTP %d)", got, tt.want, tt.status)
			}
		})
	}
}

// The zero Decision must be a denial, so a forgotten branch fails closed.
func TestZeroDecisionDenies(t *testing.T) {
	var d policy.Decision
	if d != policy.Deny {
		t.Fatalf("zero Decision = %v, want deny", d)
	}
}
