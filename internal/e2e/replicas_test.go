package e2e

import (
	"context"
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

// Several authz processes, each with its memory layer on (the default),
// asked directly as nginx would ask each: after every kind of change,
// made through the web app, the CLI or the store, every one of them
// answers the new decision on the very next request, although each
// answered from memory just before.
func TestReplicasNextRequest(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 3} {
		t.Run(strconv.Itoa(n)+" replicas", func(t *testing.T) {
			d := newDemo(t, testenv.Options{AuthzReplicas: n})
			ctx := context.Background()
			carol := d.AddUser(t, testenv.User{Name: "carol", Password: "carol-password"})
			carolURL := d.Put(t, "carol", "c.txt", []byte("carol's\n"))
			doomed := d.Put(t, "alice", "doomed.txt", []byte("soon gone\n"))
			link, linkURL := d.AddLink(t, d.bobURL, testenv.Link{})
			alice, bob := d.Cookie(t, d.alice), d.Cookie(t, d.bob)
			for _, step := range []struct {
				name          string
				cookie        *http.Cookie
				uri, method   string
				before, after int
				change        func()
			}{
				{"a file deleted (web app)", alice, doomed, "", 200, 404, func() {
					id := d.fileID(t, d.alice, doomed)
					if resp, body := d.send(t, alice, "POST", "/delete/"+strconv.FormatInt(id, 10), nil, "Accept", "application/json"); resp.StatusCode != 200 {
						t.Fatalf("delete: %d %s", resp.StatusCode, body)
					}
				}},
				{"an owner's files made private (web app)", alice, d.bobURL, "", 200, 403, func() {
					if resp, body := d.send(t, bob, "POST", "/settings", url.Values{"is_public": {"false"}}, "Accept", "application/json"); resp.StatusCode != 200 {
						t.Fatalf("settings: %d %s", resp.StatusCode, body)
					}
				}},
				{"a share link revoked (store)", nil, linkURL, "HEAD", 200, 410, func() {
					if _, err := d.Store.RevokeLink(ctx, link.ID, time.Now()); err != nil {
						t.Fatal(err)
					}
				}},
				{"sessions revoked (web app, everywhere)", alice, d.aliceURL, "", 200, 401, func() {
					if resp, _ := d.send(t, alice, "POST", "/logout", url.Values{"everywhere": {"true"}}); resp.StatusCode != 303 {
						t.Fatalf("logout everywhere: %d", resp.StatusCode)
					}
				}},
				{"a user removed (CLI)", d.Cookie(t, carol), carolURL, "", 200, 401, func() {
					d.CLI(t, "", "user", "remove", "carol")
				}},
			} {
				ask := func(r testenv.Replica) int { return decide(t, r, step.cookie, step.uri, step.method) }
				fromMemory(t, d.Stack, ask, step.before)
				start := time.Now()
				step.change()
				took := time.Since(start)
				for i, r := range d.Replicas {
					if got := ask(r); got != step.after {
						t.Errorf("%s: replica %d answered %d on the next request, want %d", step.name, i, got, step.after)
					}
				}
				t.Logf("%s: %v, with %d replicas answering from memory", step.name, took.Round(time.Millisecond), n)
			}
		})
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
	req.Header.Set(authz.HeaderMethod, method)
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
