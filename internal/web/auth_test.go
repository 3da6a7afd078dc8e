package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
)

func sessionCookie(r response) *http.Cookie { return namedCookie(r, session.CookieName) }

// namedCookie returns the cookie named name that r sets, or nil.
func namedCookie(r response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestLogin(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	login := func(name, password string, json bool) response {
		return a.do(request{method: "POST", target: "/login", json: json,
			form: url.Values{"username": {name}, "password": {password}}})
	}

	// The same name before and after the user exists: the answer must
	// not tell "unknown user" from "wrong password".
	unknownHTML, unknownJSON := login("alice", "wrong-password", false), login("alice", "wrong-password", true)
	alice := a.addUser("alice", false, false)
	wrongHTML, wrongJSON := login("alice", "wrong-password", false), login("alice", "wrong-password", true)
	for _, r := range []response{unknownHTML, unknownJSON, wrongHTML, wrongJSON} {
		wantStatus(t, r, http.StatusUnauthorized)
		if c := sessionCookie(r); c != nil {
			t.Errorf("failed login set a cookie: %v", c)
		}
	}
	if unknownHTML.body != wrongHTML.body {
		t.Errorf("HTML answers differ:\nunknown user: %s\nwrong password: %s", unknownHTML.body, wrongHTML.body)
	}
	if unknownJSON.body != wrongJSON.body {
		t.Errorf("JSON answers differ: %s vs %s", unknownJSON.body, wrongJSON.body)
	}
	if s := wrongJSON.errorSentence(t); s != "Wrong user name or password." {
		t.Errorf("error = %q", s)
	}
	for _, want := range []string{`<form method="post" action="/login"`, `value="alice"`, "Wrong user name or password."} {
		if !strings.Contains(wrongHTML.body, want) {
			t.Errorf("re-rendered login form lacks %q", want)
		}
	}

	ok := login("Alice", testPassword, false) // names are case-insensitive
	wantRedirect(t, ok, "/")
	c := sessionCookie(ok)
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 14*24*60*60 {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, 14 days", c)
	}
	cl, err := a.sessions.Decode(c.Value)
	if err != nil || cl.UserID != alice.ID {
		t.Fatalf("cookie decodes to %d, %v; want %d", cl.UserID, err, alice.ID)
	}
}

func TestLoginNextStaysOnThisSite(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	tests := []struct{ next, want string }{
		{"", "/"},
		{"/", "/"},
		{"/upload", "/upload"},
		{"/u/alice?page=2", "/u/alice?page=2"},
		// A file's URL lands on its download page (downloadStarted);
		// anything not quite one is followed as it is.
		{"/files/1/report.pdf", "/download/1/report.pdf"},
		{"/files/1/report.pdf?x=1", "/files/1/report.pdf?x=1"},
		{"/files/01/report.pdf", "/files/01/report.pdf"},
		{"/download/1/report.pdf", "/download/1/report.pdf"},
		{"//evil.example", "/"},
		{"//evil.example/files/1/x.pdf", "/"},
		{"https://evil.example", "/"},
		{"http://evil.example/", "/"},
		{"https:evil.example", "/"},
		{`/\evil.example`, "/"},
		{`\\evil.example`, "/"},
		{`/\/evil.example`, "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(document.cookie)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"evil.example", "/"},
		{"@evil.example", "/"},
		{" //evil.example", "/"},
	}
	for _, tt := range tests {
		r := a.do(request{method: "POST", target: "/login",
			form: url.Values{"username": {"alice"}, "password": {testPassword}, "next": {tt.next}}})
		wantRedirect(t, r, tt.want)

		// The login page does not carry a foreign next into its form.
		page := a.do(request{method: "GET", target: "/login?next=" + url.QueryEscape(tt.next)})
		wantStatus(t, page, http.StatusOK)
		if tt.want == "/" && strings.Contains(page.body, `name="next"`) {
			t.Errorf("login page for next=%q carries a next field", tt.next)
		}
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	r := a.do(request{method: "POST", target: "/logout", as: &alice})
	wantRedirect(t, r, "/login?msg=loggedout")
	if c := sessionCookie(r); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("logout cookie = %+v, want an expired, empty one", c)
	}
	page := a.do(request{method: "GET", target: r.Header.Get("Location")})
	if !strings.Contains(page.body, `<p class="flash" role="status" tabindex="-1" autofocus>You’re logged out.</p>`) {
		t.Errorf("the login page after logout does not say so:\n%s", page.body)
	}
	// Flash text comes from a fixed table; the URL cannot inject any.
	page = a.do(request{method: "GET", target: "/login?msg=" + url.QueryEscape("Your account is locked, call 555")})
	if strings.Contains(page.body, "locked") || strings.Contains(page.body, `class="flash"`) {
		t.Errorf("an unknown msg key is shown")
	}
}

func TestWithoutSession(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	gone := filegate.User{ID: 987654} // a cookie naming a user that does not exist
	for _, as := range []*filegate.User{nil, &gone} {
		wantRedirect(t, a.do(request{method: "GET", target: "/", as: as}), "/login")
		wantRedirect(t, a.do(request{method: "GET", target: "/u/alice?page=2", as: as}), "/login?next=%2Fu%2Falice%3Fpage%3D2")
		wantRedirect(t, a.do(request{method: "POST", target: "/settings", as: as, form: url.Values{"is_public": {"true"}}}), "/login")
		for _, target := range []string{"/", "/upload", "/u/alice"} {
			r := a.do(request{method: "GET", target: target, as: as, json: true})
			wantStatus(t, r, http.StatusUnauthorized)
			r.errorSentence(t)
		}
		// /api/ speaks JSON even to a client that did not ask.
		r := a.do(request{method: "GET", target: "/api/files", as: as})
		wantStatus(t, r, http.StatusUnauthorized)
		r.errorSentence(t)
	}
}

// Every page shows who is logged in and a logout button.
func TestPagesShowViewer(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	for _, target := range []string{"/", "/u/alice", "/upload", "/login", "/no-such-page"} {
		r := a.do(request{method: "GET", target: target, as: &alice})
		if !strings.Contains(r.body, "Logged in as <strong>alice</strong>") ||
			!strings.Contains(r.body, `<form method="post" action="/logout">`) {
			t.Errorf("GET %s (%d) does not show the viewer and a logout button", target, r.StatusCode)
		}
	}
}

func TestWrongMethod(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	r := a.do(request{method: "GET", target: "/logout", json: true})
	wantStatus(t, r, http.StatusMethodNotAllowed)
	if !strings.Contains(r.Header.Get("Allow"), "POST") {
		t.Errorf("Allow = %q", r.Header.Get("Allow"))
	}
	r.errorSentence(t)
}
