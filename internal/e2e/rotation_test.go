package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// TestKeyRotation follows docs/operating.md#rotating-session-keys end to
// end, restarting the real binaries: with a new pair in front ("B,A")
// the cookies and share links made under A still work and new cookies
// are signed with B alone; with A dropped ("B") the old cookies get 401
// on a download and the login page on a page, and the old link URLs 404,
// while everything made under B goes on working.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	keysA, keysB := s.SessionKeys, session.GenerateKeys()
	s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})
	file := s.Put(t, "alice", "notes.txt", []byte("alice's notes\n"))
	storedName := file[strings.LastIndex(file, "/")+1:]
	cookieA := s.Login(t, "alice", "alice-password", "browser A")
	linkPattern := regexp.MustCompile(`/s/[A-Za-z0-9_-]{43}`)
	linkA := linkPattern.FindString(s.CLI(t, "", "link", "create", "alice", storedName))
	if linkA == "" {
		t.Fatal("link create printed no URL")
	}
	codec := func(keys string) *session.Codec {
		c, err := session.New(keys, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	signedBy := func(c *http.Cookie, keys string) bool {
		_, err := codec(keys).Decode(c.Value)
		return err == nil
	}
	if !signedBy(cookieA, keysA) {
		t.Fatal("the first login's cookie is not signed with A")
	}
	// A browser asking for a page; a client downloading.
	client := &http.Client{}
	page := func(c *http.Cookie) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/account", nil)
		req.Header.Set("Accept", "text/html")
		if c != nil {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Request.URL.Path + " " + string(body)
	}
	download := func(c *http.Cookie, path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if c != nil {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	works := func(when string, c *http.Cookie) {
		t.Helper()
		if status := download(c, file); status != http.StatusOK {
			t.Errorf("%s: download: %d, want 200", when, status)
		}
		if status, body := page(c); status != http.StatusOK || !strings.HasPrefix(body, "/account ") || !strings.Contains(body, "Your account") {
			t.Errorf("%s: the account page: %d %.80s", when, status, body)
		}
	}
	works("keys A, cookie A", cookieA)

	// Step 1: a new pair in front.
	s.Reconfigure(t, "FILEGATE_SESSION_KEYS="+keysB+","+keysA)
	works("keys B,A, cookie A", cookieA)
	cookieB := s.Login(t, "alice", "alice-password", "browser B")
	if !signedBy(cookieB, keysB) || signedBy(cookieB, keysA) {
		t.Errorf("a login under B,A: signed by B alone %t, by A %t; want B only", signedBy(cookieB, keysB), signedBy(cookieB, keysA))
	}
	works("keys B,A, cookie B", cookieB)
	if status := download(nil, linkA); status != http.StatusOK {
		t.Errorf("keys B,A: the link made under A: %d, want 200", status)
	}
	// The link list now shows each link's URL made with B.
	linkB := linkPattern.FindString(s.CLI(t, "", "link", "list", "alice"))
	if linkB == "" || linkB == linkA {
		t.Fatalf("link list under B,A shows %q, want a new URL (the old is %q)", linkB, linkA)
	}

	// Step 2: the old pair dropped.
	s.Reconfigure(t, "FILEGATE_SESSION_KEYS="+keysB)
	if status := download(cookieA, file); status != http.StatusUnauthorized {
		t.Errorf("keys B, cookie A: download %d, want 401", status)
	}
	if status, body := page(cookieA); status != http.StatusOK || !strings.HasPrefix(body, "/login ") || !strings.Contains(body, `id="username"`) {
		t.Errorf("keys B, cookie A: the account page ends at %d %.80s, want the login page", status, body)
	}
	works("keys B, cookie B", cookieB)
	if status := download(nil, linkA); status != http.StatusNotFound {
		t.Errorf("keys B: the link URL made under A: %d, want 404", status)
	}
	if status := download(nil, linkB); status != http.StatusOK {
		t.Errorf("keys B: the link URL made under B: %d, want 200", status)
	}
}
