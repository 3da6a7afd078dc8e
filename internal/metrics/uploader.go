package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The result label of uploads: what became of one file of an upload.
const (
	UploadStored      = "stored"
	UploadTooLarge    = "too_large"   // over FILEGATE_MAX_UPLOAD
	UploadTooMany     = "too_many"    // past FILEGATE_MAX_FILES_PER_REQUEST in one request
	UploadUnsupported = "unsupported" // a type FILEGATE_ALLOWED_TYPES does not allow
	UploadQuota       = "quota"       // over the owner's quota
	UploadNoSpace     = "no_space"    // the disk is full
	UploadInvalid     = "invalid"     // empty, or broken off
	UploadError       = "error"       // anything else: the store, the disk, the client gone
)

// The result label of logins.
const (
	LoginSuccess   = "success"
	LoginFailure   = "failure"   // unknown user or wrong password
	LoginThrottled = "throttled" // refused by the throttle, whatever the password
	LoginError     = "error"     // the store failed
)

// The scope label of throttled requests: what was being guessed.
const (
	ThrottleLogin    = "login"    // a user's password, at POST /login
	ThrottlePassword = "password" // the current password, at POST /account/password
	ThrottleLink     = "link"     // a share link's password, at POST /s/{token}
)

// The reason label of revoked sessions.
const (
	RevokedLogout     = "logout"     // POST /logout
	RevokedEverywhere = "everywhere" // POST /logout with everywhere=true
	RevokedPassword   = "password"   // the others, at a password change
	RevokedRelogin    = "relogin"    // the browser's old session, at a new login
)

// The event and outcome labels of share link events.
const (
	LinkCreated    = "created"
	LinkRevoked    = "revoked"
	LinkUnlocked   = "unlocked" // a password tried, right or wrong
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

var (
	uploadResults  = []string{UploadStored, UploadTooLarge, UploadTooMany, UploadUnsupported, UploadQuota, UploadNoSpace, UploadInvalid, UploadError}
	loginResults   = []string{LoginSuccess, LoginFailure, LoginThrottled, LoginError}
	throttleScopes = []string{ThrottleLogin, ThrottlePassword, ThrottleLink}
	revokeReasons  = []string{RevokedLogout, RevokedEverywhere, RevokedPassword, RevokedRelogin}
	linkEvents     = []string{LinkCreated, LinkRevoked, LinkUnlocked}
	outcomes       = []string{OutcomeSuccess, OutcomeFailure}
)

// uploadBuckets span one file's ingest, which reads it from the client:
// from a small file on the same machine to 25 MiB over a slow line.
var uploadBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Uploader is the web app's collectors. Its methods are safe for
// concurrent use; on a nil *Uploader they do nothing.
type Uploader struct {
	uploads   *counterVec
	bytes     prometheus.Counter
	ingest    prometheus.Histogram
	logins    *counterVec
	throttled *counterVec
	revoked   *counterVec
	links     *counterVec
}

// NewUploader registers the web app's collectors on reg. It panics when
// reg holds them already: a second call for one registry is a bug.
func NewUploader(reg prometheus.Registerer) *Uploader {
	m := &Uploader{
		uploads: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_uploads_total",
			Help: "Files sent to POST /upload, by result: stored, or why not.",
		}, []string{"result"}, uploadResults),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filegate_upload_bytes_total",
			Help: "Bytes of the files stored by POST /upload.",
		}),
		ingest: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "filegate_upload_duration_seconds",
			Help:    "Time to receive, check and store one uploaded file (stored or refused by ingest), reading it from the client included.",
			Buckets: uploadBuckets,
		}),
		logins: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_logins_total",
			Help: "Attempts at POST /login, by result.",
		}, []string{"result"}, loginResults),
		throttled: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_throttled_requests_total",
			Help: "Password guesses the throttle refused without checking them, by what was guessed.",
		}, []string{"scope"}, throttleScopes),
		revoked: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_sessions_revoked_total",
			Help: "Sessions the web app revoked, by reason.",
		}, []string{"reason"}, revokeReasons),
		links: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_link_events_total",
			Help: "Share links created, revoked and unlocked in the web app, by outcome.",
		}, []string{"event", "outcome"}, linkEvents, outcomes),
	}
	reg.MustRegister(m.bytes, m.ingest)
	return m
}

// Uploaded records one file of an upload: result is one of the Upload
// constants, size the bytes stored (0 unless stored), took the time
// ingest spent on it (0 for a file refused before ingest: not observed).
func (m *Uploader) Uploaded(result string, size int64, took time.Duration) {
	if m == nil {
		return
	}
	m.uploads.add(1, result)
	if size > 0 {
		m.bytes.Add(float64(size))
	}
	if took > 0 {
		m.ingest.Observe(took.Seconds())
	}
}

// Login records one login attempt; result is one of the Login constants.
func (m *Uploader) Login(result string) {
	if m == nil {
		return
	}
	m.logins.add(1, result)
}

// Throttled records one attempt the throttle refused; scope is one of the
// Throttle constants.
func (m *Uploader) Throttled(scope string) {
	if m == nil {
		return
	}
	m.throttled.add(1, scope)
}

// SessionsRevoked records n sessions revoked for reason, one of the
// Revoked constants.
func (m *Uploader) SessionsRevoked(reason string, n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.revoked.add(float64(n), reason)
}

// LinkEvent records one share link event: event is LinkCreated,
// LinkRevoked or LinkUnlocked, outcome OutcomeSuccess or OutcomeFailure.
func (m *Uploader) LinkEvent(event, outcome string) {
	if m == nil {
		return
	}
	m.links.add(1, event, outcome)
}
