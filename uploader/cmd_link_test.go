package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// cli is the uploader's configuration on a fresh database, for running
// its commands as a process.
type cli struct {
	env  []string
	keys string
	db   *postgres.DB
}

func newCLI(t *testing.T) cli {
	t.Helper()
	dbURL := testenv.NewDatabase(t)
	db, err := postgres.Open(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys := session.GenerateKeys()
	return cli{db: db, keys: keys, env: []string{
		"DATABASE_URL=" + dbURL,
		"REDIS_URL=" + testenv.RedisURL(),
		"FILEGATE_REDIS_PREFIX=" + testenv.RedisPrefix(t),
		"FILEGATE_PRIVATE_ROOT=" + t.TempDir(),
		"FILEGATE_SESSION_KEYS=" + keys,
	}}
}

// run runs the uploader's main with args, stdin and more environment,
// and returns its standard output, standard error and exit code.
func (c cli) run(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(append(append(os.Environ(), "UPLOADER_TEST_AS_MAIN=1"), c.env...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return stdout.String(), stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// ok runs a command that must succeed and returns its standard output.
func (c cli) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, stdin, nil, args...)
	if code != 0 {
		t.Fatalf("uploader %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs a command that must fail and returns its standard error.
func (c cli) fails(t *testing.T, stdin string, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, stdin, env, args...)
	if code != 1 {
		t.Errorf("uploader %s: exit %d, want 1\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return errOut
}

var created = regexp.MustCompile(`^link (\d+) to alice/a\.pdf: (/s/[A-Za-z0-9_-]{43}) \(expires (\S+), (.+), (.+)\)\n$`)

func TestLinkCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	alice := testenv.AddUser(t, c.db, testenv.User{Name: "alice"})
	testenv.AddUser(t, c.db, testenv.User{Name: "bob"})
	f := testenv.AddFileRow(t, c.db, alice.ID, "a.pdf", "Annual report.pdf", "")
	codec, err := session.New(c.keys, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	// With everything: the URL names the link, under the configured keys.
	start := time.Now()
	out, errOut, code := c.run(t, "open sesame\n", nil, "link", "create", "alice", "a.pdf", "--expires-in", "24h", "--max-downloads", "2", "--password-stdin")
	m := created.FindStringSubmatch(out)
	if code != 0 || m == nil || m[4] != "2 downloads" || m[5] != "with a password" {
		t.Fatalf("link create: exit %d\n%s%s", code, out, errOut)
	}
	token := strings.TrimPrefix(m[2], "/s/")
	id, _, ok := codec.ParseLinkToken(token)
	if !ok || fmt.Sprint(id) != m[1] {
		t.Fatalf("token %s does not name link %s", token, m[1])
	}
	m3 := m[3]
	expires, err := time.Parse(time.RFC3339, m[3])
	if err != nil || expires.Before(start.Add(24*time.Hour).Truncate(time.Second)) || expires.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("expires %s, want 24h from now", m[3])
	}
	l, err := c.db.Link(t.Context(), id)
	if err != nil || l.FileID != f.ID || l.CreatedBy != alice.ID || *l.MaxDownloads != 2 || l.PasswordHash == nil {
		t.Errorf("stored %+v, %v", l, err)
	}
	// The audit line goes to standard error, without the secrets.
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(errOut)), &line); err != nil || line["event.action"] != "link.create" ||
		line["event.outcome"] != "success" || line["link.id"] != float64(id) || line["file.id"] != float64(f.ID) {
		t.Errorf("standard error %q, want one audit line", errOut)
	}
	if strings.Contains(errOut, token) || strings.Contains(errOut, "open sesame") {
		t.Error("the audit line holds the token or the password")
	}

	// The defaults: a week, no limit, no password.
	m = created.FindStringSubmatch(c.ok(t, "", "link", "create", "alice", "a.pdf"))
	if m == nil || m[4] != "no download limit" || m[5] != "no password" {
		t.Fatalf("link create with defaults: %v", m)
	}
	second := m[1]

	for _, tc := range []struct {
		stdin string
		env   []string
		args  []string
		want  string
	}{
		{"", nil, []string{"link", "create", "carol", "a.pdf"}, `no user "carol"`},
		{"", nil, []string{"link", "create", "bob", "a.pdf"}, `user bob has no file "a.pdf"`},
		{"", nil, []string{"link", "create", "alice", "a.pdf", "--expires-in", "2161h"}, "A link can last at most 90 days."},
		{"", []string{"FILEGATE_LINK_MAX_TTL=48h"}, []string{"link", "create", "alice", "a.pdf", "--expires-in", "72h"}, "A link can last at most 2 days."},
		{"", nil, []string{"link", "create", "alice", "a.pdf", "--expires-in", "-1h"}, "A link must expire"},
		{"", nil, []string{"link", "create", "alice", "a.pdf", "--max-downloads", "0"}, "want a whole number from 1"},
		{"short\n", nil, []string{"link", "create", "alice", "a.pdf", "--password-stdin"}, "at least 8 characters"},
		{"", nil, []string{"link", "create", "alice", "a.pdf", "--password-stdin"}, "read no password"},
		{"", nil, []string{"link", "create", "alice"}, "link create: want NAME and STORED_NAME"},
		{"", nil, []string{"link", "revoke", "999"}, "no link 999"},
		{"", nil, []string{"link", "revoke", "seven"}, `want a link id, got "seven"`},
		{"", nil, []string{"link", "list"}, "link list: want NAME"},
	} {
		if errOut := c.fails(t, tc.stdin, tc.env, tc.args...); !strings.Contains(errOut, tc.want) {
			t.Errorf("uploader %s: standard error lacks %q:\n%s", strings.Join(tc.args, " "), tc.want, errOut)
		}
	}

	// Revoke the second; the list shows both, newest first.
	if out := c.ok(t, "", "link", "revoke", second); out != fmt.Sprintf("link %s to %d/a.pdf revoked\n", second, alice.ID) {
		t.Errorf("link revoke: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(c.ok(t, "", "link", "list", "alice")), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID FILE STATE DOWNLOADS EXPIRES URL" {
		t.Fatalf("link list:\n%s", strings.Join(lines, "\n"))
	}
	for i, want := range []*regexp.Regexp{
		regexp.MustCompile(`^` + second + ` a\.pdf revoked 0/- \S+Z /s/[A-Za-z0-9_-]{43}$`),
		regexp.MustCompile(fmt.Sprintf(`^%d a\.pdf active 0/2 %s /s/%s$`, id, regexp.QuoteMeta(m3), token)),
	} {
		if row := strings.Join(strings.Fields(lines[i+1]), " "); !want.MatchString(row) {
			t.Errorf("link list row %q, want %s", row, want)
		}
	}
	if out := c.ok(t, "", "link", "list", "bob"); strings.Count(out, "\n") != 1 {
		t.Errorf("bob's links:\n%s", out)
	}
	if l, _ := c.db.Link(t.Context(), id); l.State(time.Now()) != filegate.LinkActive {
		t.Errorf("the first link is %s, want active", l.State(time.Now()))
	}
}
