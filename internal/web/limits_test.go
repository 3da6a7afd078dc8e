package web_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/filegate/filegate/internal/web"
)

// withMaxFiles is a with the limit of files per request set to n.
func (a *testApp) withMaxFiles(n int) *testApp {
	srv := &web.Server{Store: a.db, Files: a.in, Sessions: a.sessions, Log: slog.New(slog.NewTextHandler(a.t.Output(), nil)),
		PageSize: testPageSize, MaxFilesPerRequest: n}
	b := *a
	b.h = srv.Handler()
	return &b
}

// uploadResults decodes a 201 upload answer.
func uploadResults(t *testing.T, r response) []map[string]any {
	t.Helper()
	wantStatus(t, r, http.StatusCreated)
	var got []map[string]any
	r.decode(t, &got)
	return got
}

func TestUploadFilesPerRequest(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	var parts []part
	for i := range web.DefaultMaxFilesPerRequest + 1 {
		parts = append(parts, part{"file", fmt.Sprintf("f%02d.pdf", i), pdfData})
	}
	got := uploadResults(t, a.upload(&alice, true, parts...))
	if len(got) != web.DefaultMaxFilesPerRequest+1 {
		t.Fatalf("%d results, want %d", len(got), web.DefaultMaxFilesPerRequest+1)
	}
	for _, res := range got[:web.DefaultMaxFilesPerRequest] {
		if res["error"] != nil || res["url"] == nil {
			t.Errorf("within the limit: %v", res)
		}
	}
	last := got[web.DefaultMaxFilesPerRequest]
	if last["name"] != "f20.pdf" || last["error"] != "Only 20 files can be uploaded at once; this one was not stored." || len(last) != 2 {
		t.Errorf("past the limit: %v", last)
	}
	if n := a.fileCount(); n != web.DefaultMaxFilesPerRequest {
		t.Errorf("%d files stored, want %d", n, web.DefaultMaxFilesPerRequest)
	}
}

