// Package e2e tests filegate as operators run it: a real nginx with
// nginx/filegate.conf in front of the authz and uploader binaries, a fresh
// PostgreSQL database and a private Redis key space.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// demo is a stack with d.alice (private), d.bob (public) and d.admin (staff),
// each with one file, and d.alice with an image too.
type demo struct {
	*testenv.Stack
	alice, bob, admin          int64 // user ids, as the database gave them
	aliceURL, bobURL, adminURL string
	pngURL                     string // alice's image
	aliceBytes, bobBytes       []byte
	cookies                    map[int64]*http.Cookie // see cookie
}

func newDemo(t *testing.T, opt testenv.Options) *demo {
	t.Helper()
	s := testenv.Start(t, opt)
	d := &demo{Stack: s, cookies: map[int64]*http.Cookie{}}
	d.alice = s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})
	d.bob = s.AddUser(t, testenv.User{Name: "bob", Password: "bob-password", Public: true})
	d.admin = s.AddUser(t, testenv.User{Name: "admin", Password: "admin-password", Staff: true})
	d.aliceBytes = []byte("alice's private notes\n")
	d.bobBytes = []byte("%PDF-1.4\nbob shares this\n%%EOF\n")
	d.aliceURL = s.Put(t, "alice", "notes.txt", d.aliceBytes)
	d.bobURL = s.Put(t, "bob", "Bob's résumé.pdf", d.bobBytes)
	d.adminURL = s.Put(t, "admin", "secret.txt", []byte("staff only\n"))
	d.pngURL = s.Put(t, "alice", "pixel.png", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 17)...))
	return d
}

// backends are the values of FILEGATE_STORAGE: the download tests run
// against each.
var backends = []string{"fs", "s3"}

// forEachBackend runs test once per backend, as a subtest named after it.
func forEachBackend(t *testing.T, test func(t *testing.T, storage string)) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

// fileURL is the download URL of owner's file name.
func fileURL(owner int64, name string) string {
	return filegate.File{OwnerID: owner, StoredName: name}.URL()
}

// paths fills the placeholders {a} and {b} (alice's and bob's ids) and {a%}
// (alice's id with every digit percent-encoded) into each path.
func (d *demo) paths(ps ...string) []string {
	a, b := strconv.FormatInt(d.alice, 10), strconv.FormatInt(d.bob, 10)
	var enc strings.Builder
	for _, c := range []byte(a) {
		fmt.Fprintf(&enc, "%%%02X", c)
	}
	r := strings.NewReplacer("{a}", a, "{b}", b, "{a%}", enc.String())
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = r.Replace(p)
	}
	return out
}

// fileID returns the id of the file at url, as viewer's file list shows it.
func (d *demo) fileID(t *testing.T, viewer int64, url string) int64 {
	t.Helper()
	resp, body := d.get(t, viewer, "GET", "/api/files")
	var files []struct {
		ID  int64  `json:"id"`
		URL string `json:"url"`
	}
	if err := json.Unmarshal(body, &files); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/files: %d %s", resp.StatusCode, body)
	}
	for _, f := range files {
		if f.URL == url {
			return f.ID
		}
	}
	t.Fatalf("%s is not in the list of user %d", url, viewer)
	return 0
}

// cookie returns viewer's session cookie: one session per viewer, started
// on first use, as one browser keeps one.
func (d *demo) cookie(t *testing.T, viewer int64) *http.Cookie {
	t.Helper()
	if d.cookies[viewer] == nil {
		d.cookies[viewer] = d.Cookie(t, viewer)
	}
	return d.cookies[viewer]
}

