package web

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/filegate/filegate/internal/filegate"
)

// maxFormSize bounds the url-encoded forms and JSON bodies (login,
// delete, settings, password): they hold a few short fields.
const maxFormSize = 64 << 10

// parseSmallForm reads an url-encoded POST body of at most maxFormSize
// into r.PostForm. Other bodies leave r.PostForm empty.
func parseSmallForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
	if err := r.ParseForm(); err != nil {
		return filegate.Errorf(filegate.EINVALID, "The form could not be read.")
	}
	return nil
}

// jsonBody decodes r's body into dst when its Content-Type is
// application/json, and reports whether it was: false leaves the body for
// the caller to read as a form. A JSON body larger than maxFormSize or
// one that does not decode is EINVALID.
func jsonBody(w http.ResponseWriter, r *http.Request, dst any) (bool, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return false, nil
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormSize)).Decode(dst); err != nil {
		return true, filegate.Errorf(filegate.EINVALID, "The JSON body could not be read.")
	}
	return true, nil
}

// localPath returns next when it is a path on this origin, else "/". It
// guards every redirect target that comes from a request (login's next,
// the back field of forms). Browsers read "//host" and "/\host" as another
// host and drop tabs and newlines before parsing, so a backslash or a
// control character anywhere refuses the value outright.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.Contains(next, `\`) || strings.ContainsFunc(next, unicode.IsControl) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// clientAddr returns the address of the client r comes from, as the login
// throttle counts it: X-Real-IP when the TCP peer is one of
// TrustedProxies (nginx, which sets it from the address it saw), else the
// peer itself, so nobody else can choose the address they are counted
// under. A trusted peer's header that is missing, repeated or not an
// address leaves the peer's address, logged at debug level: nginx's
// configuration is missing the header (docs/operating.md#throttling).
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// net/http always sets host:port; the zero Addr is one bucket.
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !slices.ContainsFunc(s.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(addr) }) {
		return addr
	}
	vals := r.Header.Values("X-Real-IP")
	if len(vals) == 1 {
		if real, err := netip.ParseAddr(strings.TrimSpace(vals[0])); err == nil {
			return real.Unmap().WithZone("")
		}
	}
	first := ""
	if len(vals) > 0 {
		first = vals[0][:min(len(vals[0]), 64)]
	}
	s.Log.DebugContext(r.Context(), "web: no valid X-Real-IP from a trusted proxy; counting the proxy's address",
		"peer", addr, "headers", len(vals), "first", first)
	return addr
}
