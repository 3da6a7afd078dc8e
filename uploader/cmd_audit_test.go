package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/testenv"
)

// auditFile writes events to a new audit log file, after lines given as
// they are (an old line, a torn one), and returns its path.
func auditFile(t *testing.T, raw []string, events ...audit.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(strings.Join(raw, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := audit.New(f)
	for _, e := range events {
		log.Log(context.Background(), e)
	}
	return path
}

// rows returns the lines of out after the column names, each split into
// its columns; the column names must come first.
func rows(t *testing.T, out string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !regexp.MustCompile(`^TIME +ACTION +OUTCOME +USER +FILE +LINK +SOURCE +REQUEST$`).MatchString(lines[0]) {
		t.Fatalf("first line %q, want the column names", lines[0])
	}
	var rs [][]string
	for _, l := range lines[1:] {
		rs = append(rs, strings.Fields(l))
	}
	return rs
}

func TestAuditCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	alice := testenv.AddUser(t, c.db, testenv.User{Name: "alice"})
	bob := testenv.AddUser(t, c.db, testenv.User{Name: "bob"})
	public := true
	ip := netip.MustParseAddr("192.0.2.10")
	path := auditFile(t, []string{
		// Two days old: left out by --since 24h.
		`{"time":"2020-01-02T03:04:05Z","level":"INFO","msg":"audit","event.action":"file.download","event.outcome":"success","user.id":` + itoa(bob.ID) + `,"file.id":7}`,
		`{"time":"2020-01-02T03:04:06Z","level":"INFO","msg":"aud`, // torn by a crash
	},
		audit.Event{Action: "file.download", Outcome: audit.Success, UserID: alice.ID, FileID: 7, SourceIP: ip, RequestID: "0f0f"},
		audit.Event{Action: "file.download", Outcome: audit.Failure, Reason: "deny", UserID: bob.ID, FileID: 7, SourceIP: ip},
		audit.Event{Action: "link.download", Outcome: audit.Success, LinkID: 3, FileID: 7},
		audit.Event{Action: "file.download", Outcome: audit.Success, UserID: alice.ID, FileID: 8},
		audit.Event{Action: "user.share", Outcome: audit.Success, UserID: bob.ID, Public: &public},
		audit.Event{Action: "user.login", Outcome: audit.Success, UserID: 999}, // a user removed since
	)
	env := []string{"FILEGATE_AUDIT_LOG=" + path}
	run := func(args ...string) ([][]string, string) {
		t.Helper()
		out, errOut, code := c.run(t, "", env, append([]string{"audit"}, args...)...)
		if code != 0 {
			t.Fatalf("audit %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return rows(t, out), errOut
	}

	all, errOut := run()
	if len(all) != 7 || errOut != "audit: 1 lines of "+path+" are no audit lines and were skipped\n" {
		t.Fatalf("every event: %d rows, standard error %q\n%v", len(all), errOut, all)
	}
	want := [][]string{
		{"2020-01-02T03:04:05Z", "file.download", "success", "bob(" + itoa(bob.ID) + ")", "7", "-", "-", "-"},
		{"file.download", "success", "alice(" + itoa(alice.ID) + ")", "7", "-", "192.0.2.10", "0f0f"},
		{"file.download", "failure:", "deny", "bob(" + itoa(bob.ID) + ")", "7", "-", "192.0.2.10", "-"},
		{"link.download", "success", "-", "7", "3", "-", "-"},
		{"file.download", "success", "alice(" + itoa(alice.ID) + ")", "8", "-", "-", "-"},
		{"user.share", "success:", "public", "bob(" + itoa(bob.ID) + ")", "-", "-", "-", "-"},
		{"user.login", "success", "(999)", "-", "-", "-", "-"},
	}
	for i, w := range want {
		got := all[i]
		if i > 0 {
			got = got[1:] // the time is now's
		}
		if strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("row %d: %q, want %q", i, got, w)
		}
	}

	// "Who downloaded file 7?": with the link's download, not file 8's.
	if got, _ := run("--file", "7"); len(got) != 4 || got[3][1] != "link.download" {
		t.Errorf("--file 7: %v", got)
	}
	if got, _ := run("--file", "7", "--since", "24h"); len(got) != 3 || got[0][3] != "alice("+itoa(alice.ID)+")" {
		t.Errorf("--file 7 --since 24h: %v", got)
	}
	if got, _ := run("--user", "Bob"); len(got) != 3 || got[2][1] != "user.share" {
		t.Errorf("--user Bob: %v", got)
	}
	if got, _ := run("--user", "alice", "--file", "8"); len(got) != 1 || got[0][4] != "8" {
		t.Errorf("--user alice --file 8: %v", got)
	}

	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, "uploader: audit: FILEGATE_AUDIT_LOG is - (standard output)"},
		{env, []string{"--user", "carol"}, `uploader: audit: no user "carol"`},
		{[]string{"FILEGATE_AUDIT_LOG=" + filepath.Join(t.TempDir(), "none.log")}, nil, "uploader: audit: open "},
		{env, []string{"--file", "07"}, `invalid value "07" for flag -file`},
		{env, []string{"--since", "-1h"}, "uploader: audit: --since wants a positive duration"},
		{env, []string{"alice"}, "uploader: audit: takes flags only"},
	} {
		if errOut := c.fails(t, "", tc.env, append([]string{"audit"}, tc.args...)...); !strings.Contains(errOut, tc.want) {
			t.Errorf("audit %v: standard error\n%s\nwant %q", tc.args, errOut, tc.want)
		}
	}
}

// With a file, the link commands' audit lines go there, not to standard
// error; `audit` then finds them.
func TestLinkCommandsAuditToFile(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	alice := testenv.AddUser(t, c.db, testenv.User{Name: "alice"})
	f := testenv.AddFileRow(t, c.db, alice.ID, "a.pdf", "A.pdf", "")
	path := filepath.Join(t.TempDir(), "audit.log")
	env := []string{"FILEGATE_AUDIT_LOG=" + path}
	out, errOut, code := c.run(t, "", env, "link", "create", "alice", "a.pdf")
	if code != 0 || errOut != "" {
		t.Fatalf("link create: exit %d, standard error %q\n%s", code, errOut, out)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit log %v, %v; want a file of mode 0600", st, err)
	}
	out, _, _ = c.run(t, "", env, "audit", "--file", itoa(f.ID))
	if got := rows(t, out); len(got) != 1 || got[0][1] != "link.create" || got[0][3] != "alice("+itoa(alice.ID)+")" {
		t.Errorf("audit --file: %v", got)
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
