package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
)

// The staff admin page (docs/interface.md#web-app): every user with what
// they store and their sessions, and the CLI's user commands as buttons.
// Each action goes through Server.Admin, the account.Admin the CLI uses,
// which writes its audit line; the store tells authz's cache, so the next
// request sees the change.

// Admin manages users for staff; implemented by account.Admin, which the
// CLI's user commands go through too.
type Admin interface {
	Create(ctx context.Context, by account.Actor, name, password string, public, staff bool) (filegate.User, error)
	ResetPassword(ctx context.Context, by account.Actor, id int64, password string) (int64, error)
	Update(ctx context.Context, by account.Actor, id int64, upd filegate.UserUpdate) (filegate.User, error)
	Logout(ctx context.Context, by account.Actor, id int64) (int64, error)
	Remove(ctx context.Context, by account.Actor, id int64) ([]filegate.File, error)
}

// requireStaff adapts h like withViewer and runs it for a logged-in staff
// member. Everyone else, logged in or not, gets errNoPage (404) as for an
// address that does not exist, before anything is read or changed: the
// admin pages are nobody else's business, not even their existence.
// Staff is read with the session on every request, so a member demoted
// a moment ago is refused from their next request on.
func (s *Server) requireStaff(h viewerHandler) http.HandlerFunc {
	return s.withViewer(func(w http.ResponseWriter, r *http.Request) error {
		u := viewerFrom(r.Context())
		if u == nil || !u.IsStaff {
			return errNoPage
		}
		return h(w, r, *u)
	})
}

// actor is viewer acting through r, for the audit log.
func (s *Server) actor(r *http.Request, viewer filegate.User) account.Actor {
	o := s.origin(r)
	return account.Actor{UserID: viewer.ID, Addr: o.Addr, RequestID: o.RequestID}
}

// apiUser is a user as the JSON API shows them. It never carries the
// password hash.
type apiUser struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Slug     string `json:"slug"`
	IsPublic bool   `json:"is_public"`
	IsStaff  bool   `json:"is_staff"`
}

func newAPIUser(u filegate.User) apiUser {
	return apiUser{ID: u.ID, Name: u.DisplayName, Slug: u.Slug, IsPublic: u.IsPublic, IsStaff: u.IsStaff}
}

// apiUsage is a user of GET /admin as JSON: with their files, the bytes
// they use and their live sessions.
type apiUsage struct {
	apiUser
	Files     int64     `json:"files"`
	Bytes     int64     `json:"bytes"`
	Sessions  int64     `json:"sessions"`
	CreatedAt time.Time `json:"created_at"`
}

// apiAdmin is GET /admin as JSON.
type apiAdmin struct {
	Users []apiUsage `json:"users"`
	Quota struct {
		Bytes int64 `json:"bytes"`
		Files int64 `json:"files"`
	} `json:"quota"`
}

// adminPage is the data of the admin template.
type adminPage struct {
	Users []adminRow
	Quota filegate.Quota
	After string // the slug this page starts after; "" on the first page
	Here  string // this page's URL, where the forms come back to
	Next  string // the next page's URL; "" when there is none
	// Secret is the one-time password of the user just created or reset,
	// shown on this answer only.
	Secret *oneTime
	// The create form: what was typed, and why it was refused.
	Name          string
	Public, Staff bool
	Error         string
}

// adminRow is one user's row.
type adminRow struct {
	filegate.UserUsage
	Label string // as userName names them
	Self  bool   // the viewer: the actions that would lock them out are left out
}

// oneTime is a password made for a user, shown once.
type oneTime struct {
	User     string // as userName names them
	Password string
	Created  bool  // a new user, rather than a reset
	Revoked  int64 // the sessions a reset logged out
}

// adminPageOf reads the page of users after the slug ?after= names
// (first page: none), for viewer.
func (s *Server) adminPageOf(r *http.Request, viewer filegate.User) (adminPage, error) {
	after := r.URL.Query().Get("after")
	size := s.pageSize()
	users, err := s.Store.Users(r.Context(), after, size+1, s.now())
	if err != nil {
		return adminPage{}, err
	}
	p := adminPage{Quota: s.Quota, After: after, Here: "/admin"}
	if after != "" {
		p.Here += "?" + url.Values{"after": {after}}.Encode()
	}
	if len(users) > size {
		users = users[:size]
		p.Next = "/admin?" + url.Values{"after": {users[size-1].Slug}}.Encode()
	}
	for _, u := range users {
		p.Users = append(p.Users, adminRow{UserUsage: u, Label: userName(u.DisplayName, u.Slug), Self: u.ID == viewer.ID})
	}
	return p, nil
}

// adminPage is GET /admin[?after={slug}]: the users, by slug, a page at a
// time, with the create form. JSON: {"users": [...], "quota": {...}},
// with a Link header rel="next" when a further page exists.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	p, err := s.adminPageOf(r, viewer)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		var a apiAdmin
		a.Users = make([]apiUsage, len(p.Users))
		for i, u := range p.Users {
			a.Users[i] = apiUsage{apiUser: newAPIUser(u.User), Files: u.UsedFiles, Bytes: u.UsedBytes, Sessions: u.Sessions, CreatedAt: u.CreatedAt}
		}
		a.Quota.Bytes, a.Quota.Files = p.Quota.Bytes, p.Quota.Files
		if p.Next != "" {
			w.Header().Set("Link", "<"+p.Next+`>; rel="next"`)
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}
	s.render(w, r, http.StatusOK, "admin", p)
	return nil
}

