package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
)

// login logs name in through POST /login with userAgent and returns the
// session cookie.
func (a *testApp) login(name, password, userAgent string) *http.Cookie {
	a.t.Helper()
	r := a.do(request{method: "POST", target: "/login", header: map[string]string{"User-Agent": userAgent},
		form: url.Values{"username": {name}, "password": {password}}})
	wantRedirect(a.t, r, "/")
	c := sessionCookie(r)
	if c == nil || c.Value == "" {
		a.t.Fatalf("login of %s set no cookie", name)
	}
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// wantLoggedIn checks that cookie is a valid session of the web app, or
// (want false) that every kind of page refuses it: browsers are sent to
// the login page, JSON clients get 401.
func wantLoggedIn(t *testing.T, a *testApp, cookie *http.Cookie, want bool) {
	t.Helper()
	home := a.do(request{method: "GET", target: "/", cookie: cookie})
	api := a.do(request{method: "GET", target: "/api/files", cookie: cookie})
	if want {
		wantStatus(t, home, http.StatusOK)
		wantStatus(t, api, http.StatusOK)
		return
	}
	wantRedirect(t, home, "/login")
	wantStatus(t, api, http.StatusUnauthorized)
	wantRedirect(t, a.do(request{method: "GET", target: "/account", cookie: cookie}), "/login?next=%2Faccount")
	wantStatus(t, a.do(request{method: "GET", target: "/account", cookie: cookie, json: true}), http.StatusUnauthorized)
	wantRedirect(t, a.do(request{method: "POST", target: "/settings", cookie: cookie, form: url.Values{"is_public": {"true"}}}), "/login")
	wantStatus(t, a.do(request{method: "POST", target: "/settings", cookie: cookie, json: true,
		body: strings.NewReader(`{"is_public": true}`), contentType: "application/json"}), http.StatusUnauthorized)
	wantStatus(t, a.do(request{method: "POST", target: "/account/password", cookie: cookie, json: true,
		form: url.Values{"current_password": {testPassword}, "new_password": {"taken over"}}}), http.StatusUnauthorized)
}

// A cookie copied before logout is refused everywhere afterwards, and
// its owner cannot be flipped public with it.
func TestLogoutRevokesSession(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	mine := a.login("alice", testPassword, "Firefox")
	copied := *mine
	wantLoggedIn(t, a, mine, true)
	r := a.do(request{method: "POST", target: "/logout", cookie: mine})
	wantRedirect(t, r, "/login?msg=loggedout")
	if c := sessionCookie(r); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("logout cookie = %+v, want an expired, empty one", c)
	}
	wantLoggedIn(t, a, &copied, false)
	if u, _ := a.db.UserByID(context.Background(), alice.ID); u.IsPublic {
		t.Error("a copied cookie made alice public after logout")
	}
	// Logging out again, with the dead cookie or none, is no error.
	wantRedirect(t, a.do(request{method: "POST", target: "/logout", cookie: &copied}), "/login?msg=loggedout")
	wantRedirect(t, a.do(request{method: "POST", target: "/logout"}), "/login?msg=loggedout")
}

// Logging in again from a browser that still has a session replaces it:
// the old cookie, wherever a copy of it went, ends.
func TestLoginReplacesSession(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	a.addUser("bob", false, false)
	old := a.login("alice", testPassword, "")
	r := a.do(request{method: "POST", target: "/login", cookie: old,
		form: url.Values{"username": {"bob"}, "password": {testPassword}}})
	wantRedirect(t, r, "/")
	wantLoggedIn(t, a, old, false)
	wantLoggedIn(t, a, sessionCookie(r), true)
	// A failed login leaves the session alone.
	mine := a.login("alice", testPassword, "")
	wantStatus(t, a.do(request{method: "POST", target: "/login", cookie: mine,
		form: url.Values{"username": {"bob"}, "password": {"wrong password"}}}), http.StatusUnauthorized)
	wantLoggedIn(t, a, mine, true)
}

func TestLogoutEverywhere(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	a.addUser("bob", false, false)
	bob := a.login("bob", testPassword, "")
	// Both directions: each session can end the other.
	for _, first := range []bool{true, false} {
		one, two := a.login("alice", testPassword, "laptop"), a.login("alice", testPassword, "phone")
		from, other := one, two
		if !first {
			from, other = two, one
		}
		r := a.do(request{method: "POST", target: "/logout", cookie: from, form: url.Values{"everywhere": {"true"}}})
		wantRedirect(t, r, "/login?msg=loggedout")
		if c := sessionCookie(r); c == nil || c.MaxAge >= 0 {
			t.Fatalf("logout everywhere kept the cookie: %+v", c)
		}
		wantLoggedIn(t, a, other, false)
		wantLoggedIn(t, a, from, false)
	}
	wantLoggedIn(t, a, bob, true)
	// A plain logout ends only its own session.
	one, two := a.login("alice", testPassword, ""), a.login("alice", testPassword, "")
	wantRedirect(t, a.do(request{method: "POST", target: "/logout", cookie: one, form: url.Values{"everywhere": {"no"}}}), "/login?msg=loggedout")
	wantLoggedIn(t, a, one, false)
	wantLoggedIn(t, a, two, true)
}

