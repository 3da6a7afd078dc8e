package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/testenv"
)

var discard = slog.New(slog.DiscardHandler)

// Every series exists from the start at 0, so that a rate sees the first
// event and a dashboard shows 0 rather than no data.
func TestSeriesStartAtZero(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.NewAuthz(reg, metrics.CacheStats{})
	metrics.NewUploader(reg)
	m := testenv.Gather(t, reg)
	for _, s := range []struct {
		name   string
		labels []string
	}{
		{"filegate_authz_decisions_total", []string{"decision", "not_found", "source", "redis"}},
		{"filegate_authz_decisions_total", []string{"decision", "error", "source", "db"}},
		{"filegate_authz_cache_lookups_total", []string{"result", "miss"}},
		{"filegate_uploads_total", []string{"result", "quota"}},
		{"filegate_logins_total", []string{"result", "throttled"}},
		{"filegate_throttled_requests_total", []string{"scope", "link"}},
		{"filegate_sessions_revoked_total", []string{"reason", "everywhere"}},
		{"filegate_link_events_total", []string{"event", "unlocked", "outcome", "failure"}},
	} {
		if !m.Has(s.name, s.labels...) {
			t.Errorf("%s%v is not there before any event", s.name, s.labels)
		}
	}
	for _, name := range []string{"filegate_authz_decision_duration_seconds", "filegate_authz_postgres_errors_total",
		"filegate_authz_cache_bad_entries_total", "filegate_upload_bytes_total", "filegate_upload_duration_seconds",
		"go_goroutines", "process_resident_memory_bytes"} {
		if m[name] == nil {
			t.Errorf("%s is not there before any event", name)
		}
	}
}

// A value outside a label's set is counted as "other": whatever a caller
// passes, no name, id or path becomes a series.
func TestLabelsOutsideTheirSet(t *testing.T) {
	reg := metrics.NewRegistry()
	a := metrics.NewAuthz(reg, metrics.CacheStats{BadEntries: func() uint64 { return 7 }})
	u := metrics.NewUploader(reg)
	a.Decided("alice/secret.pdf", metrics.SourceDB, time.Millisecond)
	a.Decided(metrics.DecisionAllow, "/s/token", time.Millisecond)
	u.Uploaded("report.pdf", 0, 0)
	u.Login("alice")
	u.Throttled("user 42")
	u.SessionsRevoked("because", 3)
	u.LinkEvent("link 9", "secret")
	m := testenv.Gather(t, reg)
	for name, want := range map[string]float64{
		"filegate_authz_decisions_total":    2,
		"filegate_uploads_total":            1,
		"filegate_logins_total":             1,
		"filegate_throttled_requests_total": 1,
		"filegate_sessions_revoked_total":   3,
		"filegate_link_events_total":        1,
	} {
		if got := m.Value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
		for _, metric := range m[name].GetMetric() {
			for _, l := range metric.GetLabel() {
				if v := l.GetValue(); strings.ContainsAny(v, "/. ") || strings.Contains(v, "alice") || v == "because" || v == "secret" {
					t.Errorf("%s has the label %s=%q", name, l.GetName(), v)
				}
			}
		}
	}
	if got := m.Value("filegate_authz_decisions_total", "decision", "other", "source", "db"); got != 1 {
		t.Errorf("decision other = %v, want 1", got)
	}
	if got := m.Value("filegate_authz_cache_bad_entries_total"); got != 7 {
		t.Errorf("bad entries = %v, want 7, as the cache reports them", got)
	}
}

func TestRecords(t *testing.T) {
	reg := metrics.NewRegistry()
	a := metrics.NewAuthz(reg, metrics.CacheStats{})
	u := metrics.NewUploader(reg)
	a.Decided(metrics.DecisionAllow, metrics.SourceRedis, 80*time.Microsecond)
	a.Decided(metrics.DecisionAllow, metrics.SourceRedis, 2*time.Second)
	a.CacheLookup(true)
	a.CacheLookup(false)
	a.PostgresError()
	u.Uploaded(metrics.UploadStored, 1000, 20*time.Millisecond)
	u.Uploaded(metrics.UploadTooMany, 0, 0)         // refused before ingest: no latency
	u.SessionsRevoked(metrics.RevokedEverywhere, 0) // nothing revoked, nothing counted
	m := testenv.Gather(t, reg)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"filegate_authz_decisions_total", []string{"decision", "allow", "source", "redis"}, 2},
		{"filegate_authz_decision_duration_seconds", nil, 2},
		{"filegate_authz_cache_lookups_total", []string{"result", "hit"}, 1},
		{"filegate_authz_cache_lookups_total", []string{"result", "miss"}, 1},
		{"filegate_authz_postgres_errors_total", nil, 1},
		{"filegate_uploads_total", []string{"result", "stored"}, 1},
		{"filegate_uploads_total", []string{"result", "too_many"}, 1},
		{"filegate_upload_bytes_total", nil, 1000},
		{"filegate_upload_duration_seconds", nil, 1},
		{"filegate_sessions_revoked_total", nil, 0},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// 80 µs falls in the first buckets: the histogram resolves a decision
	// from a warm cache.
	h := m["filegate_authz_decision_duration_seconds"].GetMetric()[0].GetHistogram()
	if b := h.GetBucket()[1]; b.GetUpperBound() != .0001 || b.GetCumulativeCount() != 1 {
		t.Errorf("bucket %v: %d observations, want 1 at 100µs", b.GetUpperBound(), b.GetCumulativeCount())
	}
}

