package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// Valid requests whose Host authz's HTTP server would refuse still get
// their file: nginx sends authz a fixed Host of its own, never the
// client's. An HTTP/1.0 request may come without Host, and nginx accepts
// a Host such as `a"b` that Go answers with 400; either used to reach
// authz and come back as a 503, even for the owner.
func TestAuthzHostIsFixed(t *testing.T) {
	d := newDemo(t, testenv.Options{})
	host := strings.TrimPrefix(d.URL, "http://")
	owner, stranger := d.Cookie(t, d.alice), d.Cookie(t, d.bob)
	for _, tt := range []struct {
		name, head string // head: request line and Host, without the final CRLF
	}{
		{"HTTP/1.0 without Host", "GET " + d.aliceURL + " HTTP/1.0"},
		{"HTTP/1.0 with Host a\"b", "GET " + d.aliceURL + " HTTP/1.0\r\nHost: a\"b"},
		{"HTTP/1.1 with Host a\"b", "GET " + d.aliceURL + " HTTP/1.1\r\nHost: a\"b"},
		{"HTTP/1.1 with Host a{b}", "GET " + d.aliceURL + " HTTP/1.1\r\nHost: a{b}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, host, tt.head+"\r\nCookie: "+owner.String()+"\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 200 || !bytes.Equal(body, d.aliceBytes) {
				t.Errorf("owner: %d %.60q, want 200 with her file", resp.StatusCode, body)
			}
			resp, body = rawRequest(t, host, tt.head+"\r\nCookie: "+stranger.String()+"\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 403 || bytes.Contains(body, d.aliceBytes) {
				t.Errorf("stranger: %d %.60q, want 403", resp.StatusCode, body)
			}
		})
	}
}

// rawRequest sends req to addr byte for byte, as no Go client would
// (HTTP/1.0, no Host, odd Host values), and reads one response.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%.60q: %v", req, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
