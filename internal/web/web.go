// Package web is the uploader's web app (docs/interface.md#web-app):
// login and logout, the account page with its sessions and password
// form, the upload page and endpoint, file lists, delete, the
// public/private switch, share links with their password page
// (docs/interface.md#share-links), the staff admin page and the JSON API.
//
// Every endpoint answers HTML by default and JSON when the request's
// Accept header asks for application/json. Handlers return their failure
// as an error carrying a filegate error code; one adapter (handle, in
// respond.go) logs it and answers it with the status its code maps to in
// one table (docs/interface.md#errors). Internal errors are logged and
// never shown.
package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/ingest"
	"github.com/filegate/filegate/internal/link"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/session"
)

// Store is the part of the database the web app uses; implemented by
// postgres.DB.
type Store interface {
	Ping(ctx context.Context) error
	UserByID(ctx context.Context, id int64) (filegate.User, error)
	UserBySlug(ctx context.Context, slug string) (filegate.User, error)
	UpdateUser(ctx context.Context, id int64, upd filegate.UserUpdate) (filegate.User, error)
	FileByID(ctx context.Context, id int64) (filegate.File, error)
	// Facts reads what authz decides a download by.
	Facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, error)
	VisibleFiles(ctx context.Context, viewerID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error)
	PublicFiles(ctx context.Context, viewerID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error)
	OwnerFiles(ctx context.Context, ownerID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error)
	// Users lists users for the admin page, by slug, after a slug.
	Users(ctx context.Context, after string, limit int, now time.Time) ([]filegate.UserUsage, error)

	CreateSession(ctx context.Context, s *filegate.Session, passwordHash []byte) error
	SessionByToken(ctx context.Context, tokenHash [32]byte) (filegate.Session, filegate.User, error)
	ActiveSessions(ctx context.Context, userID int64, now time.Time) ([]filegate.Session, error)
	RevokeSession(ctx context.Context, userID, id int64) error
	RevokeSessions(ctx context.Context, userID, keepID int64) (int64, error)
	SetPassword(ctx context.Context, userID int64, oldHash, newHash []byte, keepID int64) (int64, error)
}

// Ingester stores and removes file bytes together with their rows;
// implemented by ingest.Ingester, so web uploads and `uploader put` share
// one validation and write path.
type Ingester interface {
	Put(ctx context.Context, ownerID int64, name string, r io.Reader) (filegate.File, error)
	Delete(ctx context.Context, id int64) (filegate.File, error)
	Limits() ingest.Limits
}

// Sessions issues and reads the session cookie, reads link tokens,
// issues and reads the cookie that unlocks a password link, and seals
// the notes a redirect carries for one user; implemented by
// session.Codec.
type Sessions interface {
	Set(w http.ResponseWriter, cl session.Claims) error
	Clear(w http.ResponseWriter)
	FromRequest(r *http.Request) (session.Claims, error)
	SealNote(userID int64, text string) (string, error)
	OpenNote(userID int64, sealed string) (string, bool)

	ParseLinkToken(token string) (id int64, nonce []byte, ok bool)
	SetLinkCookie(w http.ResponseWriter, token string, id int64, nonce []byte, ttl time.Duration) error
	LinkUnlocked(r *http.Request, id int64, nonce []byte) bool
}

// Links creates, lists, revokes and unlocks share links; implemented by
// link.Service, which the CLI uses too.
type Links interface {
	Create(ctx context.Context, from link.Origin, ownerID int64, spec link.Spec) (link.Shared, error)
	List(ctx context.Context, ownerID int64) ([]link.Shared, error)
	Revoke(ctx context.Context, from link.Origin, viewer filegate.Profile, id int64) (link.Shared, error)
	Lookup(ctx context.Context, token string) (filegate.ListedLink, error)
	Unlock(ctx context.Context, from link.Origin, token, password string) (filegate.ListedLink, error)
	Throttled(ctx context.Context, from link.Origin, id int64)
	MaxTTL() time.Duration
}

// Uses notes that a session was used, without waiting for any I/O;
// implemented by account.Recorder.
type Uses interface {
	Used(sessionID int64)
}

