package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/testenv"
)

// The audit log through the real nginx (docs/interface.md#audit-log): the
// stack's processes all append to one file (testenv.Stack.AuditLog).

// nginxDo makes one request through nginx with cookie (nil: none), a body of
// contentType (none with ""), and the header pairs, and returns the
// answer and its body.
func nginxDo(t *testing.T, s *testenv.Stack, cookie *http.Cookie, method, path, contentType string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

var nginxRequestID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// byRequestID returns the stack's audit lines written for the request
// nginx answered with resp, by the X-Request-Id nginx returned.
func byRequestID(t *testing.T, s *testenv.Stack, resp *http.Response) []audit.Record {
	t.Helper()
	id := resp.Header.Get("X-Request-Id")
	if !nginxRequestID.MatchString(id) {
		t.Fatalf("%s %s: X-Request-Id %q, want nginx's $request_id", resp.Request.Method, resp.Request.URL.Path, id)
	}
	var recs []audit.Record
	for _, r := range s.AuditLines(t) {
		if r.RequestID == id {
			recs = append(recs, r)
		}
	}
	return recs
}

// rawLine returns the line of the stack's audit log that holds id, as
// written.
func rawLine(t *testing.T, s *testenv.Stack, id string) string {
	t.Helper()
	b, err := os.ReadFile(s.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `"http.request.id":"`+id+`"`) {
			return l
		}
	}
	return ""
}

// aliceStack starts a stack with the user alice, her file notes.txt and
// the session cookie of her login through nginx; it returns them with
// her id and the file's URL.
func aliceStack(t *testing.T) (s *testenv.Stack, alice int64, notes string, cookie *http.Cookie) {
	t.Helper()
	s = testenv.Start(t, testenv.Options{})
	alice = s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})
	notes = s.Put(t, "alice", "notes.txt", []byte("alice's notes\n"))
	return s, alice, notes, s.Login(t, "alice", "alice-password", "audit test")
}

// A download, an upload and a share change through nginx each write one
// line with the X-Request-Id nginx returned: who, which file, the
// client's address, the outcome. A client's own X-Request-Id never
// reaches the log: nginx sends its $request_id instead, to the app and to
// authz, and returns that.
func TestAuditThroughNginx(t *testing.T) {
	t.Parallel()
	s, alice, notes, cookie := aliceStack(t)

	download, body := nginxDo(t, s, cookie, "GET", notes, "", nil)
	if download.StatusCode != 200 || string(body) != "alice's notes\n" {
		t.Fatalf("download: %d %q", download.StatusCode, body)
	}
	ct, form := multipartFiles(upload{"report.pdf", []byte("%PDF-1.4\nreport\n%%EOF\n")})
	up, body := nginxDo(t, s, cookie, "POST", "/upload", ct, form, "Accept", "application/json")
	var stored []struct{ ID int64 }
	if up.StatusCode != 201 || json.Unmarshal(body, &stored) != nil || len(stored) != 1 {
		t.Fatalf("upload: %d %s", up.StatusCode, body)
	}
	share, body := nginxDo(t, s, cookie, "POST", "/settings", "application/json", strings.NewReader(`{"is_public": true}`), "Accept", "application/json")
	if share.StatusCode != 200 {
		t.Fatalf("share: %d %s", share.StatusCode, body)
	}
	notesID := s.File(t, notes).ID

	for _, c := range []struct {
		what   string
		resp   *http.Response
		action string
		fileID int64
	}{
		{"download", download, "file.download", notesID},
		{"upload", up, "file.upload", stored[0].ID},
		{"share change", share, "user.share", 0},
	} {
		recs := byRequestID(t, s, c.resp)
		if len(recs) != 1 {
			t.Errorf("%s: %d audit lines with its request id, want 1: %+v", c.what, len(recs), recs)
			continue
		}
		r := recs[0]
		if r.Action != c.action || r.Outcome != audit.Success || r.UserID != alice || r.FileID != c.fileID ||
			r.SourceIP.String() != "127.0.0.1" || r.Duration < 0 {
			t.Errorf("%s: %+v, want %s by user %d of file %d from 127.0.0.1", c.what, r, c.action, alice, c.fileID)
		}
		if c.action == "user.share" && (r.Public == nil || !*r.Public) {
			t.Errorf("share change: user.public %v, want true", r.Public)
		}
		t.Logf("%s: %s", c.what, rawLine(t, s, r.RequestID))
	}
	ids := map[string]bool{}
	for _, r := range []*http.Response{download, up, share} {
		ids[r.Header.Get("X-Request-Id")] = true
	}
	if len(ids) != 3 {
		t.Errorf("request ids %v: not one per request", ids)
	}

	for _, path := range []string{notes, "/files/999/none.txt"} {
		resp, _ := nginxDo(t, s, cookie, "GET", path, "", nil, "X-Request-Id", "chosen-by-the-client")
		if recs := byRequestID(t, s, resp); len(recs) != 1 || recs[0].Action != "file.download" {
			t.Errorf("GET %s: %+v, want one file.download line under nginx's id", path, recs)
		}
	}
	resp, _ := nginxDo(t, s, cookie, "POST", "/settings", "application/x-www-form-urlencoded", strings.NewReader("is_public=false"),
		"X-Request-Id", "chosen-by-the-client")
	if recs := byRequestID(t, s, resp); len(recs) != 1 || recs[0].Action != "user.share" {
		t.Errorf("POST /settings: %+v, want one user.share line under nginx's id", recs)
	}
	for _, r := range s.AuditLines(t) {
		if r.RequestID == "chosen-by-the-client" {
			t.Errorf("the client's request id was logged: %+v", r)
		}
	}
}

