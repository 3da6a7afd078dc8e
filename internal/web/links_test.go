package web_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/link"
	"github.com/filegate/filegate/internal/session"
)

// auditLog keeps the audit lines in memory.
type auditLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *auditLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	return len(p), nil
}

// last returns the last audit line, decoded.
func (l *auditLog) last(t *testing.T) map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		t.Fatal("no audit line")
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(l.lines[len(l.lines)-1]), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// all returns every audit line written so far, as written.
func (l *auditLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// apiLinkBody is a link as the JSON API shows it.
type apiLinkBody struct {
	ID           int64     `json:"id"`
	URL          string    `json:"url"`
	FileID       int64     `json:"file_id"`
	ExpiresAt    time.Time `json:"expires_at"`
	MaxDownloads *int64    `json:"max_downloads"`
	Downloads    int64     `json:"downloads"`
	HasPassword  bool      `json:"has_password"`
	State        string    `json:"state"`
}

var linkURL = regexp.MustCompile(`^/s/[A-Za-z0-9_-]{43}$`)

// createLink posts a link of f as JSON and returns the answer.
func (a *testApp) createLink(as filegate.User, body string) response {
	a.t.Helper()
	return a.do(request{method: "POST", target: "/links", as: &as, json: true,
		body: strings.NewReader(body), contentType: "application/json"})
}

// newLink makes a link of f through the links service, as its owner.
func (a *testApp) newLink(f filegate.File, spec link.Spec) (link.Shared, string) {
	a.t.Helper()
	spec.FileID = f.ID
	if spec.ExpiresIn == 0 {
		spec.ExpiresIn = time.Hour
	}
	l, err := a.links.Create(a.t.Context(), link.Origin{}, f.OwnerID, spec)
	if err != nil {
		a.t.Fatal(err)
	}
	return l, strings.TrimPrefix(l.URL, "/s/")
}

func (a *testApp) listLinks(as filegate.User) []apiLinkBody {
	a.t.Helper()
	r := a.do(request{method: "GET", target: "/links", as: &as, json: true})
	wantStatus(a.t, r, http.StatusOK)
	var out []apiLinkBody
	r.decode(a.t, &out)
	return out
}

func TestCreateLink(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", true, false)
	f := a.put(alice, "Secret plans.pdf", pdfData)

	r := a.do(request{method: "POST", target: "/links", as: &alice, json: true, contentType: "application/json",
		body:   strings.NewReader(fmt.Sprintf(`{"file_id": %d, "expires_in": "24h", "max_downloads": 2, "password": "open sesame"}`, f.ID)),
		header: map[string]string{"X-Request-Id": "7f3c0de", "X-Real-IP": "203.0.113.9"}})
	wantStatus(t, r, http.StatusCreated)
	var keys map[string]any
	r.decode(t, &keys)
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			yield(k)
		}
	}); !slices.Equal(got, []string{"downloads", "expires_at", "file_id", "has_password", "id", "max_downloads", "url"}) {
		t.Errorf("keys %v", got)
	}
	var l apiLinkBody
	r.decode(t, &l)
	if !linkURL.MatchString(l.URL) || l.FileID != f.ID || *l.MaxDownloads != 2 || l.Downloads != 0 || !l.HasPassword ||
		!l.ExpiresAt.Equal(a.clock.Now().Add(24*time.Hour).Truncate(time.Second)) {
		t.Errorf("created %+v", l)
	}
	// The audit line: who, what, from where (the peer is no trusted
	// proxy, so its X-Real-IP is ignored), and never the token.
	e := a.audit.last(t)
	if e["event.action"] != "link.create" || e["event.outcome"] != "success" || e["user.id"] != float64(alice.ID) ||
		e["link.id"] != float64(l.ID) || e["file.id"] != float64(f.ID) || e["source.ip"] != "192.0.2.1" || e["http.request.id"] != "7f3c0de" {
		t.Errorf("audit line %v", e)
	}
	if strings.Contains(a.audit.all(), strings.TrimPrefix(l.URL, "/s/")) || strings.Contains(a.audit.all(), "open sesame") {
		t.Error("the audit log holds the token or the password")
	}

	// A form with only the file: the defaults, no limit, no password;
	// the browser lands on the links page, which names the file.
	r = a.do(request{method: "POST", target: "/links", as: &alice, form: url.Values{"file_id": {strconv.FormatInt(f.ID, 10)},
		"max_downloads": {""}, "password": {""}}})
	wantStatus(t, r, http.StatusSeeOther)
	to := r.Header.Get("Location")
	if !strings.HasPrefix(to, "/links?created=") {
		t.Fatalf("Location %q", to)
	}
	ls := a.listLinks(alice)
	if len(ls) != 2 || ls[0].MaxDownloads != nil || ls[0].HasPassword || ls[0].State != "active" || ls[1].ID != l.ID ||
		!ls[0].ExpiresAt.Equal(a.clock.Now().Add(link.DefaultTTL).Truncate(time.Second)) {
		t.Fatalf("alice's links %+v", ls)
	}
	r = a.do(request{method: "GET", target: to, as: &alice})
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{"Share link to “Secret plans.pdf” created.", `value="` + ls[0].URL + `"`, `action="/links/` + strconv.FormatInt(ls[0].ID, 10) + `/revoke"`,
		`<tr id="link-` + strconv.FormatInt(ls[0].ID, 10) + `" class="marked">`, "0 / no limit", "0 / 2"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("links page lacks %q", want)
		}
	}
	// Only the viewer's own links are named.
	r = a.do(request{method: "GET", target: to, as: &bob})
	if wantStatus(t, r, http.StatusOK); strings.Contains(r.body, "Secret plans") || strings.Contains(r.body, ls[0].URL) {
		t.Error("bob's links page shows alice's link")
	}
	if got := a.listLinks(bob); len(got) != 0 {
		t.Errorf("bob lists %+v", got)
	}

	// Not the viewer's file: 404, JSON and HTML, public owner or not.
	bobs := a.put(bob, "b.pdf", pdfData)
	for _, id := range []int64{f.ID, bobs.ID + 1000} {
		r = a.createLink(bob, fmt.Sprintf(`{"file_id": %d}`, id))
		wantStatus(t, r, http.StatusNotFound)
		r.errorSentence(t)
		r = a.do(request{method: "POST", target: "/links", as: &bob, form: url.Values{"file_id": {strconv.FormatInt(id, 10)}}})
		wantStatus(t, r, http.StatusNotFound)
	}
	staff := a.addUser("staff", false, true)
	wantStatus(t, a.createLink(staff, fmt.Sprintf(`{"file_id": %d}`, f.ID)), http.StatusNotFound) // staff may revoke, not share

	// Out of bounds: 400, nothing stored.
	file := strconv.FormatInt(f.ID, 10)
	for _, body := range []string{
		`{"expires_in": "1h"}`,
		`{"file_id": ` + file + `, "expires_in": "soon"}`,
		`{"file_id": ` + file + `, "expires_in": "0s"}`,
		`{"file_id": ` + file + `, "expires_in": "-1h"}`,
		`{"file_id": ` + file + `, "expires_in": "2160h0m1s"}`,
		`{"file_id": ` + file + `, "expires_in": "100000h"}`,
		`{"file_id": ` + file + `, "max_downloads": 0}`,
		`{"file_id": ` + file + `, "max_downloads": -1}`,
		`{"file_id": ` + file + `, "max_downloads": 1.5}`,
		`{"file_id": ` + file + `, "max_downloads": "3"}`,
		`{"file_id": ` + file + `, "password": "short"}`,
		`{"file_id": "` + file + `"}`,
		`not json`,
	} {
		r := a.createLink(alice, body)
		wantStatus(t, r, http.StatusBadRequest)
		r.errorSentence(t)
	}
	for _, form := range []url.Values{
		{"file_id": {file}, "max_downloads": {"0"}},
		{"file_id": {file}, "max_downloads": {"many"}},
		{"file_id": {file}, "expires_in": {"2161h"}},
		{"file_id": {"seven"}},
		{},
	} {
		wantStatus(t, a.do(request{method: "POST", target: "/links", as: &alice, form: form}), http.StatusBadRequest)
	}
	if r := a.createLink(alice, `{"file_id": `+file+`, "expires_in": "2160h"}`); r.StatusCode != http.StatusCreated {
		t.Errorf("exactly FILEGATE_LINK_MAX_TTL: %d %s", r.StatusCode, r.body)
	}
	if n := len(a.listLinks(alice)); n != 3 {
		t.Errorf("alice has %d links, want 3", n)
	}

	// Without a session: 401 for JSON, the login page for a browser.
	wantStatus(t, a.do(request{method: "POST", target: "/links", json: true, form: url.Values{"file_id": {file}}}), http.StatusUnauthorized)
	wantRedirect(t, a.do(request{method: "GET", target: "/links"}), "/login?next=%2Flinks")
}

