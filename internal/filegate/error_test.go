package filegate_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

// A wrapped cause reaches the log and errors.Is/As, never the user; the
// code and message are found under the callers' own fmt.Errorf context.
func TestWrap(t *testing.T) {
	const msg = "There is no space left to store this file."
	cause := &fs.PathError{Op: "write", Path: "/srv/private/7/.upload-1f2e", Err: syscall.ENOSPC}
	err := fmt.Errorf("ingest: put: write: %w", filegate.Wrap(filegate.ENOSPACE, msg, cause))

	if got := filegate.ErrorCode(err); got != filegate.ENOSPACE {
		t.Errorf("ErrorCode = %q, want %q", got, filegate.ENOSPACE)
	}
	if got := filegate.ErrorMessage(err); got != msg {
		t.Errorf("ErrorMessage = %q, want only %q", got, msg)
	}
	want := "ingest: put: write: filegate: no_space: " + msg + ": write /srv/private/7/.upload-1f2e: no space left on device"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Error("errors.Is(err, ENOSPC) = false through Wrap")
	}
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) || pathErr != cause {
		t.Errorf("errors.As(*fs.PathError) = %v, want the cause", pathErr)
	}
	var e *filegate.Error
	if !errors.As(err, &e) || e.Err != cause || errors.Unwrap(e) != cause {
		t.Errorf("errors.As(*filegate.Error) = %#v, want one holding the cause", e)
	}

	canceled := fmt.Errorf("reading upload: %w", filegate.Wrap(filegate.EINVALID, "The upload was interrupted.", context.Canceled))
	if !errors.Is(canceled, context.Canceled) {
		t.Error("errors.Is(err, context.Canceled) = false through Wrap")
	}
}

// Without a cause, Error() is the code and message alone.
func TestErrorWithoutCause(t *testing.T) {
	for _, err := range []error{
		filegate.Errorf(filegate.ENOTFOUND, "No such %s.", "user"),
		filegate.Wrap(filegate.ENOTFOUND, "No such user.", nil),
	} {
		if got, want := err.Error(), "filegate: not_found: No such user."; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		if errors.Unwrap(err) != nil {
			t.Errorf("Unwrap(%v) = %v, want nil", err, errors.Unwrap(err))
		}
	}
}

// Errors without an *Error in their chain are internal and say nothing.
func TestInternalError(t *testing.T) {
	err := fmt.Errorf("postgres: facts: %w", errors.New(`pq: relation "files" does not exist`))
	if got := filegate.ErrorCode(err); got != filegate.EINTERNAL {
		t.Errorf("ErrorCode = %q, want %q", got, filegate.EINTERNAL)
	}
	if got := filegate.ErrorMessage(err); got != "Internal error." {
		t.Errorf("ErrorMessage = %q, want the generic sentence", got)
	}
	if filegate.ErrorCode(nil) != "" || filegate.ErrorMessage(nil) != "" {
		t.Error("a nil error has a code or message")
	}
}