// Rotation: the file renamed away, SIGHUP makes authz and the uploader
// write to a new file at the path; nothing is lost and both keep running.
func TestAuditRotation(t *testing.T) {
	t.Parallel()
	s, _, notes, cookie := aliceStack(t)
	before, _ := nginxDo(t, s, cookie, "GET", notes, "", nil)
	if len(byRequestID(t, s, before)) != 1 {
		t.Fatal("no line for the download before the rotation")
	}
	rotated := s.AuditLog + ".1"
	if err := os.Rename(s.AuditLog, rotated); err != nil {
		t.Fatal(err)
	}
	s.Authz.Signal(t, syscall.SIGHUP)
	s.Uploader.Signal(t, syscall.SIGHUP)

	// Each process reopens on its own goroutine: until it has, its lines
	// still go to the rotated file, which is no loss.
	for _, c := range []struct {
		what string
		req  func() *http.Response
	}{
		{"authz", func() *http.Response { r, _ := nginxDo(t, s, cookie, "GET", notes, "", nil); return r }},
		{"uploader", func() *http.Response {
			r, _ := nginxDo(t, s, cookie, "POST", "/settings", "application/x-www-form-urlencoded", strings.NewReader("is_public=true"))
			return r
		}},
	} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if len(byRequestID(t, s, c.req())) == 1 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: no line in the new file 10s after SIGHUP", c.what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// The CLI opens the path as it finds it.
	s.CLI(t, "", "link", "create", "alice", "notes.txt")
	found := false
	for _, r := range s.AuditLines(t) {
		found = found || r.Action == "link.create"
	}
	if !found {
		t.Error("no link.create line in the new file")
	}
	old, err := os.ReadFile(rotated)
	if err != nil || !strings.Contains(string(old), before.Header.Get("X-Request-Id")) {
		t.Errorf("the rotated file lost the line before the rotation: %v", err)
	}
	for _, p := range []*testenv.Service{s.Authz, s.Uploader} {
		if _, exited := p.Wait(0); exited {
			t.Error("a process ended on SIGHUP")
		}
	}
	if st, err := os.Stat(s.AuditLog); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new file: %v, %v; want mode 0600", st, err)
	}
}

