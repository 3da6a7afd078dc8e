// Package authz is the auth_request endpoint nginx calls before every
// download (docs/interface.md#downloads), of a file at /files/ or through a
// share link at /s/ (docs/interface.md#share-links, link.go). It answers
// with headers only: a status, and on 200 the path, type and disposition
// nginx serves the file with.
package authz

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/httpserver"
	"github.com/filegate/filegate/internal/memo"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/policy"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/storage"
)

// Headers of the contract with nginx/filegate.conf. The request also
// carries the client's cookies, and nginx's $request_id in
// audit.HeaderRequestID.
const (
	HeaderURI = "X-Filegate-URI" // request: the normalized original $uri
	// The auth subrequest is always a GET; share links count downloads by
	// the client's method and Range (policy.LinkUse) and grant later
	// ranges per client address.
	HeaderMethod      = "X-Filegate-Method"      // request: the client's $request_method
	HeaderRange       = "X-Filegate-Range"       // request: the client's Range header, if any
	HeaderClient      = "X-Filegate-Client"      // request: the client's address, $remote_addr
	HeaderPath        = "X-Filegate-Path"        // answer: file path below the private root
	HeaderType        = "X-Filegate-Type"        // answer: Content-Type to serve
	HeaderDisposition = "X-Filegate-Disposition" // answer: Content-Disposition to serve
	// answer: "404" or "410" on a 403 that means not found or gone
	HeaderStatus = "X-Filegate-Status"
	// answer: with "410", why a share link is gone ("expired", "revoked"
	// or "used_up"), for nginx to pass to the uploader's error page
	HeaderReason = "X-Filegate-Reason"
	// answer, with FILEGATE_STORAGE=s3 instead of the path: the presigned
	// URL nginx fetches the file from
	HeaderURL = "X-Filegate-URL"
)

// uriHeader is HeaderURI as net/http keys it.
var uriHeader = http.CanonicalHeaderKey(HeaderURI)

// Store reads decision facts and counts link downloads; implemented by
// postgres.DB.
type Store interface {
	Facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, error)
	// LinkFacts returns Exists false for an unknown link, not an error.
	LinkFacts(ctx context.Context, id int64) (filegate.LinkFacts, error)
	// CountLinkDownload counts one download unless the link is gone,
	// revoked, expired or used up, and reports whether it did; a limited
	// link grants client later ranges until grantUntil.
	CountLinkDownload(ctx context.Context, id int64, client netip.Addr, now, grantUntil time.Time) (bool, error)
	// LinkProgress is ENOTFOUND for an unknown link.
	LinkProgress(ctx context.Context, id int64, client netip.Addr, now time.Time) (filegate.LinkProgress, error)
	Ping(ctx context.Context) error
}

// Sessions decodes the session cookie, link tokens and link cookies;
// implemented by session.Codec.
type Sessions interface {
	FromRequest(r *http.Request) (session.Claims, error)
	// ParseLinkToken is not ok for any token its keys did not make.
	ParseLinkToken(token string) (id int64, nonce []byte, ok bool)
	// LinkUnlocked reports whether r carries a valid cookie of a password
	// link.
	LinkUnlocked(r *http.Request, id int64, nonce []byte) bool
}

// Presigner signs the URL nginx fetches an allowed file from when files
// live in a bucket (FILEGATE_STORAGE=s3); implemented by s3.Signer.
type Presigner interface {
	// Presign returns a URL good for one request, method, for the object
	// key, from now until expiry, whose answer carries contentType and
	// disposition. It fails never: it only computes.
	Presign(method, key string, now time.Time, expiry time.Duration, contentType, disposition string) string
}

// errNoMethod is the metrics' error for a request without a method to
// sign a URL for.
var errNoMethod = errors.New("authz: no download method to sign for")

// URLExpiry is how long a URL authz presigns works: nginx fetches it at
// once; the rest is room for clock skew between authz and the store
// (docs/operating.md#downloads-from-a-bucket).
const URLExpiry = time.Minute

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
	// Link is Facts for the facts of share link id, with the same
	// guarantees. A link's download count is never cached.
	Link(ctx context.Context, id int64, load func() (filegate.LinkFacts, error)) (filegate.LinkFacts, error)
	// Remembered returns what Facts would answer for key from this
	// process's memory, without any I/O, if it may: ok false, and Facts
	// is asked. RememberedLink is the same for Link.
	Remembered(key filegate.FactsKey) (facts filegate.Facts, ok bool)
	RememberedLink(id int64) (facts filegate.LinkFacts, ok bool)
}