// A body of many tiny parts with long names: the answer names each file
// by its display name (at most 255 bytes) and lists at most 100 parts
// past the limit; the rest of the body is not read.
func TestUploadManyPartsStaysSmall(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	b := a.withMaxFiles(3)
	longName := strings.Repeat("ä", 5000) + ".pdf" // 10 KiB, headers still under 16 KiB
	var parts []part
	for i := range 2000 {
		data := htmlData // refused by type
		if i == 0 {
			data = pdfData
		}
		parts = append(parts, part{"file", fmt.Sprintf("%d-%s", i, longName), data})
	}
	body, ct := multipartBody(t, parts...)
	size := body.(*bytes.Buffer).Len()
	counted := &countingReader{r: body}
	r := b.do(request{method: "POST", target: "/upload", as: &alice, json: true, body: counted, contentType: ct})
	got := uploadResults(t, r)
	if len(got) != 3+100 {
		t.Errorf("%d results for 2000 parts, want 3 and 100 more", len(got))
	}
	for _, res := range got {
		if name := res["name"].(string); len(name) > 255 {
			t.Fatalf("a result names a file with %d bytes", len(name))
		}
	}
	if len(r.body) > 256<<10 {
		t.Errorf("answer of %d KiB to a %d KiB request", len(r.body)>>10, size>>10)
	}
	if counted.n > int64(size)/4 {
		t.Errorf("read %d KiB of a %d KiB body after the last listed part", counted.n>>10, size>>10)
	}
	t.Logf("2000 parts, %d KiB: answer %d KiB, %d KiB read", size>>10, len(r.body)>>10, counted.n>>10)
	if n := a.fileCount(); n != 1 {
		t.Errorf("%d files stored, want 1", n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Raw multipart bodies for the header limit. A part's headers (the
// boundary line's rest, then the header lines up to the empty line) may
// take 16 KiB; mime/multipart would take 10 MiB.
func TestUploadPartHeaderLimit(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	const pdf = "%PDF-1.4\n%%EOF\n"
	file := func(nl, name, pad string) string {
		return "Content-Disposition: form-data; name=\"file\"; filename=\"" + name + "\"" + nl +
			"X-Pad: " + pad + nl + nl
	}
	pad := func(n int) string { return strings.Repeat("p", n) }
	const tooLarge = "A part of the upload has headers larger than 16 KiB."
	tests := []struct {
		name, body string
		status     int
		msg        string // the error sentence, for a 400
	}{
		{"headers under the limit", "--b\r\n" + file("\r\n", "a.pdf", pad(15<<10)) + pdf + "\r\n--b--\r\n", http.StatusCreated, ""},
		{"headers over the limit", "--b\r\n" + file("\r\n", "a.pdf", pad(16<<10)) + pdf + "\r\n--b--\r\n", http.StatusBadRequest, tooLarge},
		{"a name of a megabyte", "--b\r\n" + file("\r\n", pad(1<<20)+".pdf", "") + pdf + "\r\n--b--\r\n", http.StatusBadRequest, tooLarge},
		{"bare line feeds", "--b\n" + file("\n", "a.pdf", pad(20<<10)) + pdf + "\n--b--\n", http.StatusBadRequest, tooLarge},
		{"after a preamble", "preamble\r\nmore\r\n--b\r\n" + file("\r\n", "a.pdf", pad(20<<10)) + pdf + "\r\n--b--\r\n", http.StatusBadRequest, tooLarge},
		{"after a preamble with bare line feeds", "preamble\n--b\n" + file("\n", "a.pdf", pad(20<<10)) + pdf + "\n--b--\n", http.StatusBadRequest, tooLarge},
		{"many short header lines", "--b\r\n" + strings.Repeat("X-A: b\r\n", 4<<10) + file("\r\n", "a.pdf", "x") + pdf + "\r\n--b--\r\n", http.StatusBadRequest, tooLarge},
		{"second part, after an empty one", "--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n--b\r\n" +
			file("\r\n", "a.pdf", pad(20<<10)) + pdf + "\r\n--b--\r\n", http.StatusBadRequest, tooLarge},
		{"second file", "--b\r\n" + file("\r\n", "a.pdf", "") + "%PDF-1.4\r\n--b\r\n" + file("\r\n", "b.pdf", pad(20<<10)) + pdf + "\r\n--b--\r\n",
			http.StatusCreated, ""}, // a.pdf is stored: the request succeeded
		// mime/multipart refuses a boundary line over 4 KiB itself.
		{"boundary line padded", "--b" + strings.Repeat(" ", 20<<10) + "\r\n" + file("\r\n", "a.pdf", "") + pdf + "\r\n--b--\r\n",
			http.StatusBadRequest, "The upload was cut off or is not a valid multipart form."},
		{"a file holding the boundary text", "--b\r\n" + file("\r\n", "a.pdf", "") + pdf + "\n--bb" + pad(20<<10) + "\r\n--b--\r\n", http.StatusCreated, ""},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, one byte per read %t", tt.name, oneByte), func(t *testing.T) {
				before := a.fileCount()
				var body io.Reader = strings.NewReader(tt.body)
				if oneByte {
					body = iotest.OneByteReader(body)
				}
				r := a.do(request{method: "POST", target: "/upload", as: &alice, json: true,
					body: body, contentType: "multipart/form-data; boundary=b"})
				wantStatus(t, r, tt.status)
				stored := a.fileCount() - before
				if tt.status == http.StatusBadRequest {
					if msg := r.errorSentence(t); msg != tt.msg {
						t.Errorf("sentence %q, want %q", msg, tt.msg)
					}
					if stored != 0 {
						t.Errorf("%d files stored", stored)
					}
				} else if stored != 1 {
					t.Errorf("%d files stored, want 1", stored)
				}
				if len(r.body) > 4<<10 {
					t.Errorf("answer of %d bytes", len(r.body))
				}
			})
		}
	}
}