// Every secret this test uses through nginx (passwords at login, at a
// password change and for a link, the session cookies, link tokens and
// the link's cookie, the session keys) is absent from the audit log,
// though each of their actions is logged. The client also tries to put
// its cookie into the log through the headers nginx overwrites. Every
// other stack's log is searched the same way when its test ends
// (testenv.Stack.AuditSecrets).
func TestAuditHoldsNoSecrets(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "alice", Password: "alice-secret-1"})
	s.AddUser(t, testenv.User{Name: "bob", Password: "bob-secret-12"})
	notes := s.Put(t, "alice", "notes.txt", []byte("notes\n"))
	notesID := s.File(t, notes).ID
	cookie := s.Login(t, "alice", "alice-secret-1", "audit test")
	smuggle := []string{"X-Request-Id", cookie.Value, "X-Real-IP", cookie.Value, "X-Filegate-Client", cookie.Value}
	form := "application/x-www-form-urlencoded"

	// Logins: wrong password, a password typed as the name, and again.
	testenv.Secret("a password typed as a name", "typed-as-name-secret")
	for _, f := range []url.Values{
		{"username": {"bob"}, "password": {"alice-secret-1"}},
		{"username": {"typed-as-name-secret"}, "password": {"bob-secret-12"}},
	} {
		if resp, _ := nginxDo(t, s, nil, "POST", "/login", form, strings.NewReader(f.Encode()), smuggle...); resp.StatusCode != 401 {
			t.Errorf("login %v: %d, want 401", f["username"], resp.StatusCode)
		}
	}
	bob := s.Login(t, "bob", "bob-secret-12", "audit test")

	// Downloads with the cookie, and with bob's.
	for _, c := range []*http.Cookie{cookie, bob} {
		nginxDo(t, s, c, "GET", notes, "", nil, smuggle...)
	}

	// A password link, made through the API: its token and password, the
	// page, a wrong and the right password, its cookie, its download.
	testenv.Secret("a link's password", "link-secret-pw")
	resp, body := nginxDo(t, s, cookie, "POST", "/links", form, strings.NewReader(url.Values{
		"file_id": {strconv.FormatInt(notesID, 10)}, "password": {"link-secret-pw"}}.Encode()), "Accept", "application/json")
	var made struct{ URL string }
	if resp.StatusCode != 201 || json.Unmarshal(body, &made) != nil || !strings.HasPrefix(made.URL, "/s/") {
		t.Fatalf("POST /links: %d %s", resp.StatusCode, body)
	}
	testenv.Secret("a link's token", strings.TrimPrefix(made.URL, "/s/"))
	nginxDo(t, s, nil, "GET", made.URL, "", nil, append(smuggle, "Accept", "text/html")...)
	nginxDo(t, s, nil, "POST", made.URL, form, strings.NewReader("password=wrong-link-pw"), smuggle...)
	testenv.Secret("a wrong link password", "wrong-link-pw")
	resp, _ = nginxDo(t, s, nil, "POST", made.URL, form, strings.NewReader("password=link-secret-pw"), smuggle...)
	var unlock *http.Cookie
	for _, c := range resp.Cookies() {
		unlock = c
	}
	if resp.StatusCode != 303 || unlock == nil {
		t.Fatalf("unlock: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	testenv.Secret("a link's cookie", unlock.Value)
	if resp, _ := nginxDo(t, s, unlock, "GET", made.URL, "", nil, smuggle...); resp.StatusCode != 200 {
		t.Errorf("unlocked link: %d, want 200", resp.StatusCode)
	}
	// A link made with the CLI, whose password comes on standard input.
	out := s.CLI(t, "cli-link-secret\n", "link", "create", "alice", "notes.txt", "--password-stdin")
	testenv.Secret("a CLI link's password", "cli-link-secret")
	if m := regexp.MustCompile(`/s/([A-Za-z0-9_-]{43})`).FindStringSubmatch(out); m != nil {
		testenv.Secret("a CLI link's token", m[1])
	} else {
		t.Fatalf("link create printed no URL: %s", out)
	}

	// A password change, wrong and right, then logouts.
	testenv.Secret("alice's new password", "alice-secret-2")
	for _, cur := range []string{"wrong-current-pw", "alice-secret-1"} {
		nginxDo(t, s, cookie, "POST", "/account/password", form, strings.NewReader(url.Values{
			"current_password": {cur}, "new_password": {"alice-secret-2"}}.Encode()), smuggle...)
	}
	testenv.Secret("a wrong current password", "wrong-current-pw")
	nginxDo(t, s, cookie, "POST", "/logout", form, strings.NewReader(""), smuggle...)
	nginxDo(t, s, bob, "POST", "/logout", form, strings.NewReader("everywhere=true"), smuggle...)

	actions := map[string]int{}
	for _, r := range s.AuditLines(t) {
		actions[r.Action+" "+r.Outcome]++
	}
	for _, a := range []string{"user.login success", "user.login failure", "file.download success", "link.create success",
		"link.unlock success", "link.unlock failure", "link.download success", "link.download failure",
		"user.password success", "user.password failure", "user.logout success"} {
		if actions[a] == 0 {
			t.Errorf("no %q line: %v", a, actions)
		}
	}
	if found := s.AuditSecrets(t); len(found) > 0 {
		t.Errorf("the audit log holds: %v", found)
	}
	// The search finds what it looks for: the same log with a cookie
	// planted in a line.
	b, err := os.ReadFile(s.AuditLog)
	if err != nil {
		t.Fatal(err)
	}
	planted := *s
	planted.AuditLog = filepath.Join(t.TempDir(), "planted.log")
	b = append(b, `{"msg":"audit","event.action":"planted","http.request.id":"`+cookie.Value+`"}`+"\n"...)
	if err := os.WriteFile(planted.AuditLog, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if found := planted.AuditSecrets(t); len(found) != 1 || !strings.HasPrefix(found[0], "alice's session cookie on line ") {
		t.Errorf("a planted cookie: found %v", found)
	}
}
