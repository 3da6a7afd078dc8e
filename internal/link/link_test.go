package link_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/link"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const maxTTL = 2160 * time.Hour

// lines is an audit log kept in memory.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// events returns the audit lines written so far, decoded, and forgets
// them.
func (l *lines) events(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, e)
	}
	l.buf.Reset()
	return out
}

type env struct {
	db     *postgres.DB
	links  *link.Service
	tokens *session.Codec
	clock  *testenv.Clock
	audit  *lines
}

func newEnv(t *testing.T) env {
	t.Helper()
	db := testenv.OpenDB(t)
	clk := testenv.NewClock()
	tokens, err := session.New(session.GenerateKeys(), false, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := env{db: db, tokens: tokens, clock: clk, audit: &lines{}}
	e.links = link.New(db, tokens, maxTTL)
	e.links.Audit, e.links.Now = audit.New(e.audit), clk.Now
	return e
}

var (
	here = link.Origin{Addr: netip.MustParseAddr("198.51.100.7"), RequestID: "req-1"}
	ctx  = context.Background()
)

func ptr(n int64) *int64 { return &n }

// wantEvent checks that e is action with outcome (and reason) and
// carries the ids and the origin.
func wantEvent(t *testing.T, e map[string]any, action, outcome, reason string, ids map[string]int64) {
	t.Helper()
	if e["event.action"] != action || e["event.outcome"] != outcome || (reason != "" && e["event.reason"] != reason) {
		t.Errorf("audit line %v, want %s %s %s", e, action, outcome, reason)
	}
	for k, v := range ids {
		if e[k] != float64(v) {
			t.Errorf("audit line %v: %s = %v, want %d", e, k, e[k], v)
		}
	}
	if e["source.ip"] != "198.51.100.7" || e["http.request.id"] != "req-1" {
		t.Errorf("audit line %v lacks the origin", e)
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := testenv.AddUser(t, e.db, testenv.User{Name: "alice"})
	bob := testenv.AddUser(t, e.db, testenv.User{Name: "bob"})
	f := testenv.AddFileRow(t, e.db, alice.ID, "a.pdf", "Annual report.pdf", "")

	l, err := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: 24 * time.Hour, MaxDownloads: ptr(3), Password: "open sesame"})
	if err != nil {
		t.Fatal(err)
	}
	if l.File.DisplayName != "Annual report.pdf" || l.State != filegate.LinkActive || l.CreatedBy != alice.ID || *l.MaxDownloads != 3 {
		t.Errorf("created %+v", l)
	}
	if want := e.clock.Now().Add(24 * time.Hour).Truncate(time.Second); !l.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", l.ExpiresAt, want)
	}
	token := strings.TrimPrefix(l.URL, "/s/")
	if id, nonce, ok := e.tokens.ParseLinkToken(token); !ok || id != l.ID || !bytes.Equal(nonce, l.Nonce) || len(nonce) != session.LinkNonceSize {
		t.Errorf("URL %s does not name link %d", l.URL, l.ID)
	}
	if bytes.Contains(l.PasswordHash, []byte("open sesame")) || len(l.PasswordHash) == 0 {
		t.Errorf("password stored as %q", l.PasswordHash)
	}
	// A second link to the same file has its own nonce, so its own URL.
	l2, err := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour})
	if err != nil || l2.URL == l.URL || bytes.Equal(l2.Nonce, l.Nonce) || l2.PasswordHash != nil || l2.MaxDownloads != nil {
		t.Errorf("second link %+v, %v", l2, err)
	}
	ev := e.audit.events(t)
	if len(ev) != 2 {
		t.Fatalf("audit lines %v, want 2", ev)
	}
	wantEvent(t, ev[0], "link.create", "success", "", map[string]int64{"user.id": alice.ID, "link.id": l.ID, "file.id": f.ID})
	for _, e := range ev {
		for _, secret := range []string{token, "open sesame"} {
			if b, _ := json.Marshal(e); bytes.Contains(b, []byte(secret)) {
				t.Errorf("audit line %s holds a secret", b)
			}
		}
	}

	for name, tc := range map[string]struct {
		owner int64
		spec  link.Spec
		code  string
	}{
		"another's file":   {bob.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour}, filegate.ENOTFOUND},
		"no such file":     {alice.ID, link.Spec{FileID: f.ID + 100, ExpiresIn: time.Hour}, filegate.ENOTFOUND},
		"no expiry":        {alice.ID, link.Spec{FileID: f.ID}, filegate.EINVALID},
		"negative expiry":  {alice.ID, link.Spec{FileID: f.ID, ExpiresIn: -time.Hour}, filegate.EINVALID},
		"past the max":     {alice.ID, link.Spec{FileID: f.ID, ExpiresIn: maxTTL + time.Second}, filegate.EINVALID},
		"zero downloads":   {alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour, MaxDownloads: ptr(0)}, filegate.EINVALID},
		"short password":   {alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour, Password: "short"}, filegate.EINVALID},
		"72 bytes and one": {alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour, Password: strings.Repeat("p", 73)}, filegate.EINVALID},
	} {
		if _, err := e.links.Create(ctx, here, tc.owner, tc.spec); filegate.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if _, err := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: maxTTL}); err != nil {
		t.Errorf("exactly the max: %v", err)
	}
	if ls, _ := e.links.List(ctx, alice.ID); len(ls) != 3 {
		t.Errorf("alice has %d links, want 3: refused specs store nothing", len(ls))
	}
	failures := 0
	for _, ev := range e.audit.events(t) {
		if ev["event.outcome"] == "failure" {
			failures++
		}
		if ev["user.id"] == float64(bob.ID) {
			wantEvent(t, ev, "link.create", "failure", "not_found", map[string]int64{"file.id": f.ID})
		}
	}
	if failures != 8 {
		t.Errorf("%d failed creations logged, want 8", failures)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := testenv.AddUser(t, e.db, testenv.User{Name: "alice"})
	bob := testenv.AddUser(t, e.db, testenv.User{Name: "bob"})
	staff := testenv.AddUser(t, e.db, testenv.User{Name: "staff", Staff: true})
	f := testenv.AddFileRow(t, e.db, alice.ID, "a.pdf", "a.pdf", "")
	l1, _ := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour})
	l2, _ := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour})
	e.audit.events(t)

	if _, err := e.links.Revoke(ctx, here, bob.Profile(), l1.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Fatalf("bob revokes alice's link: %v, want ENOTFOUND", err)
	}
	if _, err := e.links.Revoke(ctx, here, alice.Profile(), l2.ID+100); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Fatalf("no such link: %v, want ENOTFOUND", err)
	}
	ev := e.audit.events(t)
	wantEvent(t, ev[0], "link.revoke", "failure", "not_found", map[string]int64{"user.id": bob.ID, "link.id": l1.ID})
	wantEvent(t, ev[1], "link.revoke", "failure", "not_found", map[string]int64{"link.id": l2.ID + 100})

	r, err := e.links.Revoke(ctx, here, alice.Profile(), l1.ID)
	if err != nil || r.State != filegate.LinkRevoked || !r.RevokedAt.Equal(e.clock.Now()) {
		t.Fatalf("alice revokes her link: %+v, %v", r, err)
	}
	e.clock.Advance(time.Minute)
	if r, err = e.links.Revoke(ctx, here, staff.Profile(), l2.ID); err != nil || r.State != filegate.LinkRevoked {
		t.Fatalf("staff revokes alice's link: %+v, %v", r, err)
	}
	// Twice keeps the first time.
	if r, err = e.links.Revoke(ctx, here, alice.Profile(), l1.ID); err != nil || !r.RevokedAt.Equal(e.clock.Now().Add(-time.Minute)) {
		t.Errorf("revoked again: %+v, %v", r.RevokedAt, err)
	}
	ev = e.audit.events(t)
	wantEvent(t, ev[0], "link.revoke", "success", "", map[string]int64{"user.id": alice.ID, "link.id": l1.ID, "file.id": f.ID})
	wantEvent(t, ev[1], "link.revoke", "success", "", map[string]int64{"user.id": staff.ID, "link.id": l2.ID})
	if _, err := e.links.Lookup(ctx, strings.TrimPrefix(l1.URL, "/s/")); filegate.ErrorCode(err) != filegate.EGONE {
		t.Errorf("a revoked link: %v, want EGONE", err)
	}
}