// NoCache keeps nothing: every request reads the store.
type NoCache struct{}

// Remembered implements Cache: nothing is.
func (NoCache) Remembered(filegate.FactsKey) (filegate.Facts, bool) { return filegate.Facts{}, false }

// RememberedLink implements Cache: nothing is.
func (NoCache) RememberedLink(int64) (filegate.LinkFacts, bool) { return filegate.LinkFacts{}, false }

// Facts implements Cache by calling load.
func (NoCache) Facts(_ context.Context, _ filegate.FactsKey, load func() (filegate.Facts, error)) (filegate.Facts, error) {
	return load()
}

// Link implements Cache by calling load.
func (NoCache) Link(_ context.Context, _ int64, load func() (filegate.LinkFacts, error)) (filegate.LinkFacts, error) {
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
	// Tally counts the downloads of links without a limit, to write them
	// in batches; nil counts each in the store as it happens, as for
	// limited links.
	Tally *Tally
	// Now is the clock sessions and links expire by; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Audit gets one line per decision, of a file or a share link; nil
	// writes none.
	Audit *audit.Logger
	// Metrics counts every decision with its latency, cache lookups and
	// store failures; nil counts nothing.
	Metrics *metrics.Authz
	// Bucket signs the URLs of allowed downloads when files live in a
	// bucket; nil means the private root, which nginx reads from the
	// path authz answers.
	Bucket Presigner

	// answers holds the headers of a 200 by the file they serve
	// (allowedHeaders); Handler makes it.
	answers *memo.Map[filegate.Target, allowed]
}

// answersKept bounds answers: the files being downloaded now, each a few
// hundred bytes.
const answersKept = 4096

// allowed is the headers of a 200 for one file, the values as net/http
// keeps them, shared by every answer for that file and never modified.
type allowed struct {
	path, contentType, disposition []string
	// key is the file's object key in the bucket (storage.Key), for the
	// URL signed per request.
	key string
}

// Handler returns the routes: /auth for nginx and /healthz.
func (s *Server) Handler() http.Handler {
	s.answers = memo.New[filegate.Target, allowed](answersKept)
	r := httprouter.New()
	r.HandlerFunc(http.MethodGet, "/auth", s.auth) // nginx's subrequests are GETs, for HEAD downloads too
	// Redis is not checked: without it authz answers from PostgreSQL.
	r.HandlerFunc(http.MethodGet, "/healthz", httpserver.Healthz(s.Store.Ping, s.Log))
	r.PanicHandler = func(w http.ResponseWriter, r *http.Request, v any) {
		uri := r.Header.Get(HeaderURI)
		if strings.HasPrefix(uri, linkPrefix) {
			uri = linkPrefix + "…" // a link's token opens it: secrets never reach the log
		}
		s.Log.ErrorContext(r.Context(), "panic", "panic", v, "uri", uri)
		answer(w, http.StatusServiceUnavailable)
	}
	return r
}

