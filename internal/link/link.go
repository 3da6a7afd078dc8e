// Package link creates, lists, revokes and unlocks share links
// (docs/interface.md#share-links). The web app and the CLI both go
// through it, so a link's rules (how long it may last, its download
// limit, its password) live once, and every creation, revocation and
// unlock attempt writes its audit line here, whoever asked.
//
// Serving a link's bytes is authz's and nginx's: this package only keeps
// the records a download is decided on.
package link

import (
	"context"
	"crypto/rand"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/policy"
	"github.com/filegate/filegate/internal/session"
)

// DefaultTTL is how long a link lasts when its creator does not say
// (docs/interface.md#share-links).
const DefaultTTL = 168 * time.Hour

// Store is the part of the database links live in; implemented by
// postgres.DB.
type Store interface {
	CreateLink(ctx context.Context, l *filegate.Link) error
	Link(ctx context.Context, id int64) (filegate.ListedLink, error)
	UserLinks(ctx context.Context, userID int64) ([]filegate.ListedLink, error)
	RevokeLink(ctx context.Context, id int64, now time.Time) (filegate.Link, error)
}

// Tokens makes and reads the tokens of link URLs; implemented by
// session.Codec.
type Tokens interface {
	LinkToken(id int64, nonce []byte) string
	ParseLinkToken(token string) (id int64, nonce []byte, ok bool)
}

// Service is the one place links are made, listed, revoked and unlocked.
// Build it with New; it is safe for concurrent use.
type Service struct {
	store  Store
	tokens Tokens
	maxTTL time.Duration

	// Audit receives one line per creation, revocation and unlock
	// attempt; nil writes none.
	Audit *audit.Logger
	// Metrics counts the same events by outcome; nil counts nothing.
	Metrics *metrics.Uploader
	// Now is the clock links are made, expire and are revoked by; nil
	// means time.Now.
	Now func() time.Time
}

// New returns a Service keeping links in store, naming them with tokens,
// that lets no link last longer than maxTTL (FILEGATE_LINK_MAX_TTL).
func New(store Store, tokens Tokens, maxTTL time.Duration) *Service {
	return &Service{store: store, tokens: tokens, maxTTL: maxTTL}
}

// MaxTTL is the longest a link may be made to last.
func (s *Service) MaxTTL() time.Duration { return s.maxTTL }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Origin is where a request comes from, as the audit log records it. The
// CLI has none: its Origin is the zero value.
type Origin struct {
	Addr      netip.Addr // the client's address (web.Server.clientAddr)
	RequestID string     // nginx's request id, sanitized (audit.RequestID)
}

// Spec is what the creator of a link chooses.
type Spec struct {
	FileID       int64
	ExpiresIn    time.Duration // from now; more than 0 and at most MaxTTL
	MaxDownloads *int64        // nil: no limit; else at least 1
	Password     string        // "": none; else as account.HashPassword takes it
}

// Shared is a link as its creator sees it: with its file, its URL and its
// state at the time it was read.
type Shared struct {
	filegate.ListedLink
	URL   string // /s/{token}
	State filegate.LinkState
}

func (s *Service) shared(l filegate.ListedLink, now time.Time) Shared {
	return Shared{ListedLink: l, URL: filegate.LinkURL(s.tokens.LinkToken(l.ID, l.Nonce)), State: l.State(now)}
}

// Create makes a link to file spec.FileID for ownerID, who must own it,
// and returns it. A spec out of bounds is EINVALID (a password is held to
// the rules of account passwords: 8 characters to 72 bytes); a file that
// does not exist or is not ownerID's is ENOTFOUND, like every file the
// owner may not share. The link expires spec.ExpiresIn from now, cut to
// whole seconds as authz compares it.
func (s *Service) Create(ctx context.Context, from Origin, ownerID int64, spec Spec) (Shared, error) {
	l, err := s.newLink(ownerID, spec)
	if err == nil {
		err = s.store.CreateLink(ctx, &l)
	}
	var listed filegate.ListedLink
	if err == nil {
		// With its file, for the answer; a file deleted meanwhile took
		// the link with it, and is ENOTFOUND like any other.
		listed, err = s.store.Link(ctx, l.ID)
	}
	s.log(ctx, "link.create", from, ownerID, listed, l.ID, spec.FileID, err)
	if err != nil {
		return Shared{}, err
	}
	return s.shared(listed, s.now()), nil
}

