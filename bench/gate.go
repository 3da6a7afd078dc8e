package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/testenv"
)

// gate is one nginx (2 workers, no access log) with a server per case of
// the gate comparison. Every gated server includes the project's own
// nginx/filegate.conf; only the authz upstream it asks differs:
//
//	A  a plain location serving the private root, no gate
//	B  the include, upstream = nothingAuthz (200 with fixed headers)
//	C  the include, upstream = filegate's authz (memory layer on)
//	C0 the include, upstream = an authz with AUTHZ_MEMORY_CACHE=off
//	R  the include, upstream = an authz whose Redis is a closed port
type gate struct {
	urls map[string]string // case -> http://addr
}

// gateCases are the servers of a gate, in the order the table shows them.
var gateCases = []string{"A", "B", "C", "C0", "R"}

// startGate renders and starts the nginx with a server for each of cases;
// upstreams maps each gated case to its authz address (host:port).
func startGate(t *runner, s *testenv.Stack, cases []string, upstreams map[string]string) *gate {
	dir := t.TempDir()
	testenv.RenderHTTPConf(t, dir, upstreams["C"], strings.TrimPrefix(s.UploaderURL, "http://"), s.PrivateRoot)
	include, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "nginx", "filegate.conf"))
	if err != nil {
		t.Fatalf("%v", err)
	}
	g := &gate{urls: map[string]string{}}
	var conf strings.Builder
	for _, c := range cases {
		addr := testenv.FreeAddr(t)
		g.urls[c] = "http://" + addr
		if c == "A" {
			// The same URL and the same bytes, straight from the disk.
			fmt.Fprintf(&conf, "    server {\n        listen %s;\n        location ^~ /files/ {\n            alias %s/;\n            default_type application/pdf;\n        }\n    }\n", addr, s.PrivateRoot)
			continue
		}
		// The include as shipped, with its upstream renamed: C keeps
		// filegate_authz from filegate-http.conf.
		name := "filegate_authz"
		if c != "C" {
			name = "bench_" + strings.ToLower(c)
			fmt.Fprintf(&conf, "    upstream %s {\n        server %s;\n        keepalive 16;\n        keepalive_timeout 50s;\n    }\n", name, upstreams[c])
		}
		file := filepath.Join(dir, "filegate-"+c+".conf")
		text := strings.ReplaceAll(string(include), "http://filegate_authz/", "http://"+name+"/")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatalf("%v", err)
		}
		fmt.Fprintf(&conf, "    server {\n        listen %s;\n        include %s;\n    }\n", addr, file)
	}
	startNginx(t, dir, conf.String(), g.urls)
	return g
}

// startNginx starts an nginx (2 workers, no access log) in dir, which
// holds the filegate-http.conf it includes, with servers (server and
// upstream blocks) in its http {}, and waits until each of urls
// (http://addr) listens. It stops when the run ends.
func startNginx(t *runner, dir, servers string, urls map[string]string) {
	conf := `worker_processes 2;
pid nginx.pid;
lock_file nginx.lock;
error_log error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    default_type application/octet-stream;
    include filegate-http.conf;
` + servers + "}\n"
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command(testenv.NginxPath(t), "-p", dir, "-c", path, "-g", "daemon off; user root;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, _ := os.Create(filepath.Join(dir, "stderr"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	// SIGTERM, not a kill: a killed master leaves its workers running.
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	for _, u := range urls {
		waitTCP(t, strings.TrimPrefix(u, "http://"), filepath.Join(dir, "stderr"))
	}
}

// sideBySide loads path on each server of urls (case -> http://addr)
// with wrk and conns connections, in gateRounds rounds of each, every
// other round in reverse order, so that the machine's other load drifting
// during the run weighs on every case alike; each case is warmed first.
// It returns the mean of each case's rounds (worst percentiles).
func sideBySide(t *runner, wrk string, urls map[string]string, cases []string, path, cookie string, conns int, each time.Duration) map[string]wrkResult {
	for _, c := range cases {
		// Warm: authz's caches, nginx's connections to it.
		load(t, urls[c]+path, cookie, 2, 200*time.Millisecond)
	}
	res := map[string]wrkResult{}
	for round := range gateRounds {
		for i := range cases {
			c := cases[i]
			if round%2 == 1 {
				c = cases[len(cases)-1-i]
			}
			res[c] = res[c].add(runWrk(t, wrk, urls[c]+path, conns, each, "Cookie: "+cookie))
		}
	}
	for c, r := range res {
		r.rps /= gateRounds
		res[c] = r
	}
	return res
}

func waitTCP(t *runner, addr, logPath string) {
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("nothing listens on %s:\n%s", addr, log)
}

// nothingAuthz is case B's authorizer: it answers every question with 200
// and the headers filegate's authz gave for that URI, looked up in a map,
// so that B costs nginx's subrequest and nothing else.
func nothingAuthz(t *runner, answers map[string]http.Header) string {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range answers[r.Header.Get(authz.HeaderURI)] {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusOK)
	})
	return serve(t, h)
}

