package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/link"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/session"
)

// Share links (docs/interface.md#share-links): the owner's side (create,
// list, revoke) and the password page of a link. The downloads
// themselves go through nginx and authz, never through here.

// apiLink is a link as the JSON API shows it.
type apiLink struct {
	ID           int64     `json:"id"`
	URL          string    `json:"url"`
	FileID       int64     `json:"file_id"`
	ExpiresAt    time.Time `json:"expires_at"`
	MaxDownloads *int64    `json:"max_downloads"` // null: no limit
	Downloads    int64     `json:"downloads"`
	HasPassword  bool      `json:"has_password"`
	State        string    `json:"state,omitempty"` // in lists only
}

func newAPILink(l link.Shared) apiLink {
	return apiLink{ID: l.ID, URL: l.URL, FileID: l.FileID, ExpiresAt: l.ExpiresAt, MaxDownloads: l.MaxDownloads,
		Downloads: l.Downloads, HasPassword: l.PasswordHash != nil}
}

// origin is where r comes from, for the audit log.
func (s *Server) origin(r *http.Request) link.Origin {
	return link.Origin{Addr: s.clientAddr(r), RequestID: audit.RequestID(r.Header.Get(audit.HeaderRequestID))}
}

// createLink is POST /links (form or JSON file_id, expires_in,
// max_downloads, password): a link to one of the viewer's own files.
// JSON gets 201 and the link; a browser goes to the links page, which
// names the file. Someone else's file is ENOTFOUND (404), a bad field
// EINVALID (400).
func (s *Server) createLink(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	spec, err := parseLinkSpec(w, r)
	if err != nil {
		return err
	}
	l, err := s.Links.Create(r.Context(), s.origin(r), viewer.ID, spec)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusCreated, newAPILink(l))
		return nil
	}
	seeOther(w, r, "/links?created="+strconv.FormatInt(l.ID, 10))
	return nil
}

// parseLinkSpec reads POST /links from a JSON body ({"file_id": 7,
// "expires_in": "24h", "max_downloads": 3, "password": "…"}) or a form
// with the same fields, where an empty max_downloads means no limit. An
// expires_in left out is link.DefaultTTL; its bounds are link.Create's to
// check.
func parseLinkSpec(w http.ResponseWriter, r *http.Request) (link.Spec, error) {
	var body struct {
		FileID       *int64 `json:"file_id"`
		ExpiresIn    string `json:"expires_in"`
		MaxDownloads *int64 `json:"max_downloads"`
		Password     string `json:"password"`
	}
	isJSON, err := jsonBody(w, r, &body)
	if err != nil {
		return link.Spec{}, err
	}
	if !isJSON {
		if err := parseSmallForm(w, r); err != nil {
			return link.Spec{}, err
		}
		f := r.PostForm
		body.ExpiresIn, body.Password = f.Get("expires_in"), f.Get("password")
		if v := f.Get("file_id"); v != "" {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return link.Spec{}, filegate.Errorf(filegate.EINVALID, "file_id must be the id of one of your files.")
			}
			body.FileID = &id
		}
		if v := strings.TrimSpace(f.Get("max_downloads")); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return link.Spec{}, filegate.Errorf(filegate.EINVALID, "max_downloads must be a whole number of at least 1; leave it empty for no limit.")
			}
			body.MaxDownloads = &n
		}
	}
	if body.FileID == nil {
		return link.Spec{}, filegate.Errorf(filegate.EINVALID, "Say which file to share: file_id.")
	}
	spec := link.Spec{FileID: *body.FileID, ExpiresIn: link.DefaultTTL, MaxDownloads: body.MaxDownloads, Password: body.Password}
	if body.ExpiresIn != "" {
		if spec.ExpiresIn, err = time.ParseDuration(body.ExpiresIn); err != nil {
			return link.Spec{}, filegate.Errorf(filegate.EINVALID, "expires_in must be a duration like 168h.")
		}
	}
	return spec, nil
}

// linksPage is the data of the links template.
type linksPage struct {
	Links []link.Shared
	// Flash names the file of the link just created or revoked, and
	// Marked is that link's id: the query carries only the id, and only
	// a link of the viewer's own is named, so nobody can craft a link
	// that makes the page say something else.
	Flash  string
	Marked int64
}

// linksPage is GET /links: the links the viewer made, newest first,
// with their counts and states. JSON is a bare array of apiLink with
// "state".
func (s *Server) linksPage(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	ls, err := s.Links.List(r.Context(), viewer.ID)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		out := make([]apiLink, len(ls))
		for i, l := range ls {
			out[i] = newAPILink(l)
			out[i].State = string(l.State)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	page := linksPage{Links: ls}
	q := r.URL.Query()
	for _, f := range []struct{ key, format string }{
		{"created", "Share link to “%s” created. Copy its URL below."},
		{"revoked", "Link to “%s” revoked: it no longer opens."},
	} {
		if id, ok := filegate.ParseID(q.Get(f.key)); ok {
			for _, l := range ls {
				if l.ID == id {
					page.Flash, page.Marked = fmt.Sprintf(f.format, l.File.DisplayName), id
				}
			}
		}
	}
	s.render(w, r, http.StatusOK, "links", page)
	return nil
}

var errNoLink = filegate.Errorf(filegate.ENOTFOUND, "No such link.")

// revokeLink is POST /links/{id}/revoke: the link's owner or staff
// revokes it; for anyone else it is ENOTFOUND (404), as for a missing
// link. JSON gets {"revoked": id}, a browser the links page. The very
// next download of the link is refused (the store tells authz first).
func (s *Server) revokeLink(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	if err := parseSmallForm(w, r); err != nil {
		return err
	}
	id, ok := pathID(r)
	if !ok {
		return errNoLink
	}
	if _, err := s.Links.Revoke(r.Context(), s.origin(r), viewer.Profile(), id); err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			Revoked int64 `json:"revoked"`
		}{id})
		return nil
	}
	seeOther(w, r, "/links?revoked="+strconv.FormatInt(id, 10))
	return nil
}

