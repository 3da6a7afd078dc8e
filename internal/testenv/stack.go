package testenv

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
)

// Options change the stack a test starts.
type Options struct {
	HidePrivate bool
	CacheTTL    time.Duration // default 30s
	MaxUpload   string        // FILEGATE_MAX_UPLOAD; default 2MiB
	MaxBody     string        // nginx's client_max_body_size for the web app; default 3m
	// Env holds more variables of the stack's configuration
	// ("FILEGATE_QUOTA=1MiB"), for authz, the uploader and its CLI.
	Env []string
	// ProxyDatabase and ProxyRedis put a cuttable TCP proxy between authz
	// and the service, so a test can take it away and bring it back.
	// ProxyUploaderRedis does the same between the web app (uploader
	// serve) and Redis. CLI commands always reach both services.
	ProxyDatabase, ProxyRedis, ProxyUploaderRedis bool
	// ProxyUploaderDatabase puts another one between the web app and
	// PostgreSQL.
	ProxyUploaderDatabase bool
	// Storage is FILEGATE_STORAGE: "fs" (the default, "") or "s3", which
	// starts a versitygw of the stack's own (Stack.S3) and points authz,
	// the uploader, the CLI and nginx's filegate_s3 at it.
	Storage string
	// AuthzReplicas is how many authz processes run (default 1), each on
	// an address of its own, sharing the database, Redis and keys; nginx's
	// upstream lists every one, and asks them in turn. With ProxyRedis each
	// reaches Redis through a proxy of its own; with ProxyDatabase they
	// share one.
	AuthzReplicas int
	// UploaderReplicas is how many `uploader serve` processes run
	// (default 1), likewise, all in nginx's upstream, sharing the private
	// root; with ProxyUploaderRedis or ProxyUploaderDatabase they share
	// the proxy.
	UploaderReplicas int
	// RedisURL is the Redis of every process of the stack, the shared
	// one (RedisURL()) when empty; a Sentinel's URL for failover tests.
	// The Proxy options take the shared one.
	RedisURL string
}

// Replica is one authz or `uploader serve` process of a stack.
type Replica struct {
	URL        string
	Service    *Service
	RedisProxy *Proxy // an authz's, with Options.ProxyRedis
}

// Stack is a running filegate: nginx in front of authz and the uploader,
// on free ports, with a fresh database, a private Redis prefix and a
// temporary private root. Everything stops when the test ends. Store is
// the stack's database; like the uploader's, it tells the stack's cache
// about every change it makes.
type Stack struct {
	URL         string // nginx, e.g. http://127.0.0.1:40123
	AuthzURL    string
	UploaderURL string // the web app itself, behind nginx in production
	DatabaseURL string
	RedisPrefix string
	PrivateRoot string
	SessionKeys string
	Env         []string // the stack's configuration, for the uploader CLI
	Sessions    *session.Codec
	Store       *postgres.DB
	DBProxy     *Proxy // non-nil with Options.ProxyDatabase
	RedisProxy  *Proxy // non-nil with Options.ProxyRedis
	// UploaderRedisProxy is non-nil with Options.ProxyUploaderRedis.
	UploaderRedisProxy *Proxy
	// UploaderDBProxy is non-nil with Options.ProxyUploaderDatabase.
	UploaderDBProxy *Proxy
	// AuditLog is the file every process of the stack appends its audit
	// lines to (FILEGATE_AUDIT_LOG); see AuditLines and AuditSecrets.
	AuditLog string
	// NginxErrorLog is nginx's error log, where it says which upstream
	// server failed a request before it asked the next.
	NginxErrorLog string
	// The processes, for tests that stop, kill or restart one.
	Authz, Uploader, Nginx *Service
	// Replicas are every authz process (Options.AuthzReplicas, AddAuthz);
	// the first is Authz at AuthzURL, behind RedisProxy.
	Replicas []Replica
	// S3 is the stack's store with Options.Storage "s3", else nil.
	S3 *S3
	// NginxDir holds nginx.conf and filegate-http.conf as rendered, for
	// tests that change them and restart nginx.
	NginxDir string
	// Uploaders are every `uploader serve` (Options.UploaderReplicas); the
	// first is Uploader at UploaderURL.
	Uploaders []Replica

	dir        string   // where the processes' logs go
	authzEnv   []string // every authz's configuration, but its address (AddAuthz's)
	proxyRedis bool     // Options.ProxyRedis
}

