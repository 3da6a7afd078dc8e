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
