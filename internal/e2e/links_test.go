package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// Share links through the real nginx, authz and uploader
// (docs/interface.md#share-links).

// linkClient sends requests through nginx from the loopback address from
// ("": the default, 127.0.0.1): authz grants later ranges per client
// address, and every 127.x.y.z address reaches nginx as itself.
func linkClient(from string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	return &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: dialer.DialContext, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch sends method u (a path) to nginx from the address from, with the
// header pairs, and returns the answer and its body.
func fetch(t *testing.T, s *testenv.Stack, from, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := linkClient(from).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, body.Bytes()
}

// linkStatus is the status of a GET of u from the default address.
func linkStatus(t *testing.T, s *testenv.Stack, u string, header ...string) int {
	t.Helper()
	resp, _ := fetch(t, s, "", "GET", u, header...)
	return resp.StatusCode
}

// linkDownloads is the count of link id in the database.
func linkDownloads(t *testing.T, s *testenv.Stack, id int64) int64 {
	t.Helper()
	l, err := s.Store.Link(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l.Downloads
}

// auditLines returns the lines of authz's link decisions
// (link.download) in the stack's audit log, as written.
func auditLines(t *testing.T, s *testenv.Stack) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(s.AuditLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if len(l) == 0 {
			continue
		} else if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("a broken audit line %q: %v", l, err)
		}
		if m["event.action"] == "link.download" {
			lines = append(lines, m)
		}
	}
	return lines
}

// unlockCookie is the cookie a right password sets for link l at URL u,
// as the uploader's password form sets it.
func unlockCookie(t *testing.T, s *testenv.Stack, l filegate.Link, u string) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	if err := s.Sessions.SetLinkCookie(w, strings.TrimPrefix(u, "/s/"), l.ID, l.Nonce, time.Hour); err != nil {
		t.Fatal(err)
	}
	return w.Result().Cookies()[0]
}

// fromUploader reports whether resp was written by the uploader, not by
// nginx: only the web app sends its Content-Security-Policy.
func fromUploader(resp *http.Response) bool {
	return strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'self'")
}

