package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestMain runs main instead of the tests when a test starts this binary
// again as the uploader (see runMain).
func TestMain(m *testing.M) {
	if os.Getenv("UPLOADER_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs the uploader's main with args and returns its standard
// error and exit code.
func runMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "UPLOADER_TEST_AS_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), 0
}

// The README's "Admin CLI" block and the list in docs/interface.md are
// the command list usage prints, so none of them can drift.
func TestDocsListEveryCommand(t *testing.T) {
	for _, doc := range []struct{ path, heading string }{
		{"../README.md", "## Admin CLI"},
		{"../docs/interface.md", "## Commands"},
	} {
		if got, want := indentedBlock(t, doc.path, doc.heading), commandList("    "); got != want {
			t.Errorf("%s, %s: the command list is\n%s\nwant (commandList(\"    \")):\n%s", doc.path, doc.heading, got, want)
		}
	}
}

// indentedBlock returns the first block of lines indented by four spaces
// in the section of the Markdown file at path that starts with heading.
func indentedBlock(t *testing.T, path, heading string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var block strings.Builder
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		switch {
		case line == heading:
			in = true
		case !in:
		case strings.HasPrefix(line, "    "):
			block.WriteString(line + "\n")
		case block.Len() > 0, strings.HasPrefix(line, "## "): // past the block, or the section
			in = false
		}
	}
	return block.String()
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		out, code := runMain(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage:\n"+commandList("  ")+"\nEnvironment:\n") {
			t.Errorf("uploader %s: exit %d, want 0 and the usage:\n%s", args[0], code, out)
		}
		for _, c := range commands {
			if !strings.Contains(out, "  uploader "+strings.TrimSpace(c.name+" "+c.args)+"\n      "+c.help+"\n") {
				t.Errorf("uploader %s does not list %q", args[0], c.name)
			}
		}
		// Every documented variable the uploader reads is listed.
		for _, v := range []string{"DATABASE_URL", "REDIS_URL", "FILEGATE_PRIVATE_ROOT", "FILEGATE_SESSION_KEYS", "FILEGATE_COOKIE_SECURE",
			"FILEGATE_MAX_UPLOAD", "FILEGATE_ALLOWED_TYPES", "UPLOADER_ADDR", "FILEGATE_SESSION_TTL", "FILEGATE_MAX_FILES_PER_REQUEST",
			"FILEGATE_QUOTA", "FILEGATE_QUOTA_FILES", "FILEGATE_LINK_MAX_TTL", "UPLOADER_METRICS_ADDR", "FILEGATE_STORAGE",
			"FILEGATE_S3_ENDPOINT", "FILEGATE_S3_BUCKET", "FILEGATE_S3_REGION", "FILEGATE_S3_ACCESS_KEY", "FILEGATE_S3_SECRET_KEY"} {
			if !strings.Contains(out, "\n  "+v+" ") && !strings.Contains(out, "\n  "+v+"\n") {
				t.Errorf("uploader %s does not list %s", args[0], v)
			}
		}
	}
	out, code := runMain(t)
	if code != 1 || !strings.HasPrefix(out, "Usage:\n") || !strings.HasSuffix(out, "\nuploader: no command\n") {
		t.Errorf("uploader without arguments: exit %d, want 1, the usage and an error:\n%s", code, out)
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		name, err string
		rest      []string
	}{
		{args: []string{"serve"}, name: "serve"},
		{args: []string{"put", "alice", "a.pdf"}, name: "put", rest: []string{"alice", "a.pdf"}},
		{args: []string{"user", "add", "--public", "alice"}, name: "user add", rest: []string{"--public", "alice"}},
		{args: []string{"user", "remove", "alice"}, name: "user remove", rest: []string{"alice"}},
		{args: []string{"user"}, err: "user: want add, set, remove, passwd or logout"},
		{args: []string{"healthcheck"}, name: "healthcheck"},
		{args: []string{"user", "alice"}, err: `user: unknown subcommand "alice"`},
		{args: []string{"users"}, err: `unknown command "users"`},
		{args: []string{"add"}, err: `unknown command "add"`},
	} {
		c, rest, err := lookup(tc.args)
		if tc.err != "" {
			if _, ok := errors.AsType[usageError](err); !ok || err.Error() != tc.err {
				t.Errorf("lookup(%q) = %v, want usageError %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || c.name != tc.name || !slices.Equal(rest, tc.rest) {
			t.Errorf("lookup(%q) = %q %q %v, want %q %q", tc.args, c.name, rest, err, tc.name, tc.rest)
		}
	}
}

// uploader healthcheck is compose's healthcheck of the web app: exit 0
// when UPLOADER_ADDR's /healthz answers 200, 1 otherwise, saying why.
func TestHealthcheck(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer healthy.Close()
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	_, port, _ := net.SplitHostPort(healthy.Listener.Addr().String())
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tt := range []struct {
		addr string
		args []string
		code int
		out  string
	}{
		{addr: healthy.Listener.Addr().String(), code: 0},
		{addr: "0.0.0.0:" + port, code: 0}, // compose's listen address
		{addr: sick.Listener.Addr().String(), code: 1, out: "uploader: unhealthy: healthcheck: "},
		{addr: gone.Listener.Addr().String(), code: 1, out: "connection refused"},
		{addr: healthy.Listener.Addr().String(), args: []string{"now"}, code: 1, out: "healthcheck: takes no arguments"},
	} {
		t.Setenv("UPLOADER_ADDR", tt.addr)
		out, code := runMain(t, append([]string{"healthcheck"}, tt.args...)...)
		if code != tt.code || !strings.Contains(out, tt.out) {
			t.Errorf("uploader healthcheck %q on %s: exit %d, want %d and %q:\n%s", tt.args, tt.addr, code, tt.code, tt.out, out)
		}
	}
}
