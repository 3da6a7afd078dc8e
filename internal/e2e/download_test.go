package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"path"
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
func TestAuthzHostIsFixed(t *testing.T) { forEachBackend(t, authzHostIsFixed) }

func authzHostIsFixed(t *testing.T, storage string) {
	d := newDemo(t, testenv.Options{Storage: storage})
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

// A download's file name ends in the extension of the type the bytes were
// detected as, the one its stored name ends in: a PDF uploaded as
// invoice.html, saved by a browser and opened from disk, opens as a PDF.
func TestServedNameHasTypeExtension(t *testing.T) { forEachBackend(t, servedNameHasTypeExtension) }

func servedNameHasTypeExtension(t *testing.T, storage string) {
	s := testenv.Start(t, testenv.Options{Storage: storage})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})
	d := &demo{Stack: s, alice: alice, cookies: map[int64]*http.Cookie{}}
	pdf := []byte("%PDF-1.4\nnot a page\n%%EOF\n")
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 17)...)
	for _, tt := range []struct {
		upload, served, disposition string
		data                        []byte
	}{
		{"invoice.html", "invoice.html.pdf", "attachment", pdf},
		{"invoice.pdf.bat", "invoice.pdf.bat.pdf", "attachment", pdf},
		{"report.PDF", "report.PDF", "attachment", pdf},
		{"photo.vbs", "photo.vbs.png", "inline", png},
		{"photo.png", "photo.png", "inline", png},
		{"README", "README.txt", "attachment", []byte("read me\n")},
		{"page.html", "page.html.txt", "attachment", []byte("plain words, no markup\n")},
	} {
		url := s.Put(t, "alice", tt.upload, tt.data)
		resp, body := d.get(t, alice, "GET", url)
		want := tt.disposition + `; filename="` + tt.served + `"; filename*=UTF-8''` + tt.served
		if got := resp.Header.Values("Content-Disposition"); resp.StatusCode != 200 || len(got) != 1 || got[0] != want {
			t.Errorf("%s (stored at %s): %d, Content-Disposition %q, want exactly [%q]", tt.upload, url, resp.StatusCode, got, want)
		}
		if !bytes.Equal(body, tt.data) {
			t.Errorf("%s: body %.40q, want the upload", tt.upload, body)
		}
		// The stored name and the served name end in the same extension.
		if ext := path.Ext(url); !strings.HasSuffix(strings.ToLower(tt.served), ext) {
			t.Errorf("%s: stored at %s, served as %s", tt.upload, url, tt.served)
		}
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