func TestRevokeLink(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", true, false)
	staff := a.addUser("staff", false, true)
	f := a.put(alice, "a.pdf", pdfData)
	l1, _ := a.newLink(f, link.Spec{})
	l2, _ := a.newLink(f, link.Spec{})
	l3, _ := a.newLink(f, link.Spec{})
	revoke := func(as filegate.User, id int64, json bool) response {
		return a.do(request{method: "POST", target: fmt.Sprintf("/links/%d/revoke", id), as: &as, json: json, form: url.Values{}})
	}
	state := func(id int64) string {
		for _, l := range a.listLinks(alice) {
			if l.ID == id {
				return l.State
			}
		}
		return "missing"
	}

	// Someone else's link is as missing as a link that does not exist.
	for _, json := range []bool{true, false} {
		wantStatus(t, revoke(bob, l1.ID, json), http.StatusNotFound)
		wantStatus(t, revoke(alice, l3.ID+100, json), http.StatusNotFound)
	}
	wantStatus(t, a.do(request{method: "POST", target: "/links/01/revoke", as: &alice, form: url.Values{}}), http.StatusNotFound)
	if st := state(l1.ID); st != "active" {
		t.Fatalf("after bob's attempt the link is %s", st)
	}
	if e := a.audit.last(t); e["event.action"] != "link.revoke" || e["event.outcome"] != "failure" || e["event.reason"] != "not_found" {
		t.Errorf("audit line %v", e)
	}

	r := revoke(alice, l1.ID, true)
	wantStatus(t, r, http.StatusOK)
	if r.body != fmt.Sprintf("{\"revoked\":%d}\n", l1.ID) {
		t.Errorf("body %s", r.body)
	}
	wantRedirect(t, revoke(alice, l2.ID, false), fmt.Sprintf("/links?revoked=%d", l2.ID))
	wantStatus(t, revoke(staff, l3.ID, true), http.StatusOK)
	for _, l := range []link.Shared{l1, l2, l3} {
		if st := state(l.ID); st != "revoked" {
			t.Errorf("link %d is %s, want revoked", l.ID, st)
		}
	}
	if e := a.audit.last(t); e["event.action"] != "link.revoke" || e["event.outcome"] != "success" || e["user.id"] != float64(staff.ID) || e["link.id"] != float64(l3.ID) {
		t.Errorf("audit line %v", e)
	}
	r = a.do(request{method: "GET", target: fmt.Sprintf("/links?revoked=%d", l2.ID), as: &alice})
	if !strings.Contains(r.body, "Link to “a.pdf” revoked") || strings.Contains(r.body, "/revoke\"") {
		t.Errorf("links page after revoking: a flash, and no Revoke button left:\n%.2000s", r.body)
	}
}

