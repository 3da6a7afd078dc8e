// Command bench measures filegate on this machine and prints numbers and
// ratios (make bench). It starts the same real stack the end-to-end tests
// use (nginx, authz, uploader, PostgreSQL, Redis) and compares:
//
//   - downloads gated by authz and sent by nginx, against the usual
//     alternative of an app server behind nginx that checks access and
//     streams the bytes itself (the same check in Go, the copy done
//     through the app and proxied by nginx);
//   - share-link downloads (no session; each GET counts a download in
//     PostgreSQL) against /files/ downloads of the same file;
//   - authz decisions answered from memory (the default), from the Redis
//     cache (AUTHZ_MEMORY_CACHE=off) and uncached;
//   - changes (POST /settings) with one and three authz processes
//     answering from memory, and with one of three cut off from Redis;
//   - the uploader's peak memory for a tiny and a large upload.
//
// It adds, in the same run (gateCompare, s3Compare, authzAlone,
// uploadSpeed, scale):
//
//   - the gate against nginx itself: one nginx, the same include, only
//     the authz upstream differs (cases A, B, C, C0, R; see gate), loaded
//     with wrk, 4 KiB and 16 MiB files;
//   - the same with the files in a bucket (FILEGATE_STORAGE=s3): nginx
//     proxying the store with and without the gate (s3Compare);
//   - authz alone at its peak and its latency at half that rate;
//   - 25 MiB uploads through nginx next to dd with fsync, and the
//     uploader's peak memory meanwhile;
//   - the home page and /api/files with 1,000,000 files in the database.
//
// It prints a summary table with the targets of docs/performance.md and
// writes it to bench/results.md with the date, the CPU and the commit.
//
// Everything shares the machine's cores with the load generator, so read
// the ratios rather than the absolute numbers.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

const (
	// gateRounds is how many times each gate case is measured, in turns.
	gateRounds  = 3
	gateRound   = 2 * time.Second
	concurrency = 8
	duration    = 4 * time.Second
)

func main() {
	flag.Parse()
	r := &runner{}
	code := 0
	func() {
		defer func() {
			if v := recover(); v != nil {
				f, ok := v.(fatal)
				if !ok {
					panic(v)
				}
				fmt.Fprintln(os.Stderr, "bench:", string(f))
				code = 1
			}
		}()
		run(r)
		if *only == "" {
			rep.write()
		}
	}()
	r.cleanup()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// only names the sections to run (-only), every one when empty.
var only = flag.String("only", "", "comma-separated sections to run, of gate, s3, downloads, links, decisions, alone, changes, logins, uploads, scale; all when empty (results.md is then not written)")

// want reports whether the section named section runs.
func want(section string) bool {
	return *only == "" || slices.Contains(strings.Split(*only, ","), section)
}

func run(t *runner) {
	// Go's profiles on the metrics listeners: the gate, authz alone and the
	// uploads print the top of a CPU profile.
	// A quota no measurement reaches: the uploads' profile uploads for as
	// long as it runs, however fast that is.
	s := testenv.Start(t, testenv.Options{MaxUpload: "1GiB", MaxBody: "64m", Env: []string{"FILEGATE_PPROF=true", "FILEGATE_QUOTA=1024GiB"}})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "bench-password"})
	bob := s.AddUser(t, testenv.User{Name: "bob", Password: "bench-password", Public: true})
	dir := t.TempDir()
	large := s.Put(t, "bob", "large.pdf", pdf(1<<20))
	small := s.Put(t, "bob", "small.pdf", pdf(4<<10))
	cookie := s.Cookie(t, alice) // alice downloads bob's public files

	say("filegate benchmark: %d cores shared by nginx, authz, PostgreSQL, Redis and the load generator\n\n", runtime.NumCPU())
	wrk := wrkPath(t)
	if want("gate") {
		gateCompare(t, s, wrk, cookie.String(), bob)
	}
	if want("s3") {
		s3Compare(t, wrk)
	}
	if want("downloads") || want("links") || want("decisions") || want("changes") || want("logins") {
		say("%d concurrent clients, %s per measurement\n\n", concurrency, duration)
	}
	if want("downloads") {
		downloads(t, s, cookie.String(), large, small)
	}
	if want("links") {
		links(t, s, cookie.String(), small)
	}
	if want("decisions") {
		authzDecisions(t, s, cookie.String(), bob, large)
	}
	if want("alone") {
		authzAlone(t, s, wrk, cookie.String(), large)
	}
	if want("changes") {
		changeLatency(t, s, bob)
	}
	if want("logins") {
		failedLogins(s)
	}
	if want("uploads") {
		uploads(t, s, dir, cookie.String())
	}
	if want("scale") {
		scale(t)
	}
}