// AddAuthz starts one more authz process on the stack, configured as the
// others and then by env ("AUTHZ_MEMORY_CACHE=off"), appends it to
// s.Replicas and returns it once it listens. nginx asks the ones Start
// starts; one added later only tests and the benchmark ask.
func (s *Stack) AddAuthz(t T, env ...string) Replica {
	t.Helper()
	var r Replica
	full := append(append([]string(nil), s.authzEnv...), "AUTHZ_ADDR=127.0.0.1:0")
	if s.proxyRedis {
		u, _ := url.Parse(RedisURL())
		r.RedisProxy = NewProxy(t, u.Host)
		u.Host = r.RedisProxy.Addr
		full = append(full, "REDIS_URL="+u.String())
	}
	name := "authz"
	if n := len(s.Replicas); n > 0 {
		name = fmt.Sprintf("authz%d", n+1)
	}
	r.Service = startService(t, s.dir, name, "", append(full, env...), Binary(t, "authz"))
	r.URL = "http://" + r.Service.listening(t, "AUTHZ_ADDR")
	s.Replicas = append(s.Replicas, r)
	return r
}

// UploaderPID is the process id of the stack's `uploader serve`, for
// tests that read its memory from /proc.
func (s *Stack) UploaderPID() int { return s.Uploader.PID() }

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// RemoveBinaries deletes what binaries built; call it once the last test
// of the process is done (TestMain, or the end of the benchmark).
func RemoveBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Binary returns the path of a freshly built "authz" or "uploader".
func Binary(t T, name string) string {
	t.Helper()
	return filepath.Join(binaries(t), name)
}

// binaries builds authz and uploader once per test process.
func binaries(t T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "filegate-bin-")
		if buildErr != nil {
			return
		}
		for _, name := range []string{"authz", "uploader"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./"+name)
			cmd.Dir = RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", name, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("testenv: %v", buildErr)
	}
	return binDir
}