// newLink checks spec and returns the link to store, with a fresh nonce.
func (s *Service) newLink(ownerID int64, spec Spec) (filegate.Link, error) {
	switch {
	case spec.ExpiresIn <= 0:
		return filegate.Link{}, filegate.Errorf(filegate.EINVALID, "A link must expire: give expires_in as a positive duration like 168h.")
	case spec.ExpiresIn > s.maxTTL:
		return filegate.Link{}, filegate.Errorf(filegate.EINVALID, "A link can last at most %s.", Span(s.maxTTL))
	case spec.MaxDownloads != nil && *spec.MaxDownloads < 1:
		return filegate.Link{}, filegate.Errorf(filegate.EINVALID, "max_downloads must be at least 1; leave it out for no limit.")
	}
	now := s.now()
	l := filegate.Link{FileID: spec.FileID, CreatedBy: ownerID, Nonce: make([]byte, session.LinkNonceSize),
		ExpiresAt: now.Add(spec.ExpiresIn).Truncate(time.Second), MaxDownloads: spec.MaxDownloads, CreatedAt: now}
	rand.Read(l.Nonce) // never fails (crypto/rand)
	if spec.Password != "" {
		var err error
		if l.PasswordHash, err = account.HashPassword(spec.Password); err != nil {
			return filegate.Link{}, err
		}
	}
	return l, nil
}

// List returns the links ownerID made, newest first, whatever their
// state (at most postgres.MaxListedLinks).
func (s *Service) List(ctx context.Context, ownerID int64) ([]Shared, error) {
	ls, err := s.store.UserLinks(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Shared, len(ls))
	for i, l := range ls {
		out[i] = s.shared(l, now)
	}
	return out, nil
}

var errNoLink = filegate.Errorf(filegate.ENOTFOUND, "No such link.")

// Revoke revokes link id for viewer, who must be its owner or staff (the
// CLI acts as staff: filegate.Profile{Staff: true}), and returns it. A
// link that does not exist and one viewer may not revoke are both
// ENOTFOUND, so nobody can probe for others' links. Revoking twice keeps
// the first time. The store tells authz before this returns.
func (s *Service) Revoke(ctx context.Context, from Origin, viewer filegate.Profile, id int64) (Shared, error) {
	l, err := s.store.Link(ctx, id)
	// The rule that lets the owner and staff delete a file lets them
	// take back its links.
	if err == nil && !policy.MayDelete(viewer, l.CreatedBy) {
		err = errNoLink
	}
	if err == nil {
		var revoked filegate.Link
		if revoked, err = s.store.RevokeLink(ctx, id, s.now()); err == nil {
			l.Link = revoked
		}
	}
	s.log(ctx, "link.revoke", from, viewer.ID, l, id, l.FileID, err)
	if err != nil {
		return Shared{}, err
	}
	return s.shared(l, s.now()), nil
}

// Lookup returns the link token names, as its password page shows it:
// ENOTFOUND for a token no configured key made, a link that does not
// exist (or whose file is gone) and one whose nonce differs; EGONE for
// one that is revoked, expired or used up. Its password is not checked.
func (s *Service) Lookup(ctx context.Context, token string) (filegate.ListedLink, error) {
	id, nonce, ok := s.tokens.ParseLinkToken(token)
	if !ok {
		return filegate.ListedLink{}, errNoLink
	}
	l, err := s.store.Link(ctx, id)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return filegate.ListedLink{}, errNoLink
	} else if err != nil {
		return filegate.ListedLink{}, err
	}
	now := s.now()
	// The rule downloads are decided by, so the page and authz agree;
	// the password is this page's to ask.
	switch policy.DecideLink(l.Facts(l.File), nonce, now, true) {
	case policy.Allow:
	case policy.Gone:
		return l, gone(l.State(now))
	default:
		return filegate.ListedLink{}, errNoLink
	}
	// A used-up link is gone for a password too: a download grant covers
	// the rest of a download, never a new unlock.
	if st := l.State(now); st == filegate.LinkExhausted {
		return l, gone(st)
	}
	return l, nil
}