// auth decides one download and writes one audit line for it. Any doubt
// is a denial: a broken store is a 503, never a 200.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // for the metrics and the audit line; decisions use s.now
	var uri string
	if v := r.Header[uriHeader]; len(v) > 0 { // as Header.Get, without canonicalizing the name each time
		uri = v[0]
	}
	if method := r.Header.Get(HeaderMethod); s.Bucket != nil && method != http.MethodGet && method != http.MethodHead {
		// A URL is signed for one method, so an allowed download could
		// not be answered: nginx's config lacks X-Filegate-Method.
		s.Log.ErrorContext(r.Context(), "authz: no download method to sign a URL for: nginx must send X-Filegate-Method", "method", method)
		action := "file.download"
		if strings.HasPrefix(uri, linkPrefix) {
			action = "link.download"
		}
		s.audit(r, start, audit.Event{Action: action, Reason: reasonUnavailable})
		answer(w, http.StatusServiceUnavailable)
		s.decided(start, policy.Deny, metrics.SourceNone, errNoMethod)
		return
	}
	if token, ok := strings.CutPrefix(uri, linkPrefix); ok {
		s.link(w, r, token, start)
		return
	}
	// A path that cannot name a file parses as owner 0, who never exists:
	// it is a 404, once the session is known to be valid (else 401).
	ownerID, name, _ := filegate.ParseFileURI(uri)
	// Without a cookie that decodes, the facts stay zero: no session, 401.
	var facts filegate.Facts
	src := metrics.SourceNone
	if claims, err := s.Sessions.FromRequest(r); err == nil {
		key := filegate.FactsKey{ViewerID: claims.UserID, SessionHash: claims.TokenHash, OwnerID: ownerID, StoredName: name}
		if facts, src, err = s.facts(r.Context(), key); err != nil {
			s.Log.ErrorContext(r.Context(), "authz: cannot decide", "err", err)
			s.audit(r, start, audit.Event{Action: "file.download", Reason: reasonUnavailable, UserID: claims.UserID})
			answer(w, http.StatusServiceUnavailable)
			s.decided(start, policy.Deny, src, err)
			return
		}
	}
	decision := policy.Decide(facts, s.now(), s.HidePrivate)
	if decision != policy.Unauthenticated && s.Uses != nil {
		s.Uses.Used(facts.Session.ID)
	}
	// The user the cookie names (it is signed), even when its session is
	// no longer valid: who tried is what the audit log is for.
	s.audit(r, start, audit.Event{Action: "file.download", Reason: failure(decision), UserID: facts.Viewer.ID, FileID: facts.File.ID})
	s.answerDecision(w, r, decision, facts.File)
	s.decided(start, decision, src, nil)
}

// decided counts one decision, answered since start, whose facts came
// from src: an error when err is not nil (a 503), else decision.
func (s *Server) decided(start time.Time, decision policy.Decision, src string, err error) {
	label := decision.String()
	if err != nil {
		label = metrics.DecisionError
	}
	s.Metrics.Decided(label, src, time.Since(start))
}

// failure is the audit log's reason for decision: "" for Allow, else the
// decision's name ("unauthenticated", "not_found", "deny", "gone").
func failure(decision policy.Decision) string {
	if decision == policy.Allow {
		return ""
	}
	return decision.String()
}

// audit writes e, about request r that authz began to answer at start,
// with the client's address and nginx's request id as nginx sent them, and
// the time since start. Its outcome follows its reason (audit.Event).
func (s *Server) audit(r *http.Request, start time.Time, e audit.Event) {
	// nginx sets the address for every subrequest; a missing or malformed
	// one is left out.
	e.SourceIP, _ = netip.ParseAddr(r.Header.Get(HeaderClient))
	e.RequestID = audit.RequestID(r.Header.Get(audit.HeaderRequestID))
	e.Duration = time.Since(start)
	s.Audit.Log(r.Context(), e)
}

// answerDecision writes the answer to r for decision; on Allow, nginx
// serves file with the answer's headers: from the private root at the
// answer's path, or from the bucket at the answer's URL, presigned for the
// client's method (nginx's X-Filegate-Method, GET or HEAD: auth checked
// it; a HEAD must be signed as one).
func (s *Server) answerDecision(w http.ResponseWriter, r *http.Request, decision policy.Decision, file filegate.Target) {
	switch decision {
	case policy.Allow:
		a := s.allowedHeaders(file)
		h := w.Header()
		// These names are canonical (TestHeadersCanonical): set without
		// Set's canonicalization. X-Filegate-URL is not ("Url"), and its
		// value is new per request anyway: Set.
		if s.Bucket == nil {
			h[HeaderPath] = a.path
		} else {
			h.Set(HeaderURL, s.Bucket.Presign(r.Header.Get(HeaderMethod), a.key, s.now(), URLExpiry, a.contentType[0], a.disposition[0]))
		}
		h[HeaderType], h[HeaderDisposition] = a.contentType, a.disposition
		answer(w, http.StatusOK)
	case policy.Unauthenticated:
		answer(w, http.StatusUnauthorized)
	case policy.NotFound:
		// auth_request passes only 2xx, 401 and 403; nginx turns this
		// 403 into a 404 with error_page.
		w.Header().Set(HeaderStatus, "404")
		answer(w, http.StatusForbidden)
	case policy.Gone:
		// Likewise, into a 410.
		w.Header().Set(HeaderStatus, "410")
		answer(w, http.StatusForbidden)
	default:
		answer(w, http.StatusForbidden)
	}
}

