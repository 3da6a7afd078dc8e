package audit

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Log writes exactly the lines log/slog's JSON handler wrote before it
// formatted them itself (and that `uploader audit` and every log shipper
// read): byte for byte, for events with every field, none, and strings
// that need escaping (quotes, control characters, invalid UTF-8, U+2028,
// HTML's special characters, which slog leaves as they are).
func TestSlogFormat(t *testing.T) {
	public, private := true, false
	events := []Event{
		{Action: "file.download"},
		{Action: "file.download", UserID: 3, FileID: 9, SourceIP: netip.MustParseAddr("::ffff:192.0.2.1"),
			RequestID: "0123456789abcdef", Duration: 1234567},
		{Action: "link.download", Outcome: Failure, Reason: "expired", LinkID: 7, FileID: 3,
			SourceIP: netip.MustParseAddr("2001:db8::1"), Duration: time.Millisecond},
		{Action: "user.share", UserID: 2, Public: &public},
		{Action: "user.share", UserID: 2, Public: &private},
		{Action: "user.logout", UserID: 2, Everywhere: true},
		{Action: "user.remove", UserID: -1, TargetUserID: 1 << 62},
		{Action: "x", Reason: "quote \" backslash \\ newline \n cr \r tab \t nul \x00 esc \x1b del \x7f <a href='x'>&amp;</a>"},
		{Action: "utf-8: é ü 日本 \U0001F600, separators \u2028 \u2029, invalid \xff\xfe \xc3( end \xe2\x82"},
		{Action: "zone", SourceIP: netip.MustParseAddr("fe80::1%eth0\"x")},
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rnd.IntN(40))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
			if rnd.IntN(3) == 0 {
				b[i] = byte(rnd.IntN(0x30)) // mostly escapes
			}
		}
		events = append(events, Event{Action: string(b), Reason: string(b[len(b)/2:]), RequestID: string(b[:len(b)/2]),
			UserID: rnd.Int64N(1000) - 10, Duration: time.Duration(rnd.Int64())})
	}
	at := time.Date(2026, 11, 27, 10, 4, 5, 123456789, time.UTC)
	for _, e := range events {
		got := appendLine(nil, at, e)
		want := slogLine(t, at, e)
		if !bytes.Equal(got, want) {
			t.Fatalf("event %+v:\n got %s\nwant %s", e, got, want)
		}
	}
	// And through Log, with the time it stamps.
	var buf bytes.Buffer
	New(&buf).Log(context.Background(), events[2])
	rec, err := Parse(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if err != nil || time.Since(rec.Time) > time.Minute || rec.LinkID != 7 || rec.Reason != "expired" || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("Log wrote %q: %+v, %v", buf.String(), rec, err)
	}
}

// slogLine is the line slog's JSON handler writes for e at t, with the
// attributes Log gave it before it formatted lines itself.
func slogLine(t *testing.T, at time.Time, e Event) []byte {
	t.Helper()
	if e.Outcome == "" {
		e.Outcome = Success
		if e.Reason != "" {
			e.Outcome = Failure
		}
	}
	attrs := []slog.Attr{slog.String(keyAction, e.Action), slog.String(keyOutcome, e.Outcome)}
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
	var buf bytes.Buffer
	r := slog.NewRecord(at, slog.LevelInfo, message, 0)
	r.AddAttrs(attrs...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
