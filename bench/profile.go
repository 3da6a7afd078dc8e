package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// keepProfiles is where profiled keeps the profiles it takes (-profiles),
// for a closer look with go tool pprof; they are deleted when empty.
var keepProfiles = flag.String("profiles", "", "folder to keep the CPU profiles in (authz-C.pprof, …); none kept when empty")

// profiled runs work (a load of about d) while it takes a CPU profile of
// the process whose metrics listener is at metricsURL (FILEGATE_PPROF),
// and prints the profile's top functions and where the machine's CPU went
// meanwhile, by process (cpuSnap.since). name names the profile's file,
// what the case in the output.
func profiled(t *runner, name, what, metricsURL, db string, d time.Duration, work func()) {
	dir := *keepProfiles
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name+".pprof")
	done := make(chan error, 1)
	go func() { done <- fetchProfile(metricsURL, path, d) }()
	before := cpuNow(db)
	work()
	use := cpuNow(db).since(before)
	if err := <-done; err != nil {
		t.Fatalf("profile %s: %v", what, err)
	}
	say("  CPU profile of %s (%s), go tool pprof -top:\n", what, d)
	for _, line := range pprofTop(t, path, 12) {
		say("    %s\n", line)
	}
	say("  where the cores went meanwhile (CPU seconds per second): %s\n", use)
}

// fetchProfile writes a CPU profile of d, from the process whose metrics
// listener is at metricsURL, to path.
func fetchProfile(metricsURL, path string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsURL, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s (is FILEGATE_PPROF on?)", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop returns the header and the first n lines of go tool pprof -top
// for the profile at path: the functions that burned the most CPU
// themselves, with their cumulative share.
func pprofTop(t *runner, path string, n int) []string {
	out, err := exec.Command("go", "tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n), path).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The file, build id and type lines say nothing a reader needs.
		if !strings.HasPrefix(l, "File:") && !strings.HasPrefix(l, "Build ID:") && !strings.HasPrefix(l, "Type:") &&
			!strings.HasPrefix(l, "Time:") && !strings.HasPrefix(l, "Showing top") && !strings.HasPrefix(l, "Dropped") {
			lines = append(lines, l)
		}
	}
	return lines
}

// cpuSnap is the CPU time (user and system) every process had used at
// one moment, summed by group (cpuGroup), and the machine's busy time.
type cpuSnap struct {
	at    time.Time
	group map[string]time.Duration
	busy  time.Duration
}

// clockTick is the unit of /proc's CPU times (USER_HZ), 100 on every
// Linux Go runs on.
const clockTick = 10 * time.Millisecond

// cpuNow reads every process's CPU time from /proc. Only the bench's own
// processes and their children (nginx's workers) count by name, and of
// PostgreSQL only the backends of db, the stack's database: other
// sessions' tests on the machine run authz, nginx and PostgreSQL too, and
// count as "other" (Redis is one server for all).
func cpuNow(db string) cpuSnap {
	s := cpuSnap{at: time.Now(), group: map[string]time.Duration{}}
	type proc struct {
		comm, cmdline string
		ppid          int
		cpu           time.Duration
	}
	procs := map[int]proc{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// comm is in parentheses and may hold spaces; the fields after it
		// are numbers: the parent's pid is the 2nd, utime and stime the
		// 12th and 13th.
		i, j := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(string(stat[j+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		procs[pid] = proc{comm: string(stat[i+1 : j]), cmdline: string(cmdline), ppid: ppid, cpu: time.Duration(utime+stime) * clockTick}
	}
	self := os.Getpid()
	for pid, p := range procs {
		ours := pid == self || p.ppid == self || procs[p.ppid].ppid == self
		s.group[cpuGroup(p.comm, p.cmdline, db, ours)] += p.cpu
	}
	// wrk's time shows once the bench has waited for it, in its own
	// children's time (cutime, cstime): the services it started are
	// waited for only when they exit.
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		if j := strings.LastIndexByte(string(stat), ')'); j > 0 {
			if f := strings.Fields(string(stat[j+1:])); len(f) >= 15 {
				cu, _ := strconv.ParseInt(f[13], 10, 64)
				cs, _ := strconv.ParseInt(f[14], 10, 64)
				s.group["wrk"] += time.Duration(cu+cs) * clockTick
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu  user nice system idle iowait irq softirq steal ...
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		for k := 1; k < len(f); k++ {
			if k == 4 || k == 5 { // idle, iowait
				continue
			}
			v, _ := strconv.ParseInt(f[k], 10, 64)
			s.busy += time.Duration(v) * clockTick
		}
	}
	return s
}

// cpuGroup names the group a process's CPU time counts in: the bench's
// own processes (ours) by name, Redis, this database's PostgreSQL
// backends, and "other" for the rest.
func cpuGroup(comm, cmdline, db string, ours bool) string {
	switch comm {
	case "authz", "authz-base", "nginx", "uploader", "bench":
		if ours {
			return comm
		}
	case "redis-server":
		return comm
	case "postgres":
		if strings.Contains(cmdline, " "+db+" ") {
			return "postgres"
		}
	}
	return "other"
}

// since is the CPU each group used between before and s, in CPU seconds
// per second of wall time, largest first, and the machine's total.
func (s cpuSnap) since(before cpuSnap) string {
	wall := s.at.Sub(before.at).Seconds()
	type use struct {
		name  string
		cores float64
	}
	var uses []use
	var known float64
	for name, t := range s.group {
		if name == "other" {
			continue
		}
		if c := (t - before.group[name]).Seconds() / wall; c >= 0.005 {
			uses = append(uses, use{name, c})
			known += c
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return int(1000*b.cores) - int(1000*a.cores) })
	var parts []string
	for _, u := range uses {
		parts = append(parts, fmt.Sprintf("%s %.2f", u.name, u.cores))
	}
	busy := (s.busy - before.busy).Seconds() / wall
	// The kernel's time outside any process (softirqs of the loopback
	// traffic) and other sessions' processes are the rest of busy.
	parts = append(parts, fmt.Sprintf("the rest %.2f", max(0, busy-known)), fmt.Sprintf("busy %.2f of %d", busy, runtime.NumCPU()))
	return strings.Join(parts, ", ")
}

// dbName is the name of the stack's database, as its PostgreSQL backends
// show it.
func dbName(s *testenv.Stack) string {
	u, err := url.Parse(s.DatabaseURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}
