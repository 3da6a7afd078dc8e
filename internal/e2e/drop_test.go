//go:build chaos

// The long version of TestChangeReachesCacheWhenClientLeaves: the hang-ups
// land while the web app's database answers slowly, so they fall inside
// the change's statements. It takes about a minute, so it runs in `make
// chaos` (build tag chaos) only.

package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

// A change whose client hangs up before the answer still reaches authz's
// cache: the next download sees it (docs/interface.md#cache). ann flips
// is_public with POST /settings, or deletes a file with POST /delete/{id},
// through nginx and hangs up after a delay that grows from try to try,
// while the web app's database answers slowly, so that the hang-up lands
// before, during and after the change. After each try, the download must
// agree with what the database holds.
func TestChangeSurvivesClientDrop(t *testing.T) {
	s, c := faultWorld(t, testenv.Options{ProxyUploaderDatabase: true})
	ann, ben := c.ids["ann"], c.ids["ben"]
	db, err := postgres.Open(s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, client := context.Background(), newClient(1)
	get := func(v int64, url string) observation {
		return download(client, s.URL, "GET", url, viewer(v), c.tg.cookies[viewer(v)])
	}
	// Each query takes two round trips of 100 ms; a delete makes three
	// queries, a flip two.
	s.UploaderDBProxy.Delay(50 * time.Millisecond)

	t.Run("settings", func(t *testing.T) {
		const tries, step = 12, 40 * time.Millisecond
		url := c.slots["ann"]["a.txt"]
		public := func() bool {
			u, err := db.UserByID(ctx, ann)
			if err != nil {
				t.Fatal(err)
			}
			return u.IsPublic
		}
		stale := 0
		for i := range tries {
			// Start from a right decision, cached: setting the flag to
			// what it is tells the cache too.
			was := public()
			s.CLI(t, "", "user", "set", "ann", fmt.Sprintf("--public=%t", was))
			get(ben, url)
			body := fmt.Sprintf(`{"is_public": %t}`, !was)
			hangUp(t, s, ann, c, "POST /settings", "Content-Type: application/json\r\nContent-Length: "+fmt.Sprint(len(body)), body, time.Duration(i)*step)
			now, want := public(), 403
			if now {
				want = 200
			}
			if o := get(ben, url); o.status != want {
				stale++
				t.Errorf("hang-up after %v: is_public %t → %t in the database, yet ben gets %d", time.Duration(i)*step, was, now, o.status)
			}
		}
		t.Logf("%d hang-ups, %d left a stale decision", tries, stale)
	})

	t.Run("delete", func(t *testing.T) {
		const tries, step = 14, 50 * time.Millisecond
		stale := 0
		for i := range tries {
			name := fmt.Sprintf("drop-%d.txt", i)
			c.upload("ann", name, true)
			url := c.slots["ann"][name]
			id := c.fileIDs[url]
			if o := get(ann, url); o.status != 200 { // cached
				t.Fatalf("before: %v", o)
			}
			hangUp(t, s, ann, c, fmt.Sprintf("POST /delete/%d", id), "Content-Length: 0", "", time.Duration(i)*step)
			_, err := db.FileByID(ctx, id)
			deleted := filegate.ErrorCode(err) == filegate.ENOTFOUND
			if o := get(ann, url); deleted && o.status != 404 {
				stale++
				t.Errorf("hang-up after %v: the row is gone, yet ann gets %d %.30q", time.Duration(i)*step, o.status, o.body)
			}
		}
		t.Logf("%d hang-ups, %d left a stale decision", tries, stale)
	})
}

// hangUp sends a request through nginx as user as, closes the connection
// after the given time, and gives the web app a second to finish.
func hangUp(t *testing.T, s *testenv.Stack, as int64, c *changer, requestLine, headers, body string, after time.Duration) {
	t.Helper()
	host := strings.TrimPrefix(s.URL, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "%s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nAccept: application/json\r\n%s\r\n\r\n%s",
		requestLine, host, c.tg.cookies[viewer(as)], headers, body)
	time.Sleep(after)
	conn.Close()
	time.Sleep(time.Second)
}
