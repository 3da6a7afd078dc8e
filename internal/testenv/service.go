package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Service is one process of a stack (authz, the uploader, nginx). Tests
// that need a process to die, or to shut down, and come back use it; the
// stack stops whatever still runs when the test ends.
type Service struct {
	name, dir, addr string // addr: where it listens, awaited on Restart
	path            string
	args, env       []string
	log             *os.File // name.log in dir, shared by every run

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited; exit is then set
	exit error
}

// startService runs a service until the test ends; its output goes to
// dir/name.log, which is printed if the test fails.
func startService(t T, dir, name, addr string, env []string, path string, args ...string) *Service {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p := &Service{name: name, dir: dir, addr: addr, path: path, args: args, env: env, log: logFile}
	p.start(t)
	t.Cleanup(func() {
		p.Stop()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- %s log ---\n%s", name, tail(b, 4000))
			}
		}
	})
	return p
}

func (p *Service) start(t T) {
	t.Helper()
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// Should the test binary die without cleaning up (a timeout, a kill),
	// the kernel stops the service too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.exit = cmd, done, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exit = err
		p.mu.Unlock()
		close(done)
	}()
}

// Output returns what the process (every run of it) has written to its
// standard output and error so far.
func (p *Service) Output(t T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, p.name+".log"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return b
}

// PID is the process id of the running (or last) process.
func (p *Service) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Signal sends sig to the process: SIGTERM asks for a graceful shutdown,
// SIGKILL is a crash.
func (p *Service) Signal(t T, sig os.Signal) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("testenv: signal %s: %v", p.name, err)
	}
}

// Wait waits up to timeout for the process to exit and returns how it
// exited (nil: status 0); exited is false when it still runs.
func (p *Service) Wait(timeout time.Duration) (exit error, exited bool) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.exit, true
	case <-time.After(timeout):
		return nil, false
	}
}

// Kill kills the process with SIGKILL, as a crash or the OOM killer
// would, and waits until it is gone.
func (p *Service) Kill(t T) {
	t.Helper()
	p.Signal(t, syscall.SIGKILL)
	if _, exited := p.Wait(10 * time.Second); !exited {
		t.Fatalf("testenv: %s survived SIGKILL", p.name)
	}
}

// Stop asks the process to shut down (SIGTERM), kills it after ten
// seconds, and waits until it is gone. A process already gone is left
// alone.
func (p *Service) Stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if _, exited := p.Wait(0); exited {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if _, exited := p.Wait(10 * time.Second); !exited {
		cmd.Process.Kill()
		p.Wait(time.Minute)
	}
}

// loggedAddr returns the address the last run of the binary logged as
// where it listens ("authz listening addr=…", "uploader metrics
// listening …"), waiting up to 15 seconds for the line, as the binary
// logs it just after it listens.
func (p *Service) loggedAddr(t T, what string) string {
	t.Helper()
	// The binary names itself in the line: a replica's too ("authz", not
	// "authz2").
	re := regexp.MustCompile(`"?` + regexp.QuoteMeta(filepath.Base(p.path)+" "+what) + `"?.*?\baddr"?[=:]"?([^\s"]+)`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if all := re.FindAllSubmatch(p.Output(t), -1); len(all) > 0 {
			return string(all[len(all)-1][1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s logged no address (%s):\n%s", p.name, what, tail(p.Output(t), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listening waits until the process, started with port 0 in its
// variable addrVar ("AUTHZ_ADDR"), logs the address it got, and returns
// it. Later runs (Restart) get that address too, so that nginx finds
// them where it found the first. A port chosen before the process starts
// could be taken by another process before it binds it.
func (p *Service) listening(t T, addrVar string) string {
	t.Helper()
	p.addr = p.loggedAddr(t, "listening")
	p.env = append(p.env, addrVar+"="+p.addr)
	return p.addr
}

// Restart starts the process again, with the same configuration and
// address plus env ("NAME=value", which win over what it had, for this
// run and every later one), once the last one has exited, and waits
// until it listens.
func (p *Service) Restart(t T, env ...string) {
	t.Helper()
	if _, exited := p.Wait(10 * time.Second); !exited {
		t.Fatalf("testenv: restart %s: it still runs", p.name)
	}
	p.env = append(p.env, env...)
	p.start(t)
	if p.addr != "" {
		waitListening(t, p.dir, p.addr)
	}
}
