package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/filegate/filegate/internal/filegate"
)

const fileColumns = `id, owner_id, stored_name, display_name, content_type, size, sha256, created_at`

// CreateFile inserts f and fills in its CreatedAt, and its ID unless the
// caller reserved one with NewFileID (the object key of an upload to a
// bucket holds its id, so the bytes are written before the row), counting it
// against its owner's quota q. place is called inside the transaction
// after the row is inserted and before the commit; it puts the bytes where
// the row says. If place fails, the row is rolled back and place's error
// returned. If the commit fails after place succeeded, the row may have
// committed all the same (a lost reply to COMMIT): the caller asks
// FileExists, and removes the bytes only when the row is not there. Errors: EQUOTA when the file does not fit in q
// (nothing is inserted), ENOTFOUND when the owner does not exist, and
// ECONFLICT for a stored name this owner already uses; place is called in
// none of these cases.
func (db *DB) CreateFile(ctx context.Context, f *filegate.File, q filegate.Quota, place func() error) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	committing := false // place succeeded: only the commit is left
	err := db.inTx(ctx, "create file", func(tx *sqlx.Tx) error {
		// The check and the count are one statement on the owner's row,
		// whose lock makes concurrent uploads of one user take turns: two
		// cannot both fit in the last free bytes. The row stays locked
		// until the commit, so is_public cannot change meanwhile either.
		var public bool
		err := tx.GetContext(ctx, &public, `UPDATE users SET used_bytes = used_bytes + $2, used_files = used_files + 1
			WHERE id = $1 AND used_bytes <= $3::bigint - $2::bigint AND used_files < $4 RETURNING is_public`,
			f.OwnerID, f.Size, q.Bytes, q.Files)
		if errors.Is(err, sql.ErrNoRows) {
			return overQuota(ctx, tx, f, q)
		} else if err != nil {
			return wrap("create file: count quota", err)
		}
		// COALESCE evaluates nextval only when no id was reserved.
		err = tx.QueryRowxContext(ctx, `INSERT INTO files (id, owner_id, stored_name, display_name, content_type, size, sha256, owner_public)
			VALUES (COALESCE(NULLIF($8::bigint, 0), nextval(pg_get_serial_sequence('files', 'id'))), $1, $2, $3, $4, $5, $6, $7)
			RETURNING id, created_at`,
			f.OwnerID, f.StoredName, f.DisplayName, f.ContentType, f.Size, f.SHA256, public, f.ID).Scan(&f.ID, &f.CreatedAt)
		if err != nil {
			return wrap("create file", err)
		}
		if err := place(); err != nil {
			return err // before the commit: certainly rolled back
		}
		committing = true
		return nil
	})
	// authz may have cached "no such file" for this name.
	if err == nil || (committing && uncertain(err)) {
		db.fileChanged(ctx, f.OwnerID, f.StoredName)
	}
	return err
}

// NewFileID reserves the id of a file row CreateFile will insert. An id
// reserved and never used is only a gap in the sequence.
func (db *DB) NewFileID(ctx context.Context) (int64, error) {
	var id int64
	err := db.db.GetContext(ctx, &id, `SELECT nextval(pg_get_serial_sequence('files', 'id'))`)
	return id, wrap("new file id", err)
}

// TakenNames returns which of names owner ownerID's files already use,
// in no particular order.
func (db *DB) TakenNames(ctx context.Context, ownerID int64, names []string) ([]string, error) {
	taken := []string{}
	err := db.db.SelectContext(ctx, &taken, `SELECT stored_name FROM files WHERE owner_id = $1 AND stored_name = ANY($2)`,
		ownerID, pq.Array(names))
	return taken, wrap("taken names", err)
}

// overQuota explains why CreateFile's quota statement changed no row:
// the owner is gone (ENOTFOUND), or f does not fit in q (EQUOTA, saying
// which limit it passes).
func overQuota(ctx context.Context, tx *sqlx.Tx, f *filegate.File, q filegate.Quota) error {
	var used struct {
		Bytes int64 `db:"used_bytes"`
		Files int64 `db:"used_files"`
	}
	err := tx.GetContext(ctx, &used, `SELECT used_bytes, used_files FROM users WHERE id = $1`, f.OwnerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return filegate.Errorf(filegate.ENOTFOUND, "No such user.")
	case err != nil:
		return wrap("create file: read quota", err)
	case used.Files >= q.Files:
		return filegate.Errorf(filegate.EQUOTA, "You have reached your quota of %d files; delete some to upload more.", q.Files)
	}
	return filegate.Errorf(filegate.EQUOTA, "This file (%s) does not fit in your quota: %s of %s used; delete some files to make room.",
		filegate.FormatSize(f.Size), filegate.FormatSize(used.Bytes), filegate.FormatSize(q.Bytes))
}

