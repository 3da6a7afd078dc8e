package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/audit"
)

func TestLog(t *testing.T) {
	var buf bytes.Buffer
	audit.New(&buf).Log(context.Background(), audit.Event{Action: "link.download", Outcome: audit.Failure, Reason: "expired",
		LinkID: 7, FileID: 3, SourceIP: netip.MustParseAddr("::ffff:192.0.2.1"), RequestID: "abc123", Duration: time.Millisecond})
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	want := map[string]any{"msg": "audit", "event.action": "link.download", "event.outcome": "failure", "event.reason": "expired",
		"link.id": 7.0, "file.id": 3.0, "source.ip": "192.0.2.1", "http.request.id": "abc123", "duration": 1e6}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if _, ok := got["user.id"]; ok {
		t.Error("a zero user id is logged")
	}
	var none *audit.Logger
	none.Log(context.Background(), audit.Event{Action: "x"}) // a nil Logger writes nothing, and does not panic
}

func TestRequestID(t *testing.T) {
	for h, want := range map[string]string{
		"0123456789abcdef0123456789abcdef":    "0123456789abcdef0123456789abcdef",
		"":                                    "",
		"a\nfake=line":                        "",
		"x y":                                 "",
		string(bytes.Repeat([]byte("a"), 65)): "",
	} {
		if got := audit.RequestID(h); got != want {
			t.Errorf("RequestID(%q) = %q, want %q", h, got, want)
		}
	}
}

// An empty outcome follows the reason; a share change says which way it
// went, a logout whether it ended every session.
func TestLogDerived(t *testing.T) {
	var buf bytes.Buffer
	log := audit.New(&buf)
	public := false
	log.Log(context.Background(), audit.Event{Action: "user.share", UserID: 2, Public: &public})
	log.Log(context.Background(), audit.Event{Action: "user.login", Reason: "throttled"})
	log.Log(context.Background(), audit.Event{Action: "user.logout", UserID: 2, Everywhere: true})
	log.Log(context.Background(), audit.Event{Action: "user.logout", UserID: 2})
	var got []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 4 || got[0]["event.outcome"] != "success" || got[0]["user.public"] != false ||
		got[1]["event.outcome"] != "failure" || got[2]["session.everywhere"] != true {
		t.Errorf("lines %v", got)
	}
	if _, ok := got[3]["session.everywhere"]; ok {
		t.Error("a logout of one session says everywhere")
	}
	if _, ok := got[1]["user.public"]; ok {
		t.Error("a login names a share state")
	}
}

// What Log writes, Parse reads back, field for field.
func TestParse(t *testing.T) {
	public := true
	for _, e := range []audit.Event{
		{Action: "file.download", Outcome: audit.Failure, Reason: "deny", UserID: 3, FileID: 9,
			SourceIP: netip.MustParseAddr("2001:db8::1"), RequestID: "abc", Duration: 1500 * time.Microsecond},
		{Action: "link.download", Outcome: audit.Success, LinkID: 4, FileID: 9, SourceIP: netip.MustParseAddr("192.0.2.7")},
		{Action: "user.share", Outcome: audit.Success, UserID: 3, Public: &public},
		{Action: "user.logout", Outcome: audit.Success, UserID: 3, Everywhere: true},
	} {
		var buf bytes.Buffer
		before := time.Now()
		audit.New(&buf).Log(context.Background(), e)
		rec, err := audit.Parse(bytes.TrimSpace(buf.Bytes()))
		if err != nil {
			t.Fatalf("%s: %v", buf.String(), err)
		}
		if rec.Time.Before(before.Add(-time.Second)) || rec.Time.After(time.Now()) {
			t.Errorf("time %v", rec.Time)
		}
		got := rec.Event
		if got.Public != nil && e.Public != nil && *got.Public == *e.Public {
			got.Public = e.Public
		}
		if got != e {
			t.Errorf("read back %+v, wrote %+v", got, e)
		}
	}
	for _, bad := range []string{
		`not json`,
		`{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"something else","event.action":"x"}`,
		`{"time":"2025-01-01T00:00:00Z","msg":"audit"}`,
		`{"time":"2025-01-01T00:00:00Z","msg":"audit","event.action":"x","user.id":"three"}`,
		`{"time":"2025-01-01T00:00:00Z","msg":"audit","event.action":"x","source.ip":"nowhere"}`,
	} {
		if _, err := audit.Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%s): no error", bad)
		}
	}
}

// An account change names whom it was made to, apart from who made it.
func TestLogTarget(t *testing.T) {
	var buf bytes.Buffer
	audit.New(&buf).Log(context.Background(), audit.Event{Action: "user.remove", Outcome: audit.Success, UserID: 3, TargetUserID: 9})
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["user.id"] != 3.0 || got["user.target.id"] != 9.0 {
		t.Errorf("line %v", got)
	}
}
