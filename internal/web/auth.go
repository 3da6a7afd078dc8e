package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
)

type viewerKey struct{}

// viewerFrom returns the logged-in user withViewer put into ctx, or nil.
func viewerFrom(ctx context.Context) *filegate.User {
	u, _ := ctx.Value(viewerKey{}).(*filegate.User)
	return u
}

// withViewer puts the session's user, if any, into the request context. A
// missing, bad or expired cookie, or one naming a user that no longer
// exists, means nobody is logged in; a failing database is an error (503),
// not an anonymous visitor.
func (s *Server) withViewer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := s.viewer(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if u != nil {
			r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, u))
		}
		h(w, r)
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

// requireViewer runs h for a logged-in viewer. Without one, JSON clients
// get 401; browsers go to the login page, which brings a GET back to where
// it started.
func (s *Server) requireViewer(h func(http.ResponseWriter, *http.Request, filegate.User)) http.HandlerFunc {
	return s.withViewer(func(w http.ResponseWriter, r *http.Request) {
		u := viewerFrom(r.Context())
		switch {
		case u != nil:
			h(w, r, *u)
		case wantsJSON(r):
			s.fail(w, r, filegate.Errorf(filegate.EUNAUTHORIZED, "Log in first."))
		case r.Method == http.MethodGet && r.URL.Path != "/":
			seeOther(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()))
		default:
			seeOther(w, r, "/login")
		}
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

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if wantsJSON(r) {
		var st loginState
		if u := viewerFrom(r.Context()); u != nil {
			st = loginState{LoggedIn: true, User: u.Slug}
		}
		writeJSON(w, http.StatusOK, st)
		return
	}
	s.render(w, r, http.StatusOK, "login", loginPage{Next: localPath(r.URL.Query().Get("next"))})
}

// login checks the form's username and password. On success it sets the
// session cookie and sends the browser to next (a local path only) or /.
// Unknown user and wrong password give the same 401 answer in about the
// same time (account.Authenticate), and no cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := parseSmallForm(w, r); err != nil {
		s.fail(w, r, err)
		return
	}
	form := loginPage{Username: r.PostForm.Get("username"), Next: localPath(r.PostForm.Get("next"))}
	u, err := account.Authenticate(r.Context(), s.Store, form.Username, r.PostForm.Get("password"))
	if err == nil {
		err = s.Sessions.Set(w, u.ID)
	}
	switch {
	case err == nil:
		seeOther(w, r, form.Next)
	case filegate.ErrorCode(err) == filegate.EUNAUTHORIZED && !wantsJSON(r):
		// Show the form again, with the sentence, rather than an error page.
		form.Error = filegate.ErrorMessage(err)
		s.render(w, r, http.StatusUnauthorized, "login", form)
	default:
		s.fail(w, r, err)
	}
}

// logout clears the session cookie. It needs no session: logging out twice
// is not an error.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.Sessions.Clear(w)
	seeOther(w, r, "/login") // pinned by SPEC §4
}
