package web_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/web"
)

// adminRoutes are every route of the admin page, with a body a staff
// member would send; {id} is the target user's id.
var adminRoutes = []struct {
	method, target string
	form           url.Values
}{
	{"GET", "/admin", nil},
	{"GET", "/admin/users/{id}/remove", nil},
	{"POST", "/admin/users", url.Values{"name": {"mallory"}, "is_staff": {"true"}}},
	{"POST", "/admin/users/{id}/password", url.Values{}},
	{"POST", "/admin/users/{id}/flags", url.Values{"is_staff": {"true"}}},
	{"POST", "/admin/users/{id}/logout", url.Values{}},
	{"POST", "/admin/users/{id}/remove", url.Values{}},
}

// Only staff see the admin pages; everyone else, logged in or not,
// browser or JSON, gets the 404 of a page that is not there, and a
// refused POST changes nothing. A cross-site POST from a staff member's
// browser is refused too.
func TestAdminOnlyForStaff(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	staff := a.addUser("staff", false, true)
	bob := a.addUser("bob", false, false)
	a.put(bob, "b.pdf", pdfData)
	bobCookie := a.cookie(bob)
	before := a.audit.all()

	for _, rt := range adminRoutes {
		target := strings.ReplaceAll(rt.target, "{id}", fmt.Sprint(bob.ID))
		for _, as := range []*filegate.User{&alice, nil} {
			for _, json := range []bool{false, true} {
				r := a.do(request{method: rt.method, target: target, as: as, json: json, form: rt.form})
				who := "anonymous"
				if as != nil {
					who = as.Slug
				}
				if r.StatusCode != http.StatusNotFound {
					t.Errorf("%s %s as %s (json %t): %d, want 404", rt.method, target, who, json, r.StatusCode)
				}
				if json {
					if msg := r.errorSentence(t); msg != "There is no such page." {
						t.Errorf("%s %s as %s: %q", rt.method, target, who, msg)
					}
				} else if strings.Contains(r.body, "bob") || strings.Contains(r.body, `href="/admin"`) {
					t.Errorf("%s %s as %s shows what only staff see:\n%s", rt.method, target, who, r.body)
				}
			}
		}
		if rt.method == "POST" {
			cross := a.do(request{method: "POST", target: target, as: &staff, form: rt.form,
				header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}})
			wantStatus(t, cross, http.StatusForbidden)
		}
	}
	// Nothing changed: bob is there with his file, his session and his
	// flags, nobody was made, and no change was even tried.
	got, err := a.db.UserByID(context.Background(), bob.ID)
	if err != nil || got.IsStaff || got.IsPublic || a.fileCount() != 1 {
		t.Fatalf("bob after refused admin requests: %+v, %v, %d files", got, err, a.fileCount())
	}
	if _, err := a.db.UserBySlug(context.Background(), "mallory"); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("a refused create made a user: %v", err)
	}
	wantStatus(t, a.do(request{method: "GET", target: "/", cookie: bobCookie}), http.StatusOK)
	if a.audit.all() != before {
		t.Errorf("refused requests wrote audit lines:\n%s", a.audit.all())
	}

	// The navigation offers the page to staff alone.
	if r := a.do(request{method: "GET", target: "/", as: &alice}); strings.Contains(r.body, `href="/admin"`) {
		t.Error("a user's navigation links the admin page")
	}
	r := a.do(request{method: "GET", target: "/", as: &staff})
	if !strings.Contains(r.body, `<a href="/admin">Admin</a>`) {
		t.Errorf("staff's navigation lacks the admin page:\n%s", r.body)
	}
	r = a.do(request{method: "GET", target: "/admin", as: &staff})
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `<a href="/admin" aria-current="page">Admin</a>`) {
		t.Errorf("the admin page is not marked current in the navigation")
	}

	// A staff member who loses the flag loses the page with their next
	// request, on the session they already have.
	cookie := a.cookie(staff)
	wantStatus(t, a.do(request{method: "GET", target: "/admin", cookie: cookie}), http.StatusOK)
	if _, err := a.db.UpdateUser(context.Background(), staff.ID, filegate.UserUpdate{IsStaff: new(false)}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a.do(request{method: "GET", target: "/admin", cookie: cookie}), http.StatusNotFound)
}

