package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// One authz and one uploader of three and two killed (SIGKILL) while
// clients download (GET and HEAD, every answer checked against the
// model), load pages and make changes through nginx, with an upload in
// flight to that uploader. nginx asks another replica for what it may
// send again: no download and no page fails, not even with a 503. The
// upload in flight gets nginx's 502 and leaves no row and no file under
// its name, only its temp file or, on S3, its unfinished multipart upload
// (the killed process cannot abort it), which sweep leaves alone while it
// may be in flight and removes once it is an hour old (aged here);
// uploads after the kill are stored by the other uploader. Restarted,
// both replicas get requests again.
func TestReplicasKilled(t *testing.T) {
	t.Parallel()
	eachReplicaStorage(t, replicasKilled)
}

func replicasKilled(t *testing.T, opt testenv.Options) {
	s, c := faultWorld(t, withBigUploads(opt))
	// The slow upload's owner: outside the model, so no change removes her.
	uma := s.AddUser(t, testenv.User{Name: "uma", Password: "uma-password"})
	umaCookie := s.Cookie(t, uma)
	changes := func(d time.Duration) {
		for start := time.Now(); time.Since(start) < d; {
			c.step()
		}
	}
	downloads := startDownloads(s, c.tg, 4)
	pages := startPages(s, umaCookie, 2)
	changes(time.Second)

	read := readBytes(t, s)
	up, left := sendInFlight(t, s, umaCookie, uma, "in-flight.txt")
	uploader, authz := receiving(t, s, read, s3.PartSize), s.Replicas[1]
	killed := time.Now()
	authz.Service.Kill(t)
	uploader.Service.Kill(t)
	if a := up.wait(t); a.status != 502 {
		t.Errorf("the upload in flight to the killed uploader: %d %s, want 502", a.status, a.body)
	}
	leftOnly(t, s, uma, left)
	t.Logf("the upload in flight left %s %s in storage, %d bytes", left.name, left.upload, left.size)
	if o := download(newClient(1), s.URL, "GET", fileURL(uma, "in-flight.txt"), viewer(uma), umaCookie); o.status != 404 {
		t.Errorf("the killed upload's URL: %v", o)
	}

	before := c.counts["upload (web)"]
	waitFor(t, "two uploads through nginx with one uploader dead", func() bool {
		c.step()
		return c.counts["upload (web)"] >= before+2
	})
	dead := time.Since(killed)
	authz.Service.Restart(t)
	uploader.Service.Restart(t)
	// The downloads keep asking authz; a login through nginx now and then
	// shows when the uploader gets requests again.
	rejoined := waitFor(t, "nginx asking the restarted replicas again", func() bool {
		s.Login(t, "uma", "uma-password", "replicas test")
		return testenv.Scrape(t, authz.Service.MetricsURL(t)).Value("filegate_authz_decisions_total") > 0 &&
			testenv.Scrape(t, uploader.Service.MetricsURL(t)).Value("filegate_logins_total", "result", "success") > 0
	})
	changes(time.Second)
	obs, pageAnswers := downloads.stop(), pages.stop()

	v := c.h.judge(obs, nil)
	v.report(t, c.h)
	failed := 0
	for _, a := range pageAnswers {
		if a.status != 200 {
			failed++
			if failed <= 5 {
				t.Errorf("a page: %d %s", a.status, a.body)
			}
		}
	}
	retried := upstreamFailures(t, s)
	t.Logf("downloads: %v; %d page loads, %d failed; %d changes %v", v, len(pageAnswers), failed, c.total(), c.counts)
	t.Logf("one authz and one uploader dead for %v, asked again %v after their restart; nginx's error log: %v",
		dead.Round(time.Millisecond), rejoined.Round(time.Millisecond), retried)
	if retried["authz"] == 0 || retried["uploader"] == 0 {
		t.Errorf("nginx logged no failed try of a killed replica (%v): did the kill happen under load?", retried)
	}
	// The one upload outside the model, which checkStorage would find.
	sweepPartial(t, s, left)
	checkStorage(t, s, c.h.current())
}

// readBytes returns how many bytes each uploader replica of s has read
// so far, from sockets and files alike (rchar of /proc/<pid>/io).
func readBytes(t *testing.T, s *testenv.Stack) []int64 {
	t.Helper()
	var n []int64
	for _, u := range s.Uploaders {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", u.Service.PID()))
		if err != nil {
			t.Fatal(err)
		}
		var rchar int64
		if _, err := fmt.Sscanf(string(b), "rchar: %d", &rchar); err != nil {
			t.Fatalf("/proc/%d/io: %v", u.Service.PID(), err)
		}
		n = append(n, rchar)
	}
	return n
}

// receiving waits until an uploader replica of s has read n bytes more
// than before (readBytes) says, and returns it: the one an upload in
// flight went to, whichever the storage. The others only read the
// pages' requests meanwhile, far less.
func receiving(t *testing.T, s *testenv.Stack, before []int64, n int64) testenv.Replica {
	t.Helper()
	var got []int
	waitFor(t, fmt.Sprintf("an uploader reading %d bytes", n), func() bool {
		got = got[:0]
		for i, now := range readBytes(t, s) {
			if now-before[i] >= n {
				got = append(got, i)
			}
		}
		return len(got) > 0
	})
	if len(got) > 1 {
		t.Fatalf("uploaders %v each read %d bytes: which has the upload?", got, n)
	}
	return s.Uploaders[got[0]]
}

// pages is a run of clients loading the web app's pages through nginx:
// the JSON list and the login page, by turns.
type pages struct {
	stopped chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []answer
}

// startPages starts n clients loading pages with cookie.
func startPages(s *testenv.Stack, cookie *http.Cookie, n int) *pages {
	p := &pages{stopped: make(chan struct{})}
	client := newClient(n)
	for i := range n {
		p.wg.Go(func() {
			for j := i; ; j++ {
				select {
				case <-p.stopped:
					return
				default:
				}
				req, _ := http.NewRequest("GET", s.URL+[]string{"/api/files", "/login"}[j%2], nil)
				req.Header.Set("Accept", "application/json, text/html")
				req.AddCookie(cookie)
				var a answer
				if resp, err := client.Do(req); err != nil {
					a.body = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					a = answer{resp.StatusCode, string(b)}
				}
				p.mu.Lock()
				p.answers = append(p.answers, a)
				p.mu.Unlock()
			}
		})
	}
	return p
}

// stop ends the run and returns every answer.
func (p *pages) stop() []answer {
	close(p.stopped)
	p.wg.Wait()
	return p.answers
}

// nginxFailure is one line of nginx's error log about an upstream server:
// its level and what happened. An error is a failed try, followed by a
// try of the next server or by an error answer; a warning says nginx
// leaves the server out for fail_timeout.
var nginxFailure = regexp.MustCompile(`\[(error|warn)\] \d+#\d+: \*\d+ (.*?) while .*, upstream: "`)

// upstreamFailures counts the lines of s's nginx error log about an
// upstream server, by upstream ("authz" for the auth subrequest,
// "uploader" else): under "authz" the failed tries, under "authz: what"
// those of each kind, and under "authz left out" the warnings.
func upstreamFailures(t *testing.T, s *testenv.Stack) map[string]int {
	t.Helper()
	b, err := os.ReadFile(s.NginxErrorLog)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		m := nginxFailure.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		upstream := "uploader"
		if strings.Contains(line, `subrequest: "/_filegate/auth"`) {
			upstream = "authz"
		}
		if m[1] == "warn" {
			counts[upstream+" left out"]++
			continue
		}
		counts[upstream]++
		counts[upstream+": "+m[2]]++
	}
	return counts
}