// createUser is POST /admin/users (form or JSON name, is_public,
// is_staff): a new user with a one-time password, shown on this answer
// only and never logged. JSON gets 201 {"user": …, "password": …}; a
// browser gets the admin page (201) with the password at its top. A bad
// or taken name is EINVALID (400) or ECONFLICT (409), which a browser
// sees on the form.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	var body struct {
		Name     string `json:"name"`
		IsPublic bool   `json:"is_public"`
		IsStaff  bool   `json:"is_staff"`
	}
	isJSON, err := jsonBody(w, r, &body)
	if err != nil {
		return err
	}
	if !isJSON {
		if err := parseSmallForm(w, r); err != nil {
			return err
		}
		body.Name, body.IsPublic, body.IsStaff = r.PostForm.Get("name"), r.PostForm.Get("is_public") == "true", r.PostForm.Get("is_staff") == "true"
	}
	password := account.NewPassword()
	u, err := s.Admin.Create(r.Context(), s.actor(r, viewer), body.Name, password, body.IsPublic, body.IsStaff)
	if code := filegate.ErrorCode(err); (code == filegate.EINVALID || code == filegate.ECONFLICT) && !wantsJSON(r) {
		p, perr := s.adminPageOf(r, viewer)
		if perr != nil {
			return perr
		}
		p.Name, p.Public, p.Staff, p.Error = body.Name, body.IsPublic, body.IsStaff, filegate.ErrorMessage(err)
		return &formError{err: err, page: "admin", data: p}
	} else if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusCreated, struct {
			User     apiUser `json:"user"`
			Password string  `json:"password"`
		}{newAPIUser(u), password})
		return nil
	}
	return s.showPassword(w, r, viewer, http.StatusCreated, oneTime{User: userName(u.DisplayName, u.Slug), Password: password, Created: true})
}

// showPassword answers a browser with the admin page and the one-time
// password secret at its top, with status. The page is not stored by any
// cache (securityHeaders' no-store), and the password is in no URL.
func (s *Server) showPassword(w http.ResponseWriter, r *http.Request, viewer filegate.User, status int, secret oneTime) error {
	p, err := s.adminPageOf(r, viewer)
	if err != nil {
		return err
	}
	p.Secret = &secret
	s.render(w, r, status, "admin", p)
	return nil
}

var errNoUser = filegate.Errorf(filegate.ENOTFOUND, "No such user.")

// adminTarget returns the user the {id} of r's path names; a malformed
// id is errNoUser like a missing user.
func (s *Server) adminTarget(r *http.Request) (filegate.User, error) {
	id, ok := pathID(r)
	if !ok {
		return filegate.User{}, errNoUser
	}
	return s.Store.UserByID(r.Context(), id)
}

// adminForm reads the small form of a POST about one user (its back
// field) and returns the user its path names, as adminTarget does.
func (s *Server) adminForm(w http.ResponseWriter, r *http.Request) (filegate.User, error) {
	if err := parseSmallForm(w, r); err != nil {
		return filegate.User{}, err
	}
	return s.adminTarget(r)
}

// resetPassword is POST /admin/users/{id}/password: the user gets a new
// one-time password, and every session of theirs is logged out in the
// same transaction. JSON gets {"user": …, "password": …,
// "sessions_revoked": n}; a browser the admin page (200) with the
// password at its top. The viewer's own password is EFORBIDDEN (403):
// the account page changes it, asking for the current one.
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	u, err := s.adminForm(w, r)
	if err != nil {
		return err
	}
	password := account.NewPassword()
	n, err := s.Admin.ResetPassword(r.Context(), s.actor(r, viewer), u.ID, password)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			User     apiUser `json:"user"`
			Password string  `json:"password"`
			Revoked  int64   `json:"sessions_revoked"`
		}{newAPIUser(u), password, n})
		return nil
	}
	return s.showPassword(w, r, viewer, http.StatusOK, oneTime{User: userName(u.DisplayName, u.Slug), Password: password, Revoked: n})
}

// setFlags is POST /admin/users/{id}/flags (form is_public and/or
// is_staff, each true or false, or the same as a JSON body): changes
// those flags. JSON gets the user; a browser goes back to the form's back
// page with a message. Neither flag, or another value, is EINVALID; the
// viewer taking their own staff away is EFORBIDDEN.
func (s *Server) setFlags(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	upd, back, err := parseFlags(w, r)
	if err != nil {
		return err
	}
	u, err := s.adminTarget(r)
	if err != nil {
		return err
	}
	if u, err = s.Admin.Update(r.Context(), s.actor(r, viewer), u.ID, upd); err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, newAPIUser(u))
		return nil
	}
	name := userName(u.DisplayName, u.Slug)
	var said string
	switch {
	case upd.IsStaff != nil && u.IsStaff:
		said = name + " is staff now: they can download every file and manage users."
	case upd.IsStaff != nil:
		said = name + " is no longer staff."
	case u.IsPublic:
		said = name + "’s files are public now: anyone logged in can download them."
	default:
		said = name + "’s files are private now: only they and staff can download them."
	}
	s.doneTo(w, r, viewer, back, said)
	return nil
}

