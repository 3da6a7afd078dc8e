package authz_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// linkAsk is what nginx tells authz about one request for a link.
type linkAsk struct {
	method  string // the client's; "" is GET
	rng     string // the client's Range header; "" sends none
	client  string // $remote_addr; "" sends none
	cookies []*http.Cookie
	id      string // $request_id; "" sends none
}

// askLink sends nginx's subrequest for the link URL u (/s/{token}).
func (f *fixture) askLink(t *testing.T, u string, a linkAsk) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/auth", nil)
	if a.method == "" {
		a.method = http.MethodGet
	}
	for h, v := range map[string]string{authz.HeaderURI: u, authz.HeaderMethod: a.method, authz.HeaderRange: a.rng,
		authz.HeaderClient: a.client, audit.HeaderRequestID: a.id} {
		if v != "" {
			r.Header.Set(h, v)
		}
	}
	for _, c := range a.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "0" {
		t.Errorf("%s: answer has a body (%q) or no Content-Length: 0", u, w.Body.String())
	}
	return w
}

// addLink stores a link to file as its owner, made at the fixture's
// clock unless o says otherwise, and returns it with its URL.
func (f *fixture) addLink(t *testing.T, file filegate.File, o testenv.Link) (filegate.Link, string) {
	t.Helper()
	if o.Created.IsZero() {
		o.Created = f.clock.Now()
	}
	return testenv.AddLink(t, f.db, f.codec, file, o)
}

// unlockCookie returns the cookie the password form sets for link l with
// URL u.
func (f *fixture) unlockCookie(t *testing.T, l filegate.Link, u string) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	if err := f.codec.SetLinkCookie(w, strings.TrimPrefix(u, "/s/"), l.ID, l.Nonce, time.Hour); err != nil {
		t.Fatal(err)
	}
	return w.Result().Cookies()[0]
}

// downloads is link id's count in the database.
func (f *fixture) downloads(t *testing.T, id int64) int64 {
	t.Helper()
	l, err := f.db.Link(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l.Downloads
}

// recordAudit makes f's server write its audit lines to the returned
// buffer.
func (f *fixture) recordAudit() *bytes.Buffer {
	var buf bytes.Buffer
	f.srv.Audit = audit.New(&buf)
	return &buf
}

// auditLines parses the JSON lines in buf and empties it.
func auditLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	buf.Reset()
	return lines
}