// A nil *Authz or *Uploader, as in tests and CLI commands, counts nothing
// and does not fail.
func TestNilRecordsNothing(t *testing.T) {
	var a *metrics.Authz
	var u *metrics.Uploader
	a.Decided(metrics.DecisionAllow, metrics.SourceDB, time.Millisecond)
	a.CacheLookup(true)
	a.PostgresError()
	u.Uploaded(metrics.UploadStored, 1, time.Millisecond)
	u.Login(metrics.LoginSuccess)
	u.Throttled(metrics.ThrottleLogin)
	u.SessionsRevoked(metrics.RevokedLogout, 1)
	u.LinkEvent(metrics.LinkCreated, metrics.OutcomeSuccess)
}

// The handler serves GET /metrics in the text format and nothing else,
// unless asked for Go's profiles (TestHandlerProfiles).
func TestHandler(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.NewUploader(reg).Login(metrics.LoginFailure)
	srv := httptest.NewServer(metrics.Handler(reg, false, discard))
	defer srv.Close()
	m := testenv.Scrape(t, srv.URL)
	if got := m.Value("filegate_logins_total", "result", "failure"); got != 1 {
		t.Errorf("logins failure = %v, want 1", got)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodHead, "/metrics", 200},
		{http.MethodGet, "/", 404},
		{http.MethodGet, "/metrics/x", 404},
		{http.MethodPost, "/metrics", 405},
		{http.MethodGet, "/debug/pprof/", 404},
		{http.MethodGet, "/debug/pprof/profile?seconds=1", 404},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
}

// With profiles (FILEGATE_PPROF), the handler also serves Go's profiles,
// in the format go tool pprof reads, next to the metrics.
func TestHandlerProfiles(t *testing.T) {
	srv := httptest.NewServer(metrics.Handler(metrics.NewRegistry(), true, discard))
	defer srv.Close()
	if m := testenv.Scrape(t, srv.URL); m["go_goroutines"] == nil {
		t.Errorf("no metrics beside the profiles: %d families", len(m))
	}
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/heap?debug=1":      "heap profile",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, want 200 with %q:\n%.300s", path, resp.Status, want, body)
		}
	}
	// A CPU profile: gzipped protobuf, as go tool pprof fetches it.
	resp, err := http.Get(srv.URL + "/debug/pprof/profile?seconds=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Errorf("CPU profile: %s, %d bytes, want 200 with a gzipped profile", resp.Status, len(body))
	}
}

// Start refuses a taken address at once, and serves until its context
// ends.
func TestStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := metrics.Start(ctx, "authz", taken.Addr().String(), metrics.NewRegistry(), false, discard); err == nil || !strings.Contains(err.Error(), "authz metrics: listen") {
		t.Errorf("Start on a taken address: %v, want a listen error", err)
	}
	addr := testenv.FreeAddr(t)
	wait, err := metrics.Start(ctx, "authz", addr, metrics.NewRegistry(), false, discard)
	if err != nil {
		t.Fatal(err)
	}
	if m := testenv.Scrape(t, "http://"+addr); m["go_goroutines"] == nil || m["process_cpu_seconds_total"] == nil {
		t.Errorf("no Go runtime or process metrics: %d families", len(m))
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("wait: %v", err)
	}
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Errorf("still served after the context ended: %s", resp.Status)
	}
}

// What counting costs one decision: authz's hot path does this once per
// download.
func BenchmarkDecided(b *testing.B) {
	a := metrics.NewAuthz(metrics.NewRegistry(), metrics.CacheStats{})
	b.ReportAllocs()
	for b.Loop() {
		a.Decided(metrics.DecisionAllow, metrics.SourceRedis, 80*time.Microsecond)
		a.CacheLookup(true)
	}
}