// downloads compares the gate with an app that streams the bytes itself,
// for a 1 MiB and a 4 KiB file.
func downloads(t *runner, s *testenv.Stack, cookie, large, small string) {
	app := behindNginx(t, startStreamingApp(t, s))
	for _, f := range []struct{ label, url string }{{"1 MiB file", large}, {"4 KiB file", small}} {
		gated := load(t, s.URL+f.url, cookie, concurrency, duration)
		streamed := load(t, app+f.url, cookie, concurrency, duration)
		say("downloads, %s:\n", f.label)
		say("  %-38s %s\n", "filegate (nginx sendfile, authz gate)", gated)
		say("  %-38s %s\n", "app streams the bytes, behind nginx", streamed)
		say("  ratio filegate/app: throughput x%.2f, p50 latency x%.2f\n\n",
			gated.rps()/streamed.rps(), gated.p(50).Seconds()/streamed.p(50).Seconds())
	}
}

// links compares share-link downloads of the 4 KiB file small, with and
// without a limit, with /files/ downloads of it.
func links(t *runner, s *testenv.Stack, cookie, small string) {
	// Every GET of a link without Range counts a download. A limited
	// link's is one UPDATE of its row, which concurrent downloads of the
	// link take turns at, checking the limit and granting the client its
	// later ranges; an unlimited link's is counted in authz's memory and
	// written once a second.
	_, unlimited := s.AddLink(t, small, testenv.Link{})
	_, limited := s.AddLink(t, small, testenv.Link{MaxDownloads: 1 << 40})
	smallGated := load(t, s.URL+small, cookie, concurrency, duration)
	free := load(t, s.URL+unlimited, "", concurrency, duration)
	counted := load(t, s.URL+limited, "", concurrency, duration)
	say("share-link downloads, 4 KiB file (no session; every GET counts, a limited link's in PostgreSQL at once):\n")
	say("  %-38s %s\n", "/files/ (session, decision from memory)", smallGated)
	say("  %-38s %s\n", "link without a limit", free)
	say("  %-38s %s\n", "link with a limit (UPDATE + grant upsert)", counted)
	say("  ratio link/files: throughput x%.2f without a limit, x%.2f with one\n\n",
		free.rps()/smallGated.rps(), counted.rps()/smallGated.rps())
	rep.row("4 KiB link/files (Go client, 8 conns)", fmt.Sprintf("%.2f without a limit, %.2f with one", free.rps()/smallGated.rps(), counted.rps()/smallGated.rps()))
}

// authzDecisions asks authz directly: answers from memory, from Redis and
// uncached.
func authzDecisions(t *runner, s *testenv.Stack, cookie string, bob int64, large string) {
	redisOnly := s.AddAuthz(t, "AUTHZ_MEMORY_CACHE=off").URL
	memory := decisions(t, s.AuthzURL, cookie, func(int) string { return large })
	hit := decisions(t, redisOnly, cookie, func(int) string { return large })
	miss := decisions(t, s.AuthzURL, cookie, func(i int) string { return fmt.Sprintf("/files/%d/missing-%d.pdf", bob, i) })
	say("authz decisions (asked directly, as nginx does):\n")
	say("  %-38s %s\n", "answered from memory", memory)
	say("  %-38s %s\n", "from Redis (AUTHZ_MEMORY_CACHE=off)", hit)
	say("  %-38s %s\n", "uncached (PostgreSQL, then cached)", miss)
	say("  ratio memory/Redis: throughput x%.2f; Redis/uncached: x%.2f\n\n", memory.rps()/hit.rps(), hit.rps()/miss.rps())
	rep.row("authz decisions, memory/Redis/uncached (Go client)", fmt.Sprintf("%.0f / %.0f / %.0f req/s", memory.rps(), hit.rps(), miss.rps()))
}