// FreeAddr returns a loopback address with a port nobody listens on. It
// is free when FreeAddr returns; another process may take it before the
// caller's binds it, so a program that can listen on port 0 and report
// its address should (Service.listening).
func FreeAddr(t T) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct loopback addresses nobody listens on. It
// holds every port until it has all of them: a port closed and asked for
// again at once may come back, and two services of one stack would then
// race for it.
func FreeAddrs(t T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// Start runs a whole stack for one test.
func Start(t T, opt Options) *Stack {
	t.Helper()
	nginx := NginxPath(t)
	dir := t.TempDir()
	s := &Stack{
		DatabaseURL: NewDatabase(t),
		RedisPrefix: RedisPrefix(t),
		PrivateRoot: filepath.Join(dir, "private"),
		SessionKeys: session.GenerateKeys(),
		AuditLog:    filepath.Join(dir, "audit.log"),
	}
	noteKeys(s.SessionKeys)
	// Registered before the services start, so it runs once they have
	// stopped, and before dir is removed: the whole log, with every secret
	// the test noted.
	t.Cleanup(func() { s.checkAudit(t) })
	if opt.CacheTTL == 0 {
		opt.CacheTTL = 30 * time.Second
	}
	if opt.MaxUpload == "" {
		opt.MaxUpload = "2MiB"
	}
	if opt.MaxBody == "" {
		opt.MaxBody = "3m"
	}
	var err error
	if s.Sessions, err = session.New(s.SessionKeys, false, nil); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// Neither opens a connection yet.
	if s.Store, err = postgres.Open(s.DatabaseURL); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { s.Store.Close() })
	redisURL := RedisURL()
	if opt.RedisURL != "" {
		redisURL = opt.RedisURL
	}
	invalidator, err := cache.Open(redisURL, s.RedisPrefix, opt.CacheTTL, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { invalidator.Close() })
	s.Store.Invalidator = invalidator
	s.Env = []string{
		"DATABASE_URL=" + s.DatabaseURL,
		"REDIS_URL=" + redisURL,
		"FILEGATE_REDIS_PREFIX=" + s.RedisPrefix,
		"FILEGATE_PRIVATE_ROOT=" + s.PrivateRoot,
		"FILEGATE_SESSION_KEYS=" + s.SessionKeys,
		"FILEGATE_MAX_UPLOAD=" + opt.MaxUpload,
		// Each binary picks a free port for its metrics and logs it
		// (Service.MetricsURL): never the defaults, which stacks running
		// side by side would fight over, nor a port chosen here, which
		// another process could take before the binary binds it. Their
		// main listeners do the same (Service.listening).
		"AUTHZ_METRICS_ADDR=127.0.0.1:0",
		"UPLOADER_METRICS_ADDR=127.0.0.1:0",
		"AUTHZ_CACHE_TTL=" + opt.CacheTTL.String(),
		fmt.Sprintf("AUTHZ_HIDE_PRIVATE=%t", opt.HidePrivate),
		"FILEGATE_AUDIT_LOG=" + s.AuditLog,
	}
	if opt.Storage == "s3" {
		s.S3 = StartS3(t)
		Secret("the store's secret key", s.S3.SecretKey)
		s.Env = append(s.Env, s.S3.Env()...)
	}
	s.Env = append(s.Env, opt.Env...)
	authzEnv := append([]string(nil), s.Env...)
	serveEnv := append([]string(nil), s.Env...)
	if opt.ProxyDatabase {
		u, _ := url.Parse(s.DatabaseURL)
		s.DBProxy = NewProxy(t, u.Host)
		u.Host = s.DBProxy.Addr
		authzEnv = append(authzEnv, "DATABASE_URL="+u.String())
	}
	if opt.ProxyUploaderDatabase {
		u, _ := url.Parse(s.DatabaseURL)
		s.UploaderDBProxy = NewProxy(t, u.Host)
		u.Host = s.UploaderDBProxy.Addr
		serveEnv = append(serveEnv, "DATABASE_URL="+u.String())
	}
	if opt.ProxyUploaderRedis {
		u, _ := url.Parse(RedisURL())
		s.UploaderRedisProxy = NewProxy(t, u.Host)
		u.Host = s.UploaderRedisProxy.Addr
		serveEnv = append(serveEnv, "REDIS_URL="+u.String())
	}
	s.CLI(t, "", "migrate")
	s.dir, s.authzEnv, s.proxyRedis = dir, authzEnv, opt.ProxyRedis
	var authzAddrs, uploaderAddrs []string
	for range max(opt.AuthzReplicas, 1) {
		authzAddrs = append(authzAddrs, strings.TrimPrefix(s.AddAuthz(t).URL, "http://"))
	}
	s.Authz, s.RedisProxy = s.Replicas[0].Service, s.Replicas[0].RedisProxy
	for i := range max(opt.UploaderReplicas, 1) {
		name := "uploader"
		if i > 0 {
			name = fmt.Sprintf("uploader%d", i+1)
		}
		env := append(append([]string(nil), serveEnv...), "UPLOADER_ADDR=127.0.0.1:0")
		svc := startService(t, dir, name, "", env, Binary(t, "uploader"), "serve")
		addr := svc.listening(t, "UPLOADER_ADDR")
		s.Uploaders = append(s.Uploaders, Replica{URL: "http://" + addr, Service: svc})
		uploaderAddrs = append(uploaderAddrs, addr)
	}
	s.Uploader = s.Uploaders[0].Service
	s.AuthzURL, s.UploaderURL = s.Replicas[0].URL, s.Uploaders[0].URL
	// For the CLI's healthcheck.
	s.Env = append(s.Env, "AUTHZ_ADDR="+authzAddrs[0], "UPLOADER_ADDR="+uploaderAddrs[0])

	prefix := filepath.Join(dir, "nginx")
	s.NginxDir = prefix
	s.NginxErrorLog = filepath.Join(prefix, "error.log") // example.conf's error_log
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// nginx cannot report a port it chose, so it gets one that was free a
	// moment ago. Should another process have taken it since, nginx exits
	// at once, and starts again on another.
	for try := 1; ; try++ {
		nginxAddr := FreeAddr(t)
		confPath := RenderNginx(t, prefix, map[string]string{
			"LISTEN":        nginxAddr,
			"AUTHZ_ADDR":    strings.Join(authzAddrs, " "),
			"UPLOADER_ADDR": strings.Join(uploaderAddrs, " "),
			"PRIVATE_ROOT":  s.PrivateRoot,
			"MAX_BODY":      opt.MaxBody,
		})
		if s.S3 != nil {
			RenderS3Upstream(t, prefix, strings.TrimPrefix(s.S3.Endpoint, "http://"))
		}
		// Workers run as root here, unlike `make run`'s: the stack lives in
		// the test's TempDir, which Go makes 0700 for whoever runs the
		// tests, so another worker user could not even reach the private
		// root. The tests check the gate, not file permissions
		// (docs/operating.md).
		s.Nginx = startService(t, dir, "nginx", nginxAddr, nil, nginx, "-p", prefix, "-c", confPath, "-g", "daemon off; user root;")
		s.URL = "http://" + nginxAddr
		if nginxStarted(s.Nginx, filepath.Join(prefix, "nginx.pid")) {
			break
		}
		if out := s.Nginx.Output(t); try == 3 || !bytes.Contains(out, []byte("Address already in use")) {
			t.Fatalf("testenv: nginx did not start:\n%s", tail(out, 2000))
		}
	}
	waitListening(t, dir, strings.TrimPrefix(s.URL, "http://"))
	return s
}

