package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/audit"
)

// readLines returns the audit lines of the file at path, decoded; a line
// that is no JSON object fails the test.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: broken line %q…: %v", path, sc.Text()[:min(len(sc.Text()), 200)], err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestOpenStd(t *testing.T) {
	var std bytes.Buffer
	f, err := audit.Open("-", &std)
	if err != nil {
		t.Fatal(err)
	}
	audit.New(f).Log(context.Background(), audit.Event{Action: "user.login", UserID: 3})
	if err := f.Reopen(); err != nil {
		t.Errorf("Reopen of a stream: %v", err)
	}
	f.Close()
	f.ReopenOn(slog.New(slog.DiscardHandler), syscall.SIGHUP)() // nothing to stop, no panic
	if !strings.Contains(std.String(), `"event.action":"user.login"`) || strings.Count(std.String(), "\n") != 1 {
		t.Errorf("the stream got %q, want one line", std.String())
	}
}

// The file is created 0600 and only appended to: what it held stays.
func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	audit.New(f).Log(context.Background(), audit.Event{Action: "first"})
	f.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", st.Mode(), err)
	}
	f, err = audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	audit.New(f).Log(context.Background(), audit.Event{Action: "second"})
	f.Close()
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0]["event.action"] != "first" || lines[1]["event.action"] != "second" {
		t.Errorf("lines %v, want first then second", lines)
	}
	if _, err := audit.Open(filepath.Join(t.TempDir(), "no", "such", "dir"), nil); err == nil || !strings.HasPrefix(err.Error(), "audit log: ") {
		t.Errorf("Open in a missing folder: %v, want an error naming the audit log", err)
	}
}

// Rotation: after a rename, Reopen starts a new file at the path; lines
// written before are in the old one, none lost. A path that cannot be
// opened leaves the old file in use.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	f, err := audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := audit.New(f)
	log.Log(context.Background(), audit.Event{Action: "before"})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	log.Log(context.Background(), audit.Event{Action: "renamed"}) // still the old file, as for a process not yet signalled
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Log(context.Background(), audit.Event{Action: "after"})
	if old, cur := readLines(t, path+".1"), readLines(t, path); len(old) != 2 || old[1]["event.action"] != "renamed" ||
		len(cur) != 1 || cur[0]["event.action"] != "after" {
		t.Errorf("old file %v, new file %v", old, cur)
	}

	// The file moved out of a folder that is then removed: its path
	// cannot be created again.
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.Mkdir(gone, 0o700); err != nil {
		t.Fatal(err)
	}
	g, err := audit.Open(filepath.Join(gone, "audit.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := os.Rename(filepath.Join(gone, "audit.log"), filepath.Join(dir, "moved.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if err := g.Reopen(); err == nil {
		t.Fatal("Reopen in a removed folder: no error")
	}
	audit.New(g).Log(context.Background(), audit.Event{Action: "kept"})
	if lines := readLines(t, filepath.Join(dir, "moved.log")); len(lines) != 1 || lines[0]["event.action"] != "kept" {
		t.Errorf("after a failed reopen the line went elsewhere: %v", lines)
	}
}

// SIGHUP to the process reopens the file and does not end the process.
func TestReopenOnSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	f, err := audit.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := f.ReopenOn(slog.New(slog.DiscardHandler), syscall.SIGHUP)
	defer stop()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The reopen runs on its own goroutine: wait for the new file.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("no new file 5s after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	audit.New(f).Log(context.Background(), audit.Event{Action: "after"})
	if lines := readLines(t, path); len(lines) != 1 {
		t.Errorf("new file %v, want the line written after SIGHUP", lines)
	}
}

// Processes appending to one file never interleave their lines: the
// helper (this test binary run again) writes lines of 4 KiB and more,
// larger than a pipe's atomic write, from several goroutines in each of
// three processes at once.
func TestConcurrentAppend(t *testing.T) {
	if path := os.Getenv("AUDIT_TEST_APPEND"); path != "" {
		appendLines(path)
		return
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentAppend$")
			cmd.Env = append(os.Environ(), "AUDIT_TEST_APPEND="+path)
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("%v\n%s", err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lines := readLines(t, path) // fails on any torn line
	if len(lines) != 3*appendWriters*appendLinesEach {
		t.Errorf("%d lines, want %d", len(lines), 3*appendWriters*appendLinesEach)
	}
}

const appendWriters, appendLinesEach = 4, 200

// appendLines writes appendWriters×appendLinesEach long lines to the file
// at path, each through its own Logger on one File.
func appendLines(path string) {
	f, err := audit.Open(path, nil)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for range appendWriters {
		wg.Go(func() {
			log := audit.New(f)
			for range appendLinesEach {
				// A long reason makes each line about 4.6 KiB.
				log.Log(context.Background(), audit.Event{Action: "file.download", Reason: strings.Repeat("x", 4500)})
			}
		})
	}
	wg.Wait()
}

// The cost of one download's line, written to a file: authz pays it on
// every decision.
func BenchmarkLogToFile(b *testing.B) {
	f, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	log := audit.New(f)
	e := audit.Event{Action: "file.download", Outcome: audit.Success, UserID: 12345, FileID: 678901,
		SourceIP: netip.MustParseAddr("203.0.113.9"), RequestID: "0123456789abcdef0123456789abcdef", Duration: 1234567}
	for b.Loop() {
		log.Log(context.Background(), e)
	}
}