// The list: every user with their files and bytes against the quota,
// their flags and live sessions, a page at a time by slug.
func TestAdminList(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	staff := a.addUser("staff", false, true)
	alice := a.addUser("alice", true, false)
	a.addUser("bob", false, false)
	a.addUser("carol", false, false)
	a.addUser("dave", false, false)
	a.put(alice, "a.pdf", pdfData)
	a.put(alice, "b.png", pngData)
	a.cookie(alice)
	a.cookie(alice)
	revoked := a.cookie(alice) // revoked below: not counted
	wantStatus(t, a.do(request{method: "POST", target: "/logout", cookie: revoked}), http.StatusSeeOther)
	sc := a.cookie(staff) // one session of staff's, however many requests

	r := a.do(request{method: "GET", target: "/admin", cookie: sc, json: true})
	wantStatus(t, r, http.StatusOK)
	var got struct {
		Users []struct {
			ID       int64  `json:"id"`
			Slug     string `json:"slug"`
			Name     string `json:"name"`
			IsPublic bool   `json:"is_public"`
			IsStaff  bool   `json:"is_staff"`
			Files    int64  `json:"files"`
			Bytes    int64  `json:"bytes"`
			Sessions int64  `json:"sessions"`
		} `json:"users"`
		Quota struct{ Bytes, Files int64 } `json:"quota"`
	}
	r.decode(t, &got)
	if strings.Contains(r.body, "password") || strings.Contains(r.body, "$2a$") {
		t.Errorf("the list carries password hashes: %s", r.body)
	}
	var slugs []string
	for _, u := range got.Users {
		slugs = append(slugs, u.Slug)
	}
	if fmt.Sprint(slugs) != "[alice bob carol]" || got.Quota.Files == 0 || got.Quota.Bytes == 0 {
		t.Fatalf("first page: %s", r.body)
	}
	if u := got.Users[0]; u.ID != alice.ID || !u.IsPublic || u.IsStaff || u.Files != 2 ||
		u.Bytes != int64(len(pdfData)+len(pngData)) || u.Sessions != 2 {
		t.Errorf("alice: %+v", u)
	}
	next := r.Header.Get("Link")
	if next != `</admin?after=carol>; rel="next"` {
		t.Fatalf("Link %q", next)
	}
	r = a.do(request{method: "GET", target: "/admin?after=carol", cookie: sc, json: true})
	r.decode(t, &got)
	if len(got.Users) != 2 || got.Users[0].Slug != "dave" || !got.Users[1].IsStaff || got.Users[1].Sessions != 1 || r.Header.Get("Link") != "" {
		t.Errorf("second page: %s (Link %q)", r.body, r.Header.Get("Link"))
	}

	// HTML: the same figures, and for the viewer's own row no action
	// that would lock them out.
	r = a.do(request{method: "GET", target: "/admin?after=carol", cookie: sc})
	wantStatus(t, r, http.StatusOK)
	row := regexp.MustCompile(`(?s)<tr id="user-` + fmt.Sprint(staff.ID) + `">.*?</tr>`).FindString(r.body)
	if row == "" || !strings.Contains(row, `<span class="badge">you</span>`) || strings.Contains(row, "Remove") ||
		strings.Contains(row, "Reset password") || strings.Contains(row, "is_staff") || !strings.Contains(row, "Log out everywhere") {
		t.Errorf("the viewer's own row:\n%s", row)
	}
	if !strings.Contains(r.body, `<a href="/admin" rel="first">`) {
		t.Errorf("the second page has no way back to the first")
	}
	r = a.do(request{method: "GET", target: "/admin", cookie: sc})
	row = regexp.MustCompile(`(?s)<tr id="user-` + fmt.Sprint(alice.ID) + `">.*?</tr>`).FindString(r.body)
	for _, want := range []string{
		`<td data-label="Files">2 of `,
		`<td data-label="Sessions">2</td>`,
		`Make private<span class="visually-hidden">: files of alice</span>`,
		`Make staff<span class="visually-hidden">: alice</span>`,
		`Reset password<span class="visually-hidden">: alice</span>`,
		fmt.Sprintf(`<form method="get" action="/admin/users/%d/remove" class="delete" data-name="alice (2 files)">`, alice.ID),
	} {
		if !strings.Contains(row, want) {
			t.Errorf("alice's row lacks %q:\n%s", want, row)
		}
	}
	if !strings.Contains(r.body, `<a href="/admin?after=carol" rel="next">`) {
		t.Errorf("the first page does not link the next")
	}
}

