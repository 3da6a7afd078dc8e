package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/testenv"
)

const throttled = "Too many failed logins; try again in 15 minutes."

// loginClient posts logins through a stack's nginx. Every request comes
// from 127.0.0.1, the address nginx puts in X-Real-IP.
type loginClient struct {
	t    *testing.T
	base string
	cl   *http.Client
}

func newLoginClient(t *testing.T, s *testenv.Stack, conns int) *loginClient {
	return &loginClient{t: t, base: s.URL, cl: &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: conns},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type loginAnswer struct {
	status     int
	retryAfter int // seconds; 0 when absent
	body       string
	cookie     bool
}

// login posts the form; json asks for JSON; realIP, if set, is sent as
// X-Real-IP by the client (nginx must overwrite it).
func (c *loginClient) login(name, password string, json bool, realIP string) loginAnswer {
	c.t.Helper()
	form := url.Values{"username": {name}, "password": {password}}
	req, err := http.NewRequest("POST", c.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if json {
		req.Header.Set("Accept", "application/json")
	}
	if realIP != "" {
		req.Header.Set("X-Real-IP", realIP)
	}
	resp, err := c.cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return loginAnswer{resp.StatusCode, ra, string(body), len(resp.Cookies()) > 0}
}

// want fails unless a has status, and for a 429 Retry-After within
// [minWait, 900] seconds, the sentence, and no cookie.
func (c *loginClient) want(a loginAnswer, status, minWait int) {
	c.t.Helper()
	if a.status != status {
		c.t.Fatalf("status %d, want %d; body %.300s", a.status, status, a.body)
	}
	if status != http.StatusTooManyRequests {
		return
	}
	if a.retryAfter < minWait || a.retryAfter > 900 || a.cookie || !strings.Contains(a.body, throttled) {
		c.t.Fatalf("429 with Retry-After %d (want %d to 900), cookie %t, body %.300s", a.retryAfter, minWait, a.cookie, a.body)
	}
}

// p50 is the median of ds.
func p50(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// The login throttle through nginx, as a client sees it: the issue's
// attack (24 connections guessing at once) gets 5 guesses; a name is
// refused after 5 failures, with the right password too, while other
// names are not; a client's own X-Real-IP changes nothing; the address is
// refused for every name after 50 failures, logins to one's own account
// in between notwithstanding; and the window lets logins through again
// once the failures are 15 minutes old (aged in Redis, not waited for).
func TestLoginThrottleThroughNginx(t *testing.T) {
	s := testenv.Start(t, testenv.Options{})
	for _, name := range []string{"alice", "bob", "carol", "mallory", "erin"} {
		s.AddUser(t, testenv.User{Name: name, Password: name + "-password"})
	}
	viewer := s.AddUser(t, testenv.User{Name: "viewer", Password: "viewer-password", Public: true})
	s.Put(t, "viewer", "a.txt", []byte("a file to list\n"))
	c := newLoginClient(t, s, 24)

	// /api/files latency, as the issue measured it, while 24 connections
	// keep guessing carol's password.
	listTimes := func(n int) []time.Duration {
		var ds []time.Duration
		for range n {
			req, _ := http.NewRequest("GET", s.URL+"/api/files", nil)
			req.AddCookie(s.Cookie(t, viewer))
			start := time.Now()
			if resp, _ := do(t, req); resp.StatusCode != 200 {
				t.Fatalf("/api/files: %d", resp.StatusCode)
			}
			ds = append(ds, time.Since(start))
		}
		return ds
	}
	quiet := p50(listTimes(50))
	var mu sync.Mutex
	counts := map[int]int{}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := time.Now()
	for range 24 {
		wg.Go(func() {
			for i := 0; i < 8 || ctx.Err() == nil; i++ {
				a := c.login("carol", "guess", true, "")
				mu.Lock()
				counts[a.status]++
				mu.Unlock()
			}
		})
	}
	attacked := p50(listTimes(50))
	stop()
	wg.Wait()
	total := counts[401] + counts[429]
	t.Logf("%d guesses from 24 connections in %v: %d answered 401, %d answered 429; /api/files p50 %v quiet, %v meanwhile",
		total, time.Since(start).Round(time.Millisecond), counts[401], counts[429], quiet, attacked)
	if counts[401] != 5 || counts[429] != total-5 || total < 24*8 {
		t.Fatalf("answers %v: want 5 × 401 and the rest 429", counts)
	}

	// One name, one address: 5 failures, then 429 even with the right
	// password, as JSON and on the form.
	for range 5 {
		c.want(c.login("alice", "guess", true, ""), 401, 0)
	}
	c.want(c.login("alice", "guess", true, ""), 429, 890)
	c.want(c.login("alice", "alice-password", true, ""), 429, 890)
	html := c.login("Alice", "alice-password", false, "")
	c.want(html, 429, 890)
	if !strings.Contains(html.body, `<form method="post" action="/login"`) {
		t.Fatalf("429 for a browser is not the login form: %.300s", html.body)
	}
	// A client naming another address itself: nginx overwrites it.
	c.want(c.login("alice", "alice-password", true, "203.0.113.9"), 429, 890)
	c.want(c.login("bob", "bob-password", false, ""), 303, 0)

	// Time per answer: a failed login (bcrypt) against a refused one.
	timed := func(n, status int) time.Duration {
		start := time.Now()
		for range n {
			c.want(c.login("erin", "guess", true, ""), status, 0)
		}
		return time.Since(start) / time.Duration(n)
	}
	failed, refused := timed(5, 401), timed(200, 429)
	t.Logf("per answer through nginx, one at a time: 401 (bcrypt) %v, 429 %v (x%.0f)", failed, refused, float64(failed)/float64(refused))

	// The address: 15 failures so far (carol, alice, erin); 35 more, with
	// a login to mallory's own account after every tenth.
	for i := range 35 {
		c.want(c.login(fmt.Sprintf("guess%d", i), "guess", true, ""), 401, 0)
		if i%10 == 0 {
			c.want(c.login("mallory", "mallory-password", false, ""), 303, 0)
		}
	}
	c.want(c.login("bob", "bob-password", true, ""), 429, 800)
	c.want(c.login("mallory", "mallory-password", true, ""), 429, 800)

	// The window: age every failure in Redis by 15 minutes.
	rc := testenv.RedisClient(t)
	bg := context.Background()
	keys, err := rc.Keys(bg, s.RedisPrefix+"t:login:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("throttle keys in Redis: %q, %v", keys, err)
	}
	for _, k := range keys {
		for _, z := range rc.ZRangeWithScores(bg, k, 0, -1).Val() {
			rc.ZAdd(bg, k, goredis.Z{Score: z.Score - float64(15*time.Minute/time.Millisecond), Member: z.Member})
		}
	}
	c.want(c.login("bob", "bob-password", false, ""), 303, 0)
	c.want(c.login("alice", "alice-password", false, ""), 303, 0)
}

// Redis cut off from the web app: logins are still throttled, counted in
// process, and other names still log in. Redis back: it counts again.
func TestLoginThrottleRedisDown(t *testing.T) {
	s := testenv.Start(t, testenv.Options{ProxyUploaderRedis: true})
	for _, name := range []string{"alice", "bob", "dave"} {
		s.AddUser(t, testenv.User{Name: name, Password: name + "-password"})
	}
	c := newLoginClient(t, s, 1)
	rc := testenv.RedisClient(t)
	inRedis := func() int {
		keys, err := rc.Keys(context.Background(), s.RedisPrefix+"t:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}

	s.UploaderRedisProxy.Cut()
	for range 5 {
		c.want(c.login("alice", "guess", true, ""), 401, 0)
	}
	c.want(c.login("alice", "alice-password", true, ""), 429, 890)
	c.want(c.login("bob", "bob-password", false, ""), 303, 0)
	if n := inRedis(); n != 0 {
		t.Fatalf("%d throttle keys reached Redis through a cut proxy", n)
	}

	s.UploaderRedisProxy.Restore()
	for range 5 {
		c.want(c.login("dave", "guess", true, ""), 401, 0)
	}
	c.want(c.login("dave", "dave-password", true, ""), 429, 890)
	if n := inRedis(); n != 2 {
		t.Fatalf("%d throttle keys in Redis after it came back, want dave's 2", n)
	}
}

// The optional nginx limits of example.conf, turned on as docs/operating.md
// says (uncommented), in front of a stand-in for the uploader: POST /login
// beyond the burst and a fifth upload at once get 429 from nginx, other
// requests pass; and the app always sees nginx's X-Real-IP, never the
// client's.
func TestNginxLimits(t *testing.T) {
	var mu sync.Mutex
	var realIPs []string
	release := make(chan struct{})
	var uploads sync.WaitGroup
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		realIPs = append(realIPs, r.Header.Get("X-Real-IP"))
		mu.Unlock()
		if r.URL.Path == "/upload" {
			uploads.Done()
			<-release
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer app.Close()

	prefix, addr := t.TempDir(), testenv.FreeAddr(t)
	os.MkdirAll(filepath.Join(prefix, "logs"), 0o755)
	path := testenv.RenderNginx(t, prefix, map[string]string{
		"LISTEN": addr, "AUTHZ_ADDR": testenv.FreeAddr(t), "UPLOADER_ADDR": strings.TrimPrefix(app.URL, "http://"),
		"PRIVATE_ROOT": prefix, "MAX_BODY": "1m",
	})
	conf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const off = "\n            # limit_"
	if n := strings.Count(string(conf), off); n != 4 {
		t.Fatalf("example.conf has %d commented limit lines in its web app location, want 4", n)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(conf), off, "\n            limit_")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(testenv.NginxPath(t), "-t", "-p", prefix, "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t with the limits on: %v\n%s", err, out)
	}
	cmd := exec.Command(testenv.NginxPath(t), "-p", prefix, "-c", path, "-g", "daemon off; user root;")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM, not a kill: a killed master leaves its workers running.
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	base := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			break
		} else if i == 100 {
			t.Fatalf("nginx does not answer on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	post := func(path, realIP string) int {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader("username=a&password=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Real-IP", realIP)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("POST %s: %v", path, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	counts := map[int]int{}
	for range 30 {
		counts[post("/login", "203.0.113.9")]++
	}
	if counts[401] < 21 || counts[401] > 22 || counts[429] != 30-counts[401] {
		t.Errorf("30 quick logins: %v, want 21 (one plus a burst of 20) passed and the rest 429", counts)
	}
	if got := post("/logout", ""); got != 401 {
		t.Errorf("POST /logout after the login limit: %d, want it passed", got)
	}
	mu.Lock()
	for _, ip := range realIPs {
		if ip != "127.0.0.1" {
			t.Errorf("the app saw X-Real-IP %q, want nginx's 127.0.0.1", ip)
		}
	}
	mu.Unlock()

	uploads.Add(4)
	var posts sync.WaitGroup
	defer func() { close(release); posts.Wait() }() // before nginx stops
	for range 4 {
		posts.Go(func() { post("/upload", "") })
	}
	uploads.Wait() // four uploads are in the app
	if got := post("/upload", ""); got != 429 {
		t.Errorf("a fifth upload at once: %d, want 429", got)
	}
	if got := post("/login", ""); got != 429 {
		t.Errorf("login still limited: %d", got)
	}
}