// Throttle limits failed guesses per client address; implemented by
// throttle.Throttle. Guard runs check and returns its error, unless
// subject or client has failed too often in scope: then check does not
// run, and Guard returns how long until the next attempt is let through.
// check's error counts as a failure when it is EUNAUTHORIZED or
// EFORBIDDEN.
type Throttle interface {
	Guard(ctx context.Context, scope, subject string, client netip.Addr, check func() error) (time.Duration, error)
}

// guard is Throttle.Guard, counting each attempt it refuses; scope is
// one of package metrics' Throttle constants.
func (s *Server) guard(ctx context.Context, scope, subject string, client netip.Addr, check func() error) (time.Duration, error) {
	wait, err := s.Throttle.Guard(ctx, scope, subject, client, check)
	if wait > 0 {
		s.Metrics.Throttled(scope)
	}
	return wait, err
}

// outcome names, for a metrics label, how an action that ended in err
// went: ok when err is nil, else the name byCode gives err's code, else
// failed.
func outcome(err error, ok string, byCode map[string]string, failed string) string {
	if err == nil {
		return ok
	}
	if name, found := byCode[filegate.ErrorCode(err)]; found {
		return name
	}
	return failed
}

// DefaultPageSize is the number of files a list page shows when
// Server.PageSize is zero.
const DefaultPageSize = 50

// DefaultMaxFilesPerRequest is the number of files one upload request may
// store when Server.MaxFilesPerRequest is zero.
const DefaultMaxFilesPerRequest = 20

// Server is the web app. Fill in the fields, then serve Handler().
type Server struct {
	Store    Store
	Files    Ingester
	Sessions Sessions
	Links    Links
	Admin    Admin
	Throttle Throttle
	Log      *slog.Logger
	// Audit gets one line per login, logout, password change, upload,
	// delete and share change (docs/interface.md#audit-log); nil writes
	// none. The share links write their own, through Links.
	Audit *audit.Logger

	// TrustedProxies are the peers whose X-Real-IP header names the
	// client (nginx); from anyone else the header is ignored.
	TrustedProxies []netip.Prefix
	// SessionTTL is how long a login lasts (FILEGATE_SESSION_TTL).
	SessionTTL time.Duration
	// Uses is told about every request made with a valid session; nil
	// records nothing.
	Uses Uses
	// Now is the clock sessions start and expire by; nil means time.Now.
	Now func() time.Time
	// Metrics counts uploads, logins, throttled guesses and revoked
	// sessions; nil counts nothing.
	Metrics *metrics.Uploader

	// PageSize is the number of files (or, on the admin page, users)
	// per list page; 0 means DefaultPageSize.
	PageSize int
	// Quota is what each user may store (FILEGATE_QUOTA,
	// FILEGATE_QUOTA_FILES), which the admin page shows use against.
	Quota filegate.Quota
	// MaxFilesPerRequest is the number of files one upload request may
	// store (FILEGATE_MAX_FILES_PER_REQUEST); 0 means
	// DefaultMaxFilesPerRequest.
	MaxFilesPerRequest int
}