// changeLatency measures POST /settings with one and three authz holding
// leases, and with one of the three cut off from Redis.
func changeLatency(t *runner, s *testenv.Stack, bob int64) {
	// Each change returns once every authz answering from memory has
	// acknowledged it, or, for one cut off from Redis, once its lease has
	// run out; after that the cut-off one holds no lease and is not
	// waited for.
	bobCookie := s.Cookie(t, bob).String()
	one := changes(s, bobCookie, duration/2)
	u, _ := url.Parse(testenv.RedisURL())
	proxy := testenv.NewProxy(t, u.Host)
	s.AddAuthz(t)
	s.AddAuthz(t, "REDIS_URL=redis://"+proxy.Addr+u.Path)
	leases(t, s, 3)
	three := changes(s, bobCookie, duration/2)
	proxy.Delay(time.Minute)
	cutOff := changes(s, bobCookie, time.Millisecond)
	after := changes(s, bobCookie, duration/4)
	proxy.Delay(0)
	say("changes (POST /settings through nginx, one at a time):\n")
	say("  %-38s %s\n", "1 authz answering from memory", one)
	say("  %-38s %s\n", "3 authz answering from memory", three)
	say("  %-38s %s (lease %v)\n", "the first after 1 of 3 was cut off", cutOff.p(50).Round(time.Millisecond), cache.LeaseTTL)
	say("  %-38s %s\n\n", "the next ones", after)
	rep.row("change, 1 authz (POST /settings)", fmt.Sprintf("p50 %s, p99 %s", ms(one.p(50)), ms(one.p(99))))
	rep.target("change, 3 healthy authz", fmt.Sprintf("p50 %s, p99 %s", ms(three.p(50)), ms(three.p(99))), "p99 ≤ 5 ms", three.p(99) <= 5*time.Millisecond && three.errors == 0)
	bound := cache.LeaseTTL + 100*time.Millisecond
	rep.target("change, first after 1 of 3 cut off", ms(cutOff.p(50)), fmt.Sprintf("≤ lease + 100 ms = %s", ms(bound)), cutOff.p(50) <= bound && cutOff.errors == 0)
	rep.row("change, the next ones (cut-off replica holds no lease)", fmt.Sprintf("p50 %s, p99 %s", ms(after.p(50)), ms(after.p(99))))
}

// failedLogins compares wrong passwords, unknown users and throttled
// attempts.
func failedLogins(s *testenv.Stack) {
	wrongPW := logins(s.UploaderURL, "alice", "not-her-password", true)
	unknown := logins(s.UploaderURL, "nobody", "not-her-password", true)
	throttled := logins(s.UploaderURL, "alice", "not-her-password", false)
	say("failed logins (bcrypt either way, so the answer does not tell whether a user exists):\n")
	say("  %-38s %s\n", "wrong password", wrongPW)
	say("  %-38s %s\n", "unknown user", unknown)
	say("  ratio unknown/wrong: p50 latency x%.2f\n", unknown.p(50).Seconds()/wrongPW.p(50).Seconds())
	say("  %-38s %s\n", "throttled (429, no bcrypt)", throttled)
	say("  ratio wrong/throttled: p50 latency x%.2f\n\n", wrongPW.p(50).Seconds()/throttled.p(50).Seconds())
}

