package e2e

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

// This file is the model the load and fault tests check downloads
// against: what the database holds (users and files), the states it went
// through, and which answers each state allows. The rule itself is
// policy.Decide, not restated here.

// user is what the access rule reads of a user; a user who does not
// exist is absent from state.users.
type user struct{ public, staff bool }

// file is a stored file: its bytes, which a download must return exactly.
// The owner is in its URL.
type file struct{ bytes string }

// state is the database at one moment. It is never changed once recorded:
// a change makes a new state (with).
type state struct {
	users map[int64]user
	files map[string]file // by download URL, /files/{owner}/{name}
}

func newState() *state {
	return &state{users: map[int64]user{}, files: map[string]file{}}
}

// with returns a copy of s changed by change.
func (s *state) with(change func(*state)) *state {
	next := &state{users: maps.Clone(s.users), files: maps.Clone(s.files)}
	change(next)
	return next
}

// viewer is who asks: the user a session cookie names, 0 for no cookie.
type viewer int64

// session is the state of the session the viewer's cookie names. Each
// viewer has one session (Stack.Cookie), which lives as long as its user:
// removing a user deletes their sessions. Revocation as one more change
// would give the state a sessions map and the viewer its session.
func (s *state) session(v viewer) filegate.SessionState {
	if _, ok := s.users[int64(v)]; v == 0 || !ok {
		return filegate.SessionState{}
	}
	return filegate.SessionState{Exists: true, UserID: int64(v), Expires: farFuture.Unix()}
}

// farFuture is after every session of the load has ended.
var farFuture = time.Now().Add(24 * time.Hour)

func (s *state) profile(id int64) filegate.Profile {
	u, ok := s.users[id]
	return filegate.Profile{ID: id, Exists: ok, Public: u.public, Staff: u.staff}
}

// statusOf is the status a download gets for each decision, through nginx.
var statusOf = map[policy.Decision]int{
	policy.Allow: 200, policy.Deny: 403, policy.NotFound: 404, policy.Unauthenticated: 401,
}

// answer is the status v gets for url in s, and on 200 the file served.
func (s *state) answer(v viewer, url string) (int, file) {
	owner, _, _ := filegate.ParseFileURI(url)
	f, exists := s.files[url]
	facts := filegate.Facts{
		Viewer:  s.profile(int64(v)),
		Session: s.session(v),
		Owner:   s.profile(owner),
		File:    filegate.Target{Exists: exists},
	}
	return statusOf[policy.Decide(facts, time.Now(), false)], f
}

// version is a state with the times it may have been current: from the
// start of the change that made it (zero for the first state) until the
// end of the next change (zero while it is the last). A change counts as
// happening anywhere between its call's start and its return.
type version struct {
	*state
	from, until time.Time
}

// history is the states a stack went through, changed by one goroutine
// at a time.
type history struct {
	mu       sync.Mutex
	versions []version
	// gone is the status of a download whose file is deleted after authz
	// allowed it and before nginx fetched it (check).
	gone int
}

// newHistory starts a history at first, for a stack whose storage is a
// bucket or not: nginx answers a fetch of a deleted file with 404 from
// disk, and with 502 from a bucket, as it answers every object the store
// lacks.
func newHistory(first *state, bucket bool) *history {
	h := &history{versions: []version{{state: first}}, gone: 404}
	if bucket {
		h.gone = 502
	}
	return h
}

// current is the last state.
func (h *history) current() *state {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.versions[len(h.versions)-1].state
}

// changed records that a change called at start and returned at end left
// the database in state next.
func (h *history) changed(start, end time.Time, next *state) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.versions[len(h.versions)-1].until = end
	h.versions = append(h.versions, version{state: next, from: start})
}

// during returns the states that were current at some instant between
// start and end: those whose change began by end and whose successor's
// change ended after start. They are consecutive.
func (h *history) during(start, end time.Time) []version {
	h.mu.Lock()
	defer h.mu.Unlock()
	vs := h.versions
	lo := sort.Search(len(vs), func(i int) bool { return vs[i].until.IsZero() || vs[i].until.After(start) })
	hi := sort.Search(len(vs), func(i int) bool { return vs[i].from.After(end) })
	return vs[lo:hi]
}

// observation is one download as a client saw it.
type observation struct {
	viewer      viewer
	method, url string
	start, end  time.Time
	status      int    // 0: no HTTP answer at all (err)
	body        string // GET
	length      int64  // Content-Length of a HEAD
	err         string
}

