package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// Refusals and failures of downloads as two kinds of client see them
// through the real nginx (docs/interface.md#downloads): a browser
// (Accept: text/html) gets the uploader's page saying what happened in
// words, with the same status; any other client the bare status from
// nginx, as before. Both get Cache-Control: no-store, and neither a byte
// of the file nor a header meant for nginx.

// browserAccept is the Accept header Chromium sends for a navigation.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// errorCase is one refusal: a request and what each client must get.
type errorCase struct {
	what   string
	viewer int64 // 0: no cookie
	path   string
	status int
	title  string // the page's heading, for a browser
}

// checkErrorPage fetches c as a browser and as curl, with GET and HEAD,
// and checks both answers.
func checkErrorPage(t *testing.T, d *demo, c errorCase, secrets ...[]byte) {
	t.Helper()
	for _, method := range []string{"GET", "HEAD"} {
		// A browser: the uploader's page, with the refusal's status.
		resp, body := d.get(t, c.viewer, method, c.path, "Accept", browserAccept)
		where := fmt.Sprintf("%s: browser %s %s", c.what, method, c.path)
		checkRefusal(t, where, resp, body, c.status, secrets)
		if !fromUploader(resp) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: not the uploader's page: %v", where, resp.Header)
		}
		if method == "GET" && !strings.Contains(string(body), "<h1>"+htmlEscape(c.title)+"</h1>") {
			t.Errorf("%s: page without the heading %q:\n%s", where, c.title, body)
		}

		// curl: nginx's bare status, no page of the uploader's.
		resp, body = d.get(t, c.viewer, method, c.path, "Accept", "*/*")
		where = fmt.Sprintf("%s: curl %s %s", c.what, method, c.path)
		checkRefusal(t, where, resp, body, c.status, secrets)
		if fromUploader(resp) || bytes.Contains(body, []byte("<h1>"+htmlEscape(c.title))) {
			t.Errorf("%s: the uploader's page for a client that did not ask for HTML: %v\n%s", where, resp.Header, body)
		}
	}
}

// checkRefusal checks what both kinds of client get for a refusal.
func checkRefusal(t *testing.T, where string, resp *http.Response, body []byte, status int, secrets [][]byte) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: %d, want %d", where, resp.StatusCode, status)
	}
	if cc := resp.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "no-store" {
		t.Errorf("%s: Cache-Control %q, want exactly no-store", where, cc)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s: no X-Request-Id", where)
	}
	for _, h := range []string{"X-Filegate-Path", "X-Filegate-Type", "X-Filegate-Disposition", "X-Filegate-Status", "X-Filegate-Reason"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("%s: internal header %s leaked: %q", where, h, v)
		}
	}
	for _, s := range secrets {
		if len(s) > 0 && bytes.Contains(body, s) {
			t.Errorf("%s: the answer holds %q", where, s)
		}
	}
}

