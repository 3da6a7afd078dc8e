package web

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/filegate/filegate/internal/filegate"
)

// maxPartHeaderBytes bounds the header block of each part of an upload
// (docs/interface.md#uploads). mime/multipart allows 10 MiB of headers per
// part and holds them in memory while it parses them; sixty uploads with
// such headers held 824 MiB. The browser's headers for a file are a few
// hundred bytes.
const maxPartHeaderBytes = 16 << 10

// bodyBufferSize is the buffer an upload's body is read through; each
// upload in progress holds one.
const bodyBufferSize = 64 << 10

var (
	errMalformed   = filegate.Errorf(filegate.EINVALID, "The upload was cut off or is not a valid multipart form.")
	errPartHeaders = filegate.Errorf(filegate.EINVALID, "A part of the upload has headers larger than 16 KiB.")
)

// partReader is a multipart reader over r's body whose parts' headers are
// limited to maxPartHeaderBytes before mime/multipart reads them.
type partReader struct {
	*multipart.Reader
	limit *headerLimit
}

// newPartReader returns the reader of r's multipart/form-data body, or
// errMalformed for any other body.
func newPartReader(r *http.Request) (*partReader, error) {
	typ, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	boundary := params["boundary"]
	// ParseMediaType never returns a line break in a value; headerLimit
	// relies on that, so it is checked here rather than assumed.
	if err != nil || typ != "multipart/form-data" || boundary == "" || strings.ContainsAny(boundary, "\r\n") {
		return nil, errMalformed
	}
	// mime/multipart reads through a 4 KiB buffer: without one of its
	// own below it, every 4 KiB of an upload was a read(2).
	limit := newHeaderLimit(bufio.NewReaderSize(r.Body, bodyBufferSize), boundary, maxPartHeaderBytes)
	return &partReader{Reader: multipart.NewReader(limit, boundary), limit: limit}, nil
}

// streamError names why NextPart failed with err: a part's headers were
// too large, or the body is not valid multipart.
func (pr *partReader) streamError(err error) error {
	if pr.limit.exceeded {
		return errPartHeaders
	}
	return errMalformed
}

// headerLimit passes a multipart body through unchanged and fails it as
// soon as the rest of a part's boundary line, or the part's header block,
// passes maxBytes, so mime/multipart, reading behind it through a 4 KiB
// buffer, never holds more than about maxBytes of one part's headers.
//
// It follows the parser from outside, without buffering: a part's headers
// begin after a line that starts with "--" and the boundary and end at the
// first empty line ("\n" or "\r\n"), as in mime/multipart. It looks for
// "\n--boundary" followed by one of "- \t\r\n", which every boundary
// mime/multipart accepts has (with CRLF or bare LF line endings), counting
// the start of the body and of each part's body as after a line break,
// since a boundary may stand there too. Taking more places for a boundary
// than the parser does can only cost an upload that holds the boundary
// text a 400; taking fewer would let headers through unbounded.
type headerLimit struct {
	r        io.Reader
	delim    []byte // "\n--" + boundary; its only '\n' is its first byte
	maxBytes int

	state   int  // inBody, atBoundaryEnd, inBoundaryLine or inHeader
	matched int  // inBody: bytes of delim matched up to here
	n       int  // inBoundaryLine, inHeader: bytes of this part's boundary line or headers so far
	line    int  // inHeader: bytes of the current line, without its '\n'
	first   byte // inHeader: the current line's first byte

	exceeded bool
}

// newHeaderLimit limits the header blocks of the parts of body r, whose
// boundary (never holding a line break) is boundary, to maxBytes bytes each.
func newHeaderLimit(r io.Reader, boundary string, maxBytes int) *headerLimit {
	// matched 1: the body starts as if after a line break.
	return &headerLimit{r: r, delim: []byte("\n--" + boundary), maxBytes: maxBytes, matched: 1}
}

const (
	inBody         = iota
	atBoundaryEnd  // after "\n--boundary": a boundary only if "- \t\r\n" follows
	inBoundaryLine // the rest of a boundary line
	inHeader
)

func (h *headerLimit) Read(p []byte) (int, error) {
	if h.exceeded {
		return 0, errPartHeaders
	}
	n, err := h.r.Read(p)
	if !h.scan(p[:n]) {
		h.exceeded = true
		return 0, errPartHeaders
	}
	return n, err
}

// scan follows p through the body and reports whether every header
// block so far is within maxBytes.
func (h *headerLimit) scan(p []byte) bool {
	for len(p) > 0 {
		switch h.state {
		case inBody:
			if h.matched > 0 {
				k := min(len(h.delim)-h.matched, len(p))
				if bytes.Equal(p[:k], h.delim[h.matched:h.matched+k]) {
					h.matched += k
					p = p[k:]
					if h.matched == len(h.delim) {
						h.state, h.matched = atBoundaryEnd, 0
					}
					continue
				}
				// No match can start within the bytes matched so far:
				// delim holds no other '\n'. Look for the next one.
				h.matched = 0
			}
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return true
			}
			p, h.matched = p[i+1:], 1
		case atBoundaryEnd:
			if !strings.ContainsRune("- \t\r\n", rune(p[0])) {
				h.state = inBody // "--boundaryX": text, not a boundary
				continue
			}
			h.state, h.n = inBoundaryLine, 0
		case inBoundaryLine:
			// The rest of the boundary line: spaces, "--" for the last
			// one, the line break.
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				h.n += len(p)
				return h.n <= h.maxBytes
			}
			if h.n += i + 1; h.n > h.maxBytes {
				return false
			}
			p = p[i+1:]
			h.state, h.n, h.line = inHeader, 0, 0
		case inHeader:
			i := bytes.IndexByte(p, '\n')
			seg := p
			if i >= 0 {
				seg = p[:i]
			}
			if h.line == 0 && len(seg) > 0 {
				h.first = seg[0]
			}
			h.line += len(seg)
			h.n += len(seg)
			if i < 0 {
				return h.n <= h.maxBytes
			}
			if h.n++; h.n > h.maxBytes {
				return false
			}
			p = p[i+1:]
			if h.line == 0 || h.line == 1 && h.first == '\r' {
				// The empty line: the part's body begins, and may begin
				// with the next boundary (an empty part).
				h.state, h.matched = inBody, 1
			}
			h.line = 0
		}
	}
	return true
}
