package web_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

// since returns the audit lines written after the first n, decoded.
func (l *auditLog) since(t *testing.T, n int) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, raw := range l.lines[n:] {
		var e map[string]any
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatalf("audit line %q: %v", raw, err)
		}
		out = append(out, e)
	}
	return out
}

func (l *auditLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// want is an audit line's expected fields; a nil value means the field
// must be absent.
type want map[string]any

// wantEvents checks that the lines written since mark are exactly one per
// expected event, in order, with the fields it names, and every one with
// the client's address and the request id nginx sent.
func wantEvents(t *testing.T, a *testApp, mark int, events ...want) {
	t.Helper()
	got := a.audit.since(t, mark)
	if len(got) != len(events) {
		t.Fatalf("%d audit lines, want %d: %v", len(got), len(events), got)
	}
	for i, w := range events {
		for k, v := range w {
			if g, ok := got[i][k]; v == nil && ok || v != nil && g != v {
				t.Errorf("line %d (%v): %s = %v, want %v", i, got[i]["event.action"], k, g, v)
			}
		}
		if got[i]["source.ip"] != "203.0.113.5" || got[i]["http.request.id"] != "feedc0de" {
			t.Errorf("line %d: source.ip %v, request id %v; want X-Real-IP's and nginx's", i, got[i]["source.ip"], got[i]["http.request.id"])
		}
	}
}

// Every login, logout, password change, upload, delete and share change
// of the web app writes its audit line: who, what, the outcome and for a
// failure its code; never a password, a cookie or a name typed at login.
func TestAuditEvents(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", false, false)
	nginx := map[string]string{"X-Real-IP": "203.0.113.5", "X-Request-Id": "feedc0de"}
	do := func(rq request) response {
		rq.header, rq.peer = nginx, "127.0.0.1:40000"
		return a.do(rq)
	}
	login := func(name, password string) response {
		return do(request{method: "POST", target: "/login", form: url.Values{"username": {name}, "password": {password}}})
	}
	id := func(u filegate.User) float64 { return float64(u.ID) }

	mark := a.audit.count()
	cookie := sessionCookie(login("alice", testPassword))
	login("alice", "wrong horse")
	login(testPassword+"-typed-as-name", "whatever1")
	for range 5 {
		login("bob", "not bobs password")
	}
	wantEvents(t, a, mark,
		want{"event.action": "user.login", "event.outcome": "success", "user.id": id(alice)},
		want{"event.action": "user.login", "event.outcome": "failure", "event.reason": "unauthorized", "user.id": id(alice)},
		want{"event.action": "user.login", "event.outcome": "failure", "event.reason": "unauthorized", "user.id": nil},
		want{"event.action": "user.login", "event.reason": "unauthorized", "user.id": id(bob)},
		want{"event.action": "user.login", "event.reason": "unauthorized", "user.id": id(bob)},
		want{"event.action": "user.login", "event.reason": "unauthorized", "user.id": id(bob)},
		want{"event.action": "user.login", "event.reason": "unauthorized", "user.id": id(bob)},
		want{"event.action": "user.login", "event.reason": "unauthorized", "user.id": id(bob)},
	)
	mark = a.audit.count()
	login("bob", testPassword) // the right password, after five failures
	wantEvents(t, a, mark, want{"event.action": "user.login", "event.outcome": "failure", "event.reason": "throttled", "user.id": nil})

	mark = a.audit.count()
	body, ct := multipartBody(t, part{"file", "a.pdf", pdfData}, part{"file", "b.html", htmlData})
	var results []struct{ ID int64 }
	r := do(request{method: "POST", target: "/upload", cookie: cookie, json: true, body: body, contentType: ct})
	r.decode(t, &results)
	do(request{method: "POST", target: "/settings", cookie: cookie, form: url.Values{"is_public": {"true"}}})
	do(request{method: "POST", target: "/settings", cookie: cookie, json: true, body: strings.NewReader(`{"is_public": false}`), contentType: "application/json"})
	bobs := a.put(bob, "bob.pdf", pdfData)
	do(request{method: "POST", target: "/delete/" + strconv.FormatInt(bobs.ID, 10), cookie: cookie, form: url.Values{}})
	do(request{method: "POST", target: "/delete/" + strconv.FormatInt(results[0].ID, 10), cookie: cookie, form: url.Values{}})
	wantEvents(t, a, mark,
		want{"event.action": "file.upload", "event.outcome": "success", "user.id": id(alice), "file.id": float64(results[0].ID)},
		want{"event.action": "file.upload", "event.outcome": "failure", "event.reason": "unsupported_type", "user.id": id(alice), "file.id": nil},
		want{"event.action": "user.share", "event.outcome": "success", "user.id": id(alice), "user.public": true},
		want{"event.action": "user.share", "event.outcome": "success", "user.id": id(alice), "user.public": false},
		// Someone else's file: refused as not found, and the id asked for.
		want{"event.action": "file.delete", "event.outcome": "failure", "event.reason": "not_found", "user.id": id(alice), "file.id": float64(bobs.ID)},
		want{"event.action": "file.delete", "event.outcome": "success", "user.id": id(alice), "file.id": float64(results[0].ID)},
	)

	mark = a.audit.count()
	do(request{method: "POST", target: "/account/password", cookie: cookie, json: true,
		form: url.Values{"current_password": {"not the password"}, "new_password": {"brand new secret"}}})
	do(request{method: "POST", target: "/account/password", cookie: cookie, json: true,
		form: url.Values{"current_password": {testPassword}, "new_password": {"brand new secret"}}})
	other := sessionCookie(login("alice", "brand new secret"))
	do(request{method: "POST", target: "/logout", cookie: cookie, form: url.Values{}})
	do(request{method: "POST", target: "/logout", cookie: other, form: url.Values{"everywhere": {"true"}}})
	do(request{method: "POST", target: "/logout", cookie: other, form: url.Values{}}) // logged out already: nothing happens
	wantEvents(t, a, mark,
		want{"event.action": "user.password", "event.outcome": "failure", "event.reason": "forbidden", "user.id": id(alice)},
		want{"event.action": "user.password", "event.outcome": "success", "user.id": id(alice)},
		want{"event.action": "user.login", "event.outcome": "success", "user.id": id(alice)},
		want{"event.action": "user.logout", "event.outcome": "success", "user.id": id(alice), "session.everywhere": nil},
		want{"event.action": "user.logout", "event.outcome": "success", "user.id": id(alice), "session.everywhere": true},
	)

	all := a.audit.all()
	for _, secret := range []string{testPassword, "wrong horse", "not bobs password", "brand new secret", "not the password", cookie.Value, other.Value, "b.html", "a.pdf"} {
		if strings.Contains(all, secret) {
			t.Errorf("the audit log holds %q", secret)
		}
	}
}
