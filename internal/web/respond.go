package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// statuses maps filegate error codes to HTTP statuses. It is the only such
// table; a code missing here is a 500.
var statuses = map[string]int{
	filegate.EINVALID:      http.StatusBadRequest,
	filegate.EUNAUTHORIZED: http.StatusUnauthorized,
	filegate.EFORBIDDEN:    http.StatusForbidden,
	filegate.ENOTFOUND:     http.StatusNotFound,
	filegate.ECONFLICT:     http.StatusConflict,
	filegate.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	filegate.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	filegate.EUNAVAILABLE:  http.StatusServiceUnavailable,
	filegate.ENOSPACE:      http.StatusInsufficientStorage,
	filegate.ETHROTTLED:    http.StatusTooManyRequests,
	filegate.EQUOTA:        http.StatusInsufficientStorage,
	filegate.EGONE:         http.StatusGone,
	filegate.EINTERNAL:     http.StatusInternalServerError,
}

// statusOf returns the HTTP status for err's code.
func statusOf(err error) int {
	if status, ok := statuses[filegate.ErrorCode(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// errorBody is the one JSON error shape.
type errorBody struct {
	Error string `json:"error"`
}

// handler is the shape of every web handler. It either answers the
// request and returns nil, or writes nothing and returns why the request
// failed, for handle to answer: handlers never log or answer an error
// themselves.
type handler func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to net/http: a non-nil error from h is answered by fail.
func (s *Server) handle(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// formError is a failure that a browser sees on the form it came from,
// shown again with the reason and what was sent, instead of on the error
// page: a wrong password, an upload that stored nothing. JSON clients get
// the usual {"error": …}; the status and the logging are err's.
type formError struct {
	err  error
	page string // the form's template
	data any    // its data, the reason included
}

func (e *formError) Error() string { return e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// retryError is a refusal that lifts by itself after a known time, such
// as a throttled login: its answer carries Retry-After.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// ceilDiv returns d in whole units, rounded up: a client told to wait
// the rounded-down time would come back too early and be refused again.
func ceilDiv(d, unit time.Duration) int {
	return int((d + unit - 1) / unit)
}

// throttled is the answer to an attempt the throttle refused for wait:
// 429, Retry-After, and why, e.g. "Too many failed logins; try again in
// 15 minutes.".
func throttled(wait time.Duration, why string) error {
	return &retryError{after: wait, err: filegate.Errorf(filegate.ETHROTTLED,
		"%s; try again in %s.", why, plural(ceilDiv(wait, time.Minute), "minute"))}
}

// fail logs err once (logError) and answers it with its status and safe
// sentence: {"error": msg} for JSON clients, else the form of a formError
// or the error page; a retryError adds Retry-After. It is the one place
// that does both, so nothing is logged twice.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.logError(r, err)
	if re := (*retryError)(nil); errors.As(err, &re) {
		w.Header().Set("Retry-After", strconv.Itoa(ceilDiv(re.after, time.Second)))
	}
	var form *formError
	if errors.As(err, &form) && !wantsJSON(r) {
		s.render(w, r, statusOf(err), form.page, form.data)
		return
	}
	s.answerError(w, r, statusOf(err), filegate.ErrorMessage(err))
}

// answerError writes an error answer: {"error": msg} or the error page.
// Only fail and the protocol answers that have no filegate code (405, a
// panic) call it directly.
func (s *Server) answerError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsJSON(r) {
		writeJSON(w, status, errorBody{msg})
		return
	}
	s.render(w, r, status, "error", errorPage{Status: status, Message: msg, Back: "/", BackText: "Back to the files"})
}

// logError logs err when the user is not told what went wrong: internal
// errors in full, a missing dependency as a warning. A client that went
// away is nobody's error.
func (s *Server) logError(r *http.Request, err error) {
	switch code := filegate.ErrorCode(err); {
	case errors.Is(err, context.Canceled):
	case code == filegate.EINTERNAL:
		s.Log.ErrorContext(r.Context(), "web: internal error", "method", r.Method, "path", logPath(r), "err", err)
	case code == filegate.EUNAVAILABLE, code == filegate.ENOSPACE:
		s.Log.WarnContext(r.Context(), "web: unavailable", "method", r.Method, "path", logPath(r), "err", err)
	}
}

// logPath is r's path as the log may show it: a share link's token
// opens its file, so /s/{token} is logged as /s/….
func logPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/s/") {
		return "/s/…"
	}
	return r.URL.Path
}

// wantsJSON reports whether to answer r with JSON: the client asked for
// it, or the path is under /api/, which speaks nothing else.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json")
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The header is out; an encoding error can only be a gone client.
	_ = json.NewEncoder(w).Encode(v)
}

// seeOther redirects with 303, so the browser follows with a GET and a
// reload does not repeat the POST.
func seeOther(w http.ResponseWriter, r *http.Request, to string) {
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// Flash messages shown after a redirect. The URL carries only a key of
// this table (and for uploads a count), never text, so nobody can craft a
// link that makes the page say something else. A deleted file's name,
// and the sentence after a staff action, come sealed for the viewer
// (note, see delete and doneTo).
var flashes = map[string]string{
	"deleted":   "File deleted.",
	"passwd":    "Password changed. Every other session is logged out.",
	"public":    "Your files are now public: anyone logged in can download all of them.",
	"private":   "Your files are now private: only you and staff can download them.",
	"loggedout": "You’re logged out.",
	"done":      "Done.",
}

// flashParams are the query parameters of a flash message; page links
// leave them out, so the message is not shown again.
var flashParams = []string{"msg", "n", "note"}

// withFlash returns the local path to with the flash key msg (and, for
// "uploaded", the count n) added to its query.
func withFlash(to, msg string, n int) string {
	to = withQuery(localPath(to), "msg", msg)
	if msg == "uploaded" {
		to = withQuery(to, "n", strconv.Itoa(n))
	}
	return to
}

// withQuery returns the local path to with key set to value in its query.
func withQuery(to, key, value string) string {
	u, err := url.Parse(to)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// flash returns the sentence for the flash key in r's query, or "". After
// a delete it names the file when the note opens for the viewer; after a
// staff action ("done") the note is the whole sentence (doneTo).
func (s *Server) flash(r *http.Request) string {
	q := r.URL.Query()
	switch q.Get("msg") {
	case "uploaded":
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 1 {
			return "Upload complete."
		}
		return plural(n, "file") + " uploaded."
	case "deleted":
		if name, ok := s.openNote(r); ok {
			return name + " deleted."
		}
	case "done":
		if said, ok := s.openNote(r); ok {
			return said
		}
	}
	return flashes[q.Get("msg")]
}

// openNote returns the text of r's note parameter when it was sealed for
// the viewer (Sessions.SealNote) and is still fresh.
func (s *Server) openNote(r *http.Request) (string, bool) {
	v := viewerFrom(r.Context())
	if v == nil {
		return "", false
	}
	return s.Sessions.OpenNote(v.ID, r.URL.Query().Get("note"))
}

// plural returns "1 file", "2 files".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
