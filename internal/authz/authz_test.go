package authz_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// fixture is an authz server on a fresh database and a private Redis key
// space, its cache's memory layer on, with users alice (private), bob
// (public), carol (staff) and one file of each of alice and bob. Its
// clock stands still unless a test moves it.
type fixture struct {
	db                 *postgres.DB
	cache              *cache.Cache
	srv                *authz.Server
	h                  http.Handler
	codec              *session.Codec
	clock              *testenv.Clock
	cookies            map[int64]string // see ask
	prefix             string           // the cache's Redis key prefix
	cacheKey           []byte           // the cache's entry key
	alice, bob, carol  filegate.User
	aliceFile, bobFile filegate.File
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := testenv.OpenDB(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys := session.GenerateKeys()
	cacheKey, err := session.CacheKey(keys)
	if err != nil {
		t.Fatal(err)
	}
	prefix := testenv.RedisPrefix(t)
	cache, err := cache.Open(testenv.RedisURL(), prefix, 30*time.Second, cacheKey, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	db.Invalidator = cache
	// With the memory layer on, as authz runs: every test below checks
	// its answers against what the cache keeps in memory too.
	enableMemory(t, cache)
	clk := testenv.NewClock()
	codec, err := session.New(keys, false, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	codec.Remember(1000) // as authz's main does with the memory layer on
	f := &fixture{db: db, cache: cache, codec: codec, clock: clk, cookies: map[int64]string{}, prefix: prefix, cacheKey: cacheKey}
	f.alice = testenv.AddUser(t, db, testenv.User{Name: "alice"})
	f.bob = testenv.AddUser(t, db, testenv.User{Name: "bob", Public: true})
	f.carol = testenv.AddUser(t, db, testenv.User{Name: "carol", Staff: true})
	f.aliceFile = f.addFile(t, f.alice.ID, "secret.pdf")
	f.bobFile = f.addFile(t, f.bob.ID, "shared.pdf")
	f.srv = &authz.Server{Sessions: codec, Store: db, Cache: cache, StoreTimeout: 2 * time.Second,
		InlineTypes: map[string]bool{"image/png": true}, Now: clk.Now, Log: log}
	f.h = f.srv.Handler()
	return f
}

// enableMemory turns c's memory layer on, as authz does, and waits until
// it answers.
func enableMemory(t testing.TB, c *cache.Cache) {
	t.Helper()
	c.EnableMemory(1000)
	for start := time.Now(); !c.MemoryServing(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the memory layer never started answering")
		}
	}
}

// deadCache returns a cache on a Redis that never answers, closed when
// the test ends.
func deadCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open("redis://127.0.0.1:1/0", "x:", time.Minute, make([]byte, cache.MinKeySize), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deadStore returns a store on a PostgreSQL that never answers, closed
// when the test ends.
func deadStore(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open("postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (f *fixture) addFile(t *testing.T, owner int64, name string) filegate.File {
	t.Helper()
	return testenv.AddFileRow(t, f.db, owner, name, "Ünïcode "+name, "")
}

// login starts a session of u lasting ttl, as the web app's login does,
// and returns its claims and cookie value.
func (f *fixture) login(t *testing.T, u filegate.User, ttl time.Duration) (session.Claims, string) {
	t.Helper()
	claims, err := account.StartSession(context.Background(), f.db, u, "test", f.clock.Now(), ttl)
	if err != nil {
		t.Fatal(err)
	}
	return claims, f.encode(t, claims)
}

func (f *fixture) encode(t *testing.T, claims session.Claims) string {
	t.Helper()
	v, err := f.codec.Encode(claims)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ask sends nginx's subrequest for uri as viewer (0: no cookie), with one
// session per viewer, started on first use. A viewer that does not exist
// gets a validly signed cookie naming a session that does not exist.
func (f *fixture) ask(t *testing.T, viewer int64, uri string) *httptest.ResponseRecorder {
	t.Helper()
	if viewer == 0 {
		return f.askWith(t, "", uri)
	}
	if _, ok := f.cookies[viewer]; !ok {
		u, err := f.db.UserByID(context.Background(), viewer)
		if err == nil {
			_, f.cookies[viewer] = f.login(t, u, time.Hour)
		} else {
			f.cookies[viewer] = f.encode(t, session.Claims{UserID: viewer, Token: session.NewToken(), Expires: f.clock.Now().Add(time.Hour)})
		}
	}
	return f.askWith(t, f.cookies[viewer], uri)
}

// askWith sends nginx's subrequest for uri with the session cookie value
// cookie ("": none).
func (f *fixture) askWith(t *testing.T, cookie, uri string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/auth", nil)
	r.Header.Set(authz.HeaderURI, uri)
	if cookie != "" {
		r.AddCookie(&http.Cookie{Name: session.CookieName, Value: cookie})
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "0" {
		t.Errorf("%s: answer has a body (%q) or no Content-Length: 0; nginx would drop the keepalive connection", uri, w.Body.String())
	}
	return w
}

// status folds authz's 403 + X-Filegate-Status into what nginx shows.
func status(w *httptest.ResponseRecorder) int {
	if w.Code == http.StatusForbidden {
		switch w.Header().Get(authz.HeaderStatus) {
		case "404":
			return http.StatusNotFound
		case "410":
			return http.StatusGone
		}
	}
	return w.Code
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		viewer int64
		uri    string
		want   int
	}{
		{"no cookie", 0, f.bobFile.URL(), 401},
		{"no cookie, unknown file", 0, "/files/999/x.pdf", 401},
		{"unknown user id in cookie", 9999, f.bobFile.URL(), 401},
		{"owner", f.alice.ID, f.aliceFile.URL(), 200},
		{"public owner", f.alice.ID, f.bobFile.URL(), 200},
		{"staff", f.carol.ID, f.aliceFile.URL(), 200},
		{"stranger", f.bob.ID, f.aliceFile.URL(), 403},
		{"unknown owner", f.alice.ID, "/files/999/secret.pdf", 404},
		{"unknown name", f.alice.ID, filegate.File{OwnerID: f.alice.ID, StoredName: "nope.pdf"}.URL(), 404},
		{"malformed path", f.alice.ID, "/files/1/../2/shared.pdf", 404},
		{"no path header", f.alice.ID, "", 404},
		{"malformed path, removed user", 9999, "/files/1/../x", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: once from the database, once from the cache.
			for i := range 2 {
				if got := status(f.ask(t, tt.viewer, tt.uri)); got != tt.want {
					t.Errorf("round %d: status %d, want %d", i, got, tt.want)
				}
			}
		})
	}
	w := f.ask(t, f.alice.ID, f.aliceFile.URL())
	for h, want := range map[string]string{
		authz.HeaderPath:        f.aliceFile.Path(),
		authz.HeaderType:        "application/pdf",
		authz.HeaderDisposition: `attachment; filename="_n_code secret.pdf"; filename*=UTF-8''%C3%9Cn%C3%AFcode%20secret.pdf`,
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// Inline only for listed types, whatever the stored type's parameters.
	f.srv.InlineTypes["text/plain"] = true
	text := filegate.File{OwnerID: f.bob.ID, StoredName: "notes.txt", DisplayName: "notes.txt", ContentType: "text/plain; charset=utf-8", Size: 3, SHA256: "x"}
	if err := f.db.CreateFile(context.Background(), &text, testenv.LargeQuota, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := f.ask(t, f.alice.ID, text.URL()).Header().Get(authz.HeaderDisposition); !strings.HasPrefix(got, "inline;") {
		t.Errorf("text/plain; charset=utf-8 with text/plain listed inline: %q", got)
	}
	if got := w.Header().Get(authz.HeaderDisposition); !strings.HasPrefix(got, "attachment;") {
		t.Errorf("unlisted application/pdf: %q", got)
	}

	f.srv.HidePrivate = true
	if got := status(f.ask(t, f.bob.ID, f.aliceFile.URL())); got != 404 {
		t.Errorf("hidden private file: status %d, want 404", got)
	}
}

// Every change is visible on the very next request, although the old
// answer was cached.
func TestAuthRevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	expect := func(viewer int64, uri string, want int) {
		t.Helper()
		if got := status(f.ask(t, viewer, uri)); got != want {
			t.Fatalf("%s as %d: status %d, want %d", uri, viewer, got, want)
		}
	}
	no, yes := false, true

	expect(f.alice.ID, f.bobFile.URL(), 200)
	if _, err := f.db.UpdateUser(ctx, f.bob.ID, filegate.UserUpdate{IsPublic: &no}); err != nil {
		t.Fatal(err)
	}
	expect(f.alice.ID, f.bobFile.URL(), 403)

	expect(f.alice.ID, f.aliceFile.URL(), 200)
	if _, err := f.db.DeleteFile(ctx, f.aliceFile.ID); err != nil {
		t.Fatal(err)
	}
	expect(f.alice.ID, f.aliceFile.URL(), 404)

	later := filegate.File{OwnerID: f.alice.ID, StoredName: "later.pdf"}.URL()
	expect(f.alice.ID, later, 404)
	f.addFile(t, f.alice.ID, "later.pdf")
	expect(f.alice.ID, later, 200)

	expect(f.alice.ID, f.bobFile.URL(), 403)
	if _, err := f.db.UpdateUser(ctx, f.alice.ID, filegate.UserUpdate{IsStaff: &yes}); err != nil {
		t.Fatal(err)
	}
	expect(f.alice.ID, f.bobFile.URL(), 200)
}

// A database read that started before a change and is cached after the
// invalidation must not be served: its generation token is stale.
func TestCacheRaceWithInvalidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ask(t, f.alice.ID, f.bobFile.URL()) // alice's session
	claims, err := f.codec.Decode(f.cookies[f.alice.ID])
	if err != nil {
		t.Fatal(err)
	}
	key := filegate.FactsKey{ViewerID: f.alice.ID, SessionHash: session.HashToken(claims.Token), OwnerID: f.bob.ID, StoredName: f.bobFile.StoredName}
	facts := func(load func() (filegate.Facts, error)) (loaded bool) {
		t.Helper()
		if _, err := f.cache.Facts(ctx, key, func() (filegate.Facts, error) {
			loaded = true
			return load()
		}); err != nil {
			t.Fatal(err)
		}
		return loaded
	}
	f.cache.UserChanged(ctx, f.alice.ID) // start from a miss
	read := func() (filegate.Facts, error) { return f.db.Facts(ctx, key) }
	no := false
	// The slow reader reads the database, the change commits, and only then
	// does the reader's answer reach the cache.
	if !facts(func() (filegate.Facts, error) {
		stale, err := read()
		if err != nil {
			return stale, err
		}
		_, err = f.db.UpdateUser(ctx, f.bob.ID, filegate.UserUpdate{IsPublic: &no})
		return stale, err
	}) {
		t.Fatal("fresh cache reported a hit")
	}
	if !facts(read) {
		t.Fatal("stale facts written after the invalidation were served from the cache")
	}
	if got := status(f.ask(t, f.alice.ID, f.bobFile.URL())); got != 403 {
		t.Fatalf("status %d, want 403", got)
	}
}

// Without Redis authz answers from PostgreSQL; without PostgreSQL and
// nothing cached it answers 503, never 200.
func TestAuthDegraded(t *testing.T) {
	f := newFixture(t)
	deadRedis := deadCache(t)
	f.srv.Cache = deadRedis
	if got := status(f.ask(t, f.alice.ID, f.bobFile.URL())); got != 200 {
		t.Errorf("redis down: status %d, want 200 from PostgreSQL", got)
	}
	if got := status(f.ask(t, f.bob.ID, f.aliceFile.URL())); got != 403 {
		t.Errorf("redis down: status %d, want 403 from PostgreSQL", got)
	}

	f.srv.Store = deadStore(t)
	f.h = f.srv.Handler()
	for _, c := range []authz.Cache{deadRedis, f.cache, authz.NoCache{}, nil} {
		f.srv.Cache = c
		if got := status(f.ask(t, f.alice.ID, filegate.File{OwnerID: f.bob.ID, StoredName: "never-cached.pdf"}.URL())); got != 503 {
			t.Errorf("database down: status %d, want 503", got)
		}
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 503 {
		t.Errorf("healthz with database down: %d, want 503", w.Code)
	}
}

// A user's cached profile is shared by the requests where the user is the
// viewer and those where the user is the owner, so the viewer's side must
// carry the same flags: having browsed as a viewer must not make a public
// owner look private.
func TestCachedViewerProfileKeepsPublic(t *testing.T) {
	f := newFixture(t)
	for i, step := range []struct {
		viewer int64
		uri    string
		want   int
	}{
		{f.alice.ID, f.bobFile.URL(), 200}, // caches bob as owner, and bob's file
		{f.bob.ID, f.aliceFile.URL(), 403}, // caches bob as viewer
		{f.alice.ID, f.bobFile.URL(), 200}, // all from the cache
	} {
		if got := status(f.ask(t, step.viewer, step.uri)); got != step.want {
			t.Fatalf("step %d: %s as %d: status %d, want %d", i, step.uri, step.viewer, got, step.want)
		}
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 {
		t.Errorf("healthz with the database up: %d, want 200", w.Code)
	}
}

// The answer's header names are canonical, so that authz can set them
// without net/http canonicalizing them on every answer.
func TestHeadersCanonical(t *testing.T) {
	for _, h := range []string{authz.HeaderPath, authz.HeaderType, authz.HeaderDisposition, authz.HeaderStatus, authz.HeaderReason} {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("%s is not canonical: %s", h, c)
		}
	}
}