// Every answer of a link, as a client sees it through nginx.
func TestLinkAnswersThroughNginx(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	ctx := context.Background()
	now := time.Now()

	active, activeURL := d.AddLink(t, d.bobURL, testenv.Link{})
	_, expiredURL := d.AddLink(t, d.bobURL, testenv.Link{Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Second)})
	_, usedUpURL := d.AddLink(t, d.bobURL, testenv.Link{MaxDownloads: 1})
	doomedFile := d.Put(t, "alice", "doomed.txt", []byte("soon gone\n"))
	_, fileGoneURL := d.AddLink(t, doomedFile, testenv.Link{})
	carol := d.AddUser(t, testenv.User{Name: "carol", Password: "carol-password"})
	_, ownerGoneURL := d.AddLink(t, d.Put(t, "carol", "c.txt", []byte("carol's\n")), testenv.Link{})
	otherKeys, err := session.New(session.GenerateKeys(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(activeURL, "/s/")

	want := func(t *testing.T, what, u string, status int) {
		t.Helper()
		resp, body := fetch(t, d.Stack, "", "GET", u)
		if resp.StatusCode != status {
			t.Fatalf("%s: GET %s: %d, want %d", what, u, resp.StatusCode, status)
		}
		if status != 200 && bytes.Contains(body, d.bobBytes) {
			t.Errorf("%s: a refusal with the file's bytes", what)
		}
		if status == 410 && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: 410 without Cache-Control: no-store: %v", what, resp.Header)
		}
		for _, h := range []string{"X-Filegate-Path", "X-Filegate-Type", "X-Filegate-Disposition", "X-Filegate-Status"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s: internal header %s leaked: %q", what, h, v)
			}
		}
	}

	t.Run("active", func(t *testing.T) {
		resp, body := fetch(t, d.Stack, "", "GET", activeURL)
		if resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes) {
			t.Fatalf("GET %s: %d %q, want bob's file", activeURL, resp.StatusCode, body)
		}
	})
	t.Run("unknown or forged tokens", func(t *testing.T) {
		off := []byte(token)
		off[20] ^= 'a' ^ 'b' // still in the token's alphabet, whatever it was
		for what, u := range map[string]string{
			"made up":          "/s/" + strings.Repeat("A", session.LinkTokenLen),
			"other keys":       filegate.LinkURL(otherKeys.LinkToken(active.ID, active.Nonce)),
			"unknown id":       filegate.LinkURL(d.Sessions.LinkToken(active.ID+1000, active.Nonce)),
			"one letter off":   "/s/" + string(off),
			"short":            "/s/" + token[1:],
			"long":             activeURL + "A",
			"a path below it":  activeURL + "/x",
			"no token":         "/s/",
			"base64 padding":   "/s/" + token[:42] + "=",
			"standard base64+": "/s/" + token[:42] + "+",
		} {
			want(t, what, u, 404)
		}
		// nginx decodes before it checks, so an encoded token is the token.
		if status, _ := rawGet(t, strings.TrimPrefix(d.URL, "http://"), "/s/%"+fmt.Sprintf("%02X", token[0])+token[1:], &http.Cookie{Name: "x", Value: "y"}); status != 200 {
			t.Errorf("percent-encoded token: %d, want 200", status)
		}
		// A decoded CR/LF never reaches authz's connection; nginx itself
		// refuses a NUL.
		for p, status := range map[string]int{activeURL + "%0d%0aX-Evil:%201": 404, "/s/" + token[:40] + "%0d%0a": 404, activeURL + "%00": 400} {
			if got, _ := rawGet(t, strings.TrimPrefix(d.URL, "http://"), p, &http.Cookie{Name: "x", Value: "y"}); got != status {
				t.Errorf("GET %s: %d, want %d", p, got, status)
			}
		}
	})
	t.Run("expired", func(t *testing.T) { want(t, "expired", expiredURL, 410) })
	t.Run("used up", func(t *testing.T) {
		want(t, "first download", usedUpURL, 200)
		want(t, "second download", usedUpURL, 410)
	})
	t.Run("revoked, on the very next request", func(t *testing.T) {
		l, u := d.AddLink(t, d.bobURL, testenv.Link{})
		want(t, "before", u, 200)
		want(t, "before, from the cache", u, 200)
		if _, err := d.Store.RevokeLink(ctx, l.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		want(t, "revoked", u, 410)
	})
	t.Run("file deleted", func(t *testing.T) {
		want(t, "before", fileGoneURL, 200)
		id := d.fileID(t, d.alice, doomedFile)
		if resp, body := d.get(t, d.alice, "POST", fmt.Sprintf("/delete/%d", id), "Accept", "application/json"); resp.StatusCode != 200 {
			t.Fatalf("delete: %d %s", resp.StatusCode, body)
		}
		want(t, "file deleted", fileGoneURL, 404)
	})
	t.Run("owner deleted", func(t *testing.T) {
		want(t, "before", ownerGoneURL, 200)
		d.CLI(t, "", "user", "remove", "carol")
		want(t, "owner deleted", ownerGoneURL, 404)
		if _, err := d.Store.UserByID(ctx, carol); filegate.ErrorCode(err) != filegate.ENOTFOUND {
			t.Fatalf("carol still exists: %v", err)
		}
	})
	t.Run("the owner's switch plays no part", func(t *testing.T) {
		_, u := d.AddLink(t, d.aliceURL, testenv.Link{}) // alice is private
		if resp, body := fetch(t, d.Stack, "", "GET", u); resp.StatusCode != 200 || !bytes.Equal(body, d.aliceBytes) {
			t.Errorf("private owner's link: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("every decision is audited", func(t *testing.T) {
		lines := auditLines(t, d.Stack)
		reasons := map[string]int{}
		for _, l := range lines {
			if l["event.action"] != "link.download" {
				t.Errorf("audit line %v", l)
			}
			r, _ := l["event.reason"].(string)
			reasons[r]++
		}
		for _, r := range []string{"", "not_found", "expired", "revoked", "used_up"} {
			if reasons[r] == 0 {
				t.Errorf("no audit line with reason %q: %v", r, reasons)
			}
		}
		if raw := string(d.Authz.Output(t)); strings.Contains(raw, token) {
			t.Error("authz's output holds a link's token")
		}
		if found := d.AuditSecrets(t); len(found) > 0 {
			t.Errorf("the audit log holds %v", found)
		}
	})
}

// A link serves its file as /files/ does: the same headers, Range, HEAD
// and ETag, with the X-Request-Id that names the download in the audit
// log.
func TestLinkServedLikeFiles(t *testing.T) { forEachBackend(t, linkServedLikeFiles) }

func linkServedLikeFiles(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{Storage: storage})
	_, u := d.AddLink(t, d.bobURL, testenv.Link{})
	viaFiles, _ := d.get(t, d.alice, "GET", d.bobURL)
	resp, body := fetch(t, d.Stack, "", "GET", u)
	if resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes) {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	for _, h := range []string{"Content-Type", "Content-Disposition", "Cache-Control", "X-Content-Type-Options", "Content-Security-Policy", "ETag", "Last-Modified", "Content-Length"} {
		if got, want := resp.Header.Values(h), viaFiles.Header.Values(h); len(got) != 1 || got[0] != want[0] {
			t.Errorf("%s = %q through the link, %q through /files/", h, got, want)
		}
	}
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id on a download")
	}
	found := false
	for _, l := range auditLines(t, d.Stack) {
		if l["http.request.id"] == id {
			found = l["event.outcome"] == "success" && l["source.ip"] == "127.0.0.1" && l["link.id"] != nil && l["file.id"] != nil
		}
	}
	if !found {
		t.Errorf("no success audit line with link, file, source 127.0.0.1 and request id %s", id)
	}

	resp, body = fetch(t, d.Stack, "", "GET", u, "Range", "bytes=4-9")
	if resp.StatusCode != 206 || !bytes.Equal(body, d.bobBytes[4:10]) ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 4-9/%d", len(d.bobBytes)) || resp.Header.Get("Content-Type") != "application/pdf" {
		t.Errorf("Range: %d %q %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"), resp.Header.Get("Content-Type"))
	}
	resp, body = fetch(t, d.Stack, "", "HEAD", u)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Disposition") != viaFiles.Header.Get("Content-Disposition") ||
		resp.ContentLength != int64(len(d.bobBytes)) {
		t.Errorf("HEAD: %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	if resp, _ := fetch(t, d.Stack, "", "GET", u, "If-None-Match", viaFiles.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	gone, _ := fetch(t, d.Stack, "", "GET", "/s/"+strings.Repeat("A", session.LinkTokenLen))
	if gone.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on a refusal")
	}
}