// uploads measures the uploader's peak memory with uploader put, and
// 25 MiB uploads through nginx against dd.
func uploads(t *runner, s *testenv.Stack, dir, cookie string) {
	tiny := uploadRSS(t, s, dir, 1<<10)
	big := uploadRSS(t, s, dir, 512<<20)
	say("upload memory (uploader put: the same ingest path as a web upload; peak RSS):\n")
	say("  %-38s %6.1f MiB\n", "1 KiB file", tiny)
	say("  %-38s %6.1f MiB\n", "512 MiB file", big)
	say("  ratio 512 MiB/1 KiB: x%.2f\n\n", big/tiny)

	const uploadSize = 25 << 20
	up, dd, rss := uploadSpeed(t, s, cookie, uploadSize, 3)
	// Apart from the measurement: the profile costs the uploader a little.
	profiled(t, "uploader-uploads", "the uploader during 25 MiB uploads", s.Uploader.MetricsURL(t), dbName(s), 2*time.Second, func() {
		for start := time.Now(); time.Since(start) < 2*time.Second; {
			uploadSpeed(t, s, cookie, uploadSize, 1)
		}
	})
	say("uploads of 25 MiB through nginx (POST /upload), alternating with dd of the same size (conv=fsync), 3 each:\n")
	say("  %-38s %7.1f MiB/s\n", "upload through nginx", up)
	say("  %-38s %7.1f MiB/s\n", "dd bs=1M count=25 conv=fsync", dd)
	say("  %-38s %7.1f MiB\n", "uploader serve peak RSS (VmHWM)", rss)
	say("  ratio upload/dd: x%.2f\n\n", up/dd)
	rep.target("upload 25 MiB through nginx / dd with fsync", fmt.Sprintf("%.0f / %.0f MiB/s = %s", up, dd, ratio(up, dd)), "≥ 0.50", up/dd >= 0.5)
	rep.target("uploader peak RSS during the uploads", fmt.Sprintf("%.1f MiB", rss), "≤ 64 MiB", rss <= 64)
}

// gateCompare measures cases A, B, C, C0 and R (see gate) side by side
// with wrk, for a 4 KiB and a 16 MiB file, and adds their ratios.
func gateCompare(t *runner, s *testenv.Stack, wrk, cookie string, bob int64) {
	small := s.Put(t, "bob", "gate-small.pdf", pdf(4<<10))
	huge := s.Put(t, "bob", "gate-huge.pdf", pdf(16<<20))
	answers := map[string]http.Header{}
	for _, u := range []string{small, huge} {
		answers[u] = answerOf(t, s.AuthzURL, cookie, u)
	}
	off := s.AddAuthz(t, "AUTHZ_MEMORY_CACHE=off")
	down := s.AddAuthz(t, "REDIS_URL=redis://"+testenv.FreeAddr(t))
	upstreams := map[string]string{
		"B":  nothingAuthz(t, answers),
		"C":  strings.TrimPrefix(s.AuthzURL, "http://"),
		"C0": strings.TrimPrefix(off.URL, "http://"),
		"R":  strings.TrimPrefix(down.URL, "http://"),
	}
	names := map[string]string{
		"A":  "A: plain nginx location, no gate",
		"B":  "B: include + do-nothing authorizer",
		"C":  "C: include + authz, memory layer on",
		"C0": "C0: include + authz, AUTHZ_MEMORY_CACHE=off",
		"R":  "R: include + authz, Redis unreachable",
	}
	cases := gateCases
	if *baseline != "" {
		// The same two cases with authz built from another commit, in
		// the same rounds: what the change bought, side by side.
		upstreams["Cb"] = startBaseline(t, s, *baseline)
		upstreams["Rb"] = startBaseline(t, s, *baseline, "REDIS_URL=redis://"+testenv.FreeAddr(t))
		names["Cb"] = "Cb: C with the baseline authz"
		names["Rb"] = "Rb: R with the baseline authz"
		cases = append(slices.Clone(cases), "Cb", "Rb")
	}
	g := startGate(t, s, cases, upstreams)
	say("the gate, one nginx (2 workers, no access log), wrk -t2 -c32, side by side (%d rounds of %s per case, every other one in reverse order; mean req/s, worst p50/p99):\n", gateRounds, gateRound)
	for _, f := range []struct {
		label, url string
	}{{"4 KiB", small}, {"16 MiB", huge}} {
		res := sideBySide(t, wrk, g.urls, cases, f.url, cookie, 32, gateRound)
		say("  %s file:\n", f.label)
		if f.label == "4 KiB" {
			// One more round each for C and R, apart from the mean: a
			// profile costs authz a little CPU.
			for _, p := range []struct{ c, metrics string }{{"C", s.Authz.MetricsURL(t)}, {"R", down.Service.MetricsURL(t)}} {
				profiled(t, "authz-"+p.c, "authz in case "+p.c, p.metrics, dbName(s), gateRound, func() {
					runWrk(t, wrk, g.urls[p.c]+f.url, 32, gateRound, "Cookie: "+cookie)
				})
			}
		}
		for _, c := range cases {
			say("    %-44s %s\n", names[c], res[c])
			rep.row(f.label+" "+names[c], fmt.Sprintf("%.0f req/s, p99 %s", res[c].rps, ms(res[c].p99)))
		}
		r := func(a, b string) float64 { return res[a].rps / res[b].rps }
		say("    C/B %.2f  C0/B %.2f  C/A %.2f  R/B %.2f  C/C0 %.2f\n", r("C", "B"), r("C0", "B"), r("C", "A"), r("R", "B"), r("C", "C0"))
		if *baseline != "" {
			say("    against the baseline: C/Cb %.2f  R/Rb %.2f  Cb/B %.2f  Rb/B %.2f\n", r("C", "Cb"), r("R", "Rb"), r("Cb", "B"), r("Rb", "B"))
		}
		if f.label == "4 KiB" {
			rep.target("4 KiB C/B (memory layer on)", ratio(res["C"].rps, res["B"].rps), "≥ 0.85", r("C", "B") >= 0.85)
			rep.row("4 KiB C0/B (memory layer off)", ratio(res["C0"].rps, res["B"].rps))
			rep.row("4 KiB C/A", ratio(res["C"].rps, res["A"].rps))
			rep.target("4 KiB R/B (Redis down)", ratio(res["R"].rps, res["B"].rps), "≥ 0.40", r("R", "B") >= 0.40 && res["R"].non2xx == 0)
		} else {
			rep.target("16 MiB C/A (gated/plain)", ratio(res["C"].rps, res["A"].rps), "≥ 0.95", r("C", "A") >= 0.95)
			rep.row("16 MiB C/B, C0/A, R/A", fmt.Sprintf("%.2f, %.2f, %.2f", r("C", "B"), r("C0", "A"), r("R", "A")))
		}
	}
	say("\n")
}