// get fetches path through nginx as viewer (0: no cookie). Redirects are
// returned, not followed.
func (d *demo) get(t *testing.T, viewer int64, method, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if viewer != 0 {
		req.AddCookie(d.cookie(t, viewer))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	return testenv.Do(t, req)
}

func TestAccessRules(t *testing.T) { forEachBackend(t, accessRules) }

func accessRules(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{Storage: storage})
	tests := []struct {
		name   string
		viewer int64
		path   string
		want   int
	}{
		{"no cookie", 0, d.bobURL, 401},
		{"owner, private", d.alice, d.aliceURL, 200},
		{"anyone, public owner", d.alice, d.bobURL, 200},
		{"staff, private", d.admin, d.aliceURL, 200},
		{"stranger, private", d.bob, d.aliceURL, 403},
		{"stranger, staff's private file", d.alice, d.adminURL, 403},
		{"unknown name", d.alice, fileURL(d.bob, "nope.pdf"), 404},
		{"unknown owner", d.alice, "/files/999/notes.txt", 404},
		{"user removed since login", 999, d.bobURL, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := d.get(t, tt.viewer, "GET", tt.path)
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s: %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
		})
	}

	t.Run("served file", func(t *testing.T) {
		resp, body := d.get(t, d.alice, "GET", d.bobURL)
		if !bytes.Equal(body, d.bobBytes) {
			t.Errorf("body = %q, want %q", body, d.bobBytes)
		}
		want := map[string]string{
			"Content-Type":            "application/pdf",
			"Content-Disposition":     `attachment; filename="Bob's r_sum_.pdf"; filename*=UTF-8''Bob%27s%20r%C3%A9sum%C3%A9.pdf`,
			"X-Content-Type-Options":  "nosniff",
			"Content-Security-Policy": "default-src 'none'; sandbox; frame-ancestors 'none'",
			"Cache-Control":           "private",
		}
		for h, v := range want {
			if got := resp.Header.Values(h); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q, want exactly [%q]", h, got, v)
			}
		}
		for _, h := range []string{"X-Filegate-Path", "X-Filegate-URL", "X-Filegate-Type", "X-Filegate-Disposition", "X-Filegate-Status"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("internal header %s leaked: %q", h, v)
			}
		}
		if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
			t.Errorf("no ETag/Last-Modified: %v", resp.Header)
		}
	})

	t.Run("inline types", func(t *testing.T) {
		resp, _ := d.get(t, d.alice, "GET", d.pngURL)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" ||
			resp.Header.Get("Content-Disposition") != `inline; filename="pixel.png"; filename*=UTF-8''pixel.png` {
			t.Errorf("png: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
		}
	})

	t.Run("browser without session is sent to login", func(t *testing.T) {
		resp, _ := d.get(t, 0, "GET", d.bobURL, "Accept", "text/html,application/xhtml+xml")
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?next="+d.bobURL {
			t.Errorf("got %d Location %q, want 303 to /login?next=%s", resp.StatusCode, resp.Header.Get("Location"), d.bobURL)
		}
	})

	t.Run("logged-in browser gets 403, not a login loop", func(t *testing.T) {
		resp, _ := d.get(t, d.bob, "GET", d.aliceURL, "Accept", "text/html")
		if resp.StatusCode != 403 {
			t.Errorf("got %d, want 403", resp.StatusCode)
		}
	})

	t.Run("range, head, conditional", func(t *testing.T) {
		resp, body := d.get(t, d.alice, "GET", d.bobURL, "Range", "bytes=0-3")
		if resp.StatusCode != 206 || string(body) != "%PDF" || !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes 0-3/") {
			t.Errorf("range: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
		}
		if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/pdf" {
			t.Errorf("range: Content-Type %q", ct)
		}
		resp, body = d.get(t, d.alice, "HEAD", d.bobURL)
		if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(d.bobBytes)) {
			t.Errorf("head: %d, %d body bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
		}
		etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		resp, body = d.get(t, d.alice, "GET", d.bobURL, "If-None-Match", etag)
		if resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("if-none-match: %d, %d body bytes", resp.StatusCode, len(body))
		}
		// With s3 the store answers If-Modified-Since: versitygw compares
		// it with the sub-second time of its file, so it never finds the
		// second Last-Modified names recent enough and sends the file
		// again (AWS S3 answers 304). A 200 is never wrong, only slower.
		resp, body = d.get(t, d.alice, "GET", d.bobURL, "If-Modified-Since", modified)
		if resp.StatusCode != 304 && (storage == "fs" || resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes)) {
			t.Errorf("if-modified-since: %d %.40q", resp.StatusCode, body)
		}
		// If-Range: the range while the file is the one the client has,
		// else the whole file.
		resp, body = d.get(t, d.alice, "GET", d.bobURL, "Range", "bytes=1-3", "If-Range", etag)
		if resp.StatusCode != 206 || string(body) != "PDF" {
			t.Errorf("if-range, same file: %d %q, want 206 PDF", resp.StatusCode, body)
		}
		resp, body = d.get(t, d.alice, "GET", d.bobURL, "Range", "bytes=1-3", "If-Range", `"another"`)
		if resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes) {
			t.Errorf("if-range, another file: %d %.40q, want 200 with the whole file", resp.StatusCode, body)
		}
		// Past the end: nginx's 416 for the file, as from disk.
		if resp, _ = d.get(t, d.alice, "GET", d.bobURL, "Range", "bytes=9999-"); resp.StatusCode != 416 {
			t.Errorf("range past the end: %d, want 416", resp.StatusCode)
		}
		// A 304 must not be a way around the rules.
		resp, _ = d.get(t, d.bob, "GET", d.aliceURL, "If-None-Match", etag)
		if resp.StatusCode != 403 {
			t.Errorf("conditional request by a stranger: %d, want 403", resp.StatusCode)
		}
	})

	t.Run("internal location is not reachable", func(t *testing.T) {
		for _, p := range d.paths("/_filegate/private/{a}/notes.txt", "/_filegate/auth", "/_filegate/private/") {
			resp, body := d.get(t, d.alice, "GET", p)
			if resp.StatusCode != 404 || bytes.Contains(body, d.aliceBytes) {
				t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
			}
		}
	})
}