// Creating a user: a one-time password, made here and shown once, that
// logs the new user in; it is in no URL, no log and no audit line.
func TestAdminCreate(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	staff := a.addUser("staff", false, true)
	a.addUser("alice", false, false)
	var logs bytes.Buffer
	admin := account.NewAdmin(a.db, a.in)
	admin.Audit = a.links.Audit
	srv := &web.Server{Store: a.db, Files: a.in, Sessions: a.sessions, Links: a.links, Admin: admin, Now: a.clock.Now,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	b := *a
	b.h = srv.Handler()

	r := b.do(request{method: "POST", target: "/admin/users", as: &staff,
		form: url.Values{"name": {"Carol"}, "is_public": {"true"}}})
	wantStatus(t, r, http.StatusCreated)
	m := regexp.MustCompile(`<input id="one-time-password" class="link-url" type="text" readonly value="([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(r.body, "User Carol (carol) created") {
		t.Fatalf("the answer shows no password:\n%s", r.body)
	}
	password := html.UnescapeString(m[1])
	carol, err := account.Authenticate(context.Background(), a.db, "carol", password)
	if err != nil || !carol.IsPublic || carol.IsStaff {
		t.Fatalf("carol with the one-time password: %+v, %v", carol, err)
	}
	if len(password) < 20 {
		t.Errorf("a one-time password of %d characters", len(password))
	}
	e := a.audit.last(t)
	if e["event.action"] != "user.create" || e["event.outcome"] != "success" || e["user.id"] != float64(staff.ID) ||
		e["user.target.id"] != float64(carol.ID) {
		t.Errorf("audit line %v", e)
	}

	// JSON: 201 with the user and the password.
	r = b.do(request{method: "POST", target: "/admin/users", as: &staff, json: true, contentType: "application/json",
		body: strings.NewReader(`{"name": "dave", "is_staff": true}`)})
	wantStatus(t, r, http.StatusCreated)
	var created struct {
		User     struct{ ID int64 } `json:"user"`
		Password string             `json:"password"`
	}
	r.decode(t, &created)
	dave, err := account.Authenticate(context.Background(), a.db, "dave", created.Password)
	if err != nil || dave.ID != created.User.ID || !dave.IsStaff || dave.IsPublic {
		t.Errorf("dave: %+v, %v (%s)", dave, err, r.body)
	}

	// A taken or bad name: the form again, with the reason and the name
	// kept; JSON gets the status and the sentence.
	r = b.do(request{method: "POST", target: "/admin/users", as: &staff, form: url.Values{"name": {"ALICE"}, "is_staff": {"true"}}})
	wantStatus(t, r, http.StatusConflict)
	for _, want := range []string{`<p class="error" role="alert" id="create-error">A user &#34;alice&#34; already exists.</p>`,
		`value="ALICE"`, `name="is_staff" value="true" checked`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the refused form lacks %q:\n%s", want, r.body)
		}
	}
	if e := a.audit.last(t); e["event.action"] != "user.create" || e["event.outcome"] != "failure" || e["event.reason"] != "conflict" {
		t.Errorf("audit line of a refused create: %v", e)
	}
	r = b.do(request{method: "POST", target: "/admin/users", as: &staff, json: true, form: url.Values{"name": {"../x"}}})
	wantStatus(t, r, http.StatusBadRequest)
	if msg := r.errorSentence(t); !strings.Contains(msg, "A user name is") {
		t.Errorf("bad name: %q", msg)
	}

	for where, text := range map[string]string{"log": logs.String(), "audit log": a.audit.all()} {
		for _, secret := range []string{password, created.Password} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds a one-time password:\n%s", where, text)
			}
		}
	}
}

// Resetting a password: a new one-time password, and every session of
// the user logged out in the same step. Staff cannot reset their own
// here: the account page asks for the current one.
func TestAdminResetPassword(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	staff := a.addUser("staff", false, true)
	bob := a.addUser("bob", false, false)
	c1, c2 := a.cookie(bob), a.cookie(bob)

	r := a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/password", bob.ID), as: &staff, form: url.Values{}})
	wantStatus(t, r, http.StatusOK)
	m := regexp.MustCompile(`id="one-time-password" class="link-url" type="text" readonly value="([^"]+)"`).FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(r.body, "New password for bob") || !strings.Contains(r.body, "2 sessions logged out.") {
		t.Fatalf("the answer:\n%s", r.body)
	}
	for _, c := range []*http.Cookie{c1, c2} {
		wantRedirect(t, a.do(request{method: "GET", target: "/", cookie: c}), "/login")
	}
	if _, err := account.Authenticate(context.Background(), a.db, "bob", testPassword); err == nil {
		t.Error("the old password still works")
	}
	if _, err := account.Authenticate(context.Background(), a.db, "bob", html.UnescapeString(m[1])); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if e := a.audit.last(t); e["event.action"] != "user.password_reset" || e["user.target.id"] != float64(bob.ID) || e["event.outcome"] != "success" {
		t.Errorf("audit line %v", e)
	}

	r = a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/password", bob.ID), as: &staff, json: true})
	wantStatus(t, r, http.StatusOK)
	var reset struct {
		User     struct{ Slug string } `json:"user"`
		Password string                `json:"password"`
		Revoked  int64                 `json:"sessions_revoked"`
	}
	r.decode(t, &reset)
	if reset.User.Slug != "bob" || reset.Revoked != 0 || reset.Password == "" || reset.Password == m[1] {
		t.Errorf("JSON reset: %s", r.body)
	}

	// Their own password, or a user that is not there.
	r = a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/password", staff.ID), as: &staff, json: true})
	wantStatus(t, r, http.StatusForbidden)
	if _, err := account.Authenticate(context.Background(), a.db, "staff", testPassword); err != nil {
		t.Errorf("a refused reset of one's own password changed it: %v", err)
	}
	if e := a.audit.last(t); e["event.outcome"] != "failure" || e["event.reason"] != "forbidden" {
		t.Errorf("audit line of a refused reset: %v", e)
	}
	for _, target := range []string{"/admin/users/999999/password", "/admin/users/abc/password", "/admin/users/01/password"} {
		wantStatus(t, a.do(request{method: "POST", target: target, as: &staff, json: true}), http.StatusNotFound)
	}
}