// Handler returns every route of docs/interface.md#web-app plus /static/.
// Each handler is adapted by handle, withViewer (the viewer, if any, in
// the request context) or requireViewer (a logged-in viewer), all of which
// answer the handler's error. State-changing requests from other sites are
// refused with 403 before any handler runs, and every answer carries the
// security headers.
func (s *Server) Handler() http.Handler {
	r := httprouter.New()
	r.HandlerFunc(http.MethodGet, "/login", s.withViewer(s.loginPage))
	r.HandlerFunc(http.MethodPost, "/login", s.withViewer(s.login))
	r.HandlerFunc(http.MethodPost, "/logout", s.withViewer(s.logout))
	r.HandlerFunc(http.MethodGet, "/account", s.requireViewer(s.accountPage))
	r.HandlerFunc(http.MethodPost, "/account/password", s.requireViewer(s.changePassword))
	r.HandlerFunc(http.MethodGet, "/", s.requireViewer(s.home))
	r.HandlerFunc(http.MethodGet, "/u/:slug", s.requireViewer(s.userFiles))
	r.HandlerFunc(http.MethodGet, "/upload", s.requireViewer(s.uploadPage))
	r.HandlerFunc(http.MethodPost, "/upload", s.requireViewer(s.upload))
	r.HandlerFunc(http.MethodGet, "/delete/:id", s.requireViewer(s.confirmDelete))
	r.HandlerFunc(http.MethodPost, "/delete/:id", s.requireViewer(s.delete))
	r.HandlerFunc(http.MethodPost, "/settings", s.requireViewer(s.settings))
	r.HandlerFunc(http.MethodGet, "/api/files", s.requireViewer(s.apiFiles))
	r.HandlerFunc(http.MethodGet, "/download/:owner/:name", s.requireViewer(s.downloadStarted))
	// The page nginx shows a browser for a refused download or upload,
	// with nginx's status; no login needed, as for the refusal itself.
	r.HandlerFunc(http.MethodGet, "/error/:status", s.withViewer(s.errorPageOf))
	r.HandlerFunc(http.MethodHead, "/error/:status", s.withViewer(s.errorPageOf))
	r.HandlerFunc(http.MethodGet, "/links", s.requireViewer(s.linksPage))
	r.HandlerFunc(http.MethodPost, "/links", s.requireViewer(s.createLink))
	r.HandlerFunc(http.MethodPost, "/links/:id/revoke", s.requireViewer(s.revokeLink))
	// Staff only; anyone else gets 404, as for a page that is not there.
	r.HandlerFunc(http.MethodGet, "/admin", s.requireStaff(s.adminPage))
	r.HandlerFunc(http.MethodPost, "/admin/users", s.requireStaff(s.createUser))
	r.HandlerFunc(http.MethodPost, "/admin/users/:id/password", s.requireStaff(s.resetPassword))
	r.HandlerFunc(http.MethodPost, "/admin/users/:id/flags", s.requireStaff(s.setFlags))
	r.HandlerFunc(http.MethodPost, "/admin/users/:id/logout", s.requireStaff(s.logoutUser))
	r.HandlerFunc(http.MethodGet, "/admin/users/:id/remove", s.requireStaff(s.confirmRemove))
	r.HandlerFunc(http.MethodPost, "/admin/users/:id/remove", s.requireStaff(s.removeUser))
	// A link's password page needs no login: whoever has the URL may
	// try. nginx sends a browser here when authz asks for the password.
	r.HandlerFunc(http.MethodGet, "/s/:token", s.withViewer(s.linkPasswordPage))
	r.HandlerFunc(http.MethodPost, "/s/:token", s.withViewer(s.unlockLink))
	// Redis is not checked: without it invalidations degrade to the TTL.
	healthz := httpserver.Healthz(s.Store.Ping, s.Log)
	r.HandlerFunc(http.MethodGet, "/healthz", healthz)
	r.HandlerFunc(http.MethodHead, "/healthz", healthz)
	r.HandlerFunc(http.MethodGet, "/static/*name", s.handle(s.static))
	r.NotFound = s.withViewer(func(w http.ResponseWriter, r *http.Request) error {
		return errNoPage
	})
	r.MethodNotAllowed = s.withViewer(func(w http.ResponseWriter, r *http.Request) error {
		// Answered here rather than returned: 405 is about HTTP, not a
		// filegate failure, so it has no error code in the one table and
		// nothing to log. httprouter has set Allow.
		s.answerError(w, r, http.StatusMethodNotAllowed, "This address does not take a "+r.Method+" request.")
		return nil
	})
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.Log.ErrorContext(r.Context(), "web: panic", "panic", v, "method", r.Method, "path", logPath(r))
		s.answerError(w, r, http.StatusInternalServerError, "Internal error.")
	}

	// Sec-Fetch-Site / Origin checks on every non-GET/HEAD request; no
	// tokens to thread through forms and scripts.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errCrossSite
	}))
	return securityHeaders(csrf.Handler(r))
}

var (
	errNoPage    = filegate.Errorf(filegate.ENOTFOUND, "There is no such page.")
	errCrossSite = filegate.Errorf(filegate.EFORBIDDEN, "Cross-site requests are refused.")
)

// contentSecurityPolicy allows only this origin's own scripts, styles and
// images, and no framing: the pages have no inline script or style.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// securityHeaders sets the headers every answer carries. Pages show
// private data, so they are not stored by caches; static assets override
// Cache-Control.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