// A password link: a browser without the cookie gets the uploader's
// password page, another client a plain 401, and the cookie opens it.
// The form's POST goes to the uploader without asking authz; other
// methods are 405.
func TestLinkPasswordAndMethods(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	l, u := d.AddLink(t, d.bobURL, testenv.Link{Password: "open sesame"})

	resp, body := fetch(t, d.Stack, "", "GET", u, "Accept", "*/*")
	if resp.StatusCode != 401 || fromUploader(resp) || bytes.Contains(body, d.bobBytes) {
		t.Errorf("curl-like client: %d, from the uploader: %v", resp.StatusCode, fromUploader(resp))
	}
	// A browser gets the uploader's password page, which names no file.
	browser := []string{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
	resp, body = fetch(t, d.Stack, "", "GET", u, browser...)
	if resp.StatusCode != 200 || !fromUploader(resp) || !bytes.Contains(body, []byte(`name="password"`)) ||
		bytes.Contains(body, d.bobBytes) || bytes.Contains(body, []byte("readme")) || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("browser: %d %v: not the uploader's password page:\n%s", resp.StatusCode, resp.Header, body)
	}
	// The whole flow through nginx: a wrong password, then the right one,
	// whose cookie downloads the file. Same-origin, as the page's form.
	post := func(body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", d.URL+u, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", d.URL)
		resp, err := linkClient("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("password=wrong+password"); resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Errorf("wrong password: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp = post("password=open+sesame")
	var set *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == session.LinkCookieName {
			set = c
		}
	}
	if resp.StatusCode != 303 || resp.Header.Get("Location") != u || set == nil {
		t.Fatalf("right password: %d, Location %q, cookies %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	resp, body = fetch(t, d.Stack, "", "GET", u, "Cookie", set.Name+"="+set.Value)
	if resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes) {
		t.Errorf("with the form's cookie: %d", resp.StatusCode)
	}
	// The form's body is a few hundred bytes: nginx refuses a large one.
	if resp := post("password=" + strings.Repeat("x", 20<<10)); resp.StatusCode != 413 {
		t.Errorf("a 20 KiB form: %d, want 413", resp.StatusCode)
	}
	cookie := unlockCookie(t, d.Stack, l, u)
	resp, body = fetch(t, d.Stack, "", "GET", u, "Cookie", cookie.String())
	if resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes) {
		t.Errorf("unlocked: %d %q", resp.StatusCode, body)
	}
	// Another link's cookie opens nothing.
	other, otherURL := d.AddLink(t, d.bobURL, testenv.Link{Password: "another password"})
	if got := linkStatus(t, d.Stack, u, "Cookie", unlockCookie(t, d.Stack, other, otherURL).String()); got != 401 {
		t.Errorf("another link's cookie: %d, want 401", got)
	}

	before := len(auditLines(t, d.Stack))
	req, _ := http.NewRequest("POST", d.URL+u, strings.NewReader("password=open+sesame"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := linkClient("").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !fromUploader(resp) || resp.StatusCode == 405 {
		t.Errorf("POST: %d %v: not the uploader's answer", resp.StatusCode, resp.Header)
	}
	if after := len(auditLines(t, d.Stack)); after != before {
		t.Errorf("the POST asked authz: %d audit lines more", after-before)
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH", "OPTIONS"} {
		resp, _ := fetch(t, d.Stack, "", m, u)
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("%s: %d, Allow %q; want 405 with GET, HEAD, POST", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if after := len(auditLines(t, d.Stack)); after != before {
		t.Errorf("refused methods asked authz: %d audit lines more", after-before)
	}
}

// Ranges never bypass the limit: a later range from an address that
// started no download costs one; from the address that did, it is free
// for an hour.
func TestLinkRangesCount(t *testing.T) { forEachBackend(t, linkRangesCount) }

func linkRangesCount(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{Storage: storage})
	l, u := d.AddLink(t, d.bobURL, testenv.Link{MaxDownloads: 2})
	steps := []struct {
		what, from, rng string
		want            int
		downloads       int64
	}{
		{"a HEAD counts nothing", "127.0.0.5", "", 200, 0},
		{"a fresh address asks for bytes=1-", "127.0.0.2", "bytes=1-", 206, 1},
		{"it asks for more", "127.0.0.2", "bytes=5-", 206, 1},
		{"another fresh address, bytes=1-", "127.0.0.3", "bytes=1-", 206, 2},
		{"a third, bytes=1-", "127.0.0.4", "bytes=1-", 410, 2},
		{"the first again, a later range", "127.0.0.2", "bytes=3-", 206, 2},
		{"the first again, from byte 0", "127.0.0.2", "bytes=0-", 410, 2},
	}
	for _, s := range steps {
		method, header := "GET", []string{"Range", s.rng}
		if s.rng == "" {
			method, header = "HEAD", nil
		}
		resp, body := fetch(t, d.Stack, s.from, method, u, header...)
		if resp.StatusCode != s.want {
			t.Fatalf("%s: %d, want %d", s.what, resp.StatusCode, s.want)
		}
		if s.want == 206 && !bytes.HasSuffix(d.bobBytes, body) {
			t.Fatalf("%s: wrong bytes %q", s.what, body)
		}
		if got := linkDownloads(t, d.Stack, l.ID); got != s.downloads {
			t.Fatalf("%s: %d downloads, want %d", s.what, got, s.downloads)
		}
	}
	sources := map[string]bool{}
	for _, l := range auditLines(t, d.Stack) {
		sources[fmt.Sprint(l["source.ip"])] = true
	}
	for _, a := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		if !sources[a] {
			t.Errorf("no audit line from %s: nginx did not pass the client's address", a)
		}
	}
}

// However many clients race for a limited link's downloads, exactly the
// limit get the file.
func TestLinkConcurrentLimit(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	l, u := d.AddLink(t, d.bobURL, testenv.Link{MaxDownloads: 5})
	const n = 50
	statuses := make(chan int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("GET", d.URL+u, nil)
			resp, err := linkClient("").Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && !bytes.Equal(body.Bytes(), d.bobBytes) {
				statuses <- -1
				return
			}
			statuses <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 5 || count[410] != n-5 {
		t.Errorf("answers %v, want five 200s and %d 410s", count, n-5)
	}
	if got := linkDownloads(t, d.Stack, l.ID); got != 5 {
		t.Errorf("%d downloads counted, want 5", got)
	}
}

// Real download clients fetch a 16 MiB file through a link that allows
// one download: curl and wget in one request, aria2c in four parallel
// ranges. Each gets the right bytes under the served name, and the link is
// used up afterwards.
func TestLinkDownloadClients(t *testing.T) { forEachBackend(t, linkDownloadClients) }

func linkDownloadClients(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{MaxUpload: "32MiB", Storage: storage})
	data := make([]byte, 16<<20)
	rand.Read(data)
	copy(data, "%PDF-1.4\n")
	fileURL := d.Put(t, "bob", "big-report.pdf", data)
	clients := []struct {
		name string
		args func(url string) []string
	}{
		{"curl", func(u string) []string { return []string{"-sS", "-f", "-O", "-J", u} }},
		{"wget", func(u string) []string { return []string{"-q", "--content-disposition", u} }},
		{"aria2c", func(u string) []string {
			// At most 8 MB/s: on loopback the first connection would
			// otherwise fetch all 16 MiB before the others start, and
			// aria2c would make no parallel ranges to test.
			return []string{"-q", "-x4", "-s4", "-k1M", "--max-download-limit=8M", "--allow-overwrite=false",
				"--auto-file-renaming=false", u}
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			bin := testenv.Tool(t, c.name)
			l, u := d.AddLink(t, fileURL, testenv.Link{MaxDownloads: 1})
			dir := t.TempDir()
			cmd := exec.Command(bin, c.args(d.URL+u)...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "HOME="+dir) // no ~/.curlrc, ~/.wgetrc or aria2 config
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c.name, err, out)
			}
			got, err := os.ReadFile(filepath.Join(dir, "big-report.pdf"))
			if err != nil {
				entries, _ := os.ReadDir(dir)
				t.Fatalf("not saved under the served name: %v; the folder holds %v", err, entries)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%d bytes saved, not the file's %d bytes", len(got), len(data))
			}
			if n := linkDownloads(t, d.Stack, l.ID); n != 1 {
				t.Errorf("%d downloads counted, want 1", n)
			}
			if got := linkStatus(t, d.Stack, u); got != 410 {
				t.Errorf("a fresh GET after the download: %d, want 410", got)
			}
			n := 0
			for _, a := range auditLines(t, d.Stack) {
				if a["link.id"] == float64(l.ID) && a["event.outcome"] == "success" {
					n++
				}
			}
			// aria2c's later ranges were free for its address: without
			// them, this tests no grant.
			if c.name == "aria2c" && n < 2 {
				t.Errorf("aria2c was allowed %d request(s); want several parallel ranges", n)
			}
		})
	}
}