func TestUnlock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := testenv.AddUser(t, e.db, testenv.User{Name: "alice"})
	f := testenv.AddFileRow(t, e.db, alice.ID, "a.pdf", "a.pdf", "")
	locked, _ := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: time.Hour, Password: "open sesame"})
	open, _ := e.links.Create(ctx, here, alice.ID, link.Spec{FileID: f.ID, ExpiresIn: 2 * time.Hour, MaxDownloads: ptr(1)})
	token := func(l link.Shared) string { return strings.TrimPrefix(l.URL, "/s/") }
	e.audit.events(t)

	if _, err := e.links.Unlock(ctx, here, token(locked), "open sesame?"); filegate.ErrorCode(err) != filegate.EUNAUTHORIZED {
		t.Fatalf("wrong password: %v, want EUNAUTHORIZED", err)
	}
	if l, err := e.links.Unlock(ctx, here, token(locked), "open sesame"); err != nil || l.ID != locked.ID {
		t.Fatalf("right password: %+v, %v", l, err)
	}
	if l, err := e.links.Unlock(ctx, here, token(open), ""); err != nil || l.ID != open.ID {
		t.Fatalf("a link without a password: %+v, %v", l, err)
	}
	ev := e.audit.events(t)
	wantEvent(t, ev[0], "link.unlock", "failure", "password", map[string]int64{"link.id": locked.ID, "file.id": f.ID})
	wantEvent(t, ev[1], "link.unlock", "success", "", map[string]int64{"link.id": locked.ID})

	// Tokens that name nothing: made up, under another key, with the
	// right id and another nonce, of a link that does not exist.
	other, _ := session.New(session.GenerateKeys(), false, nil)
	for name, tok := range map[string]string{
		"made up":       strings.Repeat("A", session.LinkTokenLen),
		"another key":   other.LinkToken(locked.ID, locked.Nonce),
		"another nonce": e.tokens.LinkToken(locked.ID, []byte("12345678")),
		"no such link":  e.tokens.LinkToken(locked.ID+100, locked.Nonce),
		"too short":     token(locked)[1:],
	} {
		if _, err := e.links.Unlock(ctx, here, tok, "open sesame"); filegate.ErrorCode(err) != filegate.ENOTFOUND {
			t.Errorf("%s: %v, want ENOTFOUND", name, err)
		}
	}
	for _, ev := range e.audit.events(t) {
		wantEvent(t, ev, "link.unlock", "failure", "not_found", nil)
	}

	// Used up, expired: gone, whatever the password.
	if ok, err := e.db.CountLinkDownload(ctx, open.ID, netip.Addr{}, e.clock.Now(), e.clock.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatalf("count: %v %v", ok, err)
	}
	if _, err := e.links.Lookup(ctx, token(open)); filegate.ErrorCode(err) != filegate.EGONE {
		t.Errorf("used up: %v, want EGONE", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.links.Unlock(ctx, here, token(locked), "open sesame"); filegate.ErrorCode(err) != filegate.EGONE {
		t.Errorf("expired: %v, want EGONE", err)
	}
	ev = e.audit.events(t)
	wantEvent(t, ev[len(ev)-1], "link.unlock", "failure", "expired", map[string]int64{"link.id": locked.ID})

	// The file gone: so is the link.
	if _, err := e.db.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(-time.Hour)
	if _, err := e.links.Lookup(ctx, token(locked)); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("file deleted: %v, want ENOTFOUND", err)
	}
}

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1 hour", 24 * time.Hour: "1 day", 2160 * time.Hour: "90 days", 36 * time.Hour: "36 hours",
		90 * time.Minute: "90 minutes", 1500 * time.Millisecond: "1.5s",
	} {
		if got := link.Span(d); got != want {
			t.Errorf("Span(%v) = %q, want %q", d, got, want)
		}
	}
}
