package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/filegate/filegate/internal/filegate"
)

const userColumns = `id, username, slug, display_name, password_hash, is_public, is_staff, created_at`

// CreateUser inserts u and fills in its ID and CreatedAt. A taken username
// or slug is ECONFLICT.
func (db *DB) CreateUser(ctx context.Context, u *filegate.User) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	err := db.db.QueryRowxContext(ctx, `INSERT INTO users (username, slug, display_name, password_hash, is_public, is_staff)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
		u.Username, u.Slug, u.DisplayName, u.PasswordHash, u.IsPublic, u.IsStaff).Scan(&u.ID, &u.CreatedAt)
	if err != nil {
		return wrap("create user", err)
	}
	// authz may have cached "no such user" for this id.
	db.userChanged(ctx, u.ID)
	return nil
}

// UserByID returns the user with that id, or ENOTFOUND.
func (db *DB) UserByID(ctx context.Context, id int64) (filegate.User, error) {
	return db.userWhere(ctx, "id = $1", id)
}

// UserBySlug returns the user with that slug, or ENOTFOUND.
func (db *DB) UserBySlug(ctx context.Context, slug string) (filegate.User, error) {
	return db.userWhere(ctx, "slug = $1", slug)
}

func (db *DB) userWhere(ctx context.Context, where string, arg any) (filegate.User, error) {
	var u filegate.User
	err := db.db.GetContext(ctx, &u, `SELECT `+userColumns+` FROM users WHERE `+where, arg)
	if errors.Is(err, sql.ErrNoRows) {
		return u, filegate.Errorf(filegate.ENOTFOUND, "No such user.")
	}
	return u, wrap("user", err)
}

// Users returns at most limit users whose slug sorts after after (""
// for the first), in slug order, each with what they store and the
// number of their sessions live at now (neither revoked nor expired).
// The password hashes are not read.
func (db *DB) Users(ctx context.Context, after string, limit int, now time.Time) ([]filegate.UserUsage, error) {
	users := []filegate.UserUsage{}
	err := db.db.SelectContext(ctx, &users, `SELECT u.id, u.username, u.slug, u.display_name, u.is_public, u.is_staff,
			u.created_at, u.used_bytes, u.used_files,
			(SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $3) AS sessions
		FROM users u WHERE u.slug > $1 ORDER BY u.slug LIMIT $2`, after, limit, now)
	return users, wrap("users", err)
}

// UpdateUser changes the given fields of user id and returns the result.
// ENOTFOUND when there is no such user.
func (db *DB) UpdateUser(ctx context.Context, id int64, upd filegate.UserUpdate) (filegate.User, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	var u filegate.User
	err := db.inTx(ctx, "update user", func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &u, `UPDATE users SET
			is_public = COALESCE($2, is_public), is_staff = COALESCE($3, is_staff)
			WHERE id = $1 RETURNING `+userColumns, id, upd.IsPublic, upd.IsStaff)
		if errors.Is(err, sql.ErrNoRows) {
			return filegate.Errorf(filegate.ENOTFOUND, "No such user.")
		} else if err != nil || upd.IsPublic == nil {
			return wrap("update user", err)
		}
		// The lists' copy of the flag. A statement of its own, so that it
		// sees every file committed while the UPDATE above waited for the
		// row (an upload holds it until its file is in).
		_, err = tx.ExecContext(ctx, `UPDATE files SET owner_public = $2 WHERE owner_id = $1 AND owner_public <> $2`, id, u.IsPublic)
		return wrap("update user: files", err)
	})
	if err == nil || uncertain(err) {
		db.userChanged(ctx, id)
	}
	if err != nil {
		return filegate.User{}, err
	}
	return u, nil
}

// DeleteUser deletes user id, every file row of it and every link to
// those files, and returns the files; the caller removes their bytes.
// ENOTFOUND when there is no such user. authz learns of the user and of
// each file and link before it returns.
func (db *DB) DeleteUser(ctx context.Context, id int64) ([]filegate.File, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	files := []filegate.File{}
	var links []int64
	err := db.inTx(ctx, "delete user", func(tx *sqlx.Tx) error {
		// The user's row before any file's, in the order every change of
		// a user's files takes them (CreateFile, DeleteFile, UpdateUser),
		// so that removing a user never deadlocks with their own changes.
		if _, err := tx.ExecContext(ctx, `SELECT FROM users WHERE id = $1 FOR UPDATE`, id); err != nil {
			return wrap("delete user: lock", err)
		}
		// The cascade deletes the links; CreateLink share-locks the
		// owner, so none can be added after this read.
		var err error
		if links, err = linkIDs(ctx, tx, "f.owner_id = $1", id); err != nil {
			return wrap("delete user: links", err)
		}
		// Explicitly rather than by cascade, to learn which files went.
		if err := tx.SelectContext(ctx, &files, `DELETE FROM files WHERE owner_id = $1 RETURNING `+fileColumns, id); err != nil {
			return wrap("delete user: files", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return wrap("delete user", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return wrap("delete user", err)
		} else if n == 0 {
			return filegate.Errorf(filegate.ENOTFOUND, "No such user.")
		}
		return nil
	})
	if err != nil {
		if uncertain(err) {
			// The owner's generation alone stales every decision
			// about their files: a cached decision needs the owner's
			// entry too.
			db.userChanged(ctx, id)
			db.linksChanged(ctx, links)
		}
		return nil, err
	}
	db.userChanged(ctx, id)
	db.linksChanged(ctx, links)
	for _, f := range files {
		db.fileChanged(ctx, f.OwnerID, f.StoredName)
	}
	return files, nil
}
