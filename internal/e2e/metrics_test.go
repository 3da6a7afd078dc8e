package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/testenv"
)

// After a tour of the stack through nginx (downloads allowed, denied, not
// found, without a cookie, through share links, a forged cache entry,
// PostgreSQL gone for a moment; uploads, logins, a throttled name, a
// logout, link changes), a scrape of each binary's metrics listener shows
// a non-zero count in every series the operator's dashboard is made of
// (docs/interface.md#metrics). Neither nginx nor the binaries' main
// listeners serve /metrics.
func TestMetricsScrape(t *testing.T) {
	d := newDemo(t, testenv.Options{ProxyDatabase: true})
	status := func(viewer int64, path string) int {
		t.Helper()
		resp, _ := d.get(t, viewer, "GET", path)
		return resp.StatusCode
	}
	post := func(cookie *http.Cookie, path string, form url.Values) *http.Response {
		t.Helper()
		req, err := http.NewRequest("POST", d.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, _ := do(t, req)
		return resp
	}

	// Downloads: allowed (from PostgreSQL, then from memory, or from
	// Redis if authz's memory layer has no lease yet), denied, not found,
	// no cookie.
	for _, c := range []struct {
		viewer int64
		path   string
		want   int
	}{
		{d.alice, d.aliceURL, 200}, {d.alice, d.aliceURL, 200}, {d.bob, d.aliceURL, 403},
		{d.alice, fileURL(d.bob, "nothing.pdf"), 404}, {0, d.bobURL, 401},
	} {
		if got := status(c.viewer, c.path); got != c.want {
			t.Fatalf("GET %s as %d: %d, want %d", c.path, c.viewer, got, c.want)
		}
	}
	// An entry written into Redis without the key is refused and counted,
	// once authz's memory layer no longer answers in front of Redis.
	rdb := testenv.RedisClient(t)
	entry := cache.KeyPrefix(d.RedisPrefix) + "c:f:" + strings.TrimPrefix(d.aliceURL, "/files/")
	if err := rdb.Set(context.Background(), entry, "forged", 0).Err(); err != nil {
		t.Fatal(err)
	}
	attacker{t: t, rdb: rdb, prefix: cache.KeyPrefix(d.RedisPrefix), d: d}.dropMemory()
	if got := status(d.alice, d.aliceURL); got != 200 {
		t.Fatalf("after a forged entry: %d, want 200 from PostgreSQL", got)
	}
	// What memory dropped and Redis still holds comes from Redis.
	if got := status(d.alice, fileURL(d.bob, "nothing.pdf")); got != 404 {
		t.Fatalf("not found again: %d, want 404 from Redis", got)
	}
	// PostgreSQL gone: a file nothing cached is a 503.
	d.DBProxy.Cut()
	if got := status(d.alice, fileURL(d.bob, "uncached.pdf")); got != 503 {
		t.Fatalf("database gone: %d, want 503", got)
	}
	d.DBProxy.Restore()

	// Logins: a wrong password, a right one, a name throttled.
	if resp := post(nil, "/login", url.Values{"username": {"alice"}, "password": {"wrong"}}); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	alice := d.Login(t, "alice", "alice-password", "metrics test")
	for range 5 {
		post(nil, "/login", url.Values{"username": {"bob"}, "password": {"wrong"}})
	}
	if resp := post(nil, "/login", url.Values{"username": {"bob"}, "password": {"bob-password"}}); resp.StatusCode != 429 {
		t.Fatalf("sixth login: %d, want 429", resp.StatusCode)
	}

	// Uploads: one stored, one refused.
	if got, body := postFiles(t, d.Stack, d.alice, upload{"ok.txt", []byte("plain words\n")}, upload{"evil.pdf", []byte("<!DOCTYPE html><html></html>")}); got != 201 {
		t.Fatalf("upload: %d %s", got, body)
	}

	// Share links: created and downloaded, revoked (then gone), a wrong
	// password.
	id := d.fileID(t, d.alice, d.aliceURL)
	resp := post(alice, "/links", url.Values{"file_id": {fmt.Sprint(id)}})
	if resp.StatusCode != 201 {
		t.Fatalf("POST /links: %d", resp.StatusCode)
	}
	l, u := d.AddLink(t, d.aliceURL, testenv.Link{})
	for range 2 {
		if got := linkStatus(t, d.Stack, u); got != 200 {
			t.Fatalf("link: %d", got)
		}
	}
	if resp := post(alice, fmt.Sprintf("/links/%d/revoke", l.ID), nil); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if got := linkStatus(t, d.Stack, u); got != 410 {
		t.Fatalf("revoked link: %d", got)
	}
	if got := linkStatus(t, d.Stack, "/s/"+strings.Repeat("A", 43)); got != 404 {
		t.Fatalf("forged token: %d", got)
	}
	_, locked := d.AddLink(t, d.aliceURL, testenv.Link{Password: "open sesame"})
	if resp := post(nil, locked, url.Values{"password": {"wrong"}}); resp.StatusCode != 401 {
		t.Fatalf("wrong link password: %d", resp.StatusCode)
	}

	if resp := post(alice, "/logout", nil); resp.StatusCode != 303 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}

	authz, uploader := testenv.Scrape(t, d.Authz.MetricsURL(t)), testenv.Scrape(t, d.Uploader.MetricsURL(t))
	for _, c := range []struct {
		m      testenv.Metrics
		name   string
		labels []string
	}{
		{authz, "filegate_authz_decisions_total", []string{"decision", "allow", "source", "db"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "not_found", "source", "redis"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "deny"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "not_found", "source", "db"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "not_found", "source", "none"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "unauthenticated", "source", "none"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "gone"}},
		{authz, "filegate_authz_decisions_total", []string{"decision", "error"}},
		{authz, "filegate_authz_decision_duration_seconds", nil},
		{authz, "filegate_authz_cache_lookups_total", []string{"result", "hit"}},
		{authz, "filegate_authz_cache_lookups_total", []string{"result", "miss"}},
		{authz, "filegate_authz_cache_bad_entries_total", nil},
		{authz, "filegate_authz_postgres_errors_total", nil},
		{authz, "go_goroutines", nil},
		{authz, "process_resident_memory_bytes", nil},
		{uploader, "filegate_uploads_total", []string{"result", "stored"}},
		{uploader, "filegate_uploads_total", []string{"result", "unsupported"}},
		{uploader, "filegate_upload_bytes_total", nil},
		{uploader, "filegate_upload_duration_seconds", nil},
		{uploader, "filegate_logins_total", []string{"result", "success"}},
		{uploader, "filegate_logins_total", []string{"result", "failure"}},
		{uploader, "filegate_logins_total", []string{"result", "throttled"}},
		{uploader, "filegate_throttled_requests_total", []string{"scope", "login"}},
		{uploader, "filegate_sessions_revoked_total", []string{"reason", "logout"}},
		{uploader, "filegate_link_events_total", []string{"event", "created", "outcome", "success"}},
		{uploader, "filegate_link_events_total", []string{"event", "revoked", "outcome", "success"}},
		{uploader, "filegate_link_events_total", []string{"event", "unlocked", "outcome", "failure"}},
		{uploader, "go_goroutines", nil},
		{uploader, "process_resident_memory_bytes", nil},
	} {
		if got := c.m.Value(c.name, c.labels...); got <= 0 {
			t.Errorf("%s%v = %v, want more than 0", c.name, c.labels, got)
		}
	}
	if got := authz.Value("filegate_authz_decisions_total", "decision", "allow", "source", "memory") +
		authz.Value("filegate_authz_decisions_total", "decision", "allow", "source", "redis"); got <= 0 {
		t.Errorf("no download allowed from memory or Redis")
	}
	// Each binary exports its own series only.
	if authz["filegate_uploads_total"] != nil || uploader["filegate_authz_decisions_total"] != nil {
		t.Error("a binary exports the other's metrics")
	}

	// The public nginx has no /metrics, and neither has the address it
	// proxies to in either binary.
	for _, base := range []string{d.URL, d.AuthzURL, d.UploaderURL} {
		for _, path := range []string{"/metrics", "/metrics/", "/%6Detrics"} {
			req, _ := http.NewRequest("GET", base+path, nil)
			resp, body := do(t, req)
			if resp.StatusCode == 200 || strings.Contains(string(body), "filegate_") || strings.Contains(string(body), "go_goroutines") {
				t.Errorf("GET %s%s: %d, serves metrics:\n%.300s", base, path, resp.StatusCode, body)
			}
		}
	}
}