// A link's cache entry written into Redis by someone without the key is
// not a decision: a revoked link made live again, or a live link pointed
// at another file, read PostgreSQL instead and are written over.
func TestForgedLinkEntries(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	a := attacker{t: t, rdb: testenv.RedisClient(t), prefix: cache.KeyPrefix(d.RedisPrefix), d: d}
	ctx := context.Background()
	entry := func(id int64) string { return fmt.Sprintf("%sc:l:%d", cache.KeyPrefix(d.RedisPrefix), id) }
	gen := func(id int64) string { return fmt.Sprintf("%sg:l:%d", cache.KeyPrefix(d.RedisPrefix), id) }
	// revoked returns a revoked link whose facts authz has cached.
	revoked := func(t *testing.T) (filegate.Link, string) {
		t.Helper()
		l, u := d.AddLink(t, d.bobURL, testenv.Link{})
		if _, err := d.Store.RevokeLink(ctx, l.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := linkStatus(t, d.Stack, u); got != 410 {
			t.Fatalf("revoked: %d", got)
		}
		return l, u
	}

	t.Run("a revoked link made live", func(t *testing.T) {
		a := a.in(t)
		l, u := revoked(t)
		forged := a.edit(entry(l.ID), `"r":true,`, ``)
		// A HEAD counts nothing: without the MAC check only the cache
		// would decide it.
		if resp, _ := fetch(t, d.Stack, "", "HEAD", u); resp.StatusCode != 410 {
			t.Fatalf("HEAD after the forgery: %d, want 410", resp.StatusCode)
		}
		a.replaced("revocation", entry(l.ID), forged)
	})

	t.Run("a live link's entry copied onto a revoked one", func(t *testing.T) {
		a := a.in(t)
		live, liveURL := d.AddLink(t, d.bobURL, testenv.Link{})
		dead, deadURL := revoked(t)
		if got := linkStatus(t, d.Stack, liveURL); got != 200 {
			t.Fatalf("live: %d", got)
		}
		forged := a.set(entry(dead.ID), a.get(entry(live.ID)))
		a.set(gen(dead.ID), a.get(gen(live.ID)))
		if resp, _ := fetch(t, d.Stack, "", "HEAD", deadURL); resp.StatusCode != 410 {
			t.Fatalf("HEAD after the copy: %d, want 410", resp.StatusCode)
		}
		a.replaced("copy", entry(dead.ID), forged)
	})

	t.Run("a live link pointed at a private file", func(t *testing.T) {
		a := a.in(t)
		l, u := d.AddLink(t, d.bobURL, testenv.Link{})
		if got := linkStatus(t, d.Stack, u); got != 200 {
			t.Fatalf("live: %d", got)
		}
		alicePath := strings.TrimPrefix(d.aliceURL, "/files/")
		forged := a.edit(entry(l.ID), `"path":"`, `"path":"`+alicePath+`","x":"`)
		resp, body := fetch(t, d.Stack, "", "GET", u)
		if resp.StatusCode != 200 || !bytes.Equal(body, d.bobBytes) {
			t.Fatalf("after the forgery: %d %q, want bob's own bytes", resp.StatusCode, body)
		}
		a.replaced("path", entry(l.ID), forged)
	})
}
