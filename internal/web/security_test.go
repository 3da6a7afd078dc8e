package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/postgres"
)

// A cross-site POST is refused before it changes anything, with a
// logged-in victim's cookie attached.
func TestCrossSiteRefused(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	f := a.put(alice, "a.pdf", pdfData)
	body, ct := multipartBody(t, part{"file", "b.pdf", pdfData})
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	oldBrowser := map[string]string{"Origin": "https://evil.example"} // no Sec-Fetch-Site: Origin vs Host decides
	for _, header := range []map[string]string{crossSite, oldBrowser} {
		for _, rq := range []request{
			{target: "/upload", body: body, contentType: ct},
			{target: fmt.Sprintf("/delete/%d", f.ID), form: url.Values{}},
			{target: "/settings", form: url.Values{"is_public": {"true"}}},
			{target: "/logout", form: url.Values{}},
			{target: "/login", form: url.Values{"username": {"alice"}, "password": {testPassword}}},
		} {
			for _, json := range []bool{false, true} {
				rq.method, rq.as, rq.header, rq.json = "POST", &alice, header, json
				r := a.do(rq)
				wantStatus(t, r, http.StatusForbidden)
				if json {
					r.errorSentence(t)
				}
				if c := sessionCookie(r); c != nil {
					t.Errorf("POST %s set or cleared the session cookie", rq.target)
				}
			}
		}
	}
	u, err := a.db.UserByID(t.Context(), alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.fileCount() != 1 || !a.onDisk(f) || u.IsPublic {
		t.Errorf("cross-site requests changed something: %d files, on disk %t, public %t", a.fileCount(), a.onDisk(f), u.IsPublic)
	}

	// The same request from the app's own pages goes through.
	r := a.do(request{method: "POST", target: "/settings", as: &alice, json: true,
		form:   url.Values{"is_public": {"true"}},
		header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}})
	wantStatus(t, r, http.StatusOK)
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	for _, rq := range []request{
		{method: "GET", target: "/login"},
		{method: "GET", target: "/upload", as: &alice},
		{method: "GET", target: "/api/files", as: &alice},
		{method: "GET", target: "/nope", as: &alice},
		{method: "GET", target: "/static/app.css"},
	} {
		r := a.do(rq)
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", rq.target, csp, want)
			}
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("GET %s: headers %v", rq.target, r.Header)
		}
	}
	if cc := a.do(request{method: "GET", target: "/", as: &alice}).Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page Cache-Control = %q", cc)
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for path, ctype := range map[string]string{"app.css": "text/css; charset=utf-8", "upload.js": "text/javascript; charset=utf-8", "icon.svg": "image/svg+xml"} {
		r := a.do(request{method: "GET", target: "/static/" + path})
		wantStatus(t, r, http.StatusOK)
		if r.Header.Get("Content-Type") != ctype || r.Header.Get("ETag") == "" {
			t.Errorf("%s: headers %v", path, r.Header)
		}
		again := a.do(request{method: "GET", target: "/static/" + path, header: map[string]string{"If-None-Match": r.Header.Get("ETag")}})
		wantStatus(t, again, http.StatusNotModified)
	}
	for _, path := range []string{"/static/nope.js", "/static/", "/static/../web.go"} {
		wantStatus(t, a.do(request{method: "GET", target: path}), http.StatusNotFound)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	wantStatus(t, a.do(request{method: "GET", target: "/healthz"}), http.StatusOK)

	// A database nobody listens on: 503 for health and for every page,
	// with the safe sentence and never a 200 or a login redirect.
	down, err := postgres.Open("postgres://postgres@127.0.0.1:1/filegate?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	b := newAppWithStore(t, down)
	wantStatus(t, b.do(request{method: "GET", target: "/healthz"}), http.StatusServiceUnavailable)
	alice := a.addUser("alice", false, false)
	r := b.do(request{method: "GET", target: "/", as: &alice, json: true})
	wantStatus(t, r, http.StatusServiceUnavailable)
	if s := r.errorSentence(t); s != "The database is unavailable; try again shortly." {
		t.Errorf("error = %q", s)
	}
	r = b.do(request{method: "POST", target: "/login", form: url.Values{"username": {"alice"}, "password": {testPassword}}})
	wantStatus(t, r, http.StatusServiceUnavailable)
}