// The flags, one at a time, with a message that says what changed; a
// staff member cannot take their own staff flag (so /admin always keeps
// the one using it).
func TestAdminFlags(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	staff := a.addUser("staff", false, true)
	bob := a.addUser("bob", false, false)
	target := fmt.Sprintf("/admin/users/%d/flags", bob.ID)

	r := a.do(request{method: "POST", target: target, as: &staff, form: url.Values{"is_public": {"true"}, "back": {"/admin?after=a"}}})
	wantStatus(t, r, http.StatusSeeOther)
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc.Path != "/admin" || loc.Query().Get("after") != "a" || loc.Query().Get("msg") != "done" || strings.Contains(loc.RawQuery, "bob") {
		t.Errorf("Location %s", loc)
	}
	page := a.do(request{method: "GET", target: loc.RequestURI(), as: &staff})
	if !strings.Contains(page.body, `<p class="flash" role="status" tabindex="-1" autofocus>bob’s files are public now: anyone logged in can download them.</p>`) {
		t.Errorf("after the change the page says:\n%s", page.body)
	}
	if u, _ := a.db.UserByID(context.Background(), bob.ID); !u.IsPublic || u.IsStaff {
		t.Errorf("bob: %+v", u)
	}

	r = a.do(request{method: "POST", target: target, as: &staff, json: true, contentType: "application/json",
		body: strings.NewReader(`{"is_staff": true, "is_public": false}`)})
	wantStatus(t, r, http.StatusOK)
	var got struct {
		IsPublic bool `json:"is_public"`
		IsStaff  bool `json:"is_staff"`
	}
	r.decode(t, &got)
	if got.IsPublic || !got.IsStaff {
		t.Errorf("JSON: %s", r.body)
	}
	if e := a.audit.last(t); e["event.action"] != "user.update" || e["user.target.id"] != float64(bob.ID) || e["user.id"] != float64(staff.ID) {
		t.Errorf("audit line %v", e)
	}

	for _, form := range []url.Values{{}, {"is_public": {"yes"}}, {"back": {"/admin"}}} {
		wantStatus(t, a.do(request{method: "POST", target: target, as: &staff, json: true, form: form}), http.StatusBadRequest)
	}

	// Not their own staff flag; their own files' flag is theirs to set.
	self := fmt.Sprintf("/admin/users/%d/flags", staff.ID)
	wantStatus(t, a.do(request{method: "POST", target: self, as: &staff, json: true, form: url.Values{"is_staff": {"false"}}}), http.StatusForbidden)
	wantStatus(t, a.do(request{method: "POST", target: self, as: &staff, json: true, form: url.Values{"is_public": {"true"}}}), http.StatusOK)
	if u, _ := a.db.UserByID(context.Background(), staff.ID); !u.IsStaff || !u.IsPublic {
		t.Errorf("staff after self changes: %+v", u)
	}
	// Another staff member can.
	r = a.do(request{method: "POST", target: self, as: &bob, form: url.Values{"is_staff": {"false"}}})
	wantStatus(t, r, http.StatusSeeOther)
	page = a.do(request{method: "GET", target: r.Header.Get("Location"), as: &bob})
	if !strings.Contains(page.body, "staff is no longer staff.") {
		t.Errorf("the message after demoting:\n%s", page.body)
	}
}

