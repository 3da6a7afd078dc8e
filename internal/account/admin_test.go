package account_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

// noFiles is a UserFiles that removes rows only: these tests have no
// private root.
type noFiles struct{ db *postgres.DB }

func (n noFiles) RemoveUser(ctx context.Context, id int64) ([]filegate.File, error) {
	return n.db.DeleteUser(ctx, id)
}

// lines decodes the audit lines in buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, e)
	}
	return out
}

// The operator (the zero Actor) may do anything to anyone; a staff member
// may not remove, demote or reset the password of themselves. Every
// attempt writes one audit line, with who did it to whom and never the
// password.
func TestAdmin(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t)
	ctx := context.Background()
	var buf bytes.Buffer
	admin := account.NewAdmin(db, noFiles{db})
	admin.Audit = audit.New(&buf)
	cli := account.Actor{}

	staff, err := admin.Create(ctx, cli, "Staff", "staff password", false, true)
	if err != nil || !staff.IsStaff || staff.Slug != "staff" {
		t.Fatalf("Create = %+v, %v", staff, err)
	}
	if _, err := admin.Create(ctx, cli, "STAFF", "another password", false, false); filegate.ErrorCode(err) != filegate.ECONFLICT ||
		filegate.ErrorMessage(err) != `A user "staff" already exists.` {
		t.Errorf("taken name: %v", err)
	}
	if _, err := admin.Create(ctx, cli, "bob", "short", false, false); filegate.ErrorCode(err) != filegate.EINVALID {
		t.Errorf("short password: %v", err)
	}
	me := account.Actor{UserID: staff.ID}
	for what, err := range map[string]error{
		"remove": func() error { _, err := admin.Remove(ctx, me, staff.ID); return err }(),
		"demote": func() error {
			_, err := admin.Update(ctx, me, staff.ID, filegate.UserUpdate{IsStaff: new(false)})
			return err
		}(),
		"passwd":  func() error { _, err := admin.ResetPassword(ctx, me, staff.ID, "a new password"); return err }(),
		"missing": func() error { _, err := admin.ResetPassword(ctx, me, staff.ID+1000, "a new password"); return err }(),
	} {
		want := filegate.EFORBIDDEN
		if what == "missing" {
			want = filegate.ENOTFOUND
		}
		if filegate.ErrorCode(err) != want {
			t.Errorf("%s: %v, want %s", what, err, want)
		}
	}
	if u, err := account.Authenticate(ctx, db, "staff", "staff password"); err != nil || !u.IsStaff {
		t.Fatalf("refused changes changed staff: %+v, %v", u, err)
	}
	// What is not a lock-out is allowed: their own public flag, their
	// own sessions.
	if u, err := admin.Update(ctx, me, staff.ID, filegate.UserUpdate{IsPublic: new(true)}); err != nil || !u.IsPublic || !u.IsStaff {
		t.Errorf("own public flag: %+v, %v", u, err)
	}
	if _, err := admin.Logout(ctx, me, staff.ID); err != nil {
		t.Errorf("own logout: %v", err)
	}
	// The operator may.
	if _, err := admin.ResetPassword(ctx, cli, staff.ID, "a new password"); err != nil {
		t.Errorf("operator's reset: %v", err)
	}
	if _, err := admin.Remove(ctx, cli, staff.ID); err != nil {
		t.Errorf("operator's remove: %v", err)
	}

	got := lines(t, &buf)
	want := []struct{ action, outcome, reason string }{
		{"user.create", "success", ""}, {"user.create", "failure", "conflict"}, {"user.create", "failure", "invalid"},
	}
	if len(got) != 11 {
		t.Fatalf("%d audit lines, want 11:\n%s", len(got), buf.String())
	}
	for i, w := range want {
		if got[i]["event.action"] != w.action || got[i]["event.outcome"] != w.outcome || (w.reason != "" && got[i]["event.reason"] != w.reason) {
			t.Errorf("line %d: %v, want %v", i, got[i], w)
		}
	}
	if got[0]["user.target.id"] != float64(staff.ID) || got[0]["user.id"] != nil {
		t.Errorf("the operator's create: %v", got[0])
	}
	forbidden := 0
	for _, e := range got[3:7] {
		if e["event.reason"] == "forbidden" && e["user.id"] == float64(staff.ID) {
			forbidden++
		}
	}
	if forbidden != 3 {
		t.Errorf("%d lines of refused self-changes, want 3:\n%s", forbidden, buf.String())
	}
	if last := got[10]; last["event.action"] != "user.remove" || last["event.outcome"] != "success" || last["user.target.id"] != float64(staff.ID) {
		t.Errorf("the last line: %v", last)
	}
	for _, secret := range []string{"staff password", "a new password", "short"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("the audit log holds %q", secret)
		}
	}
}

func TestNewPassword(t *testing.T) {
	a, b := account.NewPassword(), account.NewPassword()
	if a == b || len(a) < 20 {
		t.Errorf("NewPassword: %q, %q", a, b)
	}
	if _, err := account.HashPassword(a); err != nil {
		t.Errorf("a new password is refused: %v", err)
	}
}
