package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/testenv"
)

// replicaStorages are the storages the replica tests run on, one row per
// backend, shared by every replica; a row's options get the replica
// counts added.
var replicaStorages = []struct {
	name string
	opt  testenv.Options
}{
	{"fs", testenv.Options{}},
	{"s3", testenv.Options{Storage: "s3"}},
}

// Several replicas of authz, each with its memory layer on (the default),
// and of the uploader, all in nginx's upstreams. A file uploaded through
// either uploader downloads through every authz. After every kind of
// change, made through either uploader, the CLI or the store, every authz
// answers the new decision on the very next request, although each
// answered from memory just before: asked through nginx, which asks them
// in turn, so that a stale one would show, and asked directly.
func TestReplicasNextRequest(t *testing.T) {
	t.Parallel()
	for _, storage := range replicaStorages {
		for _, n := range []struct{ authz, uploaders int }{{2, 1}, {3, 2}} {
			name := fmt.Sprintf("%s, %d authz, %d uploaders", storage.name, n.authz, n.uploaders)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				opt := storage.opt
				opt.AuthzReplicas, opt.UploaderReplicas = n.authz, n.uploaders
				replicasNextRequest(t, newDemo(t, opt))
			})
		}
	}
}

func replicasNextRequest(t *testing.T, d *demo) {
	ctx := context.Background()
	alice, bob := d.Cookie(t, d.alice), d.Cookie(t, d.bob)
	// The uploader replica the i-th web app change goes to.
	uploader := func(i int) *demo { return d.through(d.Uploaders[i%len(d.Uploaders)].URL) }
	for i := range d.Uploaders {
		data := []byte(fmt.Sprintf("stored by uploader %d\n", i+1))
		status, answer := postFiles(t, uploader(i).Stack, d.alice, upload{fmt.Sprintf("from-%d.txt", i+1), data})
		var stored []struct{ URL string }
		if status != 201 || json.Unmarshal(answer, &stored) != nil || len(stored) != 1 {
			t.Fatalf("upload through uploader %d: %d %s", i+1, status, answer)
		}
		for j := range d.Replicas {
			if resp, got := d.get(t, d.alice, "GET", stored[0].URL); resp.StatusCode != 200 || !bytes.Equal(got, data) {
				t.Errorf("uploader %d's upload, download %d through nginx: %d %q", i+1, j+1, resp.StatusCode, got)
			}
		}
		for j, r := range d.Replicas {
			if got := decide(t, r, alice, stored[0].URL, ""); got != 200 {
				t.Errorf("uploader %d's upload, asked of authz %d: %d", i+1, j+1, got)
			}
		}
	}

	carol := d.AddUser(t, testenv.User{Name: "carol", Password: "carol-password"})
	carolURL := d.Put(t, "carol", "c.txt", []byte("carol's\n"))
	doomed := d.Put(t, "alice", "doomed.txt", []byte("soon gone\n"))
	link, linkURL := d.AddLink(t, d.bobURL, testenv.Link{})
	for i, step := range []struct {
		name          string
		cookie        *http.Cookie
		uri, method   string
		before, after int
		change        func(web *demo)
	}{
		{"a file deleted (web app)", alice, doomed, "", 200, 404, func(web *demo) {
			id := d.fileID(t, d.alice, doomed)
			if resp, body := web.send(t, alice, "POST", "/delete/"+strconv.FormatInt(id, 10), nil, "Accept", "application/json"); resp.StatusCode != 200 {
				t.Fatalf("delete: %d %s", resp.StatusCode, body)
			}
		}},
		{"an owner's files made private (web app)", alice, d.bobURL, "", 200, 403, func(web *demo) {
			if resp, body := web.send(t, bob, "POST", "/settings", url.Values{"is_public": {"false"}}, "Accept", "application/json"); resp.StatusCode != 200 {
				t.Fatalf("settings: %d %s", resp.StatusCode, body)
			}
		}},
		{"a share link revoked (store)", nil, linkURL, "HEAD", 200, 410, func(*demo) {
			if _, err := d.Store.RevokeLink(ctx, link.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"sessions revoked (web app, everywhere)", alice, d.aliceURL, "", 200, 401, func(web *demo) {
			if resp, _ := web.send(t, alice, "POST", "/logout", url.Values{"everywhere": {"true"}}); resp.StatusCode != 303 {
				t.Fatalf("logout everywhere: %d", resp.StatusCode)
			}
		}},
		{"a user removed (CLI)", d.Cookie(t, carol), carolURL, "", 200, 401, func(*demo) {
			d.CLI(t, "", "user", "remove", "carol")
		}},
	} {
		ask := func(r testenv.Replica) int { return decide(t, r, step.cookie, step.uri, step.method) }
		fromMemory(t, d.Stack, ask, step.before)
		start := time.Now()
		step.change(uploader(i))
		took := time.Since(start)
		// As many requests through nginx as there are replicas: nginx asks
		// each once, which their decision counts show.
		before := decisions(t, d.Stack)
		method := cmp.Or(step.method, "GET")
		for j := range d.Replicas {
			if o := download(newClient(1), d.URL, method, step.uri, 0, step.cookie); o.status != step.after {
				t.Errorf("%s: request %d through nginx answered %d, want %d", step.name, j+1, o.status, step.after)
			}
		}
		for j, n := range decisions(t, d.Stack) {
			if n-before[j] != 1 {
				t.Errorf("%s: nginx asked authz %d %v times of %d, want once", step.name, j+1, n-before[j], len(d.Replicas))
			}
		}
		for j, r := range d.Replicas {
			if got := ask(r); got != step.after {
				t.Errorf("%s: authz %d answered %d on the next request, want %d", step.name, j+1, got, step.after)
			}
		}
		t.Logf("%s: %v, with %d authz answering from memory", step.name, took.Round(time.Millisecond), len(d.Replicas))
	}
}

// through returns d with its web app at base, one uploader replica,
// instead of nginx: what d.send sends goes there.
func (d *demo) through(base string) *demo {
	s := *d.Stack
	s.URL = base
	web := *d
	web.Stack = &s
	return &web
}

// decisions returns how many decisions each authz replica of s has made.
func decisions(t *testing.T, s *testenv.Stack) []float64 {
	t.Helper()
	var n []float64
	for _, r := range s.Replicas {
		n = append(n, testenv.Scrape(t, r.Service.MetricsURL(t)).Value("filegate_authz_decisions_total"))
	}
	return n
}

// TestRevocation on three authz and two uploaders: every check through
// nginx is answered by each authz.
func TestReplicasRevocation(t *testing.T) {
	t.Parallel()
	eachReplicaStorage(t, revocation)
}

// PostgreSQL away from every authz of three and both uploaders
// (TestFaultDatabaseDown). nginx does not ask another authz after a 503,
// so it never counts them as failed and leaves them all out: the
// downloads whose facts are validly cached keep their answer through
// nginx, whichever replica it asks.
func TestReplicasDatabaseDown(t *testing.T) {
	t.Parallel()
	eachReplicaStorage(t, faultDatabaseDown)
}

// eachReplicaStorage runs test on three authz and two uploaders, once
// per row of replicaStorages, as a subtest named after it.
func eachReplicaStorage(t *testing.T, test func(*testing.T, testenv.Options)) {
	for _, storage := range replicaStorages {
		t.Run(storage.name, func(t *testing.T) {
			t.Parallel()
			opt := storage.opt
			opt.AuthzReplicas, opt.UploaderReplicas = 3, 2
			test(t, opt)
		})
	}
}

// The model-checked load (TestLoad) with three authz and two uploaders
// behind nginx: every answer of every replica agrees with the model, and
// nginx asked each of them.
func TestLoadReplicas(t *testing.T) {
	s := runLoad(t, testenv.Options{AuthzReplicas: 3, UploaderReplicas: 2})
	for i, n := range decisions(t, s) {
		if n == 0 {
			t.Errorf("authz %d made no decision under the load", i+1)
		}
	}
}

// decide asks replica r nginx's subrequest for uri with cookie (nil:
// none) and the client's method (GET when empty), and returns the status
// nginx would answer.
func decide(t *testing.T, r testenv.Replica, cookie *http.Cookie, uri, method string) int {
	t.Helper()
	req, err := http.NewRequest("GET", r.URL+"/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(authz.HeaderURI, uri)
	req.Header.Set(authz.HeaderMethod, cmp.Or(method, "GET")) // on S3 authz signs for it
	req.Header.Set(authz.HeaderClient, "192.0.2.1")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, _ := do(t, req)
	if s := resp.Header.Get(authz.HeaderStatus); resp.StatusCode == 403 && s != "" {
		code, _ := strconv.Atoi(s)
		return code
	}
	return resp.StatusCode
}

// fromMemory asks every replica until each answers want from memory: with
// the cache's entries gone from Redis, no replica writes one back, which
// it does whenever it answers from Redis or PostgreSQL.
func fromMemory(t *testing.T, s *testenv.Stack, ask func(testenv.Replica) int, want int) {
	t.Helper()
	rdb := testenv.RedisClient(t)
	ctx := context.Background()
	entries := func() []string {
		keys, err := rdb.Keys(ctx, cache.KeyPrefix(s.RedisPrefix)+"c:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	waitFor(t, "every replica answering from memory", func() bool {
		for i, r := range s.Replicas {
			if got := ask(r); got != want {
				t.Fatalf("replica %d answered %d, want %d", i, got, want)
			}
		}
		if keys := entries(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		for _, r := range s.Replicas {
			ask(r)
		}
		return len(entries()) == 0
	})
}

// A replica cut off from Redis, by a reset or by silence: the change waits
// for it at most about one lease, and its next decision is the new one,
// from PostgreSQL, or a 503; never the old one from memory. The other
// replica answers the new one from the start.
func TestReplicaCutOffFromRedis(t *testing.T) {
	t.Parallel()
	d := newDemo(t, testenv.Options{AuthzReplicas: 2, ProxyRedis: true})
	bob := d.Cookie(t, d.bob)
	alice := d.Cookie(t, d.alice)
	setPublic := func(public bool) time.Duration {
		start := time.Now()
		if resp, body := d.send(t, bob, "POST", "/settings", url.Values{"is_public": {strconv.FormatBool(public)}}, "Accept", "application/json"); resp.StatusCode != 200 {
			t.Fatalf("settings: %d %s", resp.StatusCode, body)
		}
		return time.Since(start)
	}
	ask := func(r testenv.Replica) int { return decide(t, r, alice, d.bobURL, "") }
	cut, other := d.Replicas[0], d.Replicas[1]
	for _, tt := range []struct {
		name          string
		partition     func()
		public        bool // what bob's files become
		before, after int
	}{
		{"connections reset", cut.RedisProxy.Cut, false, 200, 403},
		{"Redis silent", func() { cut.RedisProxy.Delay(time.Minute) }, true, 403, 200},
	} {
		fromMemory(t, d.Stack, ask, tt.before)
		tt.partition()
		took := setPublic(tt.public)
		t.Logf("%s: POST /settings took %v with one of two replicas cut off (lease %v)", tt.name, took.Round(time.Millisecond), cache.LeaseTTL)
		if took > cache.LeaseTTL+500*time.Millisecond {
			t.Errorf("%s: the change took %v, more than about a lease", tt.name, took)
		}
		if got := ask(cut); got != tt.after && got != 503 {
			t.Errorf("%s: the cut-off replica answered %d, want %d or 503", tt.name, got, tt.after)
		}
		if got := ask(other); got != tt.after {
			t.Errorf("%s: the other replica answered %d, want %d", tt.name, got, tt.after)
		}
		cut.RedisProxy.Delay(0)
		cut.RedisProxy.Restore()
	}
	if out := cut.Service.Output(t); !strings.Contains(string(out), "memory layer off") {
		t.Errorf("the cut-off replica did not log that its memory layer went off:\n%s", out)
	}
}
