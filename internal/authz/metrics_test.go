package authz_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/testenv"
)

// Every decision, of a file or a share link, is counted once, by its
// result and by where its facts came from (the memory layer, Redis, the
// store, or nowhere), with its latency; so are the shared cache's hits
// and misses and the store's failures.
func TestMetrics(t *testing.T) {
	f := newFixture(t)
	reg := metrics.NewRegistry()
	f.srv.Metrics = metrics.NewAuthz(reg, metrics.CacheStats{BadEntries: f.cache.BadEntries, RedisErrors: f.cache.RedisErrors})
	// A second authz's cache on the same Redis, its memory layer off:
	// what the first put in Redis, it answers from there.
	shared, err := cache.Open(testenv.RedisURL(), f.prefix, 30*time.Second, f.cacheKey, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Close() })
	withMemory := f.srv.Cache
	fromRedis := func(ask func() int) func() int {
		return func() int {
			f.srv.Cache = shared
			defer func() { f.srv.Cache = withMemory }()
			return ask()
		}
	}
	_, u := f.addLink(t, f.bobFile, testenv.Link{})
	link := linkAsk{client: "192.0.2.1"}
	unknown := filegate.File{OwnerID: f.alice.ID, StoredName: "nope.pdf"}.URL()
	steps := []struct {
		name             string
		ask              func() int
		want             int
		decision, source string
	}{
		{"no cookie", func() int { return status(f.ask(t, 0, f.bobFile.URL())) }, 401, "unauthenticated", "none"},
		{"owner", func() int { return status(f.ask(t, f.alice.ID, f.aliceFile.URL())) }, 200, "allow", "db"},
		{"owner again", func() int { return status(f.ask(t, f.alice.ID, f.aliceFile.URL())) }, 200, "allow", "memory"},
		{"owner, another authz", fromRedis(func() int { return status(f.ask(t, f.alice.ID, f.aliceFile.URL())) }), 200, "allow", "redis"},
		{"stranger", func() int { return status(f.ask(t, f.bob.ID, f.aliceFile.URL())) }, 403, "deny", "db"},
		{"unknown file", func() int { return status(f.ask(t, f.alice.ID, unknown)) }, 404, "not_found", "db"},
		{"unknown file again", func() int { return status(f.ask(t, f.alice.ID, unknown)) }, 404, "not_found", "memory"},
		{"link", func() int { return status(f.askLink(t, u, link)) }, 200, "allow", "db"},
		{"link again", func() int { return status(f.askLink(t, u, link)) }, 200, "allow", "memory"},
		{"link, another authz", fromRedis(func() int { return status(f.askLink(t, u, link)) }), 200, "allow", "redis"},
		{"forged link", func() int { return status(f.askLink(t, flip(u), link)) }, 404, "not_found", "none"},
	}
	hits, misses := 0.0, 0.0
	for i, s := range steps {
		before := testenv.Gather(t, reg)
		if got := s.ask(); got != s.want {
			t.Fatalf("%s: status %d, want %d", s.name, got, s.want)
		}
		after := testenv.Gather(t, reg)
		if d := after.Value("filegate_authz_decisions_total", "decision", s.decision, "source", s.source) -
			before.Value("filegate_authz_decisions_total", "decision", s.decision, "source", s.source); d != 1 {
			t.Errorf("%s: decisions{%s,%s} went up by %v, want 1", s.name, s.decision, s.source, d)
		}
		if n := after.Value("filegate_authz_decisions_total"); n != float64(i+1) {
			t.Errorf("%s: %v decisions in all, want %d", s.name, n, i+1)
		}
		switch s.source {
		case "redis":
			hits++
		case "db":
			misses++
		}
	}
	m := testenv.Gather(t, reg)
	if got := m.Value("filegate_authz_decision_duration_seconds"); got != float64(len(steps)) {
		t.Errorf("latency observations = %v, want %d", got, len(steps))
	}
	if h, ms := m.Value("filegate_authz_cache_lookups_total", "result", "hit"), m.Value("filegate_authz_cache_lookups_total", "result", "miss"); h != hits || ms != misses {
		t.Errorf("cache lookups: %v hits, %v misses; want %v and %v", h, ms, hits, misses)
	}
	if got := m.Value("filegate_authz_postgres_errors_total"); got != 0 {
		t.Errorf("postgres errors = %v before any failure", got)
	}

	// The database goes: a file never cached and a link in memory (whose
	// download count only the database keeps) are errors, each counted
	// with the store's failure.
	f.srv.Store = deadStore(t)
	if got := status(f.ask(t, f.alice.ID, filegate.File{OwnerID: f.bob.ID, StoredName: "never-cached.pdf"}.URL())); got != 503 {
		t.Fatalf("database down: status %d, want 503", got)
	}
	if got := status(f.askLink(t, u, link)); got != 503 {
		t.Fatalf("database down, link: status %d, want 503", got)
	}
	m = testenv.Gather(t, reg)
	for _, src := range []string{"db", "memory"} {
		if got := m.Value("filegate_authz_decisions_total", "decision", "error", "source", src); got != 1 {
			t.Errorf("decisions{error,%s} = %v, want 1", src, got)
		}
	}
	if got := m.Value("filegate_authz_postgres_errors_total"); got != 2 {
		t.Errorf("postgres errors = %v, want 2", got)
	}
}
