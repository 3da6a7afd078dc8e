package e2e

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

// storedNames are names a stored name may or may not be. valid is what
// all of them must agree on.
var storedNames = []struct {
	name  string
	valid bool
}{
	{"a", true},
	{"Z", true},
	{"7", true},
	{"report.pdf", true},
	{"A-b_c.d", true},
	{"a..b", true},
	{"e.", true},
	{"f-", true},
	{strings.Repeat("m", 200), true},

	{"", false},
	{".", false},
	{"..", false},
	{".hidden", false},
	{"-x", false},
	{"_x", false},
	{"d/f", false},
	{"/s", false},
	{"t/", false},
	{"g h", false},
	{" i", false},
	{"j ", false},
	{"k%2f", false},
	{strings.Repeat("n", 201), false},
	{"o\n", false}, // PCRE's "$" matches before a final newline; Go's and PostgreSQL's don't
	{"p\r\n", false},
	{"\nq", false},
	{"r\r", false},
	{"u\x00", false},
	{"v\tw", false},
	{"y\x7f", false},
	{"b\\c", false},
	{"b?c", false},
	{"b#c", false},
	{"b;c", false},
	{"b:c", false},
	{"b+c", false},
	{"b~c", false},
	{"b'c", false},
	{"b\"c", false},
	{"résumé.pdf", false},
	{"\u0430bc", false}, // Cyrillic a
	{"\uff41bc", false}, // fullwidth a
	{"\u212abc", false}, // Kelvin sign: K under case folding
	{"\u017fbc", false}, // long s: s under case folding
	{"bc\u200b", false}, // zero-width space
	{"bc\u00a0", false}, // no-break space
	{"bc\xff", false},   // not UTF-8
	{"\u0130bc", false}, // I with dot above
	{"bc\u202e", false}, // right-to-left override
	{"bc\U0001F600", false},
}

// The stored-name pattern is written four times: in Go
// (filegate.StoredNamePattern), in the files table's CHECK, and twice in
// nginx/filegate.conf (next= after a 401, and authz's X-Filegate-Path).
// All of them must accept exactly the names Go accepts.
//
// Each is asked as it runs, not by copying its regex: PostgreSQL by
// inserting the name into a migrated database, nginx by running the real
// include behind a stand-in for authz, fed each name the way it gets one.
// The next= check reads the raw request target, so the name arrives
// percent-encoded as a client sends it. The path check reads authz's
// answer header. A header cannot carry control bytes or trailing blanks,
// so for those names a test-only location puts the decoded request path
// into $filegate_path instead: no real request brings such a value, but
// the check alone must refuse it all the same (a name ending in a newline
// is where PCRE's "$" differs from Go's).
func TestStoredNamePatternAgrees(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range storedNames {
		if seen[n.name] {
			t.Fatalf("%q is in the table twice", n.name)
		}
		seen[n.name] = true
	}

	dbURL := testenv.NewDatabase(t)
	store, err := postgres.Open(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	owner := testenv.AddUser(t, store, testenv.User{Name: "owner"}).ID
	// Rows go in by hand, past the store, so that the constraint itself
	// is what refuses a name.
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	postgresAccepts := func(name string) bool {
		_, err := db.Exec(`INSERT INTO files (owner_id, stored_name, display_name, content_type, size, sha256)
			VALUES ($1, $2, 'x', 'text/plain', 1, '')`, owner, name)
		var pqErr *pq.Error
		switch {
		case err == nil:
			return true
		case errors.As(err, &pqErr) && pqErr.Code == "23514" && pqErr.Constraint == "files_stored_name_check":
			return false
		case errors.As(err, &pqErr) && pqErr.Code == "22021":
			return false // text holds neither NUL nor bytes that are not UTF-8
		}
		t.Fatalf("insert %q: %v", name, err)
		return false
	}

	n := startNameProbe(t)
	for i, s := range storedNames {
		goAccepts := filegate.StoredNamePattern.MatchString(s.name)
		if goAccepts != s.valid {
			t.Errorf("Go accepts %q: %t, want %t", s.name, goAccepts, s.valid)
		}
		if got := postgresAccepts(s.name); got != goAccepts {
			t.Errorf("PostgreSQL accepts %q: %t, Go: %t", s.name, got, goAccepts)
		}
		if got := n.nextAccepts(t, s.name); got != goAccepts {
			t.Errorf("nginx carries next= for %.60q: %t, Go accepts it: %t", s.name, got, goAccepts)
		}
		if got := n.pathAccepts(t, i); got != goAccepts {
			t.Errorf("nginx serves path %.60q: %t, Go accepts it: %t", "1/"+s.name, got, goAccepts)
		}
	}
}

// nameProbe is nginx running nginx/filegate.conf and filegate-http.conf
// unchanged, with a stand-in for authz and a private root holding a file
// under every name the filesystem allows.
type nameProbe struct {
	url string
}

func startNameProbe(t *testing.T) *nameProbe {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "private")
	for _, s := range storedNames {
		p := root + "/1/" + s.name
		os.MkdirAll(p[:strings.LastIndex(p, "/")], 0o755)
		// Fails for "", ".", "..", "t/" (directories, which nginx would
		// answer with 301 or 403, not 404) and for the NUL.
		os.WriteFile(p, []byte(s.name), 0o644)
	}

	// authz's stand-in: 401 without a session; with the cookie probe=<i>,
	// it allows and answers the path of storedNames[i].
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("probe")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		i, _ := strconv.Atoi(c.Value)
		w.Header().Set("X-Filegate-Path", "1/"+storedNames[i].name)
		w.Header().Set("X-Filegate-Type", "text/plain")
	}))
	t.Cleanup(authz.Close)

	// Nothing here reaches the uploader: any address will do.
	testenv.RenderHTTPConf(t, dir, strings.TrimPrefix(authz.URL, "http://"), testenv.FreeAddr(t), root)
	addr := testenv.FreeAddr(t)
	conf := fmt.Sprintf(`pid nginx.pid;
error_log error.log;
events {}
http {
    access_log off;
    include filegate-http.conf;
    server {
        listen %s;
        include %s/filegate.conf;

        # Test only: what /files/ does with authz's answer, but with the
        # decoded path after /probe/ as $filegate_path.
        location ~ "(?s)^/probe/(?<probe>.*)" {
            set $filegate_path $probe;
            root /nonexistent/filegate;
            try_files /.filegate-none /_filegate/private/$filegate_path;
        }
    }
}
`, addr, filepath.Join(testenv.RepoRoot(), "nginx"))
	return &nameProbe{url: runNginx(t, dir, addr, conf)}
}