func (o observation) String() string {
	s := fmt.Sprintf("viewer %d %s %s in %v: %d", o.viewer, o.method, o.url, o.end.Sub(o.start).Round(time.Microsecond), o.status)
	if o.err != "" {
		s += " (" + o.err + ")"
	}
	if o.status == 200 && o.method == "GET" {
		s += fmt.Sprintf(" %.40q", o.body)
	}
	return s
}

// Kinds of wrong answers.
const (
	wrong200    = "wrong 200" // served what no state allowed, or other bytes: the one that matters most
	serverError = "5xx"
	noAnswer    = "no answer"
	wrongStatus = "wrong status" // e.g. a 404 for an upload that had returned: a lost upload
)

// check returns "" when some state current during o allows o's answer,
// and else the kind of wrong answer. Where may503 is true, a 503 is
// right too: the decision could not be made.
//
// One answer comes from two states: authz decides at one instant and
// nginx opens the file (or asks the store for it) at a later one. When
// the file was deleted (or its owner removed) in between, the answer is
// h.gone, a 404 or from a bucket a 502, although the deciding state said
// 200 and the later one may say 401 (the viewer was the removed owner). A 200, though, must come whole from one state: its
// bytes from a state that lets the viewer have them.
func (h *history) check(o observation, may503 bool) string {
	decidedAllow := false
	for _, v := range h.during(o.start, o.end) {
		status, f := v.answer(o.viewer, o.url)
		decidedAllow = decidedAllow || status == 200
		_, exists := v.files[o.url]
		switch {
		case o.status == h.gone && decidedAllow && !exists:
			return ""
		case status != o.status:
		case status != 200,
			o.method == "GET" && o.body == f.bytes,
			o.method == "HEAD" && o.length == int64(len(f.bytes)):
			return ""
		}
	}
	switch {
	case o.status == 503 && may503:
		return ""
	case o.status == 200:
		return wrong200
	case o.status >= 500:
		return serverError
	case o.status == 0:
		return noAnswer
	}
	return wrongStatus
}

// explain lists what each state current during o would have answered.
func (h *history) explain(o observation) string {
	var parts []string
	for _, v := range h.during(o.start, o.end) {
		status, f := v.answer(o.viewer, o.url)
		if status == 200 {
			parts = append(parts, fmt.Sprintf("200 %.40q", f.bytes))
		} else {
			parts = append(parts, strconv.Itoa(status))
		}
	}
	return "states allowed: " + strings.Join(parts, ", ")
}

// verdict is what a download run found.
type verdict struct {
	requests int
	wrong    map[string][]observation // by kind
	p50, p99 time.Duration
}

