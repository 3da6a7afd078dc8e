package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

func TestCLI(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	fails := func(stdin string, args ...string) string {
		t.Helper()
		out, err := d.TryCLI(t, stdin, args...)
		if err == nil {
			t.Errorf("uploader %s succeeded, want an error:\n%s", strings.Join(args, " "), out)
		}
		return out
	}
	if out := fails("pw-long-enough\n", "user", "add", "alice", "--password-stdin"); !strings.Contains(out, `"alice" already exists`) {
		t.Errorf("duplicate user: %s", out)
	}
	if out := fails("short\n", "user", "add", "carol", "--password-stdin"); !strings.Contains(out, "at least 8 characters") {
		t.Errorf("short password: %s", out)
	}
	if out := fails("", "user", "set", "nobody", "--public=true"); !strings.Contains(out, `no user "nobody"`) {
		t.Errorf("unknown user: %s", out)
	}
	fails("", "user", "set", "bob", "--public=perhaps")
	if out := d.CLI(t, "", "migrate"); !strings.Contains(out, "up to date") {
		t.Errorf("second migrate: %s", out)
	}

	// Both servers refuse to start without good session keys, and say why.
	for _, keys := range []string{"", "abcd:ef01"} {
		for _, bin := range [][]string{{"authz"}, {"uploader", "serve"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			cmd := exec.CommandContext(ctx, testenv.Binary(t, bin[0]), bin[1:]...)
			cmd.Env = append(append(os.Environ(), d.Env...), "FILEGATE_SESSION_KEYS="+keys, "AUTHZ_ADDR=127.0.0.1:0", "UPLOADER_ADDR=127.0.0.1:0")
			out, err := cmd.CombinedOutput()
			timedOut := ctx.Err() != nil
			cancel()
			if err == nil || timedOut || !strings.Contains(string(out), "FILEGATE_SESSION_KEYS") {
				t.Errorf("%s with keys %q: %v\n%s", bin[0], keys, err, out)
			}
		}
	}

	// put: one good file and one disguised HTML file; the good one is
	// stored and printed, the bad one gets its sentence, the exit is non-zero.
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "ok.txt"), filepath.Join(dir, "evil.pdf")
	os.WriteFile(good, []byte("plain words\n"), 0o644)
	os.WriteFile(bad, []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), 0o644)
	out := fails("", "put", "alice", good, bad)
	if !strings.Contains(out, fileURL(d.alice, "ok.txt")) || !strings.Contains(out, "evil.pdf: error:") || !strings.Contains(out, `"evil.pdf" is a web page (HTML), not a PDF.`) {
		t.Errorf("put output:\n%s", out)
	}

	// sweep: a file nobody recorded is reported, and removed with --apply.
	orphan := filepath.Join(d.PrivateRoot, strconv.FormatInt(d.alice, 10), "orphan.txt")
	os.WriteFile(orphan, []byte("x"), 0o640)
	// Younger files may be uploads about to commit; sweep leaves those.
	hourAgo := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(orphan, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	if out := d.CLI(t, "", "sweep"); !strings.Contains(out, "file without row: "+strconv.FormatInt(d.alice, 10)+"/orphan.txt") {
		t.Errorf("sweep:\n%s", out)
	}
	d.CLI(t, "", "sweep", "--apply")
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("sweep --apply left %s: %v", orphan, err)
	}
	if out := d.CLI(t, "", "sweep"); !strings.Contains(out, "0 files without rows, 0 rows without files") {
		t.Errorf("sweep after apply:\n%s", out)
	}
}