// linkCookie returns the link cookie r sets, or nil.
func linkCookie(r response) *http.Cookie { return namedCookie(r, session.LinkCookieName) }

func TestLinkPassword(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	f := a.put(alice, "Secret plans.pdf", pdfData)
	locked, token := a.newLink(f, link.Spec{Password: "open sesame", ExpiresIn: 2 * time.Hour})
	_, openToken := a.newLink(f, link.Spec{})
	page := "/s/" + token
	unlock := func(password string, c client) response {
		rq := request{method: "POST", target: page, form: url.Values{"password": {password}}, peer: c.peer}
		if c.realIP != "" {
			rq.header = map[string]string{"X-Real-IP": c.realIP}
		}
		return a.do(rq)
	}

	// The password page: no login needed, and no file name.
	r := a.do(request{method: "GET", target: page})
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `<form method="post" action="`+page+`"`) || strings.Contains(r.body, "Secret plans") {
		t.Fatalf("password page:\n%s", r.body)
	}
	wantStatus(t, a.do(request{method: "GET", target: page, json: true}), http.StatusUnauthorized)
	wantRedirect(t, a.do(request{method: "GET", target: "/s/" + openToken}), "/s/"+openToken)

	// Tokens that name nothing are 404, before any password.
	forged := []byte(token)
	forged[10] ^= 1
	for _, tok := range []string{string(forged), strings.Repeat("A", session.LinkTokenLen), "short", a.sessions.LinkToken(locked.ID+100, locked.Nonce)} {
		wantStatus(t, a.do(request{method: "GET", target: "/s/" + tok}), http.StatusNotFound)
		wantStatus(t, a.do(request{method: "POST", target: "/s/" + tok, form: url.Values{"password": {"open sesame"}}}), http.StatusNotFound)
	}

	// Wrong: 401, the form again with the reason, no cookie.
	home := viaNginx("198.51.100.7")
	r = unlock("open sesame!", home)
	wantStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(r.body, "Wrong password.") || !strings.Contains(r.body, `aria-invalid="true"`) || linkCookie(r) != nil {
		t.Errorf("wrong password: cookie %v, page:\n%s", linkCookie(r), r.body)
	}
	if e := a.audit.last(t); e["event.action"] != "link.unlock" || e["event.reason"] != "password" || e["source.ip"] != "198.51.100.7" {
		t.Errorf("audit line %v", e)
	}
	wantStatus(t, unlock("", home), http.StatusBadRequest)

	// Right: 303 back to the link, with the cookie scoped to it.
	r = unlock("open sesame", home)
	wantRedirect(t, r, page)
	c := linkCookie(r)
	if c == nil || c.Path != page || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 || c.MaxAge > 3600 {
		t.Fatalf("link cookie %+v, want Path=%s, HttpOnly, SameSite=Lax, Max-Age ≤ 3600", c, page)
	}
	if strings.Contains(a.audit.all(), "open sesame") || strings.Contains(a.audit.all(), token) {
		t.Error("the audit log holds the password or the token")
	}
	r = a.do(request{method: "GET", target: page, cookie: c})
	if wantStatus(t, r, http.StatusOK); !strings.Contains(r.body, "Link unlocked") {
		t.Errorf("unlocked page:\n%s", r.body)
	}

	// Throttled: the right password cleared this address's failures;
	// after five wrong ones the sixth attempt is refused, even with the
	// right password, and bcrypt does not run for it.
	for range 5 {
		wantStatus(t, unlock("guess", home), http.StatusUnauthorized)
	}
	for _, pw := range []string{"guess", "open sesame"} {
		r = unlock(pw, home)
		wantStatus(t, r, http.StatusTooManyRequests)
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 15*60 {
			t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
		if !strings.Contains(r.body, "Too many wrong passwords; try again in 15 minutes.") || linkCookie(r) != nil {
			t.Errorf("throttled page:\n%s", r.body)
		}
	}
	if e := a.audit.last(t); e["event.reason"] != "throttled" || e["link.id"] != float64(locked.ID) {
		t.Errorf("audit line %v", e)
	}
	// Another address is not held back, and a login is another scope.
	wantRedirect(t, unlock("open sesame", viaNginx("198.51.100.8")), page)
	wantRedirect(t, a.loginFrom(home, "alice", testPassword, false), "/")

	// Revoked or expired: 410, password or not.
	a.clock.Advance(2 * time.Hour)
	for _, rq := range []request{{method: "GET", target: page}, {method: "POST", target: page, form: url.Values{"password": {"open sesame"}}, peer: "203.0.113.1:1"}} {
		wantStatus(t, a.do(rq), http.StatusGone)
	}
	a.clock.Advance(-2 * time.Hour)
	if _, err := a.links.Revoke(t.Context(), link.Origin{}, alice.Profile(), locked.ID); err != nil {
		t.Fatal(err)
	}
	r = a.do(request{method: "GET", target: page})
	if wantStatus(t, r, http.StatusGone); !strings.Contains(r.body, "revoked") {
		t.Errorf("410 page:\n%s", r.body)
	}
	r = a.do(request{method: "GET", target: page, json: true})
	if wantStatus(t, r, http.StatusGone); r.errorSentence(t) != "This link was revoked by its owner." {
		t.Errorf("410 JSON: %s", r.body)
	}
}

