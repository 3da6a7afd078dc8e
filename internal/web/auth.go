package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/policy"
)

type viewerKey struct{}

// login is who is logged in, and with which session.
type login struct {
	user      filegate.User
	session   filegate.Session
	tokenHash [32]byte // the session's, as authz looks it up (filegate.FactsKey)
}

// loginFrom returns who withViewer found logged in, or nil.
func loginFrom(ctx context.Context) *login {
	l, _ := ctx.Value(viewerKey{}).(*login)
	return l
}

// viewerFrom returns the logged-in user withViewer put into ctx, or nil.
func viewerFrom(ctx context.Context) *filegate.User {
	if l := loginFrom(ctx); l != nil {
		return &l.user
	}
	return nil
}

// withViewer adapts h like handle, with the session and its user, if
// any, in the request context. A missing, bad or expired cookie, or one
// whose session is unknown, revoked, expired or another user's, means
// nobody is logged in; a failing database is an error (503), not an
// anonymous visitor.
//
// The look-up runs before handle, so that an error h returns is answered
// with the request that carries the viewer: the error page then shows
// who is logged in, like every other page.
func (s *Server) withViewer(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l, err := s.viewer(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if l != nil {
			r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, l))
		}
		s.handle(h)(w, r)
	}
}

// viewer returns the valid session of r's cookie with its user, read in
// one query, or nil when nobody is logged in. It notes the session's use.
func (s *Server) viewer(r *http.Request) (*login, error) {
	claims, err := s.Sessions.FromRequest(r)
	if err != nil {
		return nil, nil
	}
	hash := claims.TokenHash
	sess, u, err := s.Store.SessionByToken(r.Context(), hash)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !policy.SessionValid(sess.State(), claims.UserID, s.now()) {
		return nil, nil
	}
	if s.Uses != nil {
		s.Uses.Used(sess.ID)
	}
	return &login{user: u, session: sess, tokenHash: hash}, nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
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
	// ForFile: next is a file's URL, so the page says that logging in
	// downloads a file. It never names the file: before the login nobody
	// may learn a private file's name, and a name taken from the URL
	// would let any link put its own words on this page.
	ForFile bool
	Error   string
}

// newLoginPage is the login form for username, going to next (a local
// path) afterwards.
func newLoginPage(username, next string) loginPage {
	_, _, forFile := filegate.ParseFileURI(next)
	return loginPage{Username: username, Next: next, ForFile: forFile}
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
	s.render(w, r, http.StatusOK, "login", newLoginPage("", localPath(r.URL.Query().Get("next"))))
	return nil
}

// login is POST /login: it checks the form's username and password. On
// success it sets the session cookie and sends the browser to next (a
// local path only) or /; when next is a file's URL, to its download page
// (downloadStarted), which starts the download and says so, rather than
// to the file, whose download would leave the login form on the screen. Unknown user and wrong password give the same
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
	form := newLoginPage(r.PostForm.Get("username"), localPath(r.PostForm.Get("next")))
	var u filegate.User
	wait, err := s.guard(r.Context(), metrics.ThrottleLogin, account.LoginName(form.Username), s.clientAddr(r), func() (err error) {
		u, err = account.Authenticate(r.Context(), s.Store, form.Username, r.PostForm.Get("password"))
		return err
	})
	if wait > 0 {
		err = throttled(wait, "Too many failed logins")
	} else if err == nil {
		err = s.startSession(w, r, u)
	}
	s.Metrics.Login(outcome(err, metrics.LoginSuccess, loginResults, metrics.LoginError))
	// u holds the id of an existing user whose password was wrong too;
	// the name typed is never logged (it may be a password typed in the
	// wrong field).
	s.audit(r, audit.Event{Action: "user.login", Reason: reason(err), UserID: u.ID})
	if code := filegate.ErrorCode(err); code == filegate.EUNAUTHORIZED || code == filegate.ETHROTTLED {
		// Shown on the form, with the username kept, rather than on the
		// error page.
		form.Error = filegate.ErrorMessage(err)
		return &formError{err: err, page: "login", data: form}
	} else if err != nil {
		return err
	}
	seeOther(w, r, downloadPath(form.Next))
	return nil
}

// loginResults name, for the metrics, the codes a login fails with.
var loginResults = map[string]string{filegate.EUNAUTHORIZED: metrics.LoginFailure, filegate.ETHROTTLED: metrics.LoginThrottled}

// startSession records a session for u, who has just proved their
// password, and sets its cookie. A session the browser was still logged
// in with is revoked: its cookie is being replaced, and a copy of it must
// not live on unseen.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u filegate.User) error {
	if l := loginFrom(r.Context()); l != nil {
		if err := s.Store.RevokeSession(r.Context(), l.user.ID, l.session.ID); err != nil {
			return err
		}
		s.Metrics.SessionsRevoked(metrics.RevokedRelogin, 1)
	}
	claims, err := account.StartSession(r.Context(), s.Store, u, r.UserAgent(), s.now(), s.SessionTTL)
	if err != nil {
		return err
	}
	return s.Sessions.Set(w, claims)
}

// logout is POST /logout: it revokes the cookie's session, or with the
// form field everywhere=true every session of its user, clears the cookie
// and sends the browser to /login. Without a valid session there is
// nothing to revoke: logging out twice is not an error. If the database
// fails, the error is answered and the cookie kept, so nobody believes a
// session ended that did not.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := parseSmallForm(w, r); err != nil {
		return err
	}
	if l := loginFrom(r.Context()); l != nil {
		var err error
		everywhere := r.PostForm.Get("everywhere") == "true"
		if everywhere {
			var n int64
			n, err = s.Store.RevokeSessions(r.Context(), l.user.ID, 0)
			s.Metrics.SessionsRevoked(metrics.RevokedEverywhere, n)
		} else if err = s.Store.RevokeSession(r.Context(), l.user.ID, l.session.ID); err == nil {
			s.Metrics.SessionsRevoked(metrics.RevokedLogout, 1)
		}
		s.audit(r, audit.Event{Action: "user.logout", Reason: reason(err), UserID: l.user.ID, Everywhere: everywhere})
		if err != nil {
			return err
		}
	}
	s.Sessions.Clear(w)
	seeOther(w, r, withFlash("/login", "loggedout", 0)) // pinned: docs/interface.md#web-app, "You’re logged out."
	return nil
}
