package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/link"
)

// The web app counts each uploaded file by result with the bytes stored,
// logins by result, the guesses its throttle refuses, the sessions it
// revokes and the share link events, each where it happens.
func TestMetrics(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice, bob := a.addUser("alice", false, false), a.addUser("bob", false, false)
	want := map[string]float64{}
	check := func(step string) {
		t.Helper()
		m := a.metrics()
		for series, v := range want {
			name, labels, _ := strings.Cut(series, " ")
			if got := m.Value(name, strings.Fields(labels)...); got != v {
				t.Errorf("after %s: %s = %v, want %v", step, series, got, v)
			}
		}
	}
	login := func(cookie *http.Cookie, name, password string) response {
		return a.do(request{method: "POST", target: "/login", cookie: cookie, form: url.Values{"username": {name}, "password": {password}}})
	}

	// Logins: a wrong password, a right one, a second login from the same
	// browser (which revokes its first session), then a name throttled.
	wantStatus(t, login(nil, "alice", "wrong-password"), http.StatusUnauthorized)
	first := sessionCookie(login(nil, "alice", testPassword))
	wantRedirect(t, login(first, "alice", testPassword), "/")
	for range 5 {
		wantStatus(t, login(nil, "bob", "wrong-password"), http.StatusUnauthorized)
	}
	wantStatus(t, login(nil, "bob", testPassword), http.StatusTooManyRequests)
	want["filegate_logins_total result success"] = 2
	want["filegate_logins_total result failure"] = 6
	want["filegate_logins_total result throttled"] = 1
	want["filegate_logins_total result error"] = 0
	want["filegate_throttled_requests_total scope login"] = 1
	want["filegate_sessions_revoked_total reason relogin"] = 1
	check("logins")

	// Uploads: each file of a request by its own result; bytes only of
	// what was stored; ingest's time of each file it saw.
	big := bytes.Repeat([]byte("a"), testMaxUpload+1)
	r := a.upload(&alice, true, part{"file", "notes.pdf", pdfData}, part{"file", "page.pdf", htmlData},
		part{"file", "empty.txt", nil}, part{"file", "big.txt", big})
	wantStatus(t, r, http.StatusCreated)
	want["filegate_uploads_total result stored"] = 1
	want["filegate_uploads_total result unsupported"] = 1
	want["filegate_uploads_total result invalid"] = 1
	want["filegate_uploads_total result too_large"] = 1
	want["filegate_uploads_total"] = 4
	want["filegate_upload_bytes_total"] = float64(len(pdfData))
	want["filegate_upload_duration_seconds"] = 4
	check("an upload")

	// Sessions: a password change logs out the others; logout ends one,
	// logout everywhere all.
	this, other := a.login("alice", testPassword, "this"), a.login("alice", testPassword, "other")
	want["filegate_logins_total result success"] += 2
	change := func(current string) response {
		return a.do(request{method: "POST", target: "/account/password", cookie: this, json: true,
			form: url.Values{"current_password": {current}, "new_password": {"a brand new password"}}})
	}
	for range 5 {
		wantStatus(t, change("not my password"), http.StatusForbidden)
	}
	wantStatus(t, change(testPassword), http.StatusTooManyRequests)
	want["filegate_throttled_requests_total scope password"] = 1
	check("a throttled password change")
	a.addUser("dave", false, false)
	d := a.login("dave", testPassword, "one")
	a.login("dave", testPassword, "two")
	a.login("dave", testPassword, "three")
	wantRedirect(t, a.do(request{method: "POST", target: "/logout", cookie: other}), "/login?msg=loggedout")
	wantRedirect(t, a.do(request{method: "POST", target: "/logout", cookie: d, form: url.Values{"everywhere": {"true"}}}), "/login?msg=loggedout")
	want["filegate_logins_total result success"] += 3
	want["filegate_sessions_revoked_total reason logout"] = 1
	want["filegate_sessions_revoked_total reason everywhere"] = 3
	want["filegate_sessions_revoked_total reason password"] = 0
	check("logouts")

	// Share links: created, refused for another's file, revoked, and
	// unlocked with a wrong password until throttled.
	f := a.put(alice, "plans.pdf", pdfData)
	theirs := a.put(bob, "theirs.pdf", pdfData)
	wantStatus(t, a.createLink(alice, fmt.Sprintf(`{"file_id": %d}`, f.ID)), http.StatusCreated)
	wantStatus(t, a.createLink(alice, fmt.Sprintf(`{"file_id": %d}`, theirs.ID)), http.StatusNotFound)
	l, _ := a.newLink(f, link.Spec{})
	wantStatus(t, a.do(request{method: "POST", target: fmt.Sprintf("/links/%d/revoke", l.ID), as: &alice, json: true}), http.StatusOK)
	_, token := a.newLink(f, link.Spec{Password: "open sesame"})
	for range 5 {
		wantStatus(t, a.do(request{method: "POST", target: "/s/" + token, form: url.Values{"password": {"wrong!"}}}), http.StatusUnauthorized)
	}
	wantStatus(t, a.do(request{method: "POST", target: "/s/" + token, form: url.Values{"password": {"open sesame"}}}), http.StatusTooManyRequests)
	want["filegate_link_events_total event created outcome success"] = 3
	want["filegate_link_events_total event created outcome failure"] = 1
	want["filegate_link_events_total event revoked outcome success"] = 1
	want["filegate_link_events_total event unlocked outcome failure"] = 6
	want["filegate_link_events_total event unlocked outcome success"] = 0
	want["filegate_throttled_requests_total scope link"] = 1
	check("share links")

	// A password change that succeeds counts the other sessions it ends.
	a.addUser("carol", false, false)
	mine := a.login("carol", testPassword, "mine")
	a.login("carol", testPassword, "elsewhere")
	wantStatus(t, a.do(request{method: "POST", target: "/account/password", cookie: mine, json: true,
		form: url.Values{"current_password": {testPassword}, "new_password": {"a brand new password"}}}), http.StatusOK)
	want["filegate_logins_total result success"] += 2
	want["filegate_sessions_revoked_total reason password"] = 1
	check("a password change")
}