func TestHidePrivate(t *testing.T) { forEachBackend(t, hidePrivate) }

func hidePrivate(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{HidePrivate: true, Storage: storage})
	for _, tt := range []struct {
		viewer int64
		path   string
		want   int
	}{{d.bob, d.aliceURL, 404}, {d.alice, d.aliceURL, 200}, {d.alice, d.bobURL, 200}, {0, d.aliceURL, 401}} {
		if resp, _ := d.get(t, tt.viewer, "GET", tt.path); resp.StatusCode != tt.want {
			t.Errorf("viewer %d GET %s: %d, want %d", tt.viewer, tt.path, resp.StatusCode, tt.want)
		}
	}
}

// A change shows on the very next request, although authz cached the
// previous answer.
func TestRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, storage string) { revocation(t, testenv.Options{Storage: storage}) })
}

// revocation is TestRevocation on a stack started with opt. Each check
// asks nginx once per authz replica: nginx asks them in turn, so each
// replica answers it.
func revocation(t *testing.T, opt testenv.Options) {
	d := newDemo(t, opt)
	expect := func(viewer int64, path string, want int) {
		t.Helper()
		for range d.Replicas {
			if resp, _ := d.get(t, viewer, "GET", path); resp.StatusCode != want {
				t.Fatalf("viewer %d GET %s: %d, want %d", viewer, path, resp.StatusCode, want)
			}
		}
	}
	expect(d.alice, d.bobURL, 200)
	expect(d.alice, d.bobURL, 200) // now cached
	d.CLI(t, "", "user", "set", "bob", "--public=false")
	expect(d.alice, d.bobURL, 403)
	d.CLI(t, "", "user", "set", "bob", "--public=true")
	expect(d.alice, d.bobURL, 200)

	expect(d.bob, d.aliceURL, 403)
	d.CLI(t, "", "user", "set", "bob", "--staff=true")
	expect(d.bob, d.aliceURL, 200)
	d.CLI(t, "", "user", "set", "bob", "--staff=false")
	expect(d.bob, d.aliceURL, 403)

	// Delete through the web app, as a person would.
	expect(d.alice, d.aliceURL, 200)
	id := d.fileID(t, d.alice, d.aliceURL)
	resp, body := d.get(t, d.alice, "POST", fmt.Sprintf("/delete/%d", id), "Accept", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"deleted":%d`, id)) {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	expect(d.alice, d.aliceURL, 404)

	later := fileURL(d.alice, "later.txt")
	expect(d.alice, later, 404)
	if u := d.Put(t, "alice", "later.txt", []byte("now it exists\n")); u != later {
		t.Fatalf("put stored %s, want %s", u, later)
	}
	expect(d.alice, later, 200)

	// The public switch of the web app.
	expect(d.bob, later, 403)
	req, _ := http.NewRequest("POST", d.URL+"/settings", strings.NewReader(`{"is_public": true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.AddCookie(d.Cookie(t, d.alice))
	if resp, body := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("settings: %d %s", resp.StatusCode, body)
	}
	expect(d.bob, later, 200)

	// Removing a user: her cookie stops working, her files are gone.
	expect(d.alice, d.pngURL, 200)
	expect(d.bob, d.pngURL, 200)
	if out := d.CLI(t, "", "user", "remove", "alice"); !strings.Contains(out, "removed with 2 files") {
		t.Fatalf("user remove: %s", out)
	}
	expect(d.alice, d.bobURL, 401)
	expect(d.bob, d.pngURL, 404)
	if _, err := os.Stat(filepath.Join(d.PrivateRoot, strconv.FormatInt(d.alice, 10))); !os.IsNotExist(err) {
		t.Errorf("removed user's folder: %v", err)
	}
	if d.S3 != nil {
		prefix := strconv.FormatInt(d.alice, 10) + "/"
		for obj := range d.S3.Client.ListObjects(context.Background(), d.S3.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			t.Errorf("removed user's object: %s %v", obj.Key, obj.Err)
		}
	}
}

// PostgreSQL unreachable: 503 for anything not cached, never 200 for what
// was denied; Redis unreachable: answers from PostgreSQL, still correct.
func TestDependenciesDown(t *testing.T) {
	d := newDemo(t, testenv.Options{ProxyDatabase: true, ProxyRedis: true})
	expect := func(viewer int64, path string, want int) {
		t.Helper()
		if resp, _ := d.get(t, viewer, "GET", path); resp.StatusCode != want {
			t.Errorf("viewer %d GET %s: %d, want %d", viewer, path, resp.StatusCode, want)
		}
	}
	expect(d.alice, d.bobURL, 200) // cached from here on

	d.DBProxy.Cut()
	expect(d.alice, d.aliceURL, 503)
	expect(d.bob, d.aliceURL, 503)
	expect(d.alice, fileURL(d.bob, "never-seen.pdf"), 503)
	expect(d.alice, d.bobURL, 200) // validly cached
	expect(0, d.aliceURL, 401)     // no session needs no database
	if resp, _ := d.get(t, 0, "GET", "/healthz"); resp.StatusCode != 200 {
		t.Errorf("uploader healthz (its own database link is up): %d", resp.StatusCode)
	}
	d.DBProxy.Restore()
	expect(d.bob, d.aliceURL, 403)

	d.RedisProxy.Cut()
	expect(d.alice, d.aliceURL, 200)
	expect(d.bob, d.aliceURL, 403)
	d.CLI(t, "", "user", "set", "bob", "--public=false") // invalidation reaches Redis: uploader is not cut off
	expect(d.alice, d.bobURL, 403)
	d.RedisProxy.Restore()
	expect(d.alice, d.aliceURL, 200)
	expect(d.alice, d.bobURL, 403)

	// Redis is used again by itself: with the database cut, what was just
	// asked is answered from the cache.
	d.DBProxy.Cut()
	expect(d.alice, d.aliceURL, 200)
	expect(d.alice, d.bobURL, 403)
	d.DBProxy.Restore()
}

// Hostile URLs can miss, but never reach a file the viewer may not see.
func TestHostileURLs(t *testing.T) { forEachBackend(t, hostileURLs) }

func hostileURLs(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{Storage: storage})
	host := strings.TrimPrefix(d.URL, "http://")
	cookie := d.Cookie(t, d.bob) // bob may not see alice's notes.txt
	paths := d.paths(
		"/files/{b}/../{a}/notes.txt",
		"/files/{b}/%2e%2e/{a}/notes.txt",
		"/files/{b}/%2E%2E%2F{a}%2Fnotes.txt",
		"/files/{a}%2fnotes.txt",
		"/files/{b}/..%2f{a}%2fnotes.txt",
		"/files/{b}/%252e%252e/{a}/notes.txt",
		"/files/{b}/..\\{a}\\notes.txt",
		"/files/{b}/%5c..%5c{a}%5cnotes.txt",
		"//files//{a}//notes.txt",
		"/files/{a}/notes.txt.",
		"/files/{a}/notes.txt/",
		"/files/{a}/notes.txt%00",
		"/files/{a}/notes.txt%00.pdf",
		"/files/{b}/%c0%ae%c0%ae/{a}/notes.txt",
		"/files/{b}/%c0%af..%c0%af{a}/notes.txt",
		"/files/./{a}/notes.txt",
		"/files/{a}/./notes.txt",
		"/files/0{a}/notes.txt",
		"/files/{a}/NOTES.TXT",
		"/files/{b}/../../../etc/passwd",
		"/files/{a}/"+strings.Repeat("a", 8192),
		"/files/"+strings.Repeat("../", 2000)+"etc/passwd",
		"/_filegate/private/{a}/notes.txt",
		"/_filegate/private/../private/{a}/notes.txt",
		"/files/{b}/%2e%2e/%2e%2e/_filegate/private/{a}/notes.txt",
	)
	for _, p := range paths {
		status, body := rawGet(t, host, p, cookie)
		if status == 200 || bytes.Contains(body, d.aliceBytes) || bytes.Contains(body, []byte("root:")) {
			t.Errorf("GET %.80s: %d, body %.60q: reached a file", p, status, body)
		}
	}

	// authz decides on the URI nginx normalized: equivalent spellings
	// serve the owner her file ...
	owner := d.Cookie(t, d.alice)
	for _, p := range d.paths("/files/{b}/../{a}/notes.txt", "//files//{a}//notes.txt", "/files/{a}/./notes.txt", "/files/{a%}/notes.txt") {
		if status, body := rawGet(t, host, p, owner); status != 200 || !bytes.Equal(body, d.aliceBytes) {
			t.Errorf("owner GET %s: %d %.40q, want 200 with her file", p, status, body)
		}
	}
	// ... but a decoded CR/LF never reaches authz's connection, where it
	// would inject headers or a whole request.
	for _, p := range d.paths("/files/{a}/notes.txt%0d%0aX-Evil:%201", "/files/{a}/notes.txt%0aHost:%20x", "/files/{a}/notes.txt%0d%0a%0d%0aGET%20/auth%20HTTP/1.1") {
		if status, _ := rawGet(t, host, p, owner); status != 404 {
			t.Errorf("owner GET %s: %d, want 404", p, status)
		}
	}
}

