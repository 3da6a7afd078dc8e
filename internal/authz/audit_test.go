package authz_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/session"
)

// Every /files/ decision writes one file.download line: who (the user
// the signed cookie names, also when its session is no longer valid),
// which file when it exists and a cookie made authz look it up, the decision for a refusal, the client and
// nginx's request id; the same from the cache; never the cookie or the
// file's name.
func TestFileAudit(t *testing.T) {
	f := newFixture(t)
	logged := f.recordAudit()
	_, revoked := f.login(t, f.alice, time.Hour)
	if _, err := f.db.RevokeSessions(t.Context(), f.alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		viewer   int64
		cookie   string // instead of viewer's
		uri      string
		reason   string
		user     int64
		fileID   int64
		nginxID  string
		clientIP string
	}{
		{name: "owner", viewer: f.alice.ID, uri: f.aliceFile.URL(), user: f.alice.ID, fileID: f.aliceFile.ID},
		{name: "stranger", viewer: f.bob.ID, uri: f.aliceFile.URL(), reason: "deny", user: f.bob.ID, fileID: f.aliceFile.ID},
		{name: "no cookie", uri: f.aliceFile.URL(), reason: "unauthenticated"},
		{name: "revoked session", cookie: revoked, uri: f.bobFile.URL(), reason: "unauthenticated", user: f.alice.ID, fileID: f.bobFile.ID},
		{name: "unknown file", viewer: f.alice.ID, uri: "/files/999/x.pdf", reason: "not_found", user: f.alice.ID},
		{name: "odd request id", viewer: f.carol.ID, uri: f.bobFile.URL(), user: f.carol.ID, fileID: f.bobFile.ID, nginxID: "a b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 2 { // from the database, then from the cache
				cookie := tt.cookie
				if tt.viewer != 0 {
					f.ask(t, tt.viewer, "/files/0/warm-up") // starts the viewer's session
					auditLines(t, logged)
					cookie = f.cookies[tt.viewer]
				}
				id := tt.nginxID
				if id == "" {
					id = "0123456789abcdef0123456789abcde" + string(rune('0'+round))
				}
				r := httptest.NewRequest(http.MethodGet, "/auth", nil)
				r.Header.Set(authz.HeaderURI, tt.uri)
				r.Header.Set(authz.HeaderClient, "::ffff:203.0.113.9")
				r.Header.Set(audit.HeaderRequestID, id)
				if cookie != "" {
					r.AddCookie(&http.Cookie{Name: session.CookieName, Value: cookie})
				}
				f.h.ServeHTTP(httptest.NewRecorder(), r)
				raw := logged.String()
				lines := auditLines(t, logged)
				if len(lines) != 1 {
					t.Fatalf("round %d: %d audit lines, want 1:\n%s", round, len(lines), raw)
				}
				l := lines[0]
				outcome := "success"
				if tt.reason != "" {
					outcome = "failure"
				}
				if l["event.action"] != "file.download" || l["event.outcome"] != outcome || l["source.ip"] != "203.0.113.9" {
					t.Errorf("round %d: %v, want file.download, %s, from 203.0.113.9", round, l, outcome)
				}
				if r, _ := l["event.reason"].(string); r != tt.reason {
					t.Errorf("round %d: reason %q, want %q", round, r, tt.reason)
				}
				if u, _ := l["user.id"].(float64); int64(u) != tt.user {
					t.Errorf("round %d: user.id %v, want %d", round, l["user.id"], tt.user)
				}
				if fid, _ := l["file.id"].(float64); int64(fid) != tt.fileID {
					t.Errorf("round %d: file.id %v, want %d", round, l["file.id"], tt.fileID)
				}
				if got, _ := l["http.request.id"].(string); got != audit.RequestID(id) {
					t.Errorf("round %d: request id %q, want %q", round, got, audit.RequestID(id))
				}
				if d, ok := l["duration"].(float64); !ok || d <= 0 {
					t.Errorf("round %d: duration %v", round, l["duration"])
				}
				if cookie != "" && strings.Contains(raw, cookie) || strings.Contains(raw, "secret.pdf") || strings.Contains(raw, "shared.pdf") {
					t.Errorf("round %d: the line holds the cookie or a file name: %s", round, raw)
				}
			}
		})
	}

	// The store down: a 503, and a failure for unavailable.
	f.srv.Cache, f.srv.Store = deadCache(t), deadStore(t)
	if got := status(f.ask(t, f.alice.ID, f.aliceFile.URL())); got != 503 {
		t.Fatalf("store down: status %d, want 503", got)
	}
	lines := auditLines(t, logged)
	if len(lines) != 1 || lines[0]["event.reason"] != "unavailable" || lines[0]["user.id"] != float64(f.alice.ID) {
		t.Errorf("store down: %v, want one failure for unavailable naming alice", lines)
	}
}
