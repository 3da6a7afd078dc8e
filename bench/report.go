package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// report collects the run's summary table; everything printed also goes
// into the detail section of bench/results.md.
type report struct {
	out   bytes.Buffer
	rows  []string
	start time.Time
	load  string // /proc/loadavg when the run started
}

var rep = &report{start: time.Now(), load: loadavg()}

// say prints like fmt.Printf and keeps the text for results.md.
func say(format string, args ...any) {
	fmt.Fprintf(io.MultiWriter(os.Stdout, &rep.out), format, args...)
}

// row adds a line to the summary table: what was measured, the value, and
// for a target, the target and whether the run met it.
func (r *report) row(what, value string) {
	r.rows = append(r.rows, fmt.Sprintf("| %s | %s | | |", what, value))
}

func (r *report) target(what, value, target string, met bool) {
	verdict := "**no**"
	if met {
		verdict = "yes"
	}
	r.rows = append(r.rows, fmt.Sprintf("| %s | %s | %s | %s |", what, value, target, verdict))
}

func (r *report) table() string {
	return "| measurement | this run | target | met |\n|---|---|---|---|\n" + strings.Join(r.rows, "\n") + "\n"
}

// write prints the table and writes bench/results.md.
func (r *report) write() {
	head := fmt.Sprintf("Run %s (%s), %d cores: %s\nCommit %s. Load average at the start %s, at the end %s.\n",
		r.start.UTC().Format("2006-01-02 15:04 MST"), time.Since(r.start).Round(time.Second), runtime.NumCPU(), cpuModel(), commit(), r.load, loadavg())
	fmt.Printf("\n%s\n%s", head, r.table())
	md := "# `make bench` results\n\nWritten by `make bench` (bench/main.go); docs/performance.md reads them.\n\n" + head + "\n" + r.table() +
		"\n## Everything it printed\n\n```\n" + r.out.String() + "```\n"
	path := filepath.Join(testenv.RepoRoot(), "bench", "results.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// commit is the checked-out commit, marked when the tree has changes.
func commit() string {
	root := testenv.RepoRoot()
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	// results.md itself is rewritten by every run.
	dirty, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--", ".", ":!bench/results.md").Output()
	if len(bytes.TrimSpace(dirty)) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

func ratio(a, b float64) string { return fmt.Sprintf("%.2f", a/b) }

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