// htmlEscape is what html/template makes of an apostrophe in text.
func htmlEscape(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

func TestErrorPagesForFilesThroughNginx(t *testing.T) {
	d := newDemo(t, testenv.Options{ProxyDatabase: true})
	for _, c := range []errorCase{
		{"private file", d.bob, d.aliceURL, 403, "You can't download this file"},
		{"no such file", d.bob, fileURL(d.alice, "never-was.txt"), 404, "This file isn't available"},
		{"no such owner", d.bob, fileURL(999999, "a.txt"), 404, "This file isn't available"},
	} {
		checkErrorPage(t, d, c, d.aliceBytes)
	}
	// A deleted file: the same 404 as one that never was.
	deleted := d.Put(t, "alice", "deleted.txt", []byte("deleted words\n"))
	if _, err := d.Store.DeleteFile(context.Background(), d.File(t, deleted).ID); err != nil {
		t.Fatal(err)
	}
	checkErrorPage(t, d, errorCase{"deleted file", d.alice, deleted, 404, "This file isn't available"}, []byte("deleted words"))

	// authz cannot decide: 503, and for a browser a page that says to try
	// again. The uploader's own database link is up. (bob has not asked
	// for admin's file yet: nothing is cached.)
	d.DBProxy.Cut()
	checkErrorPage(t, d, errorCase{"database down", d.bob, d.adminURL, 503, "Downloads are unavailable for a moment"}, []byte("staff only"))
	d.DBProxy.Restore()
	// authz itself is gone: the same.
	d.Authz.Kill(t)
	checkErrorPage(t, d, errorCase{"authz down", d.alice, d.aliceURL, 503, "Downloads are unavailable for a moment"}, d.aliceBytes)
	d.Authz.Restart(t)

	// Without the uploader there is no page: a browser gets nginx's 502
	// (docs/operating.md#nginx), never the file; other clients are not
	// affected.
	d.Uploader.Kill(t)
	for _, c := range []errorCase{
		{"private file", d.bob, d.aliceURL, 403, ""},
		{"no such file", d.bob, fileURL(d.alice, "never-was.txt"), 404, ""},
	} {
		resp, body := d.get(t, c.viewer, "GET", c.path, "Accept", "*/*")
		checkRefusal(t, c.what+", uploader down, curl", resp, body, c.status, [][]byte{d.aliceBytes})
		resp, body = d.get(t, c.viewer, "GET", c.path, "Accept", browserAccept)
		if resp.StatusCode != http.StatusBadGateway || bytes.Contains(body, d.aliceBytes) {
			t.Errorf("%s, uploader down, browser: %d, want 502", c.what, resp.StatusCode)
		}
	}
}

func TestErrorPagesForLinksThroughNginx(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	now := time.Now()
	active, activeURL := d.AddLink(t, d.aliceURL, testenv.Link{})
	_, expiredURL := d.AddLink(t, d.aliceURL, testenv.Link{Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Second)})
	revoked, revokedURL := d.AddLink(t, d.aliceURL, testenv.Link{})
	if _, err := d.Store.RevokeLink(context.Background(), revoked.ID, now); err != nil {
		t.Fatal(err)
	}
	_, usedUpURL := d.AddLink(t, d.aliceURL, testenv.Link{MaxDownloads: 1})
	// Used up from another address: this one holds no grant, so its HEAD
	// is refused too.
	if resp, _ := fetch(t, d.Stack, "127.0.0.2", "GET", usedUpURL); resp.StatusCode != 200 {
		t.Fatalf("the one download of %s: %d", usedUpURL, resp.StatusCode)
	}
	token := strings.TrimPrefix(activeURL, "/s/")
	for _, c := range []errorCase{
		{"unknown link", 0, "/s/" + strings.Repeat("A", len(token)), 404, "This link doesn't work"},
		{"link cut short", 0, "/s/" + token[:len(token)-3], 404, "This link doesn't work"},
		{"link with more", 0, activeURL + "/x", 404, "This link doesn't work"},
		{"expired", 0, expiredURL, 410, "This link has expired"},
		{"revoked", 0, revokedURL, 410, "This link was revoked"},
		{"used up", 0, usedUpURL, 410, "This link has been used up"},
		{"used up, logged in", d.bob, usedUpURL, 410, "This link has been used up"},
	} {
		// The token opens the link: it must not reach the page.
		checkErrorPage(t, d, c, d.aliceBytes, []byte(strings.TrimPrefix(c.path, "/s/")))
	}
	// A form posted to a path that is no token: the same 404, from the
	// uploader's page for a browser, not an answer to the POST.
	for _, accept := range []string{browserAccept, "*/*"} {
		req, _ := http.NewRequest("POST", d.URL+"/s/"+token[:20], strings.NewReader("password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", accept)
		req.Header.Set("Origin", d.URL)
		resp, body := do(t, req)
		checkRefusal(t, "POST to a cut-off link, Accept "+accept, resp, body, 404, nil)
		if page := bytes.Contains(body, []byte("This link doesn&#39;t work")); page != (accept == browserAccept) {
			t.Errorf("POST to a cut-off link, Accept %s: the page %v:\n%s", accept, page, body)
		}
	}
	if n := linkDownloads(t, d.Stack, active.ID); n != 0 {
		t.Errorf("the pages counted %d downloads of an unused link", n)
	}

	// A visitor without an account is not sent to the files behind a
	// login; a logged-in one is.
	_, page := d.get(t, 0, "GET", expiredURL, "Accept", browserAccept)
	if bytes.Contains(page, []byte(`href="/">Back to the files`)) {
		t.Errorf("expired link, no login: a way back to the files:\n%s", page)
	}
	_, page = d.get(t, d.bob, "GET", expiredURL, "Accept", browserAccept)
	if !bytes.Contains(page, []byte(`href="/">Back to the files`)) {
		t.Errorf("expired link, logged in: no way back to the files:\n%s", page)
	}
}

// The page says only what it is made to say: the query picks a fixed
// sentence or none, and a status without a page is a 404.
func TestErrorPageSaysNoClientText(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	const evil = "Your-account-is-locked"
	for _, u := range []string{
		"/error/404?of=file&reason=" + evil,
		"/error/410?of=link&reason=" + evil,
		"/error/410?of=" + evil,
		"/error/403?of=" + evil,
		"/error/413?size=" + evil,
		"/error/" + evil,
		"/error/200?of=file",
		"/error/500",
	} {
		resp, body := d.get(t, 0, "GET", u, "Accept", browserAccept)
		if bytes.Contains(body, []byte(evil)) {
			t.Errorf("GET %s: the page repeats the query:\n%s", u, body)
		}
		if resp.StatusCode == 200 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d, Cache-Control %q", u, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

// An upload over nginx's client_max_body_size never reaches the uploader;
// nginx's 413 still says so in the app's words and shape, naming the
// size and the uploader's limit (docs/interface.md#errors). Nothing is
// stored.
func TestUploadOverNginxLimit(t *testing.T) {
	d := newDemo(t, testenv.Options{MaxUpload: "2MiB", MaxBody: "3m"})
	body := &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	part, _ := mw.CreateFormFile("file", "huge.pdf")
	part.Write([]byte("%PDF-1.4\n"))
	part.Write(bytes.Repeat([]byte("x"), 3<<20+512<<10))
	mw.Close()
	size := body.Len()
	post := func(accept string, chunked bool) (*http.Response, []byte) {
		t.Helper()
		var r io.Reader = bytes.NewReader(body.Bytes())
		if chunked {
			r = io.MultiReader(r) // no length known: Go sends it chunked
		}
		req, _ := http.NewRequest("POST", d.URL+"/upload", r)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.AddCookie(d.cookie(t, d.alice))
		return do(t, req)
	}
	want := fmt.Sprintf("This upload is too large. It is %.1f MiB; the limit is 2 MiB per file.", float64(size)/(1<<20))

	// The upload page's script: JSON, with the numbers.
	resp, got := post("application/json", false)
	var answer struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(got, &answer); resp.StatusCode != 413 || err != nil || answer.Error != want ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("JSON client: %d %s %s, want 413 {\"error\": %q}", resp.StatusCode, resp.Header.Get("Content-Type"), got, want)
	}
	// Sent chunked, nginx refuses it while reading: no size to name.
	resp, got = post("application/json", true)
	if err := json.Unmarshal(got, &answer); resp.StatusCode != 413 || err != nil ||
		answer.Error != "This upload is too large. The limit is 2 MiB per file." {
		t.Errorf("JSON client, chunked: %d %s", resp.StatusCode, got)
	}
	// A browser without the script: the page, with the same sentence.
	resp, got = post(browserAccept, false)
	if resp.StatusCode != 413 || !fromUploader(resp) || !bytes.Contains(got, []byte("It is ")) ||
		!bytes.Contains(got, []byte(`href="/upload"`)) {
		t.Errorf("browser: %d %v\n%s", resp.StatusCode, resp.Header, got)
	}
	// Anyone else: nginx's bare 413.
	resp, got = post("", false)
	if resp.StatusCode != 413 || fromUploader(resp) || bytes.Contains(got, []byte("per file")) {
		t.Errorf("curl: %d %v\n%s", resp.StatusCode, resp.Header, got)
	}
	if out := d.CLI(t, "", "sweep"); !strings.Contains(out, "0 files without rows, 0 rows without files") {
		t.Errorf("after refused uploads:\n%s", out)
	}
}
