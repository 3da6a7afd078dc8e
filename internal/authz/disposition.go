package authz

import (
	"fmt"
	"strings"
	"unicode"
)

// Disposition returns a Content-Disposition value for a file shown to the
// user as name: an ASCII filename="…" for old clients and an RFC 5987
// filename*=UTF-8”… carrying the real Unicode name.
func Disposition(name string, inline bool) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	if name == "" {
		return kind
	}
	return kind + `; filename="` + asciiName(name) + `"; filename*=UTF-8''` + rfc5987(name)
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
