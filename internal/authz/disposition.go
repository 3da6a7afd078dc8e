package authz

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/filegate/filegate/internal/filegate"
)

// DispositionType says whether the browser shows a file or saves it
// (RFC 6266 disposition-type).
type DispositionType string

const (
	Attachment DispositionType = "attachment" // saved: the default for every type
	Inline     DispositionType = "inline"     // shown: only the types listed in InlineTypes
)

// Disposition returns the Content-Disposition value for a file downloaded
// as name, its ServedName (docs/interface.md#downloads): an ASCII filename
// parameter for old clients, then an RFC 5987 filename* parameter carrying
// the real Unicode name, UTF-8 and percent-encoded. An empty name gives the
// bare type. mime.FormatMediaType cannot write this pair (TestDisposition
// shows what it writes instead).
func Disposition(t DispositionType, name string) string {
	if name == "" {
		return string(t)
	}
	return string(t) + `; filename="` + asciiName(name) + `"; filename*=UTF-8''` + rfc5987(name)
}

// maxServedBytes is the longest file name common file systems store (255
// bytes on ext4 and most others). A browser shortens a longer name by its
// own rules; shortening it here first keeps the extension whatever those
// rules are.
const maxServedBytes = 255

// ServedName returns the name a file with display name display and type
// contentType (both from its row) is downloaded as
// (docs/interface.md#downloads): display itself when it already ends in
// the type's extension (filegate.HasExtension: any ASCII case, ".jpeg" for
// a JPEG), else display with the type's extension appended, so that a
// saved file never opens as a type the upload check refused: a PDF named
// "invoice.html" is served as "invoice.html.pdf", a PNG named "photo.vbs"
// as "photo.vbs.png", text named "README" as "README.txt". When appending
// would pass 255 bytes, display is shortened, never the extension. A type
// without a known extension, and an empty name, are left as they are.
func ServedName(display, contentType string) string {
	ext := filegate.Extension(contentType)
	if display == "" || ext == "" || filegate.HasExtension(display, contentType) {
		return display
	}
	if n := maxServedBytes - len(ext); len(display) > n {
		for n > 0 && !utf8.RuneStart(display[n]) {
			n--
		}
		display = display[:n]
	}
	return display + ext
}

// asciiName replaces everything that is not printable ASCII, and the two
// characters a quoted-string would need to escape, with '_'.
func asciiName(name string) string {
	return strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
}

// rfc5987 percent-encodes everything but RFC 5987's attr-char.
func rfc5987(name string) string {
	var b strings.Builder
	for _, c := range []byte(name) {
		if isAttrChar(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
