package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// The fault tests take a part of a running stack away (Redis, PostgreSQL,
// authz, the uploader) while clients use it, and check every answer
// against the model of model_test.go: a fault may turn answers into 503,
// never into a wrong one. Their results are in docs/reliability.md. They
// run in parallel with each other: each has its own stack, and most of
// their time is spent waiting.

// faultWorld is a stack with the load's users and files, "dee" removed,
// and nothing changing from then on.
func faultWorld(t *testing.T, opt testenv.Options) (*testenv.Stack, *changer) {
	t.Helper()
	s := testenv.Start(t, opt)
	c := newChanger(t, s)
	c.removeUser("dee")
	return s, c
}

// between returns the observations that started in [from, to).
func between(obs []observation, from, to time.Time) []observation {
	var out []observation
	for _, o := range obs {
		if !o.start.Before(from) && o.start.Before(to) {
			out = append(out, o)
		}
	}
	return out
}

// waitFor polls cond every 10 ms and returns how long it took to hold.
// The tests report that time; the limit of 30 s only ends a test that
// would wait forever, so a busy machine does not fail it.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	const limit = 30 * time.Second
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// Redis goes away in the middle of a download run, first refusing
// connections, then accepting them and never answering: every answer
// stays right (authz decides from PostgreSQL), none is a 5xx, and when
// Redis is back authz uses it again by itself: the cache entries, deleted
// while it was away, come back.
func TestFaultRedisDown(t *testing.T) {
	t.Parallel()
	s, c := faultWorld(t, testenv.Options{ProxyRedis: true})
	rc := testenv.RedisClient(t)
	ctx := context.Background()
	entries := func() []string {
		keys, err := rc.Keys(ctx, cache.KeyPrefix(s.RedisPrefix)+"c:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}

	run := startDownloads(s, c.tg, 4)
	t0 := time.Now()
	time.Sleep(time.Second)
	if len(entries()) == 0 {
		t.Fatal("no cache entries in Redis while it was up")
	}

	s.RedisProxy.Cut()
	t1 := time.Now()
	if keys := entries(); len(keys) > 0 {
		rc.Del(ctx, keys...)
	}
	time.Sleep(time.Second)
	if keys := entries(); len(keys) > 0 {
		t.Errorf("%d cache entries written while Redis was cut off", len(keys))
	}

	// Hung: connections are accepted and nothing is answered.
	s.RedisProxy.Delay(time.Hour)
	s.RedisProxy.Restore()
	t2 := time.Now()
	time.Sleep(time.Second)

	s.RedisProxy.Delay(0)
	t3 := time.Now()
	back := waitFor(t, "cache entries after Redis came back", func() bool { return len(entries()) > 0 })
	time.Sleep(time.Second)
	obs := run.stop()
	t4 := time.Now()

	v := c.h.judge(obs, nil)
	v.report(t, c.h)
	for _, p := range []struct {
		name     string
		from, to time.Time
	}{{"up", t0, t1}, {"refusing", t1, t2}, {"hung", t2, t3}, {"back", t3, t4}} {
		pv := c.h.judge(between(obs, p.from, p.to), nil)
		t.Logf("Redis %s for %v: %v", p.name, p.to.Sub(p.from).Round(time.Millisecond), pv)
		if pv.requests == 0 {
			t.Errorf("no download while Redis was %s", p.name)
		}
	}
	t.Logf("cache entries written again %v after Redis came back", back.Round(time.Millisecond))
}

// A change made while Redis cannot be told keeps its stale decision at
// most AUTHZ_CACHE_TTL (2 s here): once when Redis is away for authz and
// the web app alike and comes back after the change, once when only the
// changing CLI cannot reach it. The staleness is measured and reported.
func TestFaultStaleAfterMissedInvalidation(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	s, c := faultWorld(t, testenv.Options{ProxyRedis: true, ProxyUploaderRedis: true, CacheTTL: ttl})
	ids := c.ids
	client := newClient(1)
	get := func(v int64, url string) observation {
		return download(client, s.URL, "GET", url, viewer(v), c.tg.cookies[viewer(v)])
	}
	// stale polls until v gets want for url, failing on any answer other
	// than want and was, and returns the staleness measured from changed:
	// at least until the last stale answer's start (its decision came
	// later), at most until the first right answer's end. Only the first
	// is checked against the TTL: a slow machine can only make it
	// smaller.
	stale := func(v int64, url string, was, want int, changed time.Time) (atLeast, atMost time.Duration) {
		t.Helper()
		first := get(v, url)
		for o := first; ; o = get(v, url) {
			switch {
			case o.status == want:
				atMost = o.end.Sub(changed)
			case o.status != was:
				t.Fatalf("while stale: %v", o)
			case time.Since(changed) > ttl+10*time.Second:
				t.Fatalf("still %d %v after the change", o.status, time.Since(changed))
			default:
				atLeast = o.start.Sub(changed)
				time.Sleep(20 * time.Millisecond)
				continue
			}
			break
		}
		t.Logf("first answer after the change: %d; stale for %v to %v (TTL %v)", first.status,
			atLeast.Round(time.Millisecond), atMost.Round(time.Millisecond), ttl)
		// Redis expires an entry to the millisecond; 50 ms is for clocks.
		if atLeast > ttl+50*time.Millisecond {
			t.Errorf("a stale answer %v after the change, later than AUTHZ_CACHE_TTL %v", atLeast, ttl)
		}
		return atLeast, atMost
	}

	// ann (public) goes private through the web app while Redis is away.
	annFile := c.slots["ann"]["a.txt"]
	if o := get(ids["ben"], annFile); o.status != 200 { // cached from here on
		t.Fatalf("before: %v", o)
	}
	s.RedisProxy.Cut()
	s.UploaderRedisProxy.Cut()
	c.setPublicWeb("ann", false)
	changed := time.Now()
	s.RedisProxy.Restore()
	s.UploaderRedisProxy.Restore()
	webLeast, webMost := stale(ids["ben"], annFile, 200, 403, changed)

	// sam (staff) is removed by a CLI that cannot reach Redis; authz can.
	benFile := c.slots["ben"]["a.txt"]
	if o := get(ids["sam"], benFile); o.status != 200 {
		t.Fatalf("before: %v", o)
	}
	cmd := s.Command(t, "user", "remove", "sam")
	cmd.Env = append(cmd.Env, "REDIS_URL=redis://"+testenv.FreeAddr(t)+"/0")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "removed") {
		t.Fatalf("user remove without Redis: %v\n%s", err, out)
	}
	changed = time.Now()
	cliLeast, cliMost := stale(ids["sam"], benFile, 200, 401, changed)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	t.Logf("stale decisions after missed invalidations, AUTHZ_CACHE_TTL %v: %v to %v (web app, Redis down), %v to %v (CLI without Redis)",
		ttl, ms(webLeast), ms(webMost), ms(cliLeast), ms(cliMost))
}

// PostgreSQL unreachable: downloads that are validly cached keep their
// answer, every other one is a 503 (never a 200 the model does not
// allow); requests without a cookie still get 401; uploads are 503 and
// leave nothing behind, also when the database goes away in the middle
// of one; when it returns, everything works again.
func TestFaultDatabaseDown(t *testing.T) {
	t.Parallel()
	faultDatabaseDown(t, testenv.Options{})
}

// faultDatabaseDown is TestFaultDatabaseDown on a stack started with opt
// and the proxies to PostgreSQL.
func faultDatabaseDown(t *testing.T, opt testenv.Options) {
	opt.ProxyDatabase, opt.ProxyUploaderDatabase = true, true
	s, c := faultWorld(t, withBigUploads(opt))
	ids, client := c.ids, newClient(1)
	get := func(v int64, url string) observation {
		return download(client, s.URL, "GET", url, viewer(v), c.tg.cookies[viewer(v)])
	}
	cached := []struct {
		viewer int64
		url    string
	}{{ids["ben"], c.slots["ann"]["a.txt"]}, {ids["cal"], c.slots["ben"]["a.txt"]}, {ids["sam"], c.slots["cal"]["b.txt"]}}
	for _, r := range cached {
		get(r.viewer, r.url)
	}

	s.DBProxy.Cut()
	s.UploaderDBProxy.Cut()
	cut := time.Now()
	run := startDownloads(s, c.tg, 4)
	time.Sleep(1500 * time.Millisecond)
	var during []observation
	for _, r := range cached {
		during = append(during, get(r.viewer, r.url))
	}
	for _, url := range c.tg.files {
		during = append(during, get(0, url))
	}
	if answer := uploadOne(t, s, c.tg.cookies[viewer(ids["ann"])], "down.txt", []byte("stored while the database is down\n")); answer.status != 503 ||
		!strings.Contains(answer.body, `"error"`) {
		t.Errorf("upload with the database down: %d %s", answer.status, answer.body)
	}
	if o := get(0, "/healthz"); o.status != 503 {
		t.Errorf("web app's healthz with its database down: %d", o.status)
	}
	s.DBProxy.Restore()
	s.UploaderDBProxy.Restore()
	restored := time.Now()
	time.Sleep(time.Second)
	obs := run.stop()

	down := func(o observation) bool { return o.end.After(cut) && o.start.Before(restored) }
	v := c.h.judge(append(obs, during...), down)
	v.report(t, c.h)
	n503, cutOff := 0, between(obs, cut, restored)
	for _, o := range cutOff {
		if o.status == 503 {
			n503++
		}
	}
	t.Logf("all: %v; while the database was down: %d downloads, %d of them 503", v, len(cutOff), n503)
	if n503 == 0 {
		t.Errorf("no 503 while the database was down")
	}
	for _, o := range during {
		if o.status == 503 {
			t.Errorf("validly cached, or without a cookie, yet 503: %v", o)
		}
	}

	// The database goes away in the middle of an upload.
	ann := ids["ann"]
	up, _ := sendInFlight(t, s, c.tg.cookies[viewer(ann)], ann, "midway.txt")
	s.UploaderDBProxy.Cut()
	answer := up.finish(t)
	s.UploaderDBProxy.Restore()
	if answer.status != 503 {
		t.Errorf("upload whose database went away: %d %s", answer.status, answer.body)
	}
	checkStorage(t, s, c.h.current())
}

// authz killed (SIGKILL) under a download run: every download is a 503
// until it is back, never a file; after a restart, answers are right
// again.
func TestFaultAuthzKilled(t *testing.T) {
	t.Parallel()
	s, c := faultWorld(t, testenv.Options{})
	run := startDownloads(s, c.tg, 4)
	time.Sleep(time.Second)
	killed := time.Now()
	s.Authz.Kill(t)
	time.Sleep(time.Second)
	restarting := time.Now()
	s.Authz.Restart(t)
	restarted := time.Now()
	time.Sleep(time.Second)
	obs := run.stop()

	v := c.h.judge(obs, func(o observation) bool { return o.end.After(killed) && o.start.Before(restarted) })
	v.report(t, c.h)
	dead := 0
	for _, o := range between(obs, killed, restarting) {
		if o.end.Before(restarting) {
			dead++
			if o.status != 503 {
				t.Errorf("authz dead, yet: %v", o)
			}
		}
	}
	t.Logf("%v; %d downloads while authz was dead, all 503", v, dead)
	if dead == 0 {
		t.Errorf("no download while authz was dead")
	}
}

// SIGTERM under traffic. authz: downloads whose decisions are in flight
// (waiting for a slow database) finish with the right answer, new
// connections are refused, it exits with status 0, downloads are 503
// until it is back. The uploader: a slow upload in flight through nginx
// completes and is stored, new connections are refused meanwhile, it
// exits with status 0.
func TestFaultGracefulShutdown(t *testing.T) {
	t.Parallel()
	s, c := faultWorld(t, testenv.Options{ProxyDatabase: true})
	ids := c.ids

	t.Run("authz", func(t *testing.T) {
		// Three downloads nobody asked before: none is cached.
		asks := []struct {
			viewer int64
			url    string
		}{{ids["ben"], c.slots["ann"]["a.txt"]}, {ids["cal"], c.slots["ben"]["b.txt"]}, {ids["sam"], c.slots["cal"]["a.txt"]}}
		s.DBProxy.Delay(150 * time.Millisecond)
		results := make(chan observation, len(asks))
		client := newClient(len(asks))
		for _, a := range asks {
			go func() {
				results <- download(client, s.URL, "GET", a.url, viewer(a.viewer), c.tg.cookies[viewer(a.viewer)])
			}()
		}
		waitFor(t, "three decisions waiting for the database", func() bool { return s.DBProxy.Held() >= len(asks) })
		s.Authz.Signal(t, syscall.SIGTERM)
		stopped := time.Now()
		refused := waitFor(t, "authz refusing connections", func() bool { return !listening(s.AuthzURL) })
		after := download(newClient(1), s.URL, "GET", c.slots["ann"]["b.txt"], viewer(ids["ben"]), c.tg.cookies[viewer(ids["ben"])])
		var inFlight []observation
		for range asks {
			inFlight = append(inFlight, <-results)
		}
		s.DBProxy.Delay(0)
		exit, exited := s.Authz.Wait(10 * time.Second)
		if !exited || exit != nil {
			t.Errorf("authz after SIGTERM: exited %t, %v; want status 0", exited, exit)
		}
		v := c.h.judge(inFlight, nil)
		v.report(t, c.h)
		if kind := c.h.check(after, true); kind != "" {
			t.Errorf("a download after SIGTERM: %s: %v", kind, after)
		}
		t.Logf("in flight at SIGTERM: %v; refusing connections %v after it; exited %v after it; a new download: %d",
			inFlight, refused.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond), after.status)
		s.Authz.Restart(t)
		if o := download(newClient(1), s.URL, "GET", after.url, after.viewer, c.tg.cookies[after.viewer]); c.h.check(o, false) != "" {
			t.Errorf("after the restart: %v", o)
		}
	})

	t.Run("uploader", func(t *testing.T) {
		ann := ids["ann"]
		data := bytes.Repeat([]byte("slow and steady\n"), 65536)
		up := startSlowUpload(s, c.tg.cookies[viewer(ann)], "slow.txt", data)
		up.send(t, partialWrite)
		waitPartial(t, s, ann, 1)
		s.Uploader.Signal(t, syscall.SIGTERM)
		stopped := time.Now()
		refused := waitFor(t, "the uploader refusing connections", func() bool { return !listening(s.UploaderURL) })
		answer := up.finish(t)
		exit, exited := s.Uploader.Wait(10 * time.Second)
		if !exited || exit != nil {
			t.Errorf("uploader after SIGTERM: exited %t, %v; want status 0", exited, exit)
		}
		var stored []struct{ URL string }
		if answer.status != 201 || json.Unmarshal([]byte(answer.body), &stored) != nil || len(stored) != 1 {
			t.Fatalf("upload in flight at SIGTERM: %d %s", answer.status, answer.body)
		}
		t.Logf("upload in flight at SIGTERM: %d; refusing connections %v after it; exited %v after it",
			answer.status, refused.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
		if o := download(newClient(1), s.URL, "GET", stored[0].URL, viewer(ann), c.tg.cookies[viewer(ann)]); o.status != 200 || o.body != string(data) {
			t.Errorf("the upload finished during shutdown: %d, %d bytes, want %d", o.status, len(o.body), len(data))
		}
		s.Uploader.Restart(t)
		if answer := uploadOne(t, s, c.tg.cookies[viewer(ann)], "after.txt", []byte("after the restart\n")); answer.status != 201 {
			t.Errorf("upload after the restart: %d %s", answer.status, answer.body)
		}
	})
}

// The uploader killed (SIGKILL) in the middle of a slow upload through
// nginx: the client gets a 502, no file has its final name, no row is
// written; the temp file left behind is reported and removed by `uploader
// sweep --apply` once it is an hour old (aged here), never before.
func TestFaultUploaderKilled(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	ann := s.AddUser(t, testenv.User{Name: "ann", Password: "ann-password"})
	cookie := s.Cookie(t, ann)
	up := startSlowUpload(s, cookie, "killed.txt", bytes.Repeat([]byte("never finished\n"), 70000))
	up.send(t, partialWrite)
	left := waitPartial(t, s, ann, 1)
	s.Uploader.Kill(t)
	if answer := up.wait(t); answer.status != 502 {
		t.Errorf("upload whose uploader died: %d %s", answer.status, answer.body)
	}
	leftOnly(t, s, ann, left)
	if o := download(newClient(1), s.URL, "GET", fileURL(ann, "killed.txt"), viewer(ann), cookie); o.status != 404 {
		t.Errorf("the killed upload's URL: %v", o)
	}
	sweepPartial(t, s, left)
	checkStorage(t, s, newState())

	s.Uploader.Restart(t)
	if answer := uploadOne(t, s, cookie, "again.txt", []byte("after the restart\n")); answer.status != 201 {
		t.Errorf("upload after the restart: %d %s", answer.status, answer.body)
	}
}

// listening reports whether something accepts connections at a URL's
// address.
func listening(url string) bool {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// waitPartial waits until s's storage holds one unfinished upload of
// owner with at least n bytes written, and returns it: the temp file of an
// upload in flight, or on S3, once its first part (s3.PartSize) is
// stored, its multipart upload.
func waitPartial(t *testing.T, s *testenv.Stack, owner int64, n int64) partialUpload {
	t.Helper()
	var found partialUpload
	waitFor(t, fmt.Sprintf("an unfinished upload of user %d with %d bytes", owner, n), func() bool {
		_, partial := storageOf(t, s)
		for _, p := range partial {
			if p.owner == owner && p.size >= n {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// partialWrite is enough of an upload for its temp file to hold some of
// it: the filesystem backend writes through a 256 KiB buffer.
const partialWrite = 512 << 10

// inFlightSize is the size of the uploads tests leave in flight: over
// one part of an S3 multipart upload, so that its first part is stored in
// the bucket, as the start of its temp file is on disk.
const inFlightSize = 6 << 20

// withBigUploads returns opt with a stack that takes an upload of
// inFlightSize.
func withBigUploads(opt testenv.Options) testenv.Options {
	opt.MaxUpload, opt.MaxBody = "8MiB", "9m"
	return opt
}

// sendInFlight starts an upload of inFlightSize bytes, name, as owner
// (with cookie) through nginx, hands over its first part and a little
// more, and returns it once that part is in storage (waitPartial), with
// what it left there.
func sendInFlight(t *testing.T, s *testenv.Stack, cookie *http.Cookie, owner int64, name string) (*slowUpload, partialUpload) {
	t.Helper()
	up := startSlowUpload(s, cookie, name, bytes.Repeat([]byte("in flight\n"), inFlightSize/10))
	up.send(t, s3.PartSize+64<<10)
	return up, waitPartial(t, s, owner, s3.PartSize)
}

// age makes the unfinished upload p 25 hours old, as sweep sees it, past
// both of sweep's grace periods (an hour for a temp file, a day for a
// multipart upload): the temp file's modification time, or the multipart
// upload's start, which versitygw takes from its folder's.
func age(t *testing.T, s *testenv.Stack, p partialUpload) {
	t.Helper()
	path := filepath.Join(s.PrivateRoot, filepath.FromSlash(p.name))
	if s.S3 != nil {
		dirs, _ := filepath.Glob(filepath.Join(s.S3.Data, s.S3.Bucket, ".sgwtmp", "multipart", "*", p.upload))
		if len(dirs) != 1 {
			t.Fatalf("versitygw's folder of upload %s: %q", p.upload, dirs)
		}
		path = dirs[0]
	}
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// leftOnly fails unless s's storage holds nothing of owner but the
// unfinished upload p: no file under any name, no other upload.
func leftOnly(t *testing.T, s *testenv.Stack, owner int64, p partialUpload) {
	t.Helper()
	files, partial := storageOf(t, s)
	for _, f := range files {
		if idOf(f.url) == owner {
			t.Errorf("user %d has %s stored", owner, f.url)
		}
	}
	partial = slices.DeleteFunc(partial, func(q partialUpload) bool { return q.owner != owner })
	if len(partial) != 1 || partial[0].name != p.name || partial[0].upload != p.upload {
		t.Errorf("unfinished uploads of user %d: %+v, want only %+v", owner, partial, p)
	}
}

// sweepPartial checks that `uploader sweep` leaves the unfinished upload
// p alone while it is young (it may be in flight), reports it once aged,
// and with --apply removes it.
func sweepPartial(t *testing.T, s *testenv.Stack, p partialUpload) {
	t.Helper()
	reported := func(out string) bool { return strings.Contains(out, p.name) && strings.Contains(out, p.upload) }
	if out := s.CLI(t, "", "sweep", "--apply"); reported(out) || !strings.Contains(out, " 0 removed") {
		t.Errorf("sweep took an unfinished upload younger than an hour (%s):\n%s", p.name, out)
	}
	age(t, s, p)
	if out := s.CLI(t, "", "sweep"); !reported(out) {
		t.Errorf("sweep does not report the aged unfinished upload %s %s:\n%s", p.name, p.upload, out)
	}
	if out := s.CLI(t, "", "sweep", "--apply"); !strings.Contains(out, " 1 removed") {
		t.Errorf("sweep --apply:\n%s", out)
	}
}

// answer is a web app's answer.
type answer struct {
	status int
	body   string
}

// uploadOne posts one file to /upload through nginx, asking for JSON.
func uploadOne(t *testing.T, s *testenv.Stack, cookie *http.Cookie, name string, data []byte) answer {
	t.Helper()
	up := startSlowUpload(s, cookie, name, data)
	return up.finish(t)
}

// slowUpload is a multipart upload through nginx whose body the test
// hands over piece by piece, as a slow client would.
type slowUpload struct {
	body   []byte // the whole request body
	sent   int
	pw     *io.PipeWriter
	result chan answer
}

func startSlowUpload(s *testenv.Stack, cookie *http.Cookie, name string, data []byte) *slowUpload {
	contentType, body := multipartFiles(upload{name, data})
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", s.URL+"/upload", pr)
	if err != nil {
		panic(err)
	}
	req.ContentLength = int64(body.Len())
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(cookie)
	u := &slowUpload{body: body.Bytes(), pw: pw, result: make(chan answer, 1)}
	go func() {
		resp, err := newClient(1).Do(req)
		if err != nil {
			pr.CloseWithError(err)
			u.result <- answer{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pr.CloseWithError(io.ErrClosedPipe) // the server stopped reading
		u.result <- answer{resp.StatusCode, string(b)}
	}()
	return u
}

// send hands over the next n bytes of the body.
func (u *slowUpload) send(t *testing.T, n int) {
	t.Helper()
	n = min(n, len(u.body)-u.sent)
	if _, err := u.pw.Write(u.body[u.sent : u.sent+n]); err != nil {
		t.Fatalf("upload: %v", err)
	}
	u.sent += n
}

// finish hands over the rest of the body and returns the answer.
func (u *slowUpload) finish(t *testing.T) answer {
	t.Helper()
	u.pw.Write(u.body[u.sent:]) // an error shows in the answer
	u.pw.Close()
	return u.wait(t)
}

// wait returns the answer without sending more.
func (u *slowUpload) wait(t *testing.T) answer {
	t.Helper()
	select {
	case a := <-u.result:
		return a
	case <-time.After(30 * time.Second):
		t.Fatalf("upload: no answer after 30 s")
		return answer{}
	}
}