// parseFlags reads is_public and is_staff from a JSON body
// ({"is_public": true}) or a form (is_public=true or false), and the
// form's back page.
func parseFlags(w http.ResponseWriter, r *http.Request) (filegate.UserUpdate, string, error) {
	bad := filegate.Errorf(filegate.EINVALID, "Send is_public and/or is_staff as true or false.")
	var body struct {
		IsPublic *bool `json:"is_public"`
		IsStaff  *bool `json:"is_staff"`
	}
	isJSON, err := jsonBody(w, r, &body)
	if err != nil {
		return filegate.UserUpdate{}, "", err
	}
	upd := filegate.UserUpdate{IsPublic: body.IsPublic, IsStaff: body.IsStaff}
	if !isJSON {
		if err := parseSmallForm(w, r); err != nil {
			return upd, "", err
		}
		for field, dst := range map[string]**bool{"is_public": &upd.IsPublic, "is_staff": &upd.IsStaff} {
			switch v := r.PostForm.Get(field); v {
			case "true", "false":
				b := v == "true"
				*dst = &b
			case "":
			default:
				return upd, "", bad
			}
		}
	}
	if upd.IsPublic == nil && upd.IsStaff == nil {
		return upd, "", bad
	}
	return upd, r.PostForm.Get("back"), nil
}

// logoutUser is POST /admin/users/{id}/logout: every session of the user
// is revoked; their cookies are refused from the next request on,
// downloads included. JSON gets {"user": id, "sessions_revoked": n}; a
// browser goes back with a message. Logging out oneself is allowed, as on
// the account page.
func (s *Server) logoutUser(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	u, err := s.adminForm(w, r)
	if err != nil {
		return err
	}
	n, err := s.Admin.Logout(r.Context(), s.actor(r, viewer), u.ID)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			User    int64 `json:"user"`
			Revoked int64 `json:"sessions_revoked"`
		}{u.ID, n})
		return nil
	}
	s.doneTo(w, r, viewer, r.PostForm.Get("back"), fmt.Sprintf("%s: %s logged out.", userName(u.DisplayName, u.Slug), plural(int(n), "session")))
	return nil
}

// confirmRemove is GET /admin/users/{id}/remove: the page that asks
// "Remove user alice?", where a Remove button leads a browser without
// JavaScript (with it, the admin page asks in a dialog). It removes
// nothing. JSON gets the user.
func (s *Server) confirmRemove(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	u, err := s.adminTarget(r)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, newAPIUser(u))
		return nil
	}
	name := userName(u.DisplayName, u.Slug)
	p := confirmPage{Question: "Remove user " + name + "?",
		Detail: "Their files, share links and sessions go with them. This can’t be undone.",
		Action: fmt.Sprintf("/admin/users/%d/remove", u.ID), Button: "Remove",
		Back: localPathOr(r.URL.Query().Get("back"), "/admin")}
	s.render(w, r, http.StatusOK, "delete", p)
	return nil
}

// removeUser is POST /admin/users/{id}/remove: the user goes with their
// files (rows, then bytes), links and sessions. JSON gets {"removed": id,
// "files": n}; a browser goes back with a message. Removing oneself is
// EFORBIDDEN (403).
func (s *Server) removeUser(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	u, err := s.adminForm(w, r)
	if err != nil {
		return err
	}
	files, err := s.Admin.Remove(r.Context(), s.actor(r, viewer), u.ID)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			Removed int64 `json:"removed"`
			Files   int   `json:"files"`
		}{u.ID, len(files)})
		return nil
	}
	s.doneTo(w, r, viewer, r.PostForm.Get("back"), fmt.Sprintf("%s removed with %s.", userName(u.DisplayName, u.Slug), plural(len(files), "file")))
	return nil
}

// doneTo sends a browser to back (a local path; else /admin) with the
// flash message said, sealed for viewer as a deleted file's name is
// (SealNote): the URL carries no text a link could choose.
func (s *Server) doneTo(w http.ResponseWriter, r *http.Request, viewer filegate.User, back, said string) {
	to := withFlash(localPathOr(back, "/admin"), "done", 0)
	if note, err := s.Sessions.SealNote(viewer.ID, said); err == nil {
		to = withQuery(to, "note", note)
	} else {
		// The change is made all the same; the message just says "Done."
		s.Log.WarnContext(r.Context(), "web: seal the admin message", "err", err)
	}
	seeOther(w, r, to)
}

// localPathOr is localPath(p), or def when p is empty or not local.
func localPathOr(p, def string) string {
	if p = localPath(p); p == "/" {
		return def
	}
	return p
}
