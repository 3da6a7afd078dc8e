package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
)

type viewerKey struct{}

// viewerFrom returns the logged-in user withViewer put into ctx, or nil.
func viewerFrom(ctx context.Context) *filegate.User {
	u, _ := ctx.Value(viewerKey{}).(*filegate.User)
	return u
}

// withViewer adapts h like handle, with the session's user, if any, in
// the request context. A missing, bad or expired cookie, or one naming a
// user that no longer exists, means nobody is logged in; a failing
// database is an error (503), not an anonymous visitor.
//
// The look-up runs before handle, so that an error h returns is answered
// with the request that carries the viewer: the error page then shows
// who is logged in, like every other page.
func (s *Server) withViewer(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.viewer(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if u != nil {
			r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, u))
		}
		s.handle(h)(w, r)
	}
}

// viewer returns the session's user, or nil when nobody is logged in.
func (s *Server) viewer(r *http.Request) (*filegate.User, error) {
	id, err := s.Sessions.FromRequest(r)
	if err != nil {
		return nil, nil
	}
	u, err := s.Store.UserByID(r.Context(), id)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &u, nil
}

// viewerHandler is a handler that needs a logged-in viewer; see
// requireViewer.
type viewerHandler func(w http.ResponseWriter, r *http.Request, viewer filegate.User) error

var errLogIn = filegate.Errorf(filegate.EUNAUTHORIZED, "Log in first.")

// requireViewer adapts h like withViewer and runs it for a logged-in
// viewer. Without one, JSON clients get 401; browsers go to the login
// page, which brings a GET back to where it started.
func (s *Server) requireViewer(h viewerHandler) http.HandlerFunc {
	return s.withViewer(func(w http.ResponseWriter, r *http.Request) error {
		u := viewerFrom(r.Context())
		switch {
		case u != nil:
			return h(w, r, *u)
		case wantsJSON(r):
			return errLogIn
		case r.Method == http.MethodGet && r.URL.Path != "/":
			seeOther(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
		default:
			seeOther(w, r, "/login")
		}
		return nil
	})
}

// loginPage is the data of the login template.
type loginPage struct {
	Username string
	Next     string // where to go after logging in; "/" is left out of the form
	Error    string
}

// loginState is GET /login for JSON clients: who the cookie logs in, if
// anyone.
type loginState struct {
	LoggedIn bool   `json:"logged_in"`
	User     string `json:"user,omitempty"`
}

// loginPage is GET /login: the form, or for JSON clients who is logged
// in.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	if wantsJSON(r) {
		var st loginState
		if u := viewerFrom(r.Context()); u != nil {
			st = loginState{LoggedIn: true, User: u.Slug}
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}
	s.render(w, r, http.StatusOK, "login", loginPage{Next: localPath(r.URL.Query().Get("next"))})
	return nil
}

// login is POST /login: it checks the form's username and password. On
// success it sets the session cookie and sends the browser to next (a
// local path only) or /. Unknown user and wrong password give the same
// EUNAUTHORIZED (401) in about the same time (account.Authenticate), and
// no cookie; a browser sees it on the login form, filled in again.
//
// The throttle guards the check: after too many failures for this user
// name from this client address, or from this address at all, the
// attempt is refused with ETHROTTLED (429) and Retry-After, whatever the
// password, and bcrypt does not run for it.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := parseSmallForm(w, r); err != nil {
		return err
	}
	form := loginPage{Username: r.PostForm.Get("username"), Next: localPath(r.PostForm.Get("next"))}
	var u filegate.User
	wait, err := s.Throttle.Guard(r.Context(), "login", account.LoginName(form.Username), s.clientAddr(r), func() (err error) {
		u, err = account.Authenticate(r.Context(), s.Store, form.Username, r.PostForm.Get("password"))
		return err
	})
	if wait > 0 {
		err = &retryError{after: wait, err: filegate.Errorf(filegate.ETHROTTLED,
			"Too many failed logins; try again in %s.", plural(ceilDiv(wait, time.Minute), "minute"))}
	} else if err == nil {
		err = s.Sessions.Set(w, u.ID)
	}
	if code := filegate.ErrorCode(err); code == filegate.EUNAUTHORIZED || code == filegate.ETHROTTLED {
		// Shown on the form, with the username kept, rather than on the
		// error page.
		form.Error = filegate.ErrorMessage(err)
		return &formError{err: err, page: "login", data: form}
	} else if err != nil {
		return err
	}
	seeOther(w, r, form.Next)
	return nil
}

// logout is POST /logout: it clears the session cookie and sends the
// browser to /login. It needs no session: logging out twice is not an
// error.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	s.Sessions.Clear(w)
	seeOther(w, r, "/login") // pinned: docs/interface.md#web-app
	return nil
}