// Log out everywhere: every session of the user, theirs to use no more.
func TestAdminLogout(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	staff := a.addUser("staff", false, true)
	bob := a.addUser("bob", false, false)
	c1, c2 := a.cookie(bob), a.cookie(bob)
	r := a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/logout", bob.ID), as: &staff, form: url.Values{"back": {"/admin"}}})
	wantStatus(t, r, http.StatusSeeOther)
	page := a.do(request{method: "GET", target: r.Header.Get("Location"), as: &staff})
	if !strings.Contains(page.body, "bob: 2 sessions logged out.") {
		t.Errorf("the message:\n%s", page.body)
	}
	for _, c := range []*http.Cookie{c1, c2} {
		wantRedirect(t, a.do(request{method: "GET", target: "/", cookie: c}), "/login")
	}
	r = a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/logout", bob.ID), as: &staff, json: true})
	wantStatus(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != fmt.Sprintf(`{"user":%d,"sessions_revoked":0}`, bob.ID) {
		t.Errorf("JSON: %s", r.body)
	}
	if e := a.audit.last(t); e["event.action"] != "user.logout" || e["user.target.id"] != float64(bob.ID) {
		t.Errorf("audit line %v", e)
	}
	wantStatus(t, a.do(request{method: "POST", target: "/admin/users/999999/logout", as: &staff, json: true}), http.StatusNotFound)
}

// Removing a user asks first (a page without script), then takes the
// user with their files, bytes and sessions. Staff cannot remove
// themselves.
func TestAdminRemove(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	staff := a.addUser("staff", false, true)
	bob := a.addUser("bob", false, false)
	f1, f2 := a.put(bob, "a.pdf", pdfData), a.put(bob, "b.png", pngData)
	bobCookie := a.cookie(bob)
	target := fmt.Sprintf("/admin/users/%d/remove", bob.ID)

	r := a.do(request{method: "GET", target: target + "?back=" + url.QueryEscape("/admin?after=a"), as: &staff})
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		"<h1>Remove user bob?</h1>",
		"<p>Their files, share links and sessions go with them. This can’t be undone.</p>",
		fmt.Sprintf(`<form method="post" action="/admin/users/%d/remove" class="buttons">`, bob.ID),
		`<input type="hidden" name="back" value="/admin?after=a">`,
		`<button type="submit" class="danger">Remove</button>`,
		`<a href="/admin?after=a">Cancel</a>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the confirmation lacks %q:\n%s", want, r.body)
		}
	}
	if r := a.do(request{method: "GET", target: target + "?back=//evil.example/", as: &staff}); !strings.Contains(r.body, `<a href="/admin">Cancel</a>`) {
		t.Errorf("a foreign back is kept")
	}
	if !a.onDisk(f1) || a.fileCount() != 2 {
		t.Fatal("the confirmation page removed something")
	}

	// Not oneself.
	wantStatus(t, a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/remove", staff.ID), as: &staff, json: true}), http.StatusForbidden)
	if _, err := a.db.UserByID(context.Background(), staff.ID); err != nil {
		t.Fatalf("staff removed themselves: %v", err)
	}

	r = a.do(request{method: "POST", target: target, as: &staff, form: url.Values{"back": {"/admin"}}})
	wantStatus(t, r, http.StatusSeeOther)
	page := a.do(request{method: "GET", target: r.Header.Get("Location"), as: &staff})
	if !strings.Contains(page.body, "bob removed with 2 files.") || strings.Contains(page.body, `id="user-`+fmt.Sprint(bob.ID)+`"`) {
		t.Errorf("after the removal:\n%s", page.body)
	}
	if a.onDisk(f1) || a.onDisk(f2) || a.fileCount() != 0 {
		t.Error("bob's files outlived him")
	}
	if _, err := a.db.UserByID(context.Background(), bob.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("bob: %v", err)
	}
	wantRedirect(t, a.do(request{method: "GET", target: "/", cookie: bobCookie}), "/login")
	if e := a.audit.last(t); e["event.action"] != "user.remove" || e["user.target.id"] != float64(bob.ID) || e["event.outcome"] != "success" {
		t.Errorf("audit line %v", e)
	}
	wantStatus(t, a.do(request{method: "POST", target: target, as: &staff, json: true}), http.StatusNotFound)
	wantStatus(t, a.do(request{method: "GET", target: target, as: &staff}), http.StatusNotFound)

	carol := a.addUser("carol", false, false)
	r = a.do(request{method: "POST", target: fmt.Sprintf("/admin/users/%d/remove", carol.ID), as: &staff, json: true})
	wantStatus(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != fmt.Sprintf(`{"removed":%d,"files":0}`, carol.ID) {
		t.Errorf("JSON: %s", r.body)
	}
}