// Cross-site POSTs to the link endpoints are refused before they do
// anything: no link made or revoked, no password tried, no cookie.
func TestLinksCrossSite(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	f := a.put(alice, "a.pdf", pdfData)
	l, token := a.newLink(f, link.Spec{Password: "open sesame"})
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	for _, rq := range []request{
		{target: "/links", form: url.Values{"file_id": {strconv.FormatInt(f.ID, 10)}}},
		{target: fmt.Sprintf("/links/%d/revoke", l.ID), form: url.Values{}},
		{target: "/s/" + token, form: url.Values{"password": {"open sesame"}}},
	} {
		rq.method, rq.as, rq.header = "POST", &alice, crossSite
		r := a.do(rq)
		wantStatus(t, r, http.StatusForbidden)
		if linkCookie(r) != nil {
			t.Errorf("POST %s set a link cookie", rq.target)
		}
	}
	if ls := a.listLinks(alice); len(ls) != 1 || ls[0].State != "active" {
		t.Errorf("after cross-site requests alice's links are %+v", ls)
	}
}

// The files list offers Share on the viewer's own files only, each
// control named after its file.
func TestShareForm(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", true, false)
	mine := a.put(alice, "mine.pdf", pdfData)
	theirs := a.put(bob, "theirs.pdf", pdfData)
	r := a.do(request{method: "GET", target: "/", as: &alice})
	wantStatus(t, r, http.StatusOK)
	if n := strings.Count(r.body, `<details class="share">`); n != 1 {
		t.Errorf("%d share forms, want 1 (alice's file only)", n)
	}
	for _, want := range []string{
		`<input type="hidden" name="file_id" value="` + strconv.FormatInt(mine.ID, 10) + `">`,
		`<summary>Share<span class="visually-hidden"> mine.pdf</span></summary>`,
		`<label for="share-` + strconv.FormatInt(mine.ID, 10) + `-expires">`,
		`<option value="1h">1 hour</option>`,
		`<option value="168h" selected>7 days</option>`,
		`<option value="2160h">90 days</option>`,
		`Create link<span class="visually-hidden"> to mine.pdf</span>`,
		`<a href="/links">Links</a>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("files page lacks %q", want)
		}
	}
	if strings.Contains(r.body, `value="`+strconv.FormatInt(theirs.ID, 10)+`">`) {
		t.Error("bob's file has a share form on alice's page")
	}
	// Every id on the page is unique, so every label names one control.
	ids := regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(r.body, -1)
	seen := map[string]bool{}
	for _, m := range ids {
		if seen[m[1]] {
			t.Errorf("id %q twice", m[1])
		}
		seen[m[1]] = true
	}
}

// GET /links names each link's state: a link whose downloads are used up
// is exhausted, one past its expiry expired (and expiry wins over used
// up, since nothing can revive it), the page and the JSON alike.
func TestLinkStates(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	f := a.put(alice, "a.pdf", pdfData)
	one := int64(1)
	short, _ := a.newLink(f, link.Spec{ExpiresIn: time.Hour})
	used, _ := a.newLink(f, link.Spec{ExpiresIn: 2 * time.Hour, MaxDownloads: &one})
	long, _ := a.newLink(f, link.Spec{ExpiresIn: 3 * time.Hour})
	now := a.clock.Now()
	if counted, err := a.db.CountLinkDownload(t.Context(), used.ID, netip.MustParseAddr("192.0.2.9"), now, now.Add(time.Hour)); err != nil || !counted {
		t.Fatalf("count the one download: %t, %v", counted, err)
	}
	states := func() map[int64]string {
		m := map[int64]string{}
		for _, l := range a.listLinks(alice) {
			m[l.ID] = l.State
		}
		return m
	}
	want := map[int64]string{short.ID: "active", used.ID: "exhausted", long.ID: "active"}
	if got := states(); !maps.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	a.clock.Advance(150 * time.Minute)
	want = map[int64]string{short.ID: "expired", used.ID: "expired", long.ID: "active"}
	if got := states(); !maps.Equal(got, want) {
		t.Errorf("states after 2½ hours %v, want %v", got, want)
	}
	r := a.do(request{method: "GET", target: "/links", as: &alice})
	wantStatus(t, r, http.StatusOK)
	if n := strings.Count(r.body, `<span class="state expired">Expired</span>`); n != 2 {
		t.Errorf("the links page names %d expired links, want 2:\n%s", n, r.body)
	}
}
