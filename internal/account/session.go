package account

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/filegate/filegate/internal/batch"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
)

// Sessions is the part of the store StartSession needs.
type Sessions interface {
	CreateSession(ctx context.Context, s *filegate.Session, passwordHash []byte) error
}

// StartSession records a new session for u, who has just proved their
// password (u.PasswordHash is the hash it was checked against), valid
// from now for ttl, and returns what its cookie carries. The expiry is
// in whole seconds, as the cookie keeps it. If the password changed or
// the user was removed since the check, the error is the EUNAUTHORIZED
// of a wrong password and no session exists.
func StartSession(ctx context.Context, store Sessions, u filegate.User, userAgent string, now time.Time, ttl time.Duration) (session.Claims, error) {
	token := session.NewToken()
	hash := session.HashToken(token)
	s := filegate.Session{UserID: u.ID, TokenHash: hash[:], UserAgent: UserAgent(userAgent),
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(ttl).Truncate(time.Second)}
	err := store.CreateSession(ctx, &s, u.PasswordHash)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return session.Claims{}, errDenied
	} else if err != nil {
		return session.Claims{}, err
	}
	return session.Claims{UserID: u.ID, Token: token, Expires: s.ExpiresAt, TokenHash: hash}, nil
}

// maxUserAgent is how much of a User-Agent header a session keeps.
const maxUserAgent = 255

// UserAgent returns a User-Agent header as a session keeps it: valid
// UTF-8 without control characters, at most 255 bytes.
func UserAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(ua, "\uFFFD"))
	if len(ua) > maxUserAgent {
		// A cut inside a character leaves invalid bytes, which go.
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return strings.TrimSpace(ua)
}

// Stale is the part of the store CleanSessions needs.
type Stale interface {
	DeleteStaleSessions(ctx context.Context, now time.Time) (int64, error)
}

// CleanSessions deletes the expired and revoked sessions every interval
// until ctx ends. They can never be used again; without it the table
// would only grow. Failures are logged and tried again next time.
func CleanSessions(ctx context.Context, store Stale, interval time.Duration, log *slog.Logger) {
	batch.Every(ctx, interval, func() {
		if n, err := store.DeleteStaleSessions(ctx, time.Now()); err != nil {
			log.WarnContext(ctx, "sessions: cleanup failed; trying again later", "err", err)
		} else if n > 0 {
			log.InfoContext(ctx, "sessions: deleted expired and revoked sessions", "count", n)
		}
	})
}
