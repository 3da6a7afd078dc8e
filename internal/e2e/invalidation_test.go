package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// change is one change made through nginx by a client that may leave at
// any moment: the raw request, whether the database shows the change made,
// and what a download answers before and after it.
type change struct {
	request       string
	made          func() bool
	download      func() int
	before, after int
}

// rawPost returns a POST of body to path with cookie, as bytes on the wire.
func rawPost(host, path string, cookie *http.Cookie, body string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nCookie: " + cookie.String() +
		"\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// leave sends the first n bytes of req to addr and hangs up; after the
// whole request, it waits for delay first. reset hangs up with a TCP
// reset instead of a FIN.
func leave(t *testing.T, addr, req string, n int, delay time.Duration, reset bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(req[:n])); err != nil {
		t.Fatal(err)
	}
	if n == len(req) {
		time.Sleep(delay)
	}
	if reset {
		c.(*net.TCPConn).SetLinger(0)
	}
	c.Close()
}

// A committed change reaches authz's cache whatever its client does: the
// client hangs up after every prefix of the request that matters, and
// after the whole request at delays that fall before, during and after
// the uploader's transaction, with a FIN or a reset. After each, a
// download agrees with the database. The request has no answer to wait
// for, so the test waits until the database shows the change (or 200 ms
// without it), then asks; it allows the moment between the uploader's
// commit and its invalidation, up to 5 s, where a lost invalidation would
// last the whole TTL (a minute here).
func TestChangeReachesCacheWhenClientLeaves(t *testing.T) {
	d := newDemo(t, testenv.Options{CacheTTL: time.Minute})
	ctx := context.Background()
	host := strings.TrimPrefix(d.URL, "http://")
	status := func(cookie *http.Cookie, path string) int {
		resp, _ := d.send(t, cookie, "GET", path, nil)
		return resp.StatusCode
	}
	public := func(id int64) bool {
		u, err := d.Store.UserByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return u.IsPublic
	}
	// file records a file of owner and writes its bytes where nginx
	// reads them.
	file := func(owner int64, name string) filegate.File {
		f := testenv.AddFileRow(t, d.Store, owner, name, name, "")
		path := filepath.Join(d.PrivateRoot, filepath.FromSlash(f.Path()))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("%PDF-1.4\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	bob := d.cookie(t, d.bob)
	trials := 0
	scenarios := []struct {
		name string
		next func() change
	}{
		{"an owner's files public or private", func() change {
			// Alternately to private (a revocation: a stranger's 200
			// must turn 403) and to public. Each trial has an owner of
			// its own, so that a change committing after its trial is
			// over cannot upset the next.
			from := trials%2 == 1
			owner := testenv.AddUser(t, d.Store, testenv.User{Name: fmt.Sprintf("owner%d", trials), Public: from}).ID
			f := file(owner, "shared.pdf")
			answer := map[bool]int{true: 200, false: 403}
			return change{
				request:  rawPost(host, "/settings", d.Cookie(t, owner), fmt.Sprintf("is_public=%t", !from)),
				made:     func() bool { return public(owner) != from },
				download: func() int { return status(bob, f.URL()) },
				before:   answer[from], after: answer[!from],
			}
		}},
		{"a file deleted", func() change {
			f := file(d.alice, fmt.Sprintf("doomed-%d.pdf", trials))
			return change{
				request: rawPost(host, fmt.Sprintf("/delete/%d", f.ID), d.cookie(t, d.alice), ""),
				made: func() bool {
					_, err := d.Store.FileByID(ctx, f.ID)
					return filegate.ErrorCode(err) == filegate.ENOTFOUND
				},
				download: func() int { return status(bob, f.URL()) },
				before:   403, after: 404, // a stranger's view of alice's: private, then gone
			}
		}},
		{"a session logged out", func() change {
			mine := d.Cookie(t, d.alice) // a session of its own each time
			claims, err := d.Sessions.Decode(mine.Value)
			if err != nil {
				t.Fatal(err)
			}
			return change{
				request: rawPost(host, "/logout", mine, ""),
				made: func() bool {
					s, _, err := d.Store.SessionByToken(ctx, session.HashToken(claims.Token))
					return err == nil && s.RevokedAt != nil
				},
				download: func() int { return status(mine, d.aliceURL) },
				before:   200, after: 401,
			}
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			// A cut sends the first n(request) bytes, then waits delay
			// and hangs up.
			type cut struct {
				n     func(req string) int
				delay time.Duration
				reset bool
			}
			headers := func(req string) int { return strings.Index(req, "\r\n\r\n") + 4 }
			cuts := []cut{
				{func(string) int { return 0 }, 0, false},
				{func(string) int { return 10 }, 0, false},
				{func(r string) int { return headers(r) / 2 }, 0, true},
				{func(r string) int { return headers(r) - 1 }, 0, false},
				{func(r string) int { return headers(r) }, 0, false},
				{func(r string) int { return min(headers(r)+1, len(r)) }, 0, true},
				{func(r string) int { return len(r) - 1 }, 0, false},
			}
			// Before, during and after the uploader's transaction: 0 to
			// 25 ms in steps of 1 ms (the uploader commits a few
			// milliseconds after the request; later on a busy machine),
			// then 50 and 200 ms.
			for _, ms := range append(seq(0, 25), 50, 200) {
				for _, reset := range []bool{false, true} {
					cuts = append(cuts, cut{func(r string) int { return len(r) }, time.Duration(ms) * time.Millisecond, reset})
				}
			}
			trialsHere, made, lagged := 0, 0, 0
			// try makes one change, hangs up as c says, and checks the
			// next downloads; it reports whether the change was made.
			try := func(c cut) bool {
				trials++
				trialsHere++
				ch := sc.next()
				for range 2 { // the second answer comes from the cache
					if got := ch.download(); got != ch.before {
						t.Fatalf("before the change: %d, want %d", got, ch.before)
					}
				}
				n := c.n(ch.request)
				leave(t, host, ch.request, n, c.delay, c.reset)
				deadline := time.Now().Add(200 * time.Millisecond)
				for !ch.made() && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				what := fmt.Sprintf("client gone after %d of %d bytes, %s later (reset: %t)", n, len(ch.request), c.delay, c.reset)
				late := 0
				for deadline := time.Now().Add(5 * time.Second); ; {
					m := ch.made()
					got := ch.download()
					if ch.made() != m {
						continue // the change committed meanwhile: ask again
					}
					want := map[bool]int{false: ch.before, true: ch.after}[m]
					if got == want {
						if late > 0 {
							lagged++
							t.Logf("%s: %d answers disagreed with the database before one agreed", what, late)
						}
						if m {
							made++
						}
						return m
					}
					late++
					if time.Now().After(deadline) {
						t.Fatalf("%s: the database says %s, downloads still answer %d, want %d",
							what, map[bool]string{false: "unchanged", true: "changed"}[m], got, want)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			edge := time.Duration(-1) // the shortest wait after which a change was made
			for _, c := range cuts {
				if try(c) && c.delay > 0 && edge < 0 {
					edge = c.delay
				}
			}
			// Around that edge the client leaves while the uploader
			// commits: probe it in steps of 250 µs.
			for d := max(0, edge-3*time.Millisecond); edge >= 0 && d <= edge+2*time.Millisecond; d += 250 * time.Microsecond {
				for _, reset := range []bool{false, true} {
					try(cut{func(r string) int { return len(r) }, d, reset})
				}
			}
			t.Logf("%d trials, %d changes made (the first after %s), %d first answers behind the database", trialsHere, made, edge, lagged)
			if made == 0 {
				t.Error("no trial made the change; the test proves nothing")
			}
		})
	}
}

// seq returns from, from+1, ..., to.
func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}
