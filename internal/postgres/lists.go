package postgres

import (
	"context"

	"github.com/filegate/filegate/internal/filegate"
)

// VisibleFiles returns the files viewerID may list: those of every public
// user and viewerID's own. Newest first; it skips offset rows and returns
// at most limit.
func (db *DB) VisibleFiles(ctx context.Context, viewerID int64, limit, offset int) ([]filegate.ListedFile, error) {
	return db.listFiles(ctx, "u.is_public OR f.owner_id = $1", viewerID, limit, offset)
}

// OwnerFiles returns the files of ownerID, newest first; it skips offset
// rows and returns at most limit. Whether the caller may see them is the
// caller's decision.
func (db *DB) OwnerFiles(ctx context.Context, ownerID int64, limit, offset int) ([]filegate.ListedFile, error) {
	return db.listFiles(ctx, "f.owner_id = $1", ownerID, limit, offset)
}

// listFiles runs one list query. where is a constant of this file with $1
// as its only parameter; never build it from input.
func (db *DB) listFiles(ctx context.Context, where string, id int64, limit, offset int) ([]filegate.ListedFile, error) {
	fs := []filegate.ListedFile{}
	err := db.db.SelectContext(ctx, &fs, `SELECT
		f.id, f.owner_id, f.stored_name, f.display_name, f.content_type, f.size, f.sha256, f.created_at,
		u.slug AS owner_slug, u.display_name AS owner_name
		FROM files f JOIN users u ON u.id = f.owner_id
		WHERE `+where+`
		ORDER BY f.created_at DESC, f.id DESC
		LIMIT $2 OFFSET $3`, id, limit, offset)
	return fs, wrap("list files", err)
}
