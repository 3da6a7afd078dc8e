package e2e

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// send sends method path through nginx with cookie (nil: none) and, if
// form is not nil, the form as the body; header holds name, value pairs.
// Redirects are returned, not followed.
func (d *demo) send(t *testing.T, cookie *http.Cookie, method, path string, form url.Values, header ...string) (*http.Response, []byte) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, d.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

// wantStatus fails the test unless method path with cookie answers want.
func (d *demo) wantStatus(t *testing.T, what string, cookie *http.Cookie, method, path string, want int, header ...string) *http.Response {
	t.Helper()
	resp, body := d.send(t, cookie, method, path, nil, header...)
	if resp.StatusCode != want {
		t.Fatalf("%s: %s %s: %d, want %d; %.200s", what, method, path, resp.StatusCode, want, body)
	}
	return resp
}

// wantAccepted checks that cookie downloads file (twice, so the decision
// is cached afterwards) and lists files.
func (d *demo) wantAccepted(t *testing.T, what string, cookie *http.Cookie, file string) {
	t.Helper()
	d.wantStatus(t, what, cookie, "GET", file, 200)
	d.wantStatus(t, what, cookie, "GET", file, 200)
	d.wantStatus(t, what, cookie, "GET", "/api/files", 200)
}

// wantRefused checks that cookie is no session anywhere: downloads are
// 401 (a browser goes to the login page), the JSON API is 401, pages and
// forms send a browser to the login page, and the settings change
// nothing.
func (d *demo) wantRefused(t *testing.T, what string, cookie *http.Cookie, file string) {
	t.Helper()
	d.wantStatus(t, what, cookie, "GET", file, 401)
	d.wantStatus(t, what, cookie, "HEAD", file, 401)
	if resp := d.wantStatus(t, what, cookie, "GET", file, 303, "Accept", "text/html"); resp.Header.Get("Location") != "/login?next="+file {
		t.Fatalf("%s: browser download sent to %q", what, resp.Header.Get("Location"))
	}
	d.wantStatus(t, what, cookie, "GET", "/api/files", 401)
	d.wantStatus(t, what, cookie, "GET", "/account", 401, "Accept", "application/json")
	if resp := d.wantStatus(t, what, cookie, "GET", "/", 303, "Accept", "text/html"); resp.Header.Get("Location") != "/login" {
		t.Fatalf("%s: home page sent to %q", what, resp.Header.Get("Location"))
	}
	for _, accept := range []string{"text/html", "application/json"} {
		resp, body := d.send(t, cookie, "POST", "/settings", url.Values{"is_public": {"true"}}, "Accept", accept)
		if want := map[string]int{"text/html": 303, "application/json": 401}[accept]; resp.StatusCode != want {
			t.Fatalf("%s: POST /settings (%s): %d, want %d; %s", what, accept, resp.StatusCode, want, body)
		}
	}
}

// login logs name in through nginx and returns the cookie.
func (d *demo) login(t *testing.T, name, password string) *http.Cookie {
	t.Helper()
	return d.Login(t, name, password, "e2e "+name)
}

