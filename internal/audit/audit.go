// Package audit writes the audit log: one JSON line per event that
// grants, changes or uses access, with ECS-style field names
// (event.action, event.outcome, user.id, user.target.id, file.id,
// link.id, source.ip, http.request.id, duration), so that "who downloaded this file?" is a
// grep away. An event never carries a cookie, password, token or key:
// Event has no field that could hold one.
package audit

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Outcomes of an event.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one line of the audit log. Zero fields are left out.
type Event struct {
	Action    string // what happened: "file.download", "file.upload", "user.login", "link.create", …
	Outcome   string // Success or Failure; "" is Failure with a Reason, else Success
	Reason    string // why, for a failure: "expired", "revoked", "used_up", "not_found", "password", …
	UserID    int64  // who acted, when logged in
	FileID    int64
	LinkID    int64
	SourceIP  netip.Addr    // the client's address as nginx saw it
	RequestID string        // nginx's $request_id (RequestID)
	Duration  time.Duration // how long the decision or change took
	// Public is the state a share change ("user.share") set: true when
	// the user's files became public.
	Public *bool
	// Everywhere: a logout ended every session of the user, not only the
	// one asking.
	Everywhere bool

	// TargetUserID is the user an account change was made to
	// (user.target.id): whom staff or the operator created, changed,
	// logged out or removed. UserID is who did it (0: the CLI).
	TargetUserID int64
}

// The keys of a line (ECS field names where ECS has one), which Log
// writes and Parse reads, and the message of every line.
const (
	keyAction     = "event.action"
	keyOutcome    = "event.outcome"
	keyReason     = "event.reason"
	keyUser       = "user.id"
	keyTargetUser = "user.target.id"
	keyFile       = "file.id"
	keyLink       = "link.id"
	keySourceIP   = "source.ip"
	keyRequestID  = "http.request.id"
	keyDuration   = "duration"
	keyPublic     = "user.public"
	keyEverywhere = "session.everywhere"
	message       = "audit"
)

// Logger writes events. A nil *Logger writes nothing.
type Logger struct {
	log *slog.Logger
}

// New returns a Logger writing JSON lines to w.
func New(w io.Writer) *Logger {
	return &Logger{log: slog.New(slog.NewJSONHandler(w, nil))}
}

// Log writes e.
func (l *Logger) Log(ctx context.Context, e Event) {
	if l == nil {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	if e.Outcome == "" {
		e.Outcome = Success
		if e.Reason != "" {
			e.Outcome = Failure
		}
	}
	attrs = append(attrs, slog.String(keyAction, e.Action), slog.String(keyOutcome, e.Outcome))
	if e.Reason != "" {
		attrs = append(attrs, slog.String(keyReason, e.Reason))
	}
	for _, id := range []struct {
		key string
		v   int64
	}{{keyUser, e.UserID}, {keyTargetUser, e.TargetUserID}, {keyFile, e.FileID}, {keyLink, e.LinkID}} {
		if id.v != 0 {
			attrs = append(attrs, slog.Int64(id.key, id.v))
		}
	}
	if e.SourceIP.IsValid() {
		attrs = append(attrs, slog.String(keySourceIP, e.SourceIP.Unmap().String()))
	}
	if e.RequestID != "" {
		attrs = append(attrs, slog.String(keyRequestID, e.RequestID))
	}
	if e.Duration != 0 {
		attrs = append(attrs, slog.Duration(keyDuration, e.Duration))
	}
	if e.Public != nil {
		attrs = append(attrs, slog.Bool(keyPublic, *e.Public))
	}
	if e.Everywhere {
		attrs = append(attrs, slog.Bool(keyEverywhere, true))
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, message, attrs...)
}

// HeaderRequestID is the header nginx passes its $request_id in.
const HeaderRequestID = "X-Request-Id"

// RequestID returns the request id a header carried, if it looks like
// one nginx makes (at most 64 letters, digits and dashes): the header is
// the client's word wherever nginx did not set it, and must not smuggle
// anything into the log.
func RequestID(h string) string {
	if len(h) == 0 || len(h) > 64 || strings.ContainsFunc(h, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
	}) {
		return ""
	}
	return h
}
