package web

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/metrics"
)

// accountPage is the data of the account template.
type accountPage struct {
	User     filegate.User
	Sessions []filegate.Session // live ones, most recently used first
	Current  int64              // the id of the session asking
	Error    string             // why a password change failed
}

// apiAccount is GET /account as JSON. The user never carries the
// password hash.
type apiAccount struct {
	User     apiUser      `json:"user"`
	Sessions []apiSession `json:"sessions"`
}

type apiSession struct {
	ID         int64     `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

func (p accountPage) api() apiAccount {
	a := apiAccount{User: newAPIUser(p.User)}
	a.Sessions = make([]apiSession, len(p.Sessions))
	for i, s := range p.Sessions {
		a.Sessions[i] = apiSession{ID: s.ID, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt,
			UserAgent: s.UserAgent, Current: s.ID == p.Current}
	}
	return a
}

// account reads the account page of viewer, logged in with the session
// of r, with errMsg on the password form. The session asking comes
// first, then the others, most recently used first.
func (s *Server) account(r *http.Request, viewer filegate.User, errMsg string) (accountPage, error) {
	current := loginFrom(r.Context()).session.ID
	sessions, err := s.Store.ActiveSessions(r.Context(), viewer.ID, s.now())
	if i := slices.IndexFunc(sessions, func(s filegate.Session) bool { return s.ID == current }); i > 0 {
		this := sessions[i]
		sessions = slices.Insert(slices.Delete(sessions, i, i+1), 0, this)
	}
	return accountPage{User: viewer, Sessions: sessions, Current: current, Error: errMsg}, err
}

// accountPage is GET /account: who the viewer is, where they are logged
// in (this session marked), the password form and "log out everywhere".
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	page, err := s.account(r, viewer, "")
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, page.api())
		return nil
	}
	s.render(w, r, http.StatusOK, "account", page)
	return nil
}

// changePassword is POST /account/password (form or JSON
// current_password, new_password): it sets the viewer's new password and
// revokes every other session of theirs; this one stays valid. A wrong
// current password is EFORBIDDEN (403), a new one shorter than
// account.MinPasswordLen EINVALID (400); a browser sees either on the
// account page's form.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	current, next, err := parsePasswords(w, r)
	if err != nil {
		return err
	}
	// Wrong current passwords are throttled like failed logins, so a
	// stolen cookie cannot be used to guess the password behind it.
	wait, err := s.guard(r.Context(), metrics.ThrottlePassword, strconv.FormatInt(viewer.ID, 10), s.clientAddr(r), func() error {
		n, err := account.ChangePassword(r.Context(), s.Store, viewer, current, next, loginFrom(r.Context()).session.ID)
		s.Metrics.SessionsRevoked(metrics.RevokedPassword, n)
		return err
	})
	if wait > 0 {
		err = throttled(wait, "Too many wrong passwords")
	}
	s.audit(r, audit.Event{Action: "user.password", Reason: reason(err), UserID: viewer.ID})
	if code := filegate.ErrorCode(err); (code == filegate.EFORBIDDEN || code == filegate.EINVALID || code == filegate.ETHROTTLED) && !wantsJSON(r) {
		page, perr := s.account(r, viewer, filegate.ErrorMessage(err))
		if perr != nil {
			return perr
		}
		return &formError{err: err, page: "account", data: page}
	} else if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			OK bool `json:"ok"`
		}{true})
		return nil
	}
	seeOther(w, r, withFlash("/account", "passwd", 0))
	return nil
}

// parsePasswords reads current_password and new_password from a JSON
// body or a form. A missing field reads as "", which the checks refuse.
func parsePasswords(w http.ResponseWriter, r *http.Request) (current, next string, err error) {
	var body struct {
		Current string `json:"current_password"`
		New     string `json:"new_password"`
	}
	if isJSON, err := jsonBody(w, r, &body); isJSON {
		return body.Current, body.New, err
	}
	if err := parseSmallForm(w, r); err != nil {
		return "", "", err
	}
	return r.PostForm.Get("current_password"), r.PostForm.Get("new_password"), nil
}
