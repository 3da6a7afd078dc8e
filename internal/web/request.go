package web

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
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