// allowedHeaders returns the headers of a 200 for file: made once, then
// kept in s.answers, since they depend on the file's row and on
// InlineTypes alone, and the disposition costs a type lookup and two
// escapes of the name.
func (s *Server) allowedHeaders(file filegate.Target) allowed {
	if a, ok := s.answers.Get(file); ok {
		return a
	}
	a := allowed{
		path:        []string{file.Path},
		contentType: []string{file.ContentType},
		disposition: []string{Disposition(s.dispositionType(file.ContentType), ServedName(file.DisplayName, file.ContentType))},
		key:         objectKey(file),
	}
	s.answers.Put(file, a)
	return a
}

// objectKey is file's key in the bucket (storage.Key), from its path
// (owner/stored name, from the database row) and id.
func objectKey(file filegate.Target) string {
	owner, name, _ := strings.Cut(file.Path, "/")
	ownerID, _ := filegate.ParseID(owner)
	return storage.Key(ownerID, file.ID, name)
}

// dispositionType says whether a file of contentType is shown in the
// browser. InlineTypes holds bare types; a stored type may carry parameters.
func (s *Server) dispositionType(contentType string) DispositionType {
	if s.InlineTypes[filegate.MediaType(contentType)] {
		return Inline
	}
	return Attachment
}

// facts returns the decision inputs, from the cache or the store, and
// where they came from (a Source of package metrics). Only the store's
// error is returned.
func (s *Server) facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, string, error) {
	if f, ok := s.cache().Remembered(key); ok {
		return f, metrics.SourceMemory, nil
	}
	var loaded bool
	f, err := s.cache().Facts(ctx, key, load(ctx, s.StoreTimeout, &loaded, func(ctx context.Context) (filegate.Facts, error) {
		return s.Store.Facts(ctx, key)
	}))
	return f, s.looked(loaded), s.storeErr(err)
}

// looked counts one lookup in the shared cache (Redis), which had to load
// the facts from the store when loaded, and returns where the facts came
// from. An answer from memory is no lookup in it.
func (s *Server) looked(loaded bool) string {
	if s.Cache != nil {
		s.Metrics.CacheLookup(!loaded)
	}
	return source(loaded)
}

// source names where a request's facts came from, for the decisions
// metric: the store when the cache had to load them, else the cache.
func source(loaded bool) string {
	if loaded {
		return metrics.SourceDB
	}
	return metrics.SourceRedis
}

// storeErr counts err, returned by a store call, when it is a failure of
// the store, and returns it. ENOTFOUND is an answer, and a request that
// nginx gave up on (its client left) is no failure of the database.
func (s *Server) storeErr(err error) error {
	if err != nil && filegate.ErrorCode(err) != filegate.ENOTFOUND && !errors.Is(err, context.Canceled) {
		s.Metrics.PostgresError()
	}
	return err
}

func (s *Server) cache() Cache {
	if s.Cache == nil {
		return NoCache{}
	}
	return s.Cache
}

// load returns the cache's load function for a store read: read, bounded
// by timeout. It sets *ran when the cache calls it, which tells a lookup
// the cache answered from one that read the store.
func load[T any](ctx context.Context, timeout time.Duration, ran *bool, read func(context.Context) (T, error)) func() (T, error) {
	return func() (T, error) {
		*ran = true
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return read(ctx)
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// answer writes a bodiless response. nginx keeps the upstream connection
// alive only when the answer has no body, so even errors carry none. It
// has no Date header either: nginx reads only the status and the
// X-Filegate-* headers of a subrequest's answer.
func answer(w http.ResponseWriter, status int) {
	h := w.Header()
	h["Content-Length"], h["Date"] = zeroLength, nil
	w.WriteHeader(status)
}

// zeroLength is every answer's Content-Length, never modified.
var zeroLength = []string{"0"}