// authzAlone asks authz directly at its peak (wrk) and then at half that
// rate, paced, next to the do-nothing authorizer's peak.
func authzAlone(t *runner, s *testenv.Stack, wrk, cookie, uri string) {
	nothing := "http://" + nothingAuthz(t, map[string]http.Header{uri: answerOf(t, s.AuthzURL, cookie, uri)})
	peak := runWrk(t, wrk, s.AuthzURL+"/auth", 16, 4*time.Second, "Cookie: "+cookie, authz.HeaderURI+": "+uri)
	floor := runWrk(t, wrk, nothing+"/auth", 16, 4*time.Second, "Cookie: "+cookie, authz.HeaderURI+": "+uri)
	// At half of authz's peak, authz and the do-nothing authorizer side by
	// side, with the same lean open-loop client: what the do-nothing one
	// shows is the machine's and the client's share of the latency. The
	// garbage collections authz ran meanwhile, and their pauses, come
	// from its metrics.
	metricsURL := s.Authz.MetricsURL(t)
	gc0 := testenv.Scrape(t, metricsURL)
	before := cpuNow(dbName(s))
	half, lag, svc := paced(s.AuthzURL, cookie, uri, peak.rps/2, 4*time.Second)
	use := cpuNow(dbName(s)).since(before)
	gc1 := testenv.Scrape(t, metricsURL)
	floorHalf, floorLag, floorSvc := paced(nothing, cookie, uri, peak.rps/2, 4*time.Second)
	n0, p0 := gcPauses(gc0)
	n1, p1 := gcPauses(gc1)
	gcs, pause := n1-n0, p1-p0
	say("authz alone (wrk -t2 -c16 on /auth, decision from memory), then paced at half its peak (lean client, open loop, latency from when each request was due):\n")
	say("  %-38s %s\n", "authz at its peak", peak)
	say("  %-38s %s\n", "do-nothing authorizer at its peak", floor)
	say("  %-38s %s (asked for %.0f req/s)\n", "authz at half its peak", half, peak.rps/2)
	say("  %-38s p50 %7s  p99 %7s\n", "  the client sent late by", lag.p(50).Round(time.Microsecond), lag.p(99).Round(time.Microsecond))
	say("  %-38s p50 %7s  p99 %7s\n", "  from sending to the answer", svc.p(50).Round(time.Microsecond), svc.p(99).Round(time.Microsecond))
	say("  %-38s %s\n", "do-nothing authorizer, the same rate", floorHalf)
	say("  %-38s p50 %7s  p99 %7s\n", "  the client sent late by", floorLag.p(50).Round(time.Microsecond), floorLag.p(99).Round(time.Microsecond))
	say("  %-38s p50 %7s  p99 %7s\n", "  from sending to the answer", floorSvc.p(50).Round(time.Microsecond), floorSvc.p(99).Round(time.Microsecond))
	say("  authz meanwhile: %d garbage collections, %s of pauses in all; CPU seconds per second: %s\n\n", gcs, pause.Round(time.Microsecond), use)
	rep.row("authz alone, peak (do-nothing authorizer)", fmt.Sprintf("%.0f req/s, p50 %s, p99 %s (%.0f req/s)", peak.rps, ms(peak.p50), ms(peak.p99), floor.rps))
	rep.target("authz at half its peak", fmt.Sprintf("%.0f req/s, p50 %s, p99 %s", half.rps(), ms(half.p(50)), ms(half.p(99))), "p99 ≤ 1 ms", half.p(99) <= time.Millisecond && half.errors == 0)
	rep.row("authz at half its peak: the client's lateness; sending to answer", fmt.Sprintf("p99 %s; p50 %s, p99 %s", ms(lag.p(99)), ms(svc.p(50)), ms(svc.p(99))))
	rep.row("do-nothing authorizer at that rate", fmt.Sprintf("p50 %s, p99 %s", ms(floorHalf.p(50)), ms(floorHalf.p(99))))
}

