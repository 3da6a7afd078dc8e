package web

import (
	"bytes"
	"io"
	"mime/multipart"
	"strings"
	"testing"
)

// FuzzHeaderLimit checks headerLimit against mime/multipart itself: no
// part that the parser hands out from behind the limit has more header
// bytes than the limit allows, whatever the body. The limit is small here
// so that short inputs reach it; `go test` runs the seeds, `go test
// -fuzz=FuzzHeaderLimit ./internal/web` searches for more.
func FuzzHeaderLimit(f *testing.F) {
	long := strings.Repeat("h", 100)
	for _, seed := range []string{
		"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nbody\r\n--b--\r\n",
		"--b\r\nX: " + long + "\r\n\r\nbody\r\n--b--\r\n",
		"--b\nX: " + long + "\n\nbody\n--b--\n",
		"pre\r\namble\n--b\nX: " + long + "\n\nbody\n--b--\n",
		"--b\r\nA: b\r\n\r\n--b\r\nX: " + long + "\r\n\r\n\r\n--b--\r\n",
		"--b\r\nA: b\r\n\r\nx\n--bb" + long + "\r\n--b\r\nX: " + long + "\r\n\r\n--b--",
		"--b \t\r\nA: b\r\n\r\nx\r\n--b\t\r\nX: " + long + "\r\n\r\n--b--",
		"--b\r\nA: b\r\n" + strings.Repeat("X: y\r\n", 40) + "\r\nbody\r\n--b--\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		const maxBytes = 64
		limit := newHeaderLimit(bytes.NewReader(body), "b", maxBytes)
		mr := multipart.NewReader(limit, "b")
		for {
			part, err := mr.NextPart()
			if err != nil {
				return
			}
			size := 0
			for k, vs := range part.Header {
				for _, v := range vs {
					size += len(k) + len(v) + len(": \n")
				}
			}
			if size > maxBytes {
				t.Fatalf("a part with %d bytes of headers passed a limit of %d: %q", size, maxBytes, part.Header)
			}
			io.Copy(io.Discard, part)
		}
	})
}
