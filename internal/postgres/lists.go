package postgres

import (
	"context"
	"fmt"

	"github.com/filegate/filegate/internal/filegate"
)

// Both lists are newest first, ordered by (created_at, id) and paged by a
// cursor on the same pair, so a page costs one index range scan of limit
// rows however deep it is and however many files there are: no OFFSET,
// no count, no sort of every visible file.

// listColumns are a ListedFile's columns, from files f joined to users u.
const listColumns = `f.id, f.owner_id, f.stored_name, f.display_name, f.content_type, f.size, f.sha256, f.created_at,
	u.slug AS owner_slug, u.display_name AS owner_name`

// newest orders a list, and olderThan (with $3, $4 for a cursor's time
// and id) keeps the files before a cursor. Both match the index order of
// files_public_created_idx and files_owner_created_idx.
const (
	newest    = ` ORDER BY created_at DESC, id DESC`
	olderThan = ` AND (created_at, id) < ($3, $4)`
)

// visibleQuery is VisibleFiles with $1 the viewer and $2 the limit; %[1]s
// is "" or olderThan. Each branch reads at most limit rows from its index:
// the newest public files (by the owner_public copy of the owner's flag)
// and the viewer's newest own files. The first page of their union is the
// first page of the visible files; UNION drops the viewer's own files
// that are public too.
const visibleQuery = `SELECT ` + listColumns + ` FROM (
		(SELECT * FROM files WHERE owner_public %[1]s` + newest + ` LIMIT $2)
		UNION
		(SELECT * FROM files WHERE owner_id = $1 %[1]s` + newest + ` LIMIT $2)
	) f JOIN users u ON u.id = f.owner_id
	ORDER BY f.created_at DESC, f.id DESC LIMIT $2`

// publicQuery is PublicFiles with $1 the viewer and $2 the limit; %[1]s
// is "" or olderThan. It reads the public files' index, passing over the
// viewer's own public files, which the home page lists on their own.
const publicQuery = `SELECT ` + listColumns + ` FROM (
		SELECT * FROM files WHERE owner_public AND owner_id <> $1 %[1]s` + newest + ` LIMIT $2
	) f JOIN users u ON u.id = f.owner_id
	ORDER BY f.created_at DESC, f.id DESC`

// ownerQuery is OwnerFiles with $1 the owner and $2 the limit; %[1]s is ""
// or olderThan.
const ownerQuery = `SELECT ` + listColumns + ` FROM (
		SELECT * FROM files WHERE owner_id = $1 %[1]s` + newest + ` LIMIT $2
	) f JOIN users u ON u.id = f.owner_id
	ORDER BY f.created_at DESC, f.id DESC`

// listQuery is one list's statement for the first page and for the
// pages after a cursor.
type listQuery struct{ first, older string }

// newListQuery fills q's %[1]s for both kinds of page.
func newListQuery(q string) listQuery {
	return listQuery{first: fmt.Sprintf(q, ""), older: fmt.Sprintf(q, olderThan)}
}

var (
	visibleFiles = newListQuery(visibleQuery)
	publicFiles  = newListQuery(publicQuery)
	ownerFiles   = newListQuery(ownerQuery)
)

// VisibleFiles returns the files viewerID may list: those of every public
// user and viewerID's own. Newest first: at most limit files from before
// the cursor (from the newest for the zero Cursor).
func (db *DB) VisibleFiles(ctx context.Context, viewerID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error) {
	return db.listFiles(ctx, visibleFiles, viewerID, before, limit)
}

// PublicFiles returns the files of every public user but viewerID, newest
// first: at most limit files from before the cursor (from the newest for
// the zero Cursor).
func (db *DB) PublicFiles(ctx context.Context, viewerID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error) {
	return db.listFiles(ctx, publicFiles, viewerID, before, limit)
}

// OwnerFiles returns the files of ownerID, newest first: at most limit
// files from before the cursor (from the newest for the zero Cursor).
// Whether the caller may see them is the caller's decision.
func (db *DB) OwnerFiles(ctx context.Context, ownerID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error) {
	return db.listFiles(ctx, ownerFiles, ownerID, before, limit)
}

// listFiles runs one of the list statements above; they are constants,
// never built from input.
func (db *DB) listFiles(ctx context.Context, q listQuery, id int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error) {
	fs := []filegate.ListedFile{}
	var err error
	if before.IsZero() {
		err = db.db.SelectContext(ctx, &fs, q.first, id, limit)
	} else {
		err = db.db.SelectContext(ctx, &fs, q.older, id, limit, before.CreatedAt, before.ID)
	}
	return fs, wrap("list files", err)
}
