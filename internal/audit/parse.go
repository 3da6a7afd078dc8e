package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Record is one line of the audit log as read back: when it was written,
// and its event.
type Record struct {
	Time time.Time
	Event
}

var errNotAudit = errors.New("not an audit line")

// Parse reads one line a Logger wrote, for `uploader audit`. A line that
// is no JSON object, or not an audit line, or whose fields have the wrong
// types, is an error.
func Parse(line []byte) (Record, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return Record{}, fmt.Errorf("audit line: %w", err)
	}
	var rec Record
	var msg, ip string
	var dur int64
	var public bool
	for _, f := range []struct {
		key string
		v   any
	}{
		{slog.MessageKey, &msg}, {slog.TimeKey, &rec.Time}, {keyAction, &rec.Action}, {keyOutcome, &rec.Outcome},
		{keyReason, &rec.Reason}, {keyUser, &rec.UserID}, {keyTargetUser, &rec.TargetUserID}, {keyFile, &rec.FileID},
		{keyLink, &rec.LinkID},
		{keySourceIP, &ip}, {keyRequestID, &rec.RequestID}, {keyDuration, &dur}, {keyPublic, &public},
		{keyEverywhere, &rec.Everywhere},
	} {
		if raw, ok := m[f.key]; ok {
			if err := json.Unmarshal(raw, f.v); err != nil {
				return Record{}, fmt.Errorf("audit line: %s: %w", f.key, err)
			}
		}
	}
	if msg != message || rec.Action == "" {
		return Record{}, errNotAudit
	}
	if ip != "" {
		var err error
		if rec.SourceIP, err = netip.ParseAddr(ip); err != nil {
			return Record{}, fmt.Errorf("audit line: %s: %w", keySourceIP, err)
		}
	}
	rec.Duration = time.Duration(dur)
	if _, ok := m[keyPublic]; ok {
		rec.Public = &public
	}
	return rec, nil
}