// gcPauses reads, from a scrape of a Go binary's metrics, how many
// garbage collections it has run and their stop-the-world pauses in all.
func gcPauses(m testenv.Metrics) (int, time.Duration) {
	for _, metric := range m["go_gc_duration_seconds"].GetMetric() {
		if sum := metric.GetSummary(); sum != nil {
			return int(sum.GetSampleCount()), time.Duration(sum.GetSampleSum() * float64(time.Second))
		}
	}
	return 0, 0
}

// scale measures the home page and /api/files on a second stack whose
// database holds 1,000,000 files, half the viewer's, half a public
// user's.
func scale(t *runner) {
	const n = 1_000_000
	s := testenv.Start(t, testenv.Options{})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "bench-password"})
	bob := s.AddUser(t, testenv.User{Name: "bob", Password: "bench-password", Public: true})
	took := seedFiles(t, s, alice, bob, n)
	cookie := s.Cookie(t, alice).String()
	page(s.URL+"/", cookie, "text/html", 300*time.Millisecond) // warm
	home := page(s.URL+"/", cookie, "text/html", 3*time.Second)
	api := page(s.URL+"/api/files", cookie, "application/json", 3*time.Second)
	say("lists with %d files in the database (seeded in %s), one client through nginx:\n", n, took.Round(100*time.Millisecond))
	say("  %-38s %s\n", "home page (/)", home)
	say("  %-38s %s\n", "/api/files", api)
	rep.target("home page, 1,000,000 files", fmt.Sprintf("p50 %s, p99 %s", ms(home.p(50)), ms(home.p(99))), "p99 ≤ 20 ms", home.p(99) <= 20*time.Millisecond && home.errors == 0)
	rep.row("/api/files, 1,000,000 files", fmt.Sprintf("p50 %s, p99 %s", ms(api.p(50)), ms(api.p(99))))
}

// pdf returns n bytes that sniff as a PDF.
func pdf(n int) []byte {
	b := bytes.Repeat([]byte("filegate "), n/9+1)[:n]
	copy(b, "%PDF-1.4\n")
	return b
}

