package audit

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
)

// Std is the FILEGATE_AUDIT_LOG value that sends the lines to a stream of
// the process's own (standard output) instead of a file.
const Std = "-"

// File is where a binary's audit lines go (FILEGATE_AUDIT_LOG,
// docs/interface.md#audit-log): a file it appends to, or a stream of its
// own. It is safe for concurrent use.
type File struct {
	path string // "" for a stream

	mu sync.Mutex
	w  io.Writer // f, or the stream
	f  *os.File  // nil for a stream
}

// Open returns the audit log FILEGATE_AUDIT_LOG names: std for Std ("-"),
// else the file at path, created with mode 0600 when missing (an existing
// file keeps its mode) and only ever appended to.
//
// Both binaries may append to the same file. Each Write is one write(2)
// on a descriptor opened with O_APPEND, and Logger hands a File each line
// with one Write: lines of different processes never interleave or
// overwrite each other.
func Open(path string, std io.Writer) (*File, error) {
	if path == Std {
		return &File{w: std}, nil
	}
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, w: f, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return f, nil
}

// Write writes p, one whole line, with one write(2).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w.Write(p)
}

// Reopen opens the file's path again and writes there from now on, for
// rotation: whoever renamed the file (logrotate) then signals the binary
// (ReopenOn). When the path cannot be opened, the old file stays in use
// and the error is returned: no line is lost to a failed rotation. A
// stream has nothing to reopen.
func (f *File) Reopen() error {
	if f.path == "" {
		return nil
	}
	nf, err := openAppend(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	old := f.f
	f.w, f.f = nf, nf
	f.mu.Unlock()
	return old.Close()
}

// ReopenOn reopens the file whenever the process receives one of sigs
// (SIGHUP in both binaries), logging a failure to log, until stop is
// called. For a stream it does nothing, so the signals keep their
// default effect.
func (f *File) ReopenOn(log *slog.Logger, sigs ...os.Signal) (stop func()) {
	if f.path == "" {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	// Registered before ReopenOn returns: a signal sent after it is
	// caught, never the default action that ends the process.
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := f.Reopen(); err != nil {
					log.Error("audit log: cannot reopen; still writing to the old file", "err", err)
				} else {
					log.Info("audit log reopened", "path", f.path)
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}

// Close closes the file; a stream is left open.
func (f *File) Close() error {
	if f.path == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