// nginxStarted waits up to 15 seconds for nginx to write pidFile (as
// example.conf's pid), which it does once it has bound its listening
// sockets, and reports false if it exits first.
func nginxStarted(nginx *Service, pidFile string) bool {
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		if _, exited := nginx.Wait(0); exited {
			return false
		}
		if _, err := os.Stat(pidFile); err == nil {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Reconfigure stops authz and the uploader, adds env ("NAME=value") to
// their configuration and the CLI's, and starts both again, as an
// operator changing .env and restarting them would (a key rotation:
// docs/operating.md#rotating-session-keys). s.Sessions keeps the keys
// the stack started with.
func (s *Stack) Reconfigure(t T, env ...string) {
	t.Helper()
	s.Env = append(s.Env, env...)
	for _, svc := range []*Service{s.Authz, s.Uploader} {
		svc.Stop()
		svc.Restart(t, env...)
	}
}

// RenderNginx writes the config `make run` and compose render too:
// prefix/nginx.conf from nginx/example.conf with its {{NAME}} placeholders
// filled in (NGINX_DIR is always the repository's nginx folder), and next
// to it the filegate-http.conf it includes (RenderHTTPConf with
// AUTHZ_ADDR, UPLOADER_ADDR and PRIVATE_ROOT; each of the first two may
// list several addresses). It returns nginx.conf's path.
func RenderNginx(t T, prefix string, vars map[string]string) string {
	t.Helper()
	nginxDir := filepath.Join(RepoRoot(), "nginx")
	tmpl, err := os.ReadFile(filepath.Join(nginxDir, "example.conf"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	conf := strings.ReplaceAll(string(tmpl), "{{NGINX_DIR}}", nginxDir)
	for k, v := range vars {
		conf = strings.ReplaceAll(conf, "{{"+k+"}}", v)
	}
	if i := strings.Index(conf, "{{"); i >= 0 {
		t.Fatalf("testenv: nginx/example.conf: placeholder left unfilled near %q", conf[i:min(len(conf), i+30)])
	}
	RenderHTTPConf(t, prefix, vars["AUTHZ_ADDR"], vars["UPLOADER_ADDR"], vars["PRIVATE_ROOT"])
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return path
}

// RenderHTTPConf writes prefix/filegate-http.conf: nginx/filegate-http.conf
// with the three values an operator edits (lines marked EDIT) replaced by
// authzAddrs, uploaderAddrs and privateRoot. The addresses are lists
// separated by spaces: as an operator lists replicas, each address gets a
// copy of its EDIT line, a server of the upstream.
func RenderHTTPConf(t T, prefix, authzAddrs, uploaderAddrs, privateRoot string) {
	t.Helper()
	if strings.TrimSpace(authzAddrs) == "" || strings.TrimSpace(uploaderAddrs) == "" || privateRoot == "" {
		t.Fatalf("testenv: filegate-http.conf needs authz's and the uploader's addresses and the private root")
	}
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "nginx", "filegate-http.conf"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	conf := string(b)
	// The EDIT values are the defaults of AUTHZ_ADDR, UPLOADER_ADDR and
	// FILEGATE_PRIVATE_ROOT. Each appears once, so replacing its line
	// touches nothing else.
	edits := []struct {
		value string
		with  []string
	}{
		{"127.0.0.1:8081", strings.Fields(authzAddrs)},
		{"127.0.0.1:8082", strings.Fields(uploaderAddrs)},
		{"/var/lib/filegate/private", []string{privateRoot}},
	}
	for _, edit := range edits {
		if strings.Count(conf, edit.value) != 1 {
			t.Fatalf("testenv: nginx/filegate-http.conf: %s is not there exactly once", edit.value)
		}
		at := strings.Index(conf, edit.value)
		start := strings.LastIndexByte(conf[:at], '\n') + 1
		end := at + strings.IndexByte(conf[at:], '\n') + 1
		var lines strings.Builder
		for _, v := range edit.with {
			lines.WriteString(strings.Replace(conf[start:end], edit.value, v, 1))
		}
		conf = conf[:start] + lines.String() + conf[end:]
	}
	if err := os.WriteFile(filepath.Join(prefix, "filegate-http.conf"), []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// RenderS3Upstream points the filegate_s3 upstream of the
// filegate-http.conf in prefix (RenderHTTPConf) at addr, the host:port of
// a store: the value marked "EDIT for s3".
func RenderS3Upstream(t T, prefix, addr string) {
	t.Helper()
	path := filepath.Join(prefix, "filegate-http.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	const edit = "server 127.0.0.1:7070;"
	if strings.Count(string(b), edit) != 1 {
		t.Fatalf("testenv: nginx/filegate-http.conf: %q is not there exactly once", edit)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), edit, "server "+addr+";", 1)), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

var installing sync.Mutex

// NginxPath finds nginx (Tool).
func NginxPath(t T) string {
	t.Helper()
	return Tool(t, "nginx")
}

// Tool finds the program name that .ci/deps installs (nginx, curl, wget,
// aria2c, wrk, versitygw), on PATH or in /usr/sbin, where Debian puts nginx. When it is
// missing, it installs it with the project's one installer, .ci/deps: a
// test that needs one never skips.
func Tool(t T, name string) string {
	t.Helper()
	find := func() string {
		for _, p := range []string{name, "/usr/sbin/" + name} {
			if path, err := exec.LookPath(p); err == nil {
				return path
			}
		}
		return ""
	}
	if path := find(); path != "" {
		return path
	}
	// One apt at a time: parallel tests would fight over its lock.
	installing.Lock()
	defer installing.Unlock()
	if path := find(); path != "" {
		return path
	}
	t.Logf("testenv: %s missing; running .ci/deps", name)
	deps := exec.Command(filepath.Join(RepoRoot(), ".ci", "deps"))
	if out, err := deps.CombinedOutput(); err != nil || find() == "" {
		t.Fatalf("testenv: %s is not installed and .ci/deps could not install it: %v\n%s", name, err, out)
	}
	return find()
}

// CLI runs the uploader binary with the stack's configuration and returns
// its output; a failing command fails the test.
func (s *Stack) CLI(t T, stdin string, args ...string) string {
	t.Helper()
	out, err := s.TryCLI(t, stdin, args...)
	if err != nil {
		t.Fatalf("uploader %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryCLI is CLI for commands expected to fail: it returns the error.
func (s *Stack) TryCLI(t T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := s.Command(t, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Command returns the uploader binary with the stack's configuration,
// ready to run.
func (s *Stack) Command(t T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(Binary(t, "uploader"), args...)
	cmd.Env = append(os.Environ(), s.Env...)
	return cmd
}

// Cookie returns a session cookie for userID as /login would set it: it
// starts a real session of that user, valid for an hour, through the
// store. For a user that does not exist (or no longer does) it returns a
// validly signed cookie naming a session that does not exist either.
func (s *Stack) Cookie(t T, userID int64) *http.Cookie {
	t.Helper()
	ctx := context.Background()
	u, err := s.Store.UserByID(ctx, userID)
	var claims session.Claims
	switch filegate.ErrorCode(err) {
	case "":
		if claims, err = account.StartSession(ctx, s.Store, u, "testenv", time.Now(), time.Hour); err != nil {
			t.Fatalf("testenv: start a session of user %d: %v", userID, err)
		}
	case filegate.ENOTFOUND:
		claims = session.Claims{UserID: userID, Token: session.NewToken(), Expires: time.Now().Add(time.Hour)}
	default:
		t.Fatalf("testenv: user %d: %v", userID, err)
	}
	v, err := s.Sessions.Encode(claims)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	Secret("a session cookie", v)
	Secret("a session token", claims.Token)
	return &http.Cookie{Name: session.CookieName, Value: v}
}

// LegacyCookie returns a cookie value as filegate wrote them before
// sessions were server-side records: {"uid", "exp"} under the first key
// pair of keys (FILEGATE_SESSION_KEYS), valid for an hour, and no
// session token.
func LegacyCookie(t T, keys string, userID int64) string {
	t.Helper()
	pair, _, _ := strings.Cut(keys, ",")
	hashHex, blockHex, _ := strings.Cut(pair, ":")
	hashKey, err1 := hex.DecodeString(hashHex)
	blockKey, err2 := hex.DecodeString(blockHex)
	if err1 != nil || err2 != nil {
		t.Fatalf("testenv: malformed session keys")
	}
	sc := securecookie.New(hashKey, blockKey).SetSerializer(securecookie.JSONEncoder{})
	v, err := sc.Encode(session.CookieName, map[string]int64{"uid": userID, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	Secret("a legacy session cookie", v)
	return v
}

// Login logs name in with password through nginx, as a browser would
// with userAgent as its User-Agent, and returns the session cookie the
// uploader set; a refused login fails the test.
func (s *Stack) Login(t T, name, password, userAgent string) *http.Cookie {
	t.Helper()
	Secret(name+"'s password", password)
	form := url.Values{"username": {name}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", userAgent)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("testenv: login: %v", err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == session.CookieName && c.Value != "" && resp.StatusCode == http.StatusSeeOther {
			Secret(name+"'s session cookie", c.Value)
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatalf("testenv: login of %q: %s without a session cookie", name, resp.Status)
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return bytes.TrimSpace(b)
}

func waitListening(t T, dir, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var all []byte
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		all = append(all, []byte("--- "+filepath.Base(l)+"\n")...)
		all = append(all, tail(b, 2000)...)
		all = append(all, '\n')
	}
	t.Fatalf("testenv: nothing listens on %s after 15s\n%s", addr, all)
}

// Main runs a test package that starts stacks, then removes the binaries
// they were built from: call it as the package's TestMain.
func Main(m *testing.M) {
	code := m.Run()
	RemoveBinaries()
	os.Exit(code)
}