// startStreamingApp serves /files/{owner}/{name} the way an app without
// X-Accel-Redirect does: decide from the session cookie and the database
// on every request, then copy the file through the process.
func startStreamingApp(t *runner, s *testenv.Stack) string {
	db, err := postgres.Open(s.DatabaseURL)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { db.Close() })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := s.Sessions.FromRequest(r)
		owner, name, ok := filegate.ParseFileURI(r.URL.Path)
		if err != nil || !ok {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		key := filegate.FactsKey{ViewerID: claims.UserID, SessionHash: claims.TokenHash, OwnerID: owner, StoredName: name}
		facts, err := db.Facts(r.Context(), key)
		if err != nil || policy.Decide(facts, time.Now(), false) != policy.Allow {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		f, err := os.Open(filepath.Join(s.PrivateRoot, facts.File.Path))
		if err != nil {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", facts.File.ContentType)
		// Hide ReaderFrom/WriterTo so the copy goes through user space, as
		// it does in app servers that stream a file object.
		io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{f}, make([]byte, 64<<10))
	})
	return "http://" + serve(t, h)
}

// serve answers with h on a free local port until the run ends and
// returns its address (host:port).
func serve(t *runner, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// behindNginx puts a reverse proxy in front of the app at addr, as such an
// app is deployed, so both contestants pay for one nginx in front.
func behindNginx(t *runner, app string) string {
	dir := t.TempDir()
	listen := testenv.FreeAddr(t)
	conf := fmt.Sprintf(`worker_processes 1;
pid nginx.pid;
error_log error.log;
events { worker_connections 1024; }
http {
    access_log access.log;
    proxy_temp_path proxy_temp;
    client_body_temp_path client_body_temp;
    upstream app { server %s; keepalive 16; }
    server {
        listen %s;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, strings.TrimPrefix(app, "http://"), listen)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatalf("%v", err)
	}
	cmd := exec.Command(testenv.NginxPath(t), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start proxy nginx: %v", err)
	}
	// SIGTERM, not a kill: a killed master leaves its workers running.
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	for range 100 {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "http://" + listen
}

// result is one measurement.
type result struct {
	n       int
	bytes   int64
	elapsed time.Duration
	lat     []time.Duration
	errors  int
}

func (r result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r result) p(q int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[(len(r.lat)-1)*q/100]
}

func (r result) String() string {
	s := fmt.Sprintf("%8.0f req/s", r.rps())
	if r.bytes > 0 {
		s += fmt.Sprintf("  %7.1f MiB/s", float64(r.bytes)/(1<<20)/r.elapsed.Seconds())
	}
	s += fmt.Sprintf("  p50 %7s  p99 %7s", r.p(50).Round(time.Microsecond), r.p(99).Round(time.Microsecond))
	if r.errors > 0 {
		s += fmt.Sprintf("  (%d unexpected answers)", r.errors)
	}
	return s
}

// hammer runs do from c goroutines for d and collects latencies; do
// returns the bytes received and whether the answer was the expected one.
func hammer(c int, d time.Duration, do func(i int) (int64, bool)) result {
	var (
		col collector
		wg  sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += c {
				t0 := time.Now()
				n, ok := do(i)
				col.add(time.Since(t0), n, ok)
			}
		}()
	}
	wg.Wait()
	return col.result(start)
}

// collector gathers the answers of concurrent clients into a result.
type collector struct {
	mu  sync.Mutex
	res result
}

// add counts one answer: its latency, its bytes, whether it was the
// expected one.
func (c *collector) add(lat time.Duration, n int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.n++
	c.res.bytes += n
	c.res.lat = append(c.res.lat, lat)
	if !ok {
		c.res.errors++
	}
}

// result ends the measurement that began at start.
func (c *collector) result(start time.Time) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res.elapsed = time.Since(start)
	slices.Sort(c.res.lat)
	return c.res
}

func client(c int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c, DisableCompression: true}}
}

func load(t *runner, url, cookie string, c int, d time.Duration) result {
	return get(url, cookie, "", c, d)
}

// get GETs url from c clients for d, with the cookie and Accept header
// when given, expecting 200.
func get(url, cookie, accept string, c int, d time.Duration) result {
	cl := client(c)
	defer cl.CloseIdleConnections()
	return hammer(c, d, func(int) (int64, bool) {
		req, _ := http.NewRequest("GET", url, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		n, _ := io.Copy(io.Discard, resp.Body)
		return n, resp.StatusCode == 200
	})
}

// logins posts failed logins to the uploader directly, as its trusted
// proxy: with fresh, each attempt names another client address in
// X-Real-IP, so the login throttle never steps in and every attempt pays
// for bcrypt; without, every attempt comes from one address, which the
// throttle refuses (429) after its first five failures.
func logins(base, user, password string, fresh bool) result {
	cl := client(1)
	defer cl.CloseIdleConnections()
	var addrs atomic.Uint32
	return hammer(1, duration/4, func(int) (int64, bool) {
		form := url.Values{"username": {user}, "password": {password}}
		req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		ip := uint32(10 << 24)
		if fresh {
			ip += addrs.Add(1)
		}
		req.Header.Set("X-Real-IP", netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}).String())
		resp, err := cl.Do(req)
		if err != nil {
			return 0, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want := http.StatusTooManyRequests
		if fresh {
			want = http.StatusUnauthorized
		}
		return 0, resp.StatusCode == want
	})
}

// decisions asks the authz at authzURL directly, with the headers nginx
// sends.
func decisions(t *runner, authzURL, cookie string, uri func(int) string) result {
	cl := client(concurrency)
	defer cl.CloseIdleConnections()
	return hammer(concurrency, duration/2, func(i int) (int64, bool) {
		req, _ := http.NewRequest("GET", authzURL+"/auth", nil)
		req.Header.Set("Cookie", cookie)
		req.Header.Set(authz.HeaderURI, uri(i))
		resp, err := cl.Do(req)
		if err != nil {
			return 0, false
		}
		resp.Body.Close()
		return 0, resp.StatusCode == 200 || resp.StatusCode == 403
	})
}

// changes flips bob's files public and private with POST /settings
// through nginx, one change at a time, for d (at least one change).
func changes(s *testenv.Stack, cookie string, d time.Duration) result {
	cl := client(1)
	defer cl.CloseIdleConnections()
	return hammer(1, d, func(i int) (int64, bool) {
		form := url.Values{"is_public": {fmt.Sprint(i%2 == 1)}}
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/settings", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Cookie", cookie)
		resp, err := cl.Do(req)
		if err != nil {
			return 0, false
		}
		resp.Body.Close()
		return 0, resp.StatusCode == 200
	})
}

// leases waits until n authz processes hold a lease: they answer from
// memory, and every change waits for them.
func leases(t *runner, s *testenv.Stack, n int64) {
	rdb := testenv.RedisClient(t)
	for start := time.Now(); rdb.ZCard(context.Background(), cache.KeyPrefix(s.RedisPrefix)+"m:leases").Val() < n; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d authz processes never held leases", n)
		}
	}
}

// uploadRSS stores a file of size bytes with `uploader put` and returns
// the process's peak resident memory in MiB. The file is generated on disk
// first, so only the upload itself is measured.
func uploadRSS(t *runner, s *testenv.Stack, dir string, size int64) float64 {
	path := filepath.Join(dir, fmt.Sprintf("upload-%d.pdf", size))
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	chunk := pdf(1 << 20)
	for left := size; left > 0; left -= int64(len(chunk)) {
		f.Write(chunk[:min(int64(len(chunk)), left)])
	}
	f.Close()
	defer os.Remove(path)
	cmd := s.Command(t, "put", "alice", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("uploader put: %v\n%s", err, out)
	}
	return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}

// runner gives testenv what it needs from a test outside `go test`.
type runner struct{ cleanups []func() }

type fatal string

func (r *runner) Helper()                           {}
func (r *runner) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }
func (r *runner) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (r *runner) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }
func (r *runner) Failed() bool                      { return false }

func (r *runner) TempDir() string {
	dir, err := os.MkdirTemp("", "filegate-bench-")
	if err != nil {
		r.Fatalf("%v", err)
	}
	r.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (r *runner) cleanup() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}