// runNginx writes conf as dir/nginx.conf, checks it with nginx -t, runs
// nginx with it until the test ends, waits until it answers on addr and
// returns its URL.
func runNginx(t *testing.T, dir, addr, conf string) string {
	t.Helper()
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.NginxPath(t), "-p", dir, "-c", path, "-g", "daemon off; user root;")
	if out, err := exec.Command(testenv.NginxPath(t), "-t", "-p", dir, "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM, not a kill: a killed master leaves its workers running.
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	u := "http://" + addr
	for range 100 {
		if resp, err := http.Get(u + "/"); err == nil {
			resp.Body.Close()
			return u
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nginx does not answer on %s", addr)
	return ""
}

// get sends path as given, without the client cleaning or escaping it.
func (n *nameProbe) get(t *testing.T, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", n.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

// nextAccepts reports whether a browser without a session, sent to the
// login page from the name's URL, is sent back there afterwards.
func (n *nameProbe) nextAccepts(t *testing.T, name string) bool {
	t.Helper()
	target := "/files/1/" + url.PathEscape(name)
	resp, _ := n.get(t, target, "Accept", "text/html")
	loc := resp.Header.Get("Location")
	switch {
	case resp.StatusCode == 303 && loc == "/login?next="+target:
		return true
	case resp.StatusCode == 303 && loc == "/login":
		return false
	case resp.StatusCode == 404 && hasControl(name):
		return false // /files/ refuses a decoded control byte before asking authz
	case resp.StatusCode == 400 && strings.Contains(name, "\x00"):
		return false // nginx refuses a NUL in any request path
	}
	t.Errorf("GET %q: %d, Location %q", target, resp.StatusCode, loc)
	return false
}

// pathAccepts reports whether nginx serves the file when authz answers
// storedNames[i]'s path.
func (n *nameProbe) pathAccepts(t *testing.T, i int) bool {
	t.Helper()
	name := storedNames[i].name
	var resp *http.Response
	var body []byte
	if !hasControl(name) && strings.TrimRight(name, " ") == name {
		resp, body = n.get(t, "/files/1/probe", "Cookie", "probe="+strconv.Itoa(i))
	} else {
		if strings.ContainsAny(name, "/.") {
			t.Fatalf("%q: nginx would normalize its path: can't probe it", name)
		}
		var path strings.Builder
		for _, b := range []byte(name) {
			fmt.Fprintf(&path, "%%%02X", b)
		}
		resp, body = n.get(t, "/probe/1/"+path.String())
	}
	switch {
	case resp.StatusCode == 200 && string(body) == name:
		return true
	case resp.StatusCode == 404:
		return false
	case resp.StatusCode == 400 && strings.Contains(name, "\x00"):
		return false // nginx refuses a NUL in any request path
	}
	t.Errorf("path %.60q: nginx answers %d %.40q", "1/"+name, resp.StatusCode, body)
	return false
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