// The database failing during logout is an error, and the cookie stays:
// nobody is told a session ended that did not.
func TestLogoutDatabaseDown(t *testing.T) {
	t.Parallel()
	down, err := postgres.Open("postgres://postgres@127.0.0.1:1/filegate?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	b := newAppWithStore(t, down)
	r := b.do(request{method: "POST", target: "/logout", as: &filegate.User{ID: 1}})
	wantStatus(t, r, http.StatusServiceUnavailable)
	if c := sessionCookie(r); c != nil {
		t.Errorf("cookie cleared although nothing was revoked: %+v", c)
	}
}

func TestAccountPage(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", true, false)
	laptop := a.login("alice", testPassword, `Firefox <script>alert("ua")</script>`)
	a.clock.Advance(time.Minute)
	phone := a.login("alice", testPassword, "Safari on a phone")
	gone := a.login("alice", testPassword, "Revoked browser")
	wantRedirect(t, a.do(request{method: "POST", target: "/logout", cookie: gone}), "/login?msg=loggedout")

	page := a.do(request{method: "GET", target: "/account", cookie: phone})
	wantStatus(t, page, http.StatusOK)
	for _, want := range []string{
		"<h1>Your account</h1>", "Safari on a phone", "Firefox &lt;script&gt;",
		`Safari on a phone <span class="badge">this one</span>`, `action="/account/password"`,
		`<input type="hidden" name="everywhere" value="true">`, `<label for="current_password">`,
		`<label for="new_password">`, `href="/account" aria-current="page"`,
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if strings.Count(page.body, `<span class="badge">this one</span>`) != 1 || strings.Contains(page.body, "Revoked browser") || strings.Contains(page.body, "<script>") {
		t.Errorf("account page lists the wrong sessions:\n%s", page.body)
	}

	var got struct {
		User     map[string]any   `json:"user"`
		Sessions []map[string]any `json:"sessions"`
	}
	r := a.do(request{method: "GET", target: "/account", cookie: laptop, json: true})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	var top map[string]any
	json.Unmarshal([]byte(r.body), &top)
	if keys := sortedKeys(top); !slices.Equal(keys, []string{"sessions", "user"}) {
		t.Errorf("keys %v", keys)
	}
	user, sessions := got.User, got.Sessions
	if keys := sortedKeys(user); !slices.Equal(keys, []string{"id", "is_public", "is_staff", "name", "slug"}) ||
		user["slug"] != "alice" || user["is_public"] != true || user["id"] != float64(alice.ID) {
		t.Errorf("user = %v", user)
	}
	if len(sessions) != 2 {
		t.Fatalf("sessions = %v, want the two live ones", sessions)
	}
	for _, s := range sessions {
		if keys := sortedKeys(s); !slices.Equal(keys, []string{"created_at", "current", "id", "last_used_at", "user_agent"}) {
			t.Errorf("session keys %v", keys)
		}
		if current := s["user_agent"] == `Firefox <script>alert("ua")</script>`; s["current"] != current {
			t.Errorf("session %v: current should be %v", s, current)
		}
	}
	if strings.Contains(strings.ToLower(r.body), "password") || strings.Contains(r.body, "hash") {
		t.Errorf("account JSON mentions the password: %s", r.body)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	this, other := a.login("alice", testPassword, "this"), a.login("alice", testPassword, "other")
	change := func(json bool, current, next string) response {
		return a.do(request{method: "POST", target: "/account/password", cookie: this, json: json,
			form: url.Values{"current_password": {current}, "new_password": {next}}})
	}

	// A wrong current password: 403, on the form for a browser.
	r := change(false, "not my password", "brand new password")
	wantStatus(t, r, http.StatusForbidden)
	for _, want := range []string{`<p class="error" role="alert" id="password-error">The current password is wrong.</p>`, `action="/account/password"`, "autofocus"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("refused change: page lacks %q", want)
		}
	}
	r = change(true, "not my password", "brand new password")
	wantStatus(t, r, http.StatusForbidden)
	if s := r.errorSentence(t); s != "The current password is wrong." {
		t.Errorf("error = %q", s)
	}
	// Too short: 400.
	r = change(true, testPassword, "short")
	wantStatus(t, r, http.StatusBadRequest)
	if s := r.errorSentence(t); !strings.Contains(s, "at least 8 characters") {
		t.Errorf("error = %q", s)
	}
	wantStatus(t, change(false, testPassword, "1234567"), http.StatusBadRequest)
	wantLoggedIn(t, a, other, true) // nothing changed yet

	// Success, as JSON: this session stays, the other one ends.
	r = a.do(request{method: "POST", target: "/account/password", cookie: this, json: true, contentType: "application/json",
		body: strings.NewReader(`{"current_password": "` + testPassword + `", "new_password": "correct horse battery"}`)})
	wantStatus(t, r, http.StatusOK)
	if r.body != "{\"ok\":true}\n" {
		t.Errorf("body = %q", r.body)
	}
	wantLoggedIn(t, a, this, true)
	wantLoggedIn(t, a, other, false)
	wantStatus(t, a.do(request{method: "POST", target: "/login", form: url.Values{"username": {"alice"}, "password": {testPassword}}}), http.StatusUnauthorized)

	// Success from a form: back to the account page, with a message.
	third := a.login("alice", "correct horse battery", "third")
	r = change(false, "correct horse battery", "staple staple staple")
	wantRedirect(t, r, "/account?msg=passwd")
	page := a.do(request{method: "GET", target: "/account?msg=passwd", cookie: this})
	if !strings.Contains(page.body, "Password changed. Every other session is logged out.") {
		t.Error("no message after the change")
	}
	wantLoggedIn(t, a, third, false)
	wantStatus(t, a.do(request{method: "POST", target: "/account/password", cookie: this, json: true,
		contentType: "application/json", body: strings.NewReader(`{"current_password": `)}), http.StatusBadRequest)
}

// Wrong current passwords are throttled like failed logins: a stolen
// cookie cannot be used to guess the password behind it. Once refused,
// the right password is refused too, and no password is checked.
func TestChangePasswordThrottled(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	this := a.login("alice", testPassword, "this")
	change := func(json bool, current string) response {
		return a.do(request{method: "POST", target: "/account/password", cookie: this, json: json,
			form: url.Values{"current_password": {current}, "new_password": {"brand new password"}}})
	}
	for i := range 5 {
		wantStatus(t, change(i%2 == 0, "guess "+strconv.Itoa(i)), http.StatusForbidden)
	}
	for _, json := range []bool{true, false} {
		r := change(json, testPassword)
		wantStatus(t, r, http.StatusTooManyRequests)
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
			t.Errorf("Retry-After = %q, want 1 to 900 seconds", r.Header.Get("Retry-After"))
		}
		if !strings.Contains(r.body, "Too many wrong passwords; try again in 15 minutes.") {
			t.Errorf("throttled change (json %t): %.200s", json, r.body)
		}
	}
	// The password did not change: the old one still logs in.
	wantRedirect(t, a.do(request{method: "POST", target: "/login", form: url.Values{"username": {"alice"}, "password": {testPassword}}}), "/")
}

// Sessions end at their expiry, by the clock, even when the cookie says
// later.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	c := a.login("alice", testPassword, "")
	a.clock.Advance(sessionTTL - time.Second)
	wantLoggedIn(t, a, c, true)
	a.clock.Advance(time.Second)
	wantLoggedIn(t, a, c, false)

	claims, err := account.StartSession(context.Background(), a.db, alice, "", a.clock.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims.Expires = a.clock.Now().Add(time.Hour) // the cookie claims more than the record has
	long := a.encode(claims)
	wantLoggedIn(t, a, long, true)
	a.clock.Advance(time.Minute)
	wantLoggedIn(t, a, long, false)
}

// A cookie is valid only with the user its session belongs to.
func TestSessionOfAnotherUser(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	bob := a.addUser("bob", false, true)
	c := a.login("alice", testPassword, "")
	claims, err := a.sessions.Decode(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	claims.UserID = bob.ID
	wantLoggedIn(t, a, a.encode(claims), false)
	wantLoggedIn(t, a, c, true)
}

// Page views note their session's use; the times reach the database in
// one write per flush.
func TestLastUseOfPages(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	a.addUser("alice", false, false)
	c := a.login("alice", testPassword, "")
	claims, _ := a.sessions.Decode(c.Value)
	hash := session.HashToken(claims.Token)
	before, _, _ := a.db.SessionByToken(context.Background(), hash)
	for range 10 {
		a.clock.Advance(time.Second)
		wantStatus(t, a.do(request{method: "GET", target: "/", cookie: c}), http.StatusOK)
	}
	if now, _, _ := a.db.SessionByToken(context.Background(), hash); !now.LastUsedAt.Equal(before.LastUsedAt) {
		t.Errorf("a page view wrote last use at once: %v", now.LastUsedAt)
	}
	if err := a.uses.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after, _, _ := a.db.SessionByToken(context.Background(), hash); !after.LastUsedAt.Equal(a.clock.Now()) {
		t.Errorf("last used = %v, want %v", after.LastUsedAt, a.clock.Now())
	}
}