// Every answer of the share-link rules, each from the database and then
// from the cache, with the reason the audit log gives.
func TestLinkAnswers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.clock.Now()
	logged := f.recordAudit()

	active, activeURL := f.addLink(t, f.aliceFile, testenv.Link{})
	_, lastSecondURL := f.addLink(t, f.aliceFile, testenv.Link{Created: now.Add(-time.Hour), Expires: now.Add(time.Second)})
	_, expiredURL := f.addLink(t, f.aliceFile, testenv.Link{Created: now.Add(-time.Hour), Expires: now})
	revoked, revokedURL := f.addLink(t, f.aliceFile, testenv.Link{})
	if _, err := f.db.RevokeLink(ctx, revoked.ID, now); err != nil {
		t.Fatal(err)
	}
	gone := f.addFile(t, f.alice.ID, "gone.pdf")
	_, goneFileURL := f.addLink(t, gone, testenv.Link{})
	if _, err := f.db.DeleteFile(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	dave := testenv.AddUser(t, f.db, testenv.User{Name: "dave"})
	_, goneOwnerURL := f.addLink(t, f.addFile(t, dave.ID, "d.pdf"), testenv.Link{})
	if _, err := f.db.DeleteUser(ctx, dave.ID); err != nil {
		t.Fatal(err)
	}
	locked, lockedURL := f.addLink(t, f.bobFile, testenv.Link{Password: "open sesame"})
	unlock := f.unlockCookie(t, locked, lockedURL)
	otherUnlock := f.unlockCookie(t, active, activeURL)
	// bob turns private: a link ignores the owner's switch.
	no := false
	if _, err := f.db.UpdateUser(ctx, f.bob.ID, filegate.UserUpdate{IsPublic: &no}); err != nil {
		t.Fatal(err)
	}

	otherKeys, err := session.New(session.GenerateKeys(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(activeURL, "/s/")
	tests := []struct {
		name    string
		u       string
		cookies []*http.Cookie
		want    int
		reason  string
	}{
		{"active", activeURL, nil, 200, ""},
		{"a second before expiry", lastSecondURL, nil, 200, ""},
		{"expired at the clock's second", expiredURL, nil, 410, "expired"},
		{"revoked", revokedURL, nil, 410, "revoked"},
		{"file deleted", goneFileURL, nil, 404, "not_found"},
		{"owner deleted", goneOwnerURL, nil, 404, "not_found"},
		{"password, no cookie", lockedURL, nil, 401, "password"},
		{"password, another link's cookie", lockedURL, []*http.Cookie{otherUnlock}, 401, "password"},
		{"password, unlocked", lockedURL, []*http.Cookie{unlock}, 200, ""},
		{"made-up token", "/s/" + strings.Repeat("A", session.LinkTokenLen), nil, 404, "not_found"},
		{"token of other keys", filegate.LinkURL(otherKeys.LinkToken(active.ID, active.Nonce)), nil, 404, "not_found"},
		{"tampered token", "/s/" + flip(token), nil, 404, "not_found"},
		{"token of an unknown id", filegate.LinkURL(f.codec.LinkToken(active.ID+1000, active.Nonce)), nil, 404, "not_found"},
		{"id with another nonce", filegate.LinkURL(f.codec.LinkToken(active.ID, []byte("other id"))), nil, 404, "not_found"},
		{"short token", "/s/" + token[1:], nil, 404, "not_found"},
		{"token and more", activeURL + "/x", nil, 404, "not_found"},
		{"no token", "/s/", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 2 {
				w := f.askLink(t, tt.u, linkAsk{client: "192.0.2.1", cookies: tt.cookies})
				if got := status(w); got != tt.want {
					t.Fatalf("round %d: status %d, want %d", i, got, tt.want)
				}
				// A 410 names its reason for the error page; nothing else
				// carries one.
				wantReason := ""
				if tt.want == 410 {
					wantReason = tt.reason
				}
				if got := w.Header().Get(authz.HeaderReason); got != wantReason {
					t.Errorf("round %d: %s %q, want %q", i, authz.HeaderReason, got, wantReason)
				}
				lines := auditLines(t, logged)
				if len(lines) != 1 {
					t.Fatalf("round %d: %d audit lines, want 1", i, len(lines))
				}
				wantOutcome := "success"
				if tt.want != 200 {
					wantOutcome = "failure"
				}
				if l := lines[0]; l["event.action"] != "link.download" || l["event.outcome"] != wantOutcome || (l["event.reason"] != nil) != (tt.reason != "") ||
					tt.reason != "" && l["event.reason"] != tt.reason {
					t.Errorf("round %d: audit line %v, want outcome %s, reason %q", i, l, wantOutcome, tt.reason)
				}
			}
		})
	}

	// A link serves its file with the headers /files/ serves it with.
	link := f.askLink(t, activeURL, linkAsk{client: "192.0.2.1"})
	file := f.ask(t, f.alice.ID, f.aliceFile.URL())
	for _, h := range []string{authz.HeaderPath, authz.HeaderType, authz.HeaderDisposition} {
		if got, want := link.Header().Get(h), file.Header().Get(h); got != want || got == "" {
			t.Errorf("%s = %q through the link, %q through /files/", h, got, want)
		}
	}
	for _, w := range []*httptest.ResponseRecorder{f.askLink(t, expiredURL, linkAsk{}), f.askLink(t, goneFileURL, linkAsk{})} {
		if w.Code != http.StatusForbidden || w.Header().Get(authz.HeaderPath) != "" {
			t.Errorf("refusal: %d with path %q; auth_request passes only 403 and 401 to error_page", w.Code, w.Header().Get(authz.HeaderPath))
		}
	}
}

// flip changes one character of a token, keeping it in its alphabet.
func flip(token string) string {
	b := []byte(token)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

// noStore fails every call: any I/O shows as a 503 (the panic handler's).
type noStore struct{ authz.Store }

// A token the keys did not make is refused before any I/O: with neither
// store nor cache, it is still a 404, not a 503.
func TestLinkTokenBeforeIO(t *testing.T) {
	f := newFixture(t)
	_, activeURL := f.addLink(t, f.aliceFile, testenv.Link{})
	srv := &authz.Server{Sessions: f.codec, Store: noStore{}, StoreTimeout: time.Second, Now: f.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.h = srv.Handler()
	for _, u := range []string{"/s/" + strings.Repeat("A", session.LinkTokenLen), "/s/" + flip(strings.TrimPrefix(activeURL, "/s/")), "/s/x"} {
		if got := status(f.askLink(t, u, linkAsk{client: "192.0.2.1"})); got != 404 {
			t.Errorf("%s: status %d, want 404", u, got)
		}
	}
	// The check is real: a good token does reach the store.
	if got := status(f.askLink(t, activeURL, linkAsk{client: "192.0.2.1"})); got != 503 {
		t.Errorf("good token without a store: status %d, want 503", got)
	}
}

// What a request does to the download count: policy.LinkUse, with grants
// per client address for limited links.
func TestLinkCounting(t *testing.T) {
	f := newFixture(t)
	const a, b, c = "192.0.2.1", "198.51.100.7", "2001:db8::1"
	type step struct {
		what                string
		method, rng, client string
		want                int
		downloads           int64 // after the step
	}
	// gone is the reason a 410 names: "used_up" unless a test says else.
	gone := "used_up"
	run := func(t *testing.T, u string, id int64, steps []step) {
		t.Helper()
		for _, s := range steps {
			w := f.askLink(t, u, linkAsk{method: s.method, rng: s.rng, client: s.client})
			if got := status(w); got != s.want {
				t.Fatalf("%s: status %d, want %d", s.what, got, s.want)
			}
			if got := w.Header().Get(authz.HeaderReason); s.want == 410 && got != gone {
				t.Errorf("%s: %s %q, want %s", s.what, authz.HeaderReason, got, gone)
			}
			if got := f.downloads(t, id); got != s.downloads {
				t.Fatalf("%s: %d downloads, want %d", s.what, got, s.downloads)
			}
		}
	}

	t.Run("no limit", func(t *testing.T) {
		l, u := f.addLink(t, f.aliceFile, testenv.Link{})
		run(t, u, l.ID, []step{
			{"GET", "GET", "", a, 200, 1},
			{"GET again", "GET", "", a, 200, 2},
			{"range from 0", "GET", "bytes=0-", b, 200, 3},
			{"later range, no grant needed", "GET", "bytes=100-", c, 200, 3},
			{"HEAD", "HEAD", "", c, 200, 3},
			{"later range, no address", "GET", "bytes=100-", "", 200, 3},
		})
	})

	t.Run("limit 2", func(t *testing.T) {
		l, u := f.addLink(t, f.aliceFile, testenv.Link{MaxDownloads: 2})
		run(t, u, l.ID, []step{
			{"HEAD while downloads are left", "HEAD", "", c, 200, 0},
			{"a starts", "GET", "", a, 200, 1},
			{"a continues (its grant)", "GET", "bytes=100-", a, 200, 1},
			{"a continues, closed range", "GET", "bytes=200-299", a, 200, 1},
			{"b continues without a grant: a start", "GET", "bytes=100-", b, 200, 2},
			{"b continues (now granted)", "GET", "bytes=200-", b, 200, 2},
			{"c starts: used up", "GET", "", c, 410, 2},
			{"c continues: used up", "GET", "bytes=100-", c, 410, 2},
			{"c HEAD: used up", "HEAD", "", c, 410, 2},
			{"a HEAD (its grant)", "HEAD", "", a, 200, 2},
			{"a starts again: no download left", "GET", "", a, 410, 2},
			{"a starts again with a range from 0", "GET", "bytes=0-", a, 410, 2},
			{"a, several ranges: a start", "GET", "bytes=100-199,300-", a, 410, 2},
			{"a, a suffix range: a start", "GET", "bytes=-100", a, 410, 2},
			{"a continues still", "GET", "bytes=100-", a, 200, 2},
			{"no address: no grant", "GET", "bytes=100-", "", 410, 2},
			{"a malformed address: no grant", "GET", "bytes=100-", "192.0.2.1, 10.0.0.1", 410, 2},
		})
		f.clock.Advance(policy.LinkGrant)
		run(t, u, l.ID, []step{{"a continues after its grant ran out", "GET", "bytes=100-", a, 410, 2}})
	})

	t.Run("a later range from a fresh address costs a download", func(t *testing.T) {
		l, u := f.addLink(t, f.aliceFile, testenv.Link{MaxDownloads: 5})
		run(t, u, l.ID, []step{
			{"fresh address, bytes=1-", "GET", "bytes=1-", a, 200, 1},
			{"no address, bytes=1-", "GET", "bytes=1-", "", 200, 2},
			{"a malformed one, bytes=1-", "GET", "bytes=1-", "not-an-address", 200, 3},
			{"a HEAD counts nothing", "HEAD", "", "", 200, 3},
			{"an odd method is a start", "POST", "bytes=1-", b, 200, 4},
		})
	})

	t.Run("an expired link counts nothing", func(t *testing.T) {
		l, u := f.addLink(t, f.aliceFile, testenv.Link{MaxDownloads: 5, Expires: f.clock.Now().Add(time.Minute)})
		run(t, u, l.ID, []step{{"before", "GET", "", a, 200, 1}})
		f.clock.Advance(time.Minute)
		gone = "expired"
		run(t, u, l.ID, []step{{"after", "GET", "", b, 410, 1}, {"after, granted", "GET", "bytes=1-", a, 410, 1}})
	})
}

// A revoked link, or one whose file is deleted, is refused on the very
// next request, although its facts were cached a moment before.
func TestLinkChangesWithWarmCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	expect := func(what, u string, want int) {
		t.Helper()
		if got := status(f.askLink(t, u, linkAsk{client: "192.0.2.1"})); got != want {
			t.Fatalf("%s: status %d, want %d", what, got, want)
		}
	}
	l, u := f.addLink(t, f.aliceFile, testenv.Link{})
	expect("fresh", u, 200)
	expect("cached", u, 200)
	if _, err := f.db.RevokeLink(ctx, l.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	expect("revoked", u, 410)

	_, u = f.addLink(t, f.bobFile, testenv.Link{})
	expect("fresh", u, 200)
	expect("cached", u, 200)
	if _, err := f.db.DeleteFile(ctx, f.bobFile.ID); err != nil {
		t.Fatal(err)
	}
	expect("file deleted", u, 404)
}

// Every decision writes one audit line naming the link, the file, the
// client and nginx's request id; a request id that is not one nginx makes
// is left out, and nothing of the token is written.
func TestLinkAudit(t *testing.T) {
	f := newFixture(t)
	logged := f.recordAudit()
	l, u := f.addLink(t, f.aliceFile, testenv.Link{MaxDownloads: 1})
	f.askLink(t, u, linkAsk{client: "::ffff:192.0.2.1", id: "0123456789abcdef0123456789abcdef"})
	f.askLink(t, u, linkAsk{client: "198.51.100.7", id: "evil\nline"})
	raw := logged.String()
	lines := auditLines(t, logged)
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2:\n%s", len(lines), raw)
	}
	want := []map[string]any{
		{"event.action": "link.download", "event.outcome": "success", "link.id": float64(l.ID), "file.id": float64(f.aliceFile.ID),
			"source.ip": "192.0.2.1", "http.request.id": "0123456789abcdef0123456789abcdef"},
		{"event.action": "link.download", "event.outcome": "failure", "event.reason": "used_up", "link.id": float64(l.ID),
			"file.id": float64(f.aliceFile.ID), "source.ip": "198.51.100.7"},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
		if d, ok := lines[i]["duration"].(float64); !ok || d <= 0 {
			t.Errorf("line %d: duration %v", i, lines[i]["duration"])
		}
	}
	if _, ok := lines[1]["http.request.id"]; ok {
		t.Errorf("a request id nginx never makes was logged: %v", lines[1])
	}
	if token := strings.TrimPrefix(u, "/s/"); strings.Contains(raw, token[:16]) {
		t.Errorf("the audit log holds the token: %s", raw)
	}
}

// Without Redis authz answers from PostgreSQL; without PostgreSQL it
// answers 503, and a counted link is never served on doubt.
func TestLinkDegraded(t *testing.T) {
	f := newFixture(t)
	logged := f.recordAudit()
	_, u := f.addLink(t, f.aliceFile, testenv.Link{MaxDownloads: 3})
	f.srv.Cache = deadCache(t)
	if got := status(f.askLink(t, u, linkAsk{client: "192.0.2.1"})); got != 200 {
		t.Errorf("redis down: status %d, want 200 from PostgreSQL", got)
	}

	f.srv.Cache = f.cache
	if got := status(f.askLink(t, u, linkAsk{client: "192.0.2.1"})); got != 200 {
		t.Errorf("status %d, want 200", got) // and now the facts are cached
	}
	f.srv.Store = deadStore(t)
	auditLines(t, logged)
	for _, a := range []linkAsk{{}, {rng: "bytes=100-"}, {method: "HEAD"}} {
		a.client = "192.0.2.1"
		if got := status(f.askLink(t, u, a)); got != 503 {
			t.Errorf("database down, facts cached, %+v: status %d, want 503", a, got)
		}
	}
	for _, l := range auditLines(t, logged) {
		if l["event.outcome"] != "failure" || l["event.reason"] != "unavailable" {
			t.Errorf("audit line %v, want a failure for unavailable", l)
		}
	}
}