// FileByID returns the file with that id, or ENOTFOUND.
func (db *DB) FileByID(ctx context.Context, id int64) (filegate.File, error) {
	var f filegate.File
	err := db.db.GetContext(ctx, &f, `SELECT `+fileColumns+` FROM files WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return f, filegate.Errorf(filegate.ENOTFOUND, "No such file.")
	}
	return f, wrap("file", err)
}

// FileExists reports whether file id of owner ownerID has a row, after
// waiting for every change to the owner's files in progress: CreateFile
// and DeleteFile hold the owner's row until they end. Ingest asks it when
// a CreateFile failed at its commit, whose reply may have been lost while
// the server went on committing; a plain read then could miss a row about
// to commit, and the bytes of a stored file be removed.
func (db *DB) FileExists(ctx context.Context, ownerID, id int64) (bool, error) {
	var exists bool
	err := db.inTx(ctx, "file exists", func(tx *sqlx.Tx) error {
		// FOR SHARE waits for their FOR NO KEY UPDATE.
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = $1 FOR SHARE`, ownerID); err != nil {
			return wrap("file exists: wait for owner", err)
		}
		// A new statement, a new snapshot (READ COMMITTED): it sees what
		// the change waited for committed.
		return wrap("file exists", tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM files WHERE id = $1)`, id))
	})
	return exists, err
}

// FileByName returns the file ownerID stores as storedName, or
// ENOTFOUND.
func (db *DB) FileByName(ctx context.Context, ownerID int64, storedName string) (filegate.File, error) {
	var f filegate.File
	err := db.db.GetContext(ctx, &f, `SELECT `+fileColumns+` FROM files WHERE owner_id = $1 AND stored_name = $2`, ownerID, storedName)
	if errors.Is(err, sql.ErrNoRows) {
		return f, filegate.Errorf(filegate.ENOTFOUND, "No such file.")
	}
	return f, wrap("file by name", err)
}

// DeleteFile removes the row of file id and its share links, gives its
// size back to the owner's quota, and returns it; the caller removes the
// bytes afterwards (bytes without a row are never served, and sweep finds
// them). ENOTFOUND when there is no such file. authz learns of the file
// and of each link before it returns.
func (db *DB) DeleteFile(ctx context.Context, id int64) (filegate.File, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	var f filegate.File
	var owner int64
	var links []int64
	err := db.inTx(ctx, "delete file", func(tx *sqlx.Tx) error {
		// Lock the owner's row first, as CreateFile does, so that a
		// delete and an upload of the same user never wait on each other
		// in opposite orders (a deadlock).
		err := tx.GetContext(ctx, &owner, `SELECT u.id FROM files f JOIN users u ON u.id = f.owner_id
			WHERE f.id = $1 FOR NO KEY UPDATE OF u`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return filegate.Errorf(filegate.ENOTFOUND, "No such file.")
		} else if err != nil {
			return wrap("delete file: lock owner", err)
		}
		// The cascade deletes the links; CreateLink share-locks the
		// owner, so none can be added after this read.
		if links, err = linkIDs(ctx, tx, "f.id = $1", id); err != nil {
			return wrap("delete file: links", err)
		}
		// No row when another delete took the file while we waited.
		err = tx.GetContext(ctx, &f, `WITH gone AS (DELETE FROM files WHERE id = $1 RETURNING `+fileColumns+`)
			UPDATE users u SET used_bytes = GREATEST(u.used_bytes - gone.size, 0),
				used_files = GREATEST(u.used_files - 1, 0)
			FROM gone WHERE u.id = gone.owner_id
			RETURNING gone.*`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return filegate.Errorf(filegate.ENOTFOUND, "No such file.")
		}
		return wrap("delete file", err)
	})
	if err != nil {
		if uncertain(err) && owner != 0 {
			// Which file is not known for sure; its owner's generation
			// stales every decision about their files.
			db.userChanged(ctx, owner)
			db.linksChanged(ctx, links)
		}
		return filegate.File{}, err
	}
	db.fileChanged(ctx, f.OwnerID, f.StoredName)
	db.linksChanged(ctx, links)
	return f, nil
}

// AllFiles returns every file row, for sweep.
func (db *DB) AllFiles(ctx context.Context) ([]filegate.File, error) {
	var fs []filegate.File
	err := db.db.SelectContext(ctx, &fs, `SELECT `+fileColumns+` FROM files ORDER BY owner_id, stored_name`)
	return fs, wrap("all files", err)
}

const factsQuery = `SELECT
		v.id IS NOT NULL AS viewer_exists, COALESCE(v.is_public, false) AS viewer_public,
		COALESCE(v.is_staff, false) AS viewer_staff,
		s.id IS NOT NULL AS session_exists, COALESCE(s.id, 0) AS session_id,
		COALESCE(s.user_id, 0) AS session_user, s.revoked_at IS NOT NULL AS session_revoked,
		COALESCE(s.expires_at, 'epoch') AS session_expires,
		o.id IS NOT NULL AS owner_exists, COALESCE(o.is_public, false) AS owner_public,
		COALESCE(o.is_staff, false) AS owner_staff,
		f.id IS NOT NULL AS file_exists, COALESCE(f.id, 0) AS file_id,
		COALESCE(f.owner_id, 0) AS file_owner, COALESCE(f.stored_name, '') AS stored_name,
		COALESCE(f.content_type, '') AS content_type, COALESCE(f.display_name, '') AS display_name
		FROM (SELECT 1) AS one
		LEFT JOIN users v ON v.id = $1
		LEFT JOIN sessions s ON s.token_hash = $4
		LEFT JOIN users o ON o.id = $2
		LEFT JOIN files f ON f.owner_id = o.id AND f.stored_name = $3`

// factsStmt returns Facts's statement, prepared once. authz runs it on
// every cache miss; prepared, it costs one round trip instead of two. A
// failed prepare (database down) is retried on the next call; two racing
// prepares both work, and the loser's statement is closed.
func (db *DB) factsStmt(ctx context.Context) (*sqlx.Stmt, error) {
	if stmt := db.facts.Load(); stmt != nil {
		return stmt, nil
	}
	stmt, err := db.db.PreparexContext(ctx, factsQuery)
	if err != nil {
		return nil, err
	}
	if !db.facts.CompareAndSwap(nil, stmt) {
		stmt.Close()
	}
	return db.facts.Load(), nil
}

// Facts reads everything one access decision needs in one statement: the
// viewer, the session the cookie names, the owner and the file. Unknown
// ids, tokens and names come back with Exists false, not as errors; only
// a failing database is an error. Both profiles are complete (every flag
// read), because the cache keeps one entry per user whether it was read
// as viewer or as owner. The session is read whoever it belongs to:
// policy.Decide compares its user with the viewer.
func (db *DB) Facts(ctx context.Context, key filegate.FactsKey) (filegate.Facts, error) {
	var row struct {
		ViewerExists   bool      `db:"viewer_exists"`
		ViewerPublic   bool      `db:"viewer_public"`
		ViewerStaff    bool      `db:"viewer_staff"`
		SessionExists  bool      `db:"session_exists"`
		SessionID      int64     `db:"session_id"`
		SessionUser    int64     `db:"session_user"`
		SessionRevoked bool      `db:"session_revoked"`
		SessionExpires time.Time `db:"session_expires"`
		OwnerExists    bool      `db:"owner_exists"`
		OwnerPublic    bool      `db:"owner_public"`
		OwnerStaff     bool      `db:"owner_staff"`
		FileExists     bool      `db:"file_exists"`
		FileID         int64     `db:"file_id"`
		FileOwner      int64     `db:"file_owner"`
		StoredName     string    `db:"stored_name"`
		ContentType    string    `db:"content_type"`
		DisplayName    string    `db:"display_name"`
	}
	stmt, err := db.factsStmt(ctx)
	if err == nil {
		err = stmt.GetContext(ctx, &row, key.ViewerID, key.OwnerID, key.StoredName, key.SessionHash[:])
	}
	if err != nil {
		return filegate.Facts{}, wrap("facts", err)
	}
	facts := filegate.Facts{
		Viewer: filegate.Profile{ID: key.ViewerID, Exists: row.ViewerExists, Public: row.ViewerPublic, Staff: row.ViewerStaff},
		Owner:  filegate.Profile{ID: key.OwnerID, Exists: row.OwnerExists, Public: row.OwnerPublic, Staff: row.OwnerStaff},
	}
	if row.SessionExists {
		facts.Session = filegate.SessionState{ID: row.SessionID, Exists: true, UserID: row.SessionUser,
			Revoked: row.SessionRevoked, Expires: row.SessionExpires.Unix()}
	}
	if row.FileExists {
		// The path nginx reads is built from the row, not from the request.
		f := filegate.File{ID: row.FileID, OwnerID: row.FileOwner, StoredName: row.StoredName, ContentType: row.ContentType, DisplayName: row.DisplayName}
		facts.File = f.Target()
	}
	return facts, nil
}
