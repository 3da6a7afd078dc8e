package authz

import (
	"fmt"
	"strings"
	"unicode"
)

// DispositionType says whether the browser shows a file or saves it
// (RFC 6266 disposition-type).
type DispositionType string

const (
	Attachment DispositionType = "attachment" // saved: the default for every type
	Inline     DispositionType = "inline"     // shown: only the types listed in InlineTypes
)

// Disposition returns the Content-Disposition value for a file shown to the
// user as name (docs/interface.md#downloads): an ASCII filename parameter
// for old clients, then an RFC 5987 filename* parameter carrying the real
// Unicode name, UTF-8 and percent-encoded. An empty name gives the bare
// type. mime.FormatMediaType cannot write this pair (TestDisposition shows
// what it writes instead).
func Disposition(t DispositionType, name string) string {
	if name == "" {
		return string(t)
	}
	return string(t) + `; filename="` + asciiName(name) + `"; filename*=UTF-8''` + rfc5987(name)
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
