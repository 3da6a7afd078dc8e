// Package authz is the auth_request endpoint nginx calls before every
// download (docs/interface.md#downloads). It answers with headers only: a status, and on 200
// the path, type and disposition nginx serves the file with.
package authz

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/policy"
	"github.com/filegate/filegate/internal/session"
)

// Headers of the contract with nginx/filegate.conf.
const (
	HeaderURI         = "X-Filegate-URI"         // request: the normalized original $uri
	HeaderPath        = "X-Filegate-Path"        // answer: file path below the private root
	HeaderType        = "X-Filegate-Type"        // answer: Content-Type to serve
	HeaderDisposition = "X-Filegate-Disposition" // answer: Content-Disposition to serve
	HeaderStatus      = "X-Filegate-Status"      // answer: "404" on a 403 that means not found
)

// Store reads decision facts; implemented by postgres.DB.
type Store interface {
	Facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, error)
	Ping(ctx context.Context) error
}

// Sessions decodes the session cookie; implemented by session.Codec.
type Sessions interface {
	FromRequest(r *http.Request) (session.Claims, error)
}

// Uses notes that a session was used, without waiting for any I/O;
// implemented by account.Recorder.
type Uses interface {
	Used(sessionID int64)
}

// Cache answers repeated requests without the store; implemented by
// cache.Cache.
type Cache interface {
	// Facts returns the facts for one request, from the cache or else from
	// load. It returns load's error as is and never fails by itself: the
	// cache is an optimization that must never change an answer. It must
	// not keep facts from a load that raced with a change, so that every
	// change shows on the next request.
	Facts(ctx context.Context, key filegate.FactsKey, load func() (filegate.Facts, error)) (filegate.Facts, error)
}

// NoCache keeps nothing: every request reads the store.
type NoCache struct{}

// Facts implements Cache by calling load.
func (NoCache) Facts(_ context.Context, _ filegate.FactsKey, load func() (filegate.Facts, error)) (filegate.Facts, error) {
	return load()
}

// Server answers nginx's auth subrequests.
type Server struct {
	Sessions Sessions
	Store    Store
	// Cache is asked before Store; nil means NoCache.
	Cache       Cache
	HidePrivate bool
	// InlineTypes are served with Content-Disposition: inline; all other
	// types are attachments. Keys are bare types (filegate.MediaType).
	InlineTypes map[string]bool
	// StoreTimeout bounds one database read, so a hung database turns into
	// a prompt 503 instead of a hung download.
	StoreTimeout time.Duration
	// Uses is told about every request made with a valid session; nil
	// records nothing.
	Uses Uses
	// Now is the clock sessions expire by; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Handler returns the routes: /auth for nginx and /healthz.
func (s *Server) Handler() http.Handler {
	r := httprouter.New()
	r.HandlerFunc(http.MethodGet, "/auth", s.auth) // nginx's subrequests are GETs, for HEAD downloads too
	// Redis is not checked: without it authz answers from PostgreSQL.
	r.HandlerFunc(http.MethodGet, "/healthz", httpserver.Healthz(s.Store.Ping, s.Log))
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		s.Log.ErrorContext(r.Context(), "panic", "panic", v, "uri", r.Header.Get(HeaderURI))
		answer(w, http.StatusServiceUnavailable)
	}
	return r
}

// auth decides one download. Any doubt is a denial: a broken store is a
// 503, never a 200.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	// A path that cannot name a file parses as owner 0, who never exists:
	// it is a 404, once the session is known to be valid (else 401).
	ownerID, name, _ := ParseFileURI(r.Header.Get(HeaderURI))
	// Without a cookie that decodes, the facts stay zero: no session, 401.
	var facts filegate.Facts
	if claims, err := s.Sessions.FromRequest(r); err == nil {
		key := filegate.FactsKey{ViewerID: claims.UserID, SessionHash: session.HashToken(claims.Token), OwnerID: ownerID, StoredName: name}
		if facts, err = s.facts(r.Context(), key); err != nil {
			s.Log.ErrorContext(r.Context(), "authz: cannot decide", "err", err)
			answer(w, http.StatusServiceUnavailable)
			return
		}
	}
	decision := policy.Decide(facts, s.now(), s.HidePrivate)
	if decision != policy.Unauthenticated && s.Uses != nil {
		s.Uses.Used(facts.Session.ID)
	}
	switch decision {
	case policy.Allow:
		h := w.Header()
		h.Set(HeaderPath, facts.File.Path)
		h.Set(HeaderType, facts.File.ContentType)
		h.Set(HeaderDisposition, Disposition(s.dispositionType(facts.File.ContentType), ServedName(facts.File.DisplayName, facts.File.ContentType)))
		answer(w, http.StatusOK)
	case policy.Unauthenticated:
		answer(w, http.StatusUnauthorized)
	case policy.NotFound:
		// auth_request passes only 2xx, 401 and 403; nginx turns this
		// 403 into a 404 with error_page.
		w.Header().Set(HeaderStatus, "404")
		answer(w, http.StatusForbidden)
	default:
		answer(w, http.StatusForbidden)
	}
}

// dispositionType says whether a file of contentType is shown in the
// browser. InlineTypes holds bare types; a stored type may carry parameters.
func (s *Server) dispositionType(contentType string) DispositionType {
	if s.InlineTypes[filegate.MediaType(contentType)] {
		return Inline
	}
	return Attachment
}

// facts returns the decision inputs, from the cache or the store. Only the
// store's error is returned.
func (s *Server) facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, error) {
	cache := s.Cache
	if cache == nil {
		cache = NoCache{}
	}
	return cache.Facts(ctx, key, func() (filegate.Facts, error) {
		ctx, cancel := context.WithTimeout(ctx, s.StoreTimeout)
		defer cancel()
		return s.Store.Facts(ctx, key)
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// answer writes a bodiless response. nginx keeps the upstream connection
// alive only when the answer has no body, so even errors carry none.
func answer(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// ParseFileURI splits "/files/{owner_id}/{stored_name}" as nginx normalized
// it. It accepts only the canonical form: a decimal id without sign or
// leading zeros and a name matching filegate.StoredNamePattern. Anything
// else cannot name a file.
func ParseFileURI(uri string) (ownerID int64, name string, ok bool) {
	rest, found := strings.CutPrefix(uri, "/files/")
	if !found {
		return 0, "", false
	}
	idStr, name, found := strings.Cut(rest, "/")
	if !found || !filegate.StoredNamePattern.MatchString(name) {
		return 0, "", false
	}
	id, ok := filegate.ParseID(idStr)
	if !ok {
		return 0, "", false
	}
	return id, name, true
}
