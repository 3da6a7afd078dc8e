package filegate

import (
	"errors"
	"fmt"
)

// Error codes. Each adapter maps them to its protocol in one table (see
// internal/web for HTTP); anything without a code is EINTERNAL, whose
// details are logged and never shown.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ETOOLARGE     = "too_large"
	EUNSUPPORTED  = "unsupported_type"
	ENOSPACE      = "no_space"
	EUNAVAILABLE  = "unavailable"
	ETHROTTLED    = "throttled" // too many failed attempts; try again later
	EQUOTA        = "quota_exceeded"
	EGONE         = "gone" // existed, but no longer usable: an expired, revoked or used-up share link
)

// Error is an error meant for the user. Message is a human sentence that
// is safe to show; Err is the cause, for the log only (it may name hosts,
// paths or SQL). The two never mix: ErrorMessage returns Message alone.
type Error struct {
	Code    string
	Message string
	Err     error // the cause; nil for an error that starts here
}

// Error returns the code, the message and the cause, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("filegate: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("filegate: %s: %s", e.Code, e.Message)
}

// Unwrap returns the cause, so errors.Is and errors.As see through.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message and
// no cause.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error that shows msg to the user under code and keeps
// err as its cause for the log.
func Wrap(code, msg string, err error) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EINTERNAL when there is none. A nil error has no code.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human sentence of the first *Error in err's
// chain, or a generic sentence that reveals nothing about internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