// gone is the EGONE error for a link in state st.
func gone(st filegate.LinkState) error {
	switch st {
	case filegate.LinkRevoked:
		return filegate.Errorf(filegate.EGONE, "This link was revoked by its owner.")
	case filegate.LinkExhausted:
		return filegate.Errorf(filegate.EGONE, "This link has been used up: it allowed no more downloads.")
	}
	return filegate.Errorf(filegate.EGONE, "This link has expired.")
}

var errWrongPassword = filegate.Errorf(filegate.EUNAUTHORIZED, "Wrong password.")

// Unlock checks password against the link token names and returns the
// link when it is right, for the caller to set its cookie
// (session.Codec.SetLinkCookie). A link without a password is returned
// as it is. Errors are Lookup's, and EUNAUTHORIZED for a wrong password,
// which a throttle (web.Throttle) counts as a failed guess. The password
// is never logged.
func (s *Service) Unlock(ctx context.Context, from Origin, token, password string) (filegate.ListedLink, error) {
	l, err := s.Lookup(ctx, token)
	if err == nil && l.PasswordHash != nil && bcrypt.CompareHashAndPassword(l.PasswordHash, []byte(password)) != nil {
		err = errWrongPassword
	}
	s.log(ctx, "link.unlock", from, 0, l, l.ID, l.FileID, err)
	if err != nil {
		return filegate.ListedLink{}, err
	}
	return l, nil
}

// Throttled records an unlock attempt of link id that the throttle
// refused before Unlock could run.
func (s *Service) Throttled(ctx context.Context, from Origin, id int64) {
	s.Audit.Log(ctx, audit.Event{Action: "link.unlock", Outcome: audit.Failure, Reason: "throttled",
		LinkID: id, SourceIP: from.Addr, RequestID: from.RequestID})
	s.Metrics.LinkEvent(metrics.LinkUnlocked, metrics.OutcomeFailure)
}

// events names the metrics event of each audited action.
var events = map[string]string{"link.create": metrics.LinkCreated, "link.revoke": metrics.LinkRevoked, "link.unlock": metrics.LinkUnlocked}

// log writes the audit line of action on link l (or, when it could not
// be read, linkID and fileID as asked for) by userID, which ended in err,
// and counts the event.
func (s *Service) log(ctx context.Context, action string, from Origin, userID int64, l filegate.ListedLink, linkID, fileID int64, err error) {
	outcome := metrics.OutcomeSuccess
	if err != nil {
		outcome = metrics.OutcomeFailure
	}
	s.Metrics.LinkEvent(events[action], outcome)
	e := audit.Event{Action: action, Outcome: audit.Success, UserID: userID, LinkID: linkID, FileID: fileID,
		SourceIP: from.Addr, RequestID: from.RequestID}
	if l.ID != 0 {
		e.LinkID, e.FileID = l.ID, l.File.ID
	}
	if err != nil {
		e.Outcome, e.Reason = audit.Failure, reason(err, l.State(s.now()))
	}
	s.Audit.Log(ctx, e)
}

// reason names why an action failed with err, in the audit log's words.
func reason(err error, st filegate.LinkState) string {
	switch code := filegate.ErrorCode(err); code {
	case filegate.EGONE:
		if st == filegate.LinkExhausted {
			return "used_up"
		}
		return string(st)
	case filegate.EUNAUTHORIZED:
		return "password"
	case filegate.ENOTFOUND, filegate.EINVALID:
		return code
	}
	return "error"
}

// Span says d in the largest whole unit it is a number of: "90 days",
// "1 hour", else Go's "1h30m0s".
func Span(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}} {
		if n := d / u.d; d%u.d == 0 && n > 0 {
			if n == 1 {
				return "1 " + u.name
			}
			return strconv.FormatInt(int64(n), 10) + " " + u.name + "s"
		}
	}
	return d.String()
}
