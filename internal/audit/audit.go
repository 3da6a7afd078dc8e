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
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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
	mu sync.Mutex // one Write at a time, as slog's handler did
	w  io.Writer
}

// New returns a Logger writing JSON lines to w: the lines of log/slog's
// JSON handler at level INFO with the message "audit" (TestSlogFormat
// proves them byte for byte), one Write each.
func New(w io.Writer) *Logger {
	return &Logger{w: w}
}

// Log writes e. authz logs every download, so a line is formatted by hand
// into a pooled buffer rather than through slog's generic handler, which
// cost authz a third of its decision path.
func (l *Logger) Log(_ context.Context, e Event) {
	if l == nil {
		return
	}
	b := lineBufs.Get().(*[]byte)
	*b = appendLine((*b)[:0], time.Now(), e)
	l.mu.Lock()
	l.w.Write(*b) // as with slog, a failed write is not the caller's to handle
	l.mu.Unlock()
	if cap(*b) <= maxPooledLine {
		lineBufs.Put(b)
	}
}

// lineBufs holds buffers for Log's lines; one longer than maxPooledLine
// is left to the garbage collector.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledLine = 16 << 10

// appendLine appends e's line, written at t, to buf: the time, level and
// message first, as slog writes them, then the fields that are set, in a
// fixed order, then a newline.
func appendLine(buf []byte, t time.Time, e Event) []byte {
	if e.Outcome == "" {
		e.Outcome = Success
		if e.Reason != "" {
			e.Outcome = Failure
		}
	}
	buf = append(buf, `{"time":"`...)
	buf = t.Round(0).AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","level":"INFO","msg":"`+message+`"`...)
	buf = appendString(buf, keyAction, e.Action)
	buf = appendString(buf, keyOutcome, e.Outcome)
	if e.Reason != "" {
		buf = appendString(buf, keyReason, e.Reason)
	}
	for _, id := range [...]struct {
		key string
		v   int64
	}{{keyUser, e.UserID}, {keyTargetUser, e.TargetUserID}, {keyFile, e.FileID}, {keyLink, e.LinkID}} {
		if id.v != 0 {
			buf = strconv.AppendInt(appendKey(buf, id.key), id.v, 10)
		}
	}
	if ip := e.SourceIP.Unmap(); ip.Zone() != "" {
		buf = appendString(buf, keySourceIP, ip.String()) // a zone may hold anything
	} else if ip.IsValid() {
		buf = append(ip.AppendTo(append(appendKey(buf, keySourceIP), '"')), '"') // digits, dots, hex and colons
	}
	if e.RequestID != "" {
		buf = appendString(buf, keyRequestID, e.RequestID)
	}
	if e.Duration != 0 {
		buf = strconv.AppendInt(appendKey(buf, keyDuration), int64(e.Duration), 10)
	}
	if e.Public != nil {
		buf = strconv.AppendBool(appendKey(buf, keyPublic), *e.Public)
	}
	if e.Everywhere {
		buf = strconv.AppendBool(appendKey(buf, keyEverywhere), true)
	}
	return append(buf, "}\n"...)
}

// appendKey appends `,"key":`; every key is a constant that needs no
// escaping.
func appendKey(buf []byte, key string) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, key...)
	return append(buf, '"', ':')
}

// appendString appends `,"key":"v"` with v escaped as slog escapes
// strings: control characters, the quote and the backslash escaped,
// invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped.
func appendString(buf []byte, key, v string) []byte {
	buf = append(appendKey(buf, key), '"')
	start := 0
	for i := 0; i < len(v); {
		if b := v[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			buf = append(buf, v[start:i]...)
			switch b {
			case '"', '\\':
				buf = append(buf, '\\', b)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(v[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			buf = append(append(buf, v[start:i]...), `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			buf = append(append(buf, v[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf = append(buf, v[start:]...)
	return append(buf, '"')
}

const hexDigits = "0123456789abcdef"

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