// answerOf asks authz at authzURL about uri as nginx does and returns the
// X-Filegate-* headers of its 200.
func answerOf(t *runner, authzURL, cookie, uri string) http.Header {
	req, _ := http.NewRequest("GET", authzURL+"/auth", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set(authz.HeaderURI, uri)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("authz answered %s for %s", resp.Status, uri)
	}
	h := http.Header{}
	for k, v := range resp.Header {
		if strings.HasPrefix(k, "X-Filegate-") {
			h[k] = v
		}
	}
	return h
}

// wrkPath finds wrk, which .ci/deps installs (testenv.Tool): Go's HTTP
// client costs as much CPU per request as nginx does, so it would measure
// itself on this 2-core machine, not the gate.
func wrkPath(t *runner) string { return testenv.Tool(t, "wrk") }

// wrkResult is one wrk run: requests/s, the 50th and 99th percentile of
// latency, and the answers that were not 2xx or 3xx.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	non2xx   int
	errors   string
}

func (r wrkResult) String() string {
	s := fmt.Sprintf("%8.0f req/s  p50 %7s  p99 %7s", r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	if r.non2xx > 0 {
		s += fmt.Sprintf("  (%d not 2xx)", r.non2xx)
	}
	if r.errors != "" {
		s += "  (" + r.errors + ")"
	}
	return s
}

// add combines runs of equal duration: requests/s summed (the caller
// divides by the number of runs, mean), the worst percentiles, the sum of
// failures.
func (r wrkResult) add(o wrkResult) wrkResult {
	r.rps += o.rps
	r.p50, r.p99 = max(r.p50, o.p50), max(r.p99, o.p99)
	r.non2xx += o.non2xx
	if o.errors != "" {
		r.errors = strings.TrimPrefix(r.errors+"; "+o.errors, "; ")
	}
	return r
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkErrors = regexp.MustCompile(`Socket errors: [^\n]*`)
)

// runWrk loads url with wrk (2 threads, conns keep-alive connections, for
// d) sending headers ("Name: value").
func runWrk(t *runner, wrk, url string, conns int, d time.Duration, headers ...string) wrkResult {
	args := []string{"-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", "--timeout", "10s"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command(wrk, append(args, url)...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	var r wrkResult
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk %s: no Requests/sec in\n%s", url, out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		d := time.Duration(v * float64(unit))
		if string(m[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkErrors.Find(out); m != nil {
		r.errors = string(m)
	}
	return r
}

// baseline is an authz binary built from another commit (-baseline): the
// gate then also measures C and R with it, in the same rounds.
var baseline = flag.String("baseline", "", "an authz binary built from another commit (go build -o /tmp/authz-base ./authz there): the gate adds cases Cb and Rb, C and R with it")

// startBaseline starts the authz binary at path on the stack's
// configuration, and then env, and returns its address (host:port) once
// it listens.
func startBaseline(t *runner, s *testenv.Stack, path string, env ...string) string {
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(path)
	cmd.Env = append(append(append(os.Environ(), s.Env...), "AUTHZ_ADDR="+addr), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	logPath := filepath.Join(t.TempDir(), "baseline.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("%v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the baseline authz: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait(); out.Close() })
	waitTCP(t, addr, logPath)
	return addr
}