// rawGet sends path exactly as given (Go's client would clean it).
func rawGet(t *testing.T, host, path string, cookie *http.Cookie) (int, []byte) {
	t.Helper()
	resp, body := rawRequest(t, host, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nCookie: "+cookie.String()+"\r\nConnection: close\r\n\r\n")
	return resp.StatusCode, body
}

func TestCookies(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	good := d.Cookie(t, d.alice).Value
	flipped := []byte(good)
	flipped[len(flipped)/2] ^= 1
	claims, err := d.Sessions.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	past := claims
	past.Expires = time.Now().Add(-time.Hour)
	expiredValue, _ := d.Sessions.Encode(past)
	other, _ := session.New(session.GenerateKeys(), false, nil)
	unlisted, _ := other.Encode(claims)
	for name, value := range map[string]string{
		"forged":       "MTcwMDAwMDAwMHxkYXRhfHNpZw==",
		"empty":        "",
		"tampered":     string(flipped),
		"expired":      expiredValue,
		"unlisted key": unlisted,
	} {
		req, _ := http.NewRequest("GET", d.URL+d.bobURL, nil)
		req.Header.Set("Cookie", session.CookieName+"="+value)
		if resp, _ := do(t, req); resp.StatusCode != 401 {
			t.Errorf("%s cookie: %d, want 401", name, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("GET", d.URL+d.bobURL, nil)
	req.Header.Set("Cookie", session.CookieName+"="+good)
	if resp, _ := do(t, req); resp.StatusCode != 200 {
		t.Errorf("good cookie: %d, want 200", resp.StatusCode)
	}
}

// authz answers without a body so nginx can keep its upstream connections:
// fifty downloads must not open fifty TCP connections to authz.
func TestAuthzKeepalive(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	_, port, err := net.SplitHostPort(strings.TrimPrefix(d.AuthzURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	for _, viewer := range []int64{d.alice, d.bob} { // allowed and denied answers alike
		for range 25 {
			d.get(t, viewer, "GET", d.aliceURL)
		}
	}
	if n := tcpConnections(t, port); n > 4 {
		t.Errorf("%d TCP connections (open or in TIME_WAIT) to authz after 50 downloads; want a few reused ones", n)
	}
}

// tcpConnections counts the sockets in /proc/net/tcp with the given local
// or remote port, in any state: closed connections linger in TIME_WAIT.
func tcpConnections(t *testing.T, port string) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	hexPort := fmt.Sprintf(":%04X", p)
	n := 0
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		// Client side of nginx's connection: remote address is authz.
		if len(f) > 3 && strings.HasSuffix(f[2], hexPort) {
			n++
		}
	}
	return n
}

// An upload over FILEGATE_MAX_UPLOAD (2 MiB here) but under nginx's body
// limit is refused by the uploader with its own 413 sentence, which must
// survive the trip back through nginx; nothing is stored.
func TestUploadTooLargeThroughNginx(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	body := &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	part, _ := mw.CreateFormFile("file", "big.pdf")
	part.Write([]byte("%PDF-1.4\n"))
	part.Write(bytes.Repeat([]byte("x"), 2<<20+512<<10))
	mw.Close()
	for range 3 {
		req, _ := http.NewRequest("POST", d.URL+"/upload", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Accept", "application/json")
		req.AddCookie(d.Cookie(t, d.alice))
		resp, got := do(t, req)
		if resp.StatusCode != 413 || !strings.Contains(string(got), "larger than") {
			t.Errorf("oversized upload: %d %s", resp.StatusCode, got)
		}
	}
	if out := d.CLI(t, "", "sweep"); !strings.Contains(out, "0 files without rows, 0 rows without files") {
		t.Errorf("after refused uploads:\n%s", out)
	}
	entries, _ := os.ReadDir(filepath.Join(d.PrivateRoot, strconv.FormatInt(d.alice, 10)))
	for _, e := range entries {
		if e.Name() != "notes.txt" && e.Name() != "pixel.png" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// The operator's way in, as the README shows it: filegate-http.conf in
// http {}, filegate.conf in their own server {}. nginx must accept it.
func TestOperatorConfig(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreeAddr(t)
	nginxDir := filepath.Join(testenv.RepoRoot(), "nginx")
	conf := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
    include %[2]s/filegate-http.conf;
    server {
        listen %[3]s;
        location ~* \.pdf$ { return 418; }   # an operator's regex must not take /files/
        include %[2]s/filegate.conf;
    }
}
`, dir, nginxDir, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testenv.NginxPath(t), "-t", "-p", dir, "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t on an operator's config: %v\n%s", err, out)
	}

	// Run it: the operator's regex answers its own URLs, never /files/.
	cmd := exec.Command(testenv.NginxPath(t), "-p", dir, "-c", path, "-g", "daemon off;")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM, not a kill: a killed master leaves its workers running.
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	get := func(path string) int {
		for range 100 {
			if resp, err := http.Get("http://" + addr + path); err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("nginx does not answer on %s", addr)
		return 0
	}
	if got := get("/brochure.pdf"); got != 418 {
		t.Errorf("operator's own .pdf URL: %d, want its 418", got)
	}
	if got := get("/files/1/report.pdf"); got == 418 || got == 200 {
		t.Errorf("/files/ URL: %d; the operator's regex took it", got)
	}
}
