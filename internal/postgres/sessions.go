package postgres

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/filegate/filegate/internal/filegate"
)

const sessionColumns = `id, user_id, user_agent, created_at, last_used_at, expires_at, revoked_at`

// CreateSession inserts s (with its TokenHash) and fills in its ID,
// provided its user still exists with passwordHash: the hash the login
// was checked against. Otherwise no session is made and the error is
// ENOTFOUND. The user's row is share-locked while it is read, so a login
// racing a password change either sees the new password and fails, or
// commits first and is revoked with the others: it never outlives the
// change.
func (db *DB) CreateSession(ctx context.Context, s *filegate.Session, passwordHash []byte) error {
	err := db.db.QueryRowxContext(ctx, `INSERT INTO sessions (user_id, token_hash, user_agent, created_at, last_used_at, expires_at)
		SELECT id, $2, $3, $4, $4, $5 FROM users WHERE id = $1 AND password_hash = $6 FOR SHARE
		RETURNING id`,
		s.UserID, s.TokenHash, s.UserAgent, s.CreatedAt, s.ExpiresAt, passwordHash).Scan(&s.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return filegate.Errorf(filegate.ENOTFOUND, "No such user, or the password has changed.")
	}
	// authz is not told: it can have cached nothing about a session
	// whose token nobody knew before this insert (a fresh random token,
	// session.NewToken), and a new session changes no other decision.
	return wrap("create session", err)
}

// SessionByToken returns the session whose token hashes to tokenHash,
// with its user, in one query, whatever the session's state: the caller
// decides with policy.SessionValid. ENOTFOUND when there is none.
func (db *DB) SessionByToken(ctx context.Context, tokenHash [32]byte) (filegate.Session, filegate.User, error) {
	var row struct {
		Session filegate.Session `db:"s"`
		User    filegate.User    `db:"u"`
	}
	err := db.db.GetContext(ctx, &row, `SELECT `+qualified("s", sessionColumns)+`, `+qualified("u", userColumns)+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`, tokenHash[:])
	if errors.Is(err, sql.ErrNoRows) {
		return row.Session, row.User, filegate.Errorf(filegate.ENOTFOUND, "No such session.")
	}
	return row.Session, row.User, wrap("session", err)
}

// qualified returns the comma-separated columns of the table aliased t,
// named so that sqlx fills the struct field tagged t: "s.id AS "s.id"".
func qualified(t, columns string) string { return qualifiedAs(t, columns, t+".") }

// qualifiedAs returns the comma-separated columns of the table aliased
// t, each named prefix and its own name: "l.id AS "id"" for prefix "".
func qualifiedAs(t, columns, prefix string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = t + "." + c + ` AS "` + prefix + c + `"`
	}
	return strings.Join(cols, ", ")
}

// MaxListedSessions bounds ActiveSessions.
const MaxListedSessions = 100

// ActiveSessions returns the sessions of userID that are neither revoked
// nor expired at now, most recently used first, at most
// MaxListedSessions.
func (db *DB) ActiveSessions(ctx context.Context, userID int64, now time.Time) ([]filegate.Session, error) {
	ss := []filegate.Session{}
	err := db.db.SelectContext(ctx, &ss, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY last_used_at DESC, id DESC LIMIT $3`, userID, now, MaxListedSessions)
	return ss, wrap("active sessions", err)
}

// revokeSessions revokes every live session of user $1 except session $2
// (0: none) and counts them.
const revokeSessions = `UPDATE sessions SET revoked_at = now()
	WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`

// RevokeSession revokes session id of userID; one that is already
// revoked, gone or someone else's is left alone. authz learns of it
// before it returns.
func (db *DB) RevokeSession(ctx context.Context, userID, id int64) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	_, err := db.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = now()
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID)
	if err == nil || uncertain(err) {
		db.userChanged(ctx, userID)
	}
	return wrap("revoke session", err)
}

// RevokeSessions revokes every live session of userID except keepID (0:
// all of them) and returns how many it revoked. authz learns of it before
// it returns: the sessions' cached facts are tagged with their user's
// generation, so one bump reaches all of them.
func (db *DB) RevokeSessions(ctx context.Context, userID, keepID int64) (int64, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	res, err := db.db.ExecContext(ctx, revokeSessions, userID, keepID)
	if err == nil || uncertain(err) {
		db.userChanged(ctx, userID)
	}
	if err != nil {
		return 0, wrap("revoke sessions", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("revoke sessions", err)
}

// SetPassword replaces userID's password hash oldHash with newHash (nil
// oldHash: whatever it is) and, in the same transaction, revokes every
// live session of the user except keepID (0: all of them); it returns how
// many it revoked. ENOTFOUND when there is no such user or its hash is no
// longer oldHash: of two changes checked against the same password, only
// the first succeeds.
func (db *DB) SetPassword(ctx context.Context, userID int64, oldHash, newHash []byte, keepID int64) (int64, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	var revoked int64
	err := db.inTx(ctx, "set password", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2
			WHERE id = $1 AND ($3::bytea IS NULL OR password_hash = $3)`, userID, newHash, oldHash)
		if err != nil {
			return wrap("set password", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap("set password", err)
		} else if n == 0 {
			return filegate.Errorf(filegate.ENOTFOUND, "No such user, or the password has changed.")
		}
		if res, err = tx.ExecContext(ctx, revokeSessions, userID, keepID); err != nil {
			return wrap("set password: revoke sessions", err)
		}
		revoked, err = res.RowsAffected()
		return wrap("set password: revoke sessions", err)
	})
	if err == nil || uncertain(err) {
		db.userChanged(ctx, userID)
	}
	if err != nil {
		return 0, err
	}
	return revoked, nil
}

// TouchSessions records when sessions were last used, in one statement
// however many there are: lastUsed maps session ids to times. A time
// older than the recorded one, or a session that is gone, changes
// nothing.
func (db *DB) TouchSessions(ctx context.Context, lastUsed map[int64]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(lastUsed))
	times := make([]time.Time, 0, len(lastUsed))
	for id, t := range lastUsed {
		ids, times = append(ids, id), append(times, t)
	}
	_, err := db.db.ExecContext(ctx, `UPDATE sessions s SET last_used_at = v.t
		FROM unnest($1::bigint[], $2::timestamptz[]) AS v(id, t)
		WHERE s.id = v.id AND s.last_used_at < v.t`, pq.Array(ids), pq.Array(times))
	return wrap("touch sessions", err)
}

// staleSessions selects the sessions that can never be used again:
// expired at $1, or revoked.
const staleSessions = `FROM sessions WHERE expires_at <= $1 OR revoked_at IS NOT NULL`

// StaleSessions counts the sessions that are expired at now or revoked.
func (db *DB) StaleSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.db.GetContext(ctx, &n, `SELECT count(*) `+staleSessions, now)
	return n, wrap("stale sessions", err)
}

// DeleteStaleSessions deletes the sessions that are expired at now or
// revoked and returns how many. A cookie naming a deleted session is as
// invalid as before, so authz need not be told.
func (db *DB) DeleteStaleSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.db.ExecContext(ctx, `DELETE `+staleSessions, now)
	if err != nil {
		return 0, wrap("delete stale sessions", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete stale sessions", err)
}