// judge checks every observation; may503, if not nil, says when a 503
// is right.
func (h *history) judge(obs []observation, may503 func(observation) bool) verdict {
	v := verdict{requests: len(obs), wrong: map[string][]observation{}}
	lat := make([]time.Duration, 0, len(obs))
	for _, o := range obs {
		lat = append(lat, o.end.Sub(o.start))
		if kind := h.check(o, may503 != nil && may503(o)); kind != "" {
			v.wrong[kind] = append(v.wrong[kind], o)
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		v.p50, v.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return v
}

func (v verdict) wrongCount() int {
	n := 0
	for _, os := range v.wrong {
		n += len(os)
	}
	return n
}

func (v verdict) String() string {
	kinds := slices.Sorted(maps.Keys(v.wrong))
	var counts []string
	for _, k := range kinds {
		counts = append(counts, fmt.Sprintf("%s: %d", k, len(v.wrong[k])))
	}
	return fmt.Sprintf("%d requests, %d wrong answers %v, p50 %v, p99 %v",
		v.requests, v.wrongCount(), counts, v.p50.Round(10*time.Microsecond), v.p99.Round(10*time.Microsecond))
}

// report fails t for every wrong answer, showing a few of each kind.
func (v verdict) report(t *testing.T, h *history) {
	t.Helper()
	for kind, os := range v.wrong {
		t.Errorf("%d × %s", len(os), kind)
		for _, o := range os[:min(len(os), 5)] {
			t.Errorf("  %v; %s", o, h.explain(o))
		}
	}
}

// targets is what download clients pick from: viewers with their cookies
// and URLs. Changes add to it; nothing is ever taken out, so clients keep
// asking for removed users and deleted files too.
type targets struct {
	mu      sync.RWMutex
	cookies map[viewer]*http.Cookie
	live    []viewer // users that exist, as far as the changer knows
	gone    []viewer // removed users
	files   []string // files that exist, as far as the changer knows
	deleted []string // deleted files and names that never existed
}

func newTargets() *targets { return &targets{cookies: map[viewer]*http.Cookie{}} }

// update sets the lists from s; cookies holds the cookies of new users.
func (tg *targets) update(s *state, cookies map[viewer]*http.Cookie) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	maps.Copy(tg.cookies, cookies)
	tg.live, tg.gone = tg.live[:0], tg.gone[:0]
	for v := range tg.cookies {
		if _, ok := s.users[int64(v)]; ok {
			tg.live = append(tg.live, v)
		} else {
			tg.gone = append(tg.gone, v)
		}
	}
	seen := map[string]bool{}
	for _, u := range tg.deleted {
		seen[u] = true
	}
	for _, u := range tg.files {
		if _, ok := s.files[u]; !ok && !seen[u] {
			tg.deleted = append(tg.deleted, u)
		}
	}
	tg.files = slices.Sorted(maps.Keys(s.files))
}

// never adds URLs that no file ever has.
func (tg *targets) never(urls ...string) {
	tg.mu.Lock()
	tg.deleted = append(tg.deleted, urls...)
	tg.mu.Unlock()
}

// pick chooses a viewer (mostly existing users, some removed ones, some
// without a cookie) and a URL (mostly existing files).
func (tg *targets) pick(rng *rand.Rand) (viewer, *http.Cookie, string) {
	tg.mu.RLock()
	defer tg.mu.RUnlock()
	var v viewer
	switch r := rng.IntN(100); {
	case r < 75 && len(tg.live) > 0:
		v = tg.live[rng.IntN(len(tg.live))]
	case r < 90 && len(tg.gone) > 0:
		v = tg.gone[rng.IntN(len(tg.gone))]
	}
	url := ""
	if len(tg.files) > 0 && (rng.IntN(100) < 75 || len(tg.deleted) == 0) {
		url = tg.files[rng.IntN(len(tg.files))]
	} else {
		url = tg.deleted[rng.IntN(len(tg.deleted))]
	}
	return v, tg.cookies[v], url
}

// newClient is an HTTP client for n concurrent downloaders, keeping a
// connection each; it never follows redirects. Its timeout only ends a
// request that would hang: nginx answers within seconds or not at all.
func newClient(n int) *http.Client {
	return &http.Client{
		Timeout:       time.Minute,
		Transport:     &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// download asks base for url as v, with GET or HEAD, and returns what it
// saw.
func download(client *http.Client, base, method, url string, v viewer, cookie *http.Cookie) observation {
	o := observation{viewer: v, method: method, url: url, start: time.Now()}
	req, err := http.NewRequest(method, base+url, nil)
	if err != nil {
		panic(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := client.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		o.status, o.body, o.length = resp.StatusCode, string(body), resp.ContentLength
	}
	if err != nil {
		o.status, o.err = 0, err.Error()
	}
	o.end = time.Now()
	return o
}

// downloads is a download run: n clients asking for what tg offers, GET
// and HEAD, until stop.
type downloads struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	obs    []observation
}

func startDownloads(s *testenv.Stack, tg *targets, n int) *downloads {
	ctx, cancel := context.WithCancel(context.Background())
	d := &downloads{cancel: cancel}
	client := newClient(n)
	for i := range n {
		d.wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			var mine []observation
			for ctx.Err() == nil {
				v, cookie, url := tg.pick(rng)
				method := "GET"
				if rng.IntN(4) == 0 {
					method = "HEAD"
				}
				mine = append(mine, download(client, s.URL, method, url, v, cookie))
			}
			d.mu.Lock()
			d.obs = append(d.obs, mine...)
			d.mu.Unlock()
		})
	}
	return d
}

// stop ends the run and returns every observation.
func (d *downloads) stop() []observation {
	d.cancel()
	d.wg.Wait()
	return d.obs
}

// checkStorage fails unless the files rows and the storage hold exactly
// want's files, with their bytes: nothing of a failed upload, no temp
// file, no unfinished multipart upload.
func checkStorage(t *testing.T, s *testenv.Stack, want *state) {
	t.Helper()
	db, err := postgres.Open(s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.AllFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var inDB, inStorage []string
	for _, f := range rows {
		inDB = append(inDB, f.URL())
	}
	files, partial := storageOf(t, s)
	for _, f := range files {
		inStorage = append(inStorage, f.url)
		if w, ok := want.files[f.url]; ok && f.bytes != w.bytes {
			t.Errorf("%s holds %q, want %q", f.url, f.bytes, w.bytes)
		}
	}
	urls := slices.Sorted(maps.Keys(want.files))
	slices.Sort(inDB)
	slices.Sort(inStorage)
	if !slices.Equal(inDB, urls) || !slices.Equal(inStorage, urls) {
		t.Errorf("files in the model:\n%q\nrows:\n%q\nin storage:\n%q", urls, inDB, inStorage)
	}
	if len(partial) > 0 {
		t.Errorf("uploads left unfinished in storage: %+v", partial)
	}
}

// storedFile is a file as the storage holds it: its download URL and
// bytes.
type storedFile struct{ url, bytes string }

// partialUpload is what an upload not (yet) stored left in the storage: a
// temp file of the private root, or a bucket's unfinished multipart
// upload.
type partialUpload struct {
	owner int64
	// name is what sweep reports: the path below the private root
	// ("7/.upload-123") or the object key ("7/42/x.txt").
	name   string
	upload string // the multipart upload's id; "" on the filesystem
	size   int64  // bytes written so far: the temp file's, or the parts'
}

// storageOf reads what s's storage holds, on either backend: every file
// (<owner>/<name> below the private root, or the key <owner>/<id>/<name>
// in the bucket) under its download URL /files/<owner>/<name>, a URL
// twice when two keys give it; and apart from them the uploads left
// unfinished.
func storageOf(t *testing.T, s *testenv.Stack) ([]storedFile, []partialUpload) {
	t.Helper()
	var files []storedFile
	var partial []partialUpload
	if s.S3 == nil {
		owners, _ := os.ReadDir(s.PrivateRoot)
		for _, o := range owners {
			owner, _ := strconv.ParseInt(o.Name(), 10, 64)
			entries, _ := os.ReadDir(filepath.Join(s.PrivateRoot, o.Name()))
			for _, e := range entries {
				name := o.Name() + "/" + e.Name()
				if strings.HasPrefix(e.Name(), ".upload-") {
					info, err := e.Info()
					if err != nil {
						t.Fatal(err)
					}
					partial = append(partial, partialUpload{owner: owner, name: name, size: info.Size()})
					continue
				}
				b, err := os.ReadFile(filepath.Join(s.PrivateRoot, name))
				if err != nil {
					t.Fatal(err)
				}
				files = append(files, storedFile{"/files/" + name, string(b)})
			}
		}
		return files, partial
	}

	ctx, c, bucket := context.Background(), s.S3.Client, s.S3.Bucket
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", bucket, o.Err)
		}
		obj, err := c.GetObject(ctx, bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", o.Key, err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatalf("get %s: %v", o.Key, err)
		}
		// A key of another shape stays as it is, matching no URL.
		url := o.Key
		if owner, rest, ok := strings.Cut(o.Key, "/"); ok {
			if _, name, ok := strings.Cut(rest, "/"); ok {
				url = "/files/" + owner + "/" + name
			}
		}
		files = append(files, storedFile{url, string(b)})
	}
	core := minio.Core{Client: c}
	for u := range c.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("list unfinished uploads of %s: %v", bucket, u.Err)
		}
		owner, _, _ := strings.Cut(u.Key, "/")
		p := partialUpload{name: u.Key, upload: u.UploadID}
		p.owner, _ = strconv.ParseInt(owner, 10, 64)
		parts, err := core.ListObjectParts(ctx, bucket, u.Key, u.UploadID, 0, 1000)
		if err != nil {
			t.Fatalf("list parts of %s: %v", u.Key, err)
		}
		for _, part := range parts.ObjectParts {
			p.size += part.Size
		}
		partial = append(partial, p)
	}
	return files, partial
}

// goT is the *testing.T of a goroutine other than the test's: Fatalf
// fails the test and ends only that goroutine (FailNow may only be
// called from the test's own), running its deferred calls.
type goT struct{ *testing.T }

func (g goT) Fatalf(format string, args ...any) {
	g.Helper()
	g.Errorf(format, args...)
	runtime.Goexit()
}

// idOf returns the owner id in a download URL.
func idOf(url string) int64 {
	owner, _, _ := filegate.ParseFileURI(url)
	return owner
}