func TestSessionsThroughNginx(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	ctx := context.Background()

	t.Run("a cookie copied before logout is refused everywhere", func(t *testing.T) {
		mine := d.login(t, "alice", "alice-password")
		copied := *mine
		d.wantAccepted(t, "before logout", mine, d.aliceURL)
		resp, _ := d.send(t, mine, "POST", "/logout", url.Values{})
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?msg=loggedout" {
			t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if cs := resp.Cookies(); len(cs) != 1 || cs[0].Name != session.CookieName || cs[0].Value != "" || cs[0].MaxAge >= 0 {
			t.Errorf("logout does not clear the cookie: %v", cs)
		}
		d.wantRefused(t, "copied cookie after logout", &copied, d.aliceURL)
		if u, _ := d.Store.UserByID(ctx, d.alice); u.IsPublic {
			t.Error("the copied cookie made alice public")
		}
	})

	t.Run("logging out everywhere ends the other sessions, both ways", func(t *testing.T) {
		bob := d.login(t, "bob", "bob-password")
		for _, fromFirst := range []bool{true, false} {
			laptop, phone := d.login(t, "alice", "alice-password"), d.login(t, "alice", "alice-password")
			d.wantAccepted(t, "laptop", laptop, d.aliceURL)
			d.wantAccepted(t, "phone", phone, d.aliceURL)
			from, other := laptop, phone
			if !fromFirst {
				from, other = phone, laptop
			}
			resp, _ := d.send(t, from, "POST", "/logout", url.Values{"everywhere": {"true"}})
			if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?msg=loggedout" {
				t.Fatalf("logout everywhere: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			d.wantRefused(t, "the other session", other, d.aliceURL)
			d.wantRefused(t, "the session that logged out", from, d.aliceURL)
		}
		d.wantAccepted(t, "another user", bob, d.bobURL)
	})

	t.Run("a password change ends the other sessions and keeps this one", func(t *testing.T) {
		d.AddUser(t, testenv.User{Name: "carol", Password: "carol-password"})
		carolURL := d.Put(t, "carol", "c.txt", []byte("carol's\n"))
		this, other := d.login(t, "carol", "carol-password"), d.login(t, "carol", "carol-password")
		d.wantAccepted(t, "other, before", other, carolURL)
		change := func(current, next string) (int, string) {
			resp, body := d.send(t, this, "POST", "/account/password",
				url.Values{"current_password": {current}, "new_password": {next}}, "Accept", "application/json")
			return resp.StatusCode, string(body)
		}
		if status, body := change("wrong-password", "a new password"); status != 403 {
			t.Errorf("wrong current password: %d %s, want 403", status, body)
		}
		if status, body := change("carol-password", "short"); status != 400 {
			t.Errorf("short new password: %d %s, want 400", status, body)
		}
		d.wantAccepted(t, "other, after refused changes", other, carolURL)
		if status, body := change("carol-password", "a new password"); status != 200 || body != "{\"ok\":true}\n" {
			t.Fatalf("change: %d %s", status, body)
		}
		d.wantAccepted(t, "the session that changed it", this, carolURL)
		d.wantRefused(t, "the other session", other, carolURL)
		if resp, _ := d.send(t, nil, "POST", "/login", url.Values{"username": {"carol"}, "password": {"carol-password"}}); resp.StatusCode != 401 {
			t.Errorf("old password logs in: %d", resp.StatusCode)
		}
		d.wantAccepted(t, "new password", d.login(t, "carol", "a new password"), carolURL)
	})

	t.Run("uploader user logout, passwd and remove take effect on the next download", func(t *testing.T) {
		d.AddUser(t, testenv.User{Name: "dave", Password: "dave-password"})
		daveURL := d.Put(t, "dave", "d.txt", []byte("dave's\n"))
		c := d.login(t, "dave", "dave-password")
		d.wantAccepted(t, "dave", c, daveURL)
		if out, audit := cliStreams(t, d.Stack, "", "user", "logout", "dave"); out != "user dave: 1 session logged out\n" ||
			!strings.Contains(audit, `"event.action":"user.logout"`) || !strings.Contains(audit, `"user.target.id":`) {
			t.Errorf("user logout printed %q, and in the audit log and on standard error %q", out, audit)
		}
		d.wantRefused(t, "after user logout", c, daveURL)

		c = d.login(t, "dave", "dave-password")
		d.wantAccepted(t, "dave again", c, daveURL)
		if out, err := d.TryCLI(t, "short\n", "user", "passwd", "dave", "--password-stdin"); err == nil || !strings.Contains(out, "at least 8 characters") {
			t.Errorf("short password: %v %q", err, out)
		}
		d.wantAccepted(t, "after a refused passwd", c, daveURL)
		if out, audit := cliStreams(t, d.Stack, "dave-new-password\n", "user", "passwd", "dave", "--password-stdin"); out != "user dave: password set, 1 session logged out\n" ||
			!strings.Contains(audit, `"event.action":"user.password_reset"`) || strings.Contains(audit, "dave-new-password") {
			t.Errorf("user passwd printed %q, and in the audit log and on standard error %q", out, audit)
		}
		d.wantRefused(t, "after user passwd", c, daveURL)
		if resp, _ := d.send(t, nil, "POST", "/login", url.Values{"username": {"dave"}, "password": {"dave-password"}}); resp.StatusCode != 401 {
			t.Errorf("old password logs in: %d", resp.StatusCode)
		}

		c = d.login(t, "dave", "dave-new-password")
		d.wantAccepted(t, "new password", c, d.bobURL)
		d.CLI(t, "", "user", "remove", "dave")
		d.wantRefused(t, "after user remove", c, d.bobURL)
		if _, err := d.TryCLI(t, "", "user", "logout", "dave"); err == nil {
			t.Error("user logout of a removed user succeeded")
		}
	})

	t.Run("forged, stale and borrowed cookies are refused", func(t *testing.T) {
		// Cookies from before sessions were records: logged out once.
		legacy := &http.Cookie{Name: session.CookieName, Value: testenv.LegacyCookie(t, d.SessionKeys, d.admin)}
		d.wantRefused(t, "cookie without a session", legacy, d.aliceURL)

		// Another user's id with a valid session: the pair must match.
		mine := d.login(t, "bob", "bob-password")
		claims, err := d.Sessions.Decode(mine.Value)
		if err != nil {
			t.Fatal(err)
		}
		swapped := claims
		swapped.UserID = d.admin // staff
		d.wantRefused(t, "bob's session under admin's id", cookie(t, d, swapped), d.aliceURL)
		d.wantAccepted(t, "bob's own cookie", mine, d.bobURL)

		// A session record that expired, with a cookie claiming longer.
		bob, err := d.Store.UserByID(ctx, d.bob)
		if err != nil {
			t.Fatal(err)
		}
		old, err := account.StartSession(ctx, d.Store, bob, "", time.Now().Add(-2*time.Hour), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		old.Expires = time.Now().Add(time.Hour)
		d.wantRefused(t, "expired session", cookie(t, d, old), d.bobURL)

		// A session that never existed.
		unknown := claims
		unknown.Token = session.NewToken()
		d.wantRefused(t, "unknown session", cookie(t, d, unknown), d.bobURL)
	})

	t.Run("sweep deletes expired and revoked sessions", func(t *testing.T) {
		d.CLI(t, "", "sweep", "--apply")
		bob, _ := d.Store.UserByID(ctx, d.bob)
		if _, err := account.StartSession(ctx, d.Store, bob, "", time.Now().Add(-2*time.Hour), time.Hour); err != nil {
			t.Fatal(err)
		}
		gone := d.login(t, "bob", "bob-password")
		d.send(t, gone, "POST", "/logout", url.Values{})
		live := d.login(t, "bob", "bob-password")
		if out := d.CLI(t, "", "sweep"); !strings.Contains(out, "sweep: 2 sessions expired or revoked\n") {
			t.Errorf("sweep:\n%s", out)
		}
		if out := d.CLI(t, "", "sweep", "--apply"); !strings.Contains(out, "sweep: 2 sessions expired or revoked, deleted\n") {
			t.Errorf("sweep --apply:\n%s", out)
		}
		if out := d.CLI(t, "", "sweep"); !strings.Contains(out, "sweep: 0 sessions expired or revoked\n") {
			t.Errorf("sweep after apply:\n%s", out)
		}
		d.wantAccepted(t, "a live session after the sweep", live, d.bobURL)
		d.wantRefused(t, "a deleted revoked session", gone, d.bobURL)
	})

	// Last: it stops authz.
	t.Run("downloads record last use in batches", func(t *testing.T) {
		db, err := sql.Open("postgres", d.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		// Every write of a session's last use leaves a row here.
		if _, err := db.Exec(`CREATE TABLE touches (session_id bigint);
			CREATE FUNCTION note_touch() RETURNS trigger LANGUAGE plpgsql AS
				$$ BEGIN INSERT INTO touches VALUES (NEW.id); RETURN NULL; END $$;
			CREATE TRIGGER note_touch AFTER UPDATE OF last_used_at ON sessions
				FOR EACH ROW EXECUTE FUNCTION note_touch()`); err != nil {
			t.Fatal(err)
		}
		c := d.login(t, "bob", "bob-password")
		claims, _ := d.Sessions.Decode(c.Value)
		s, _, err := d.Store.SessionByToken(ctx, session.HashToken(claims.Token))
		if err != nil {
			t.Fatal(err)
		}
		const downloads = 40
		for range downloads {
			d.wantStatus(t, "download", c, "GET", d.bobURL, 200)
		}
		d.Authz.Stop() // it writes what it noted before it exits
		var writes int
		if err := db.QueryRow(`SELECT count(*) FROM touches WHERE session_id = $1`, s.ID).Scan(&writes); err != nil {
			t.Fatal(err)
		}
		after, _, _ := d.Store.SessionByToken(ctx, session.HashToken(claims.Token))
		// One write when authz stopped, and at most one more if a periodic
		// flush (every 30 s) fell within the downloads.
		if writes < 1 || writes > 2 || !after.LastUsedAt.After(s.LastUsedAt) {
			t.Errorf("%d downloads: %d writes, last used %v → %v; want 1 or 2 writes and a later time",
				downloads, writes, s.LastUsedAt, after.LastUsedAt)
		}
		t.Logf("%d downloads, %d writes of last use", downloads, writes)
	})
}

// cookie encodes claims with the stack's keys.
func cookie(t *testing.T, d *demo, claims session.Claims) *http.Cookie {
	t.Helper()
	v, err := d.Sessions.Encode(claims)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: session.CookieName, Value: v}
}

// With Redis unreachable for authz, PostgreSQL decides and a revocation
// is refused on the next request; with PostgreSQL unreachable, a session
// nothing cached is a 503, and a validly cached one still works.
func TestSessionsDependenciesDown(t *testing.T) {
	d := newDemo(t, testenv.Options{ProxyDatabase: true, ProxyRedis: true})
	c := d.login(t, "alice", "alice-password")
	d.wantAccepted(t, "cached", c, d.aliceURL)

	d.RedisProxy.Cut()
	resp, _ := d.send(t, c, "POST", "/logout", url.Values{}) // the uploader still reaches both
	if resp.StatusCode != 303 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	d.wantStatus(t, "revoked, Redis down", c, "GET", d.aliceURL, 401)
	d.RedisProxy.Restore()
	d.wantStatus(t, "revoked, Redis back", c, "GET", d.aliceURL, 401)

	cached := d.login(t, "alice", "alice-password")
	d.wantAccepted(t, "cached", cached, d.aliceURL)
	fresh := d.login(t, "alice", "alice-password")
	d.DBProxy.Cut()
	d.wantStatus(t, "never seen, PostgreSQL down", fresh, "GET", d.aliceURL, 503)
	d.wantStatus(t, "validly cached, PostgreSQL down", cached, "GET", d.aliceURL, 200)
	d.DBProxy.Restore()
	d.wantStatus(t, "PostgreSQL back", fresh, "GET", d.aliceURL, 200)
}

// cliStreams runs the uploader CLI of s like s.CLI, and returns its
// standard output and standard error apart: the user and link commands
// write their audit lines on the latter.
func cliStreams(t *testing.T, s *testenv.Stack, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	before, _ := os.ReadFile(s.AuditLog)
	defer func() {
		// The commands' audit lines go to the stack's audit log
		// (FILEGATE_AUDIT_LOG), nothing but errors to standard error.
		all, _ := os.ReadFile(s.AuditLog)
		stderr += string(all[len(before):])
	}()
	cmd := s.Command(t, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("uploader %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errs.String())
	}
	return out.String(), errs.String()
}