// linkPage is the data of the link template, a link's password page.
// It never names the file: whoever sees it has not proved the password.
type linkPage struct {
	Token    string
	Error    string // why the last password was refused
	Unlocked bool   // this browser has unlocked the link already
}

// linkPasswordPage is GET /s/{token} at the uploader, where nginx sends
// a browser whose download authz refused for want of the link's
// password: the password form. An unknown or forged token is ENOTFOUND
// (404), a revoked, expired or used-up link EGONE (410). A link without
// a password has nothing to ask: 303 back to /s/{token}, which nginx
// serves. A JSON client is told 401, as authz tells it.
func (s *Server) linkPasswordPage(w http.ResponseWriter, r *http.Request) error {
	token := httprouter.ParamsFromContext(r.Context()).ByName("token")
	l, err := s.Links.Lookup(r.Context(), token)
	if err != nil {
		return err
	}
	if l.PasswordHash == nil {
		seeOther(w, r, filegate.LinkURL(token))
		return nil
	}
	unlocked := s.Sessions.LinkUnlocked(r, l.ID, l.Nonce)
	if wantsJSON(r) && !unlocked {
		return errLinkPassword
	}
	// Unlocked here but sent here anyway (clocks or keys that disagree
	// with authz's): a page with a link rather than a redirect, which
	// could only loop.
	s.render(w, r, http.StatusOK, "link", linkPage{Token: token, Unlocked: unlocked})
	return nil
}

var (
	errLinkPassword = filegate.Errorf(filegate.EUNAUTHORIZED, "This link needs its password: POST it as the form field password.")
	errNoPassword   = filegate.Errorf(filegate.EINVALID, "Enter the link's password.")
)

// unlockLink is POST /s/{token} (form password): the right password
// sets the cookie that unlocks the link in this browser for an hour
// (session.MaxLinkUnlock) and goes back to /s/{token}. A wrong one is
// EUNAUTHORIZED (401); a browser sees the form again with the reason.
//
// Wrong passwords are throttled like logins, under their own scope with
// the link as the subject: after too many from one client address the
// attempt is refused with ETHROTTLED (429) and Retry-After, and bcrypt
// does not run for it. A forged token is ENOTFOUND before the throttle:
// its MAC is refused, so there is nothing to guess.
func (s *Server) unlockLink(w http.ResponseWriter, r *http.Request) error {
	token := httprouter.ParamsFromContext(r.Context()).ByName("token")
	if err := parseSmallForm(w, r); err != nil {
		return err
	}
	id, _, ok := s.Sessions.ParseLinkToken(token)
	if !ok {
		return errNoLink
	}
	password := r.PostForm.Get("password")
	from := s.origin(r)
	var l filegate.ListedLink
	var err error
	if password == "" {
		err = errNoPassword // cannot be right, and is no guess to count
	} else {
		var wait time.Duration
		wait, err = s.guard(r.Context(), metrics.ThrottleLink, strconv.FormatInt(id, 10), from.Addr, func() (err error) {
			l, err = s.Links.Unlock(r.Context(), from, token, password)
			return err
		})
		if wait > 0 {
			s.Links.Throttled(r.Context(), from, id)
			err = throttled(wait, "Too many wrong passwords")
		}
	}
	switch filegate.ErrorCode(err) {
	case "":
	case filegate.EUNAUTHORIZED, filegate.ETHROTTLED, filegate.EINVALID:
		return &formError{err: err, page: "link", data: linkPage{Token: token, Error: filegate.ErrorMessage(err)}}
	default:
		return err // 404, 410, or the store's
	}
	if l.PasswordHash != nil {
		if err := s.Sessions.SetLinkCookie(w, token, l.ID, l.Nonce, session.MaxLinkUnlock); err != nil {
			return err
		}
	}
	seeOther(w, r, filegate.LinkURL(token))
	return nil
}

// expiry is one choice of the share form's expiry select.
type expiry struct {
	Value    string // expires_in, e.g. "168h"
	Label    string // "7 days"
	Selected bool
}

// shareExpiries are the expiries the share form offers, whole hours.
var shareExpiries = []time.Duration{time.Hour, 24 * time.Hour, link.DefaultTTL, 30 * 24 * time.Hour, 90 * 24 * time.Hour}

// expiries returns the choices of the share form up to max
// (FILEGATE_LINK_MAX_TTL), with link.DefaultTTL selected, or the longest
// choice when max is shorter.
func expiries(max time.Duration) []expiry {
	var out []expiry
	for _, d := range shareExpiries {
		if d <= max {
			out = append(out, expiry{Value: strconv.FormatInt(int64(d/time.Hour), 10) + "h", Label: link.Span(d), Selected: d == link.DefaultTTL})
		}
	}
	if n := len(out); n > 0 && max < link.DefaultTTL {
		out[n-1].Selected = true
	}
	return out
}
