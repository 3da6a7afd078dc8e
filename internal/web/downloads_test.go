package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

// Logging in from a file's URL (nginx's 401 sends a browser to
// /login?next=/files/…): the login page says why, without naming the
// file, and the login lands on a page that names it and starts its
// download, for a viewer who may download it.
func TestLoginFromFileLink(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", false, false)
	admin := a.addUser("admin", false, true)
	f := a.put(alice, "Quarterly secrets.pdf", pdfData)
	fileURL := f.URL()
	landing := "/download/" + strings.TrimPrefix(fileURL, "/files/")

	// Before the login nobody learns the file's name, not even whether it
	// exists: the page is the same for a file that is not there.
	for _, next := range []string{fileURL, fmt.Sprintf("/files/%d/no-such-file.pdf", alice.ID)} {
		page := a.do(request{method: "GET", target: "/login?next=" + url.QueryEscape(next)})
		wantStatus(t, page, http.StatusOK)
		if !strings.Contains(page.body, "<h1>Log in to download this file</h1>") {
			t.Errorf("login page for next=%s does not say why:\n%s", next, page.body)
		}
		if strings.Contains(page.body, "Quarterly secrets") {
			t.Errorf("login page for next=%s names the file", next)
		}
	}
	if page := a.do(request{method: "GET", target: "/login?next=/upload"}); strings.Contains(page.body, "download") {
		t.Errorf("login page for the upload page speaks of a download")
	}
	// A failed login keeps saying it.
	r := a.do(request{method: "POST", target: "/login",
		form: url.Values{"username": {"alice"}, "password": {"wrong"}, "next": {fileURL}}})
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, "Log in to download this file") {
		t.Errorf("failed login forgets the file")
	}

	r = a.do(request{method: "POST", target: "/login",
		form: url.Values{"username": {"alice"}, "password": {testPassword}, "next": {fileURL}}})
	wantRedirect(t, r, landing)

	// The owner and staff may download it: the page names it and starts
	// the download.
	for _, u := range []*struct {
		name string
		as   *filegate.User
	}{{"alice", &alice}, {"admin", &admin}} {
		page := a.do(request{method: "GET", target: landing, as: u.as})
		wantStatus(t, page, http.StatusOK)
		for _, want := range []string{
			"<h1>Your download of Quarterly secrets.pdf has started</h1>",
			`<meta http-equiv="refresh" content="0; url=` + fileURL + `">`,
			`<a href="` + fileURL + `" download>`,
		} {
			if !strings.Contains(page.body, want) {
				t.Errorf("%s's download page lacks %s:\n%s", u.name, want, page.body)
			}
		}
	}
	// bob may not: no name, and the file's URL answers him as nginx does.
	// So does a file that is not there.
	for _, target := range []string{landing, fmt.Sprintf("/download/%d/no-such-file.pdf", alice.ID)} {
		page := a.do(request{method: "GET", target: target, as: &bob})
		wantRedirect(t, page, "/files/"+strings.TrimPrefix(target, "/download/"))
		if strings.Contains(page.body, "Quarterly secrets") {
			t.Errorf("bob's answer for %s names the file", target)
		}
	}
	// An address that cannot name a file, and nobody logged in.
	for _, target := range []string{fmt.Sprintf("/download/0%d/x.pdf", alice.ID), "/download/1/.hidden", "/download/1/a%2fb"} {
		wantStatus(t, a.do(request{method: "GET", target: target, as: &alice}), http.StatusNotFound)
	}
	wantRedirect(t, a.do(request{method: "GET", target: landing}), "/login?next="+url.QueryEscape(landing))
}

// GET /error/{status}: the page nginx shows a browser for a refused
// download or upload, with that status and a fixed sentence the query
// picks; JSON clients get the sentence in the one error shape.
func TestErrorPageOf(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	bob := a.addUser("bob", false, false)
	tests := []struct {
		target string
		status int
		want   string // in the HTML page and the JSON sentence
	}{
		{"/error/404?of=file", 404, "This file isn&#39;t available"},
		{"/error/403?of=file", 403, "You can&#39;t download this file"},
		{"/error/503", 503, "Try again shortly."},
		{"/error/503?of=link", 503, "Try again shortly."},
		{"/error/404?of=link", 404, "This link doesn&#39;t work"},
		{"/error/410?of=link", 410, "This link no longer works"},
		{"/error/410?of=link&reason=expired", 410, "This link has expired"},
		{"/error/410?of=link&reason=revoked", 410, "This link was revoked"},
		{"/error/410?of=link&reason=used_up", 410, "This link has been used up"},
		{"/error/410?of=link&reason=made-up", 410, "This link no longer works"},
		{fmt.Sprintf("/error/413?size=%d", 3<<29), 413, "It is 1.5 GiB; the limit is 64 KiB per file."},
		{"/error/413?size=lots", 413, "The limit is 64 KiB per file."},
		{"/error/413", 413, "The limit is 64 KiB per file."},
		// No page: the status says nothing the query chose.
		{"/error/410?of=file", 404, "There is no such page."},
		{"/error/404", 404, "There is no such page."},
		{"/error/200?of=file", 404, "There is no such page."},
		{"/error/500", 404, "There is no such page."},
	}
	for _, tt := range tests {
		page := a.do(request{method: "GET", target: tt.target})
		wantStatus(t, page, tt.status)
		if !strings.Contains(page.body, tt.want) || page.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: page without %q, or Cache-Control %q:\n%s", tt.target, tt.want, page.Header.Get("Cache-Control"), page.body)
		}
		js := a.do(request{method: "GET", target: tt.target, json: true})
		wantStatus(t, js, tt.status)
		if got := js.errorSentence(t); !strings.Contains(got, strings.ReplaceAll(tt.want, "&#39;", "'")) {
			t.Errorf("GET %s as JSON: %q, want it to hold %q", tt.target, got, tt.want)
		}
		head := a.do(request{method: "HEAD", target: tt.target})
		wantStatus(t, head, tt.status)
	}

	// The way back: the files for the logged in and for a file; a link's
	// visitor may have no account to log in with.
	for _, tt := range []struct {
		target string
		as     *filegate.User
		back   bool
	}{
		{"/error/404?of=file", nil, true},
		{"/error/410?of=link", nil, false},
		{"/error/410?of=link", &bob, true},
	} {
		page := a.do(request{method: "GET", target: tt.target, as: tt.as})
		if got := strings.Contains(page.body, `<a href="/">Back to the files</a>`); got != tt.back {
			t.Errorf("GET %s as %v: a way back to the files %v, want %v", tt.target, tt.as != nil, got, tt.back)
		}
	}
	page := a.do(request{method: "GET", target: "/error/413"})
	if !strings.Contains(page.body, `<a href="/upload">Back to the upload page</a>`) {
		t.Errorf("413 page without the way back to the upload page:\n%s", page.body)
	}
}
