package postgres

import (
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/filegate/filegate/internal/filegate"
)

const linkColumns = `id, file_id, created_by, nonce, expires_at, max_downloads, downloads, password_hash, revoked_at, created_at`

// listedLinks selects links with their files: the link's columns plain,
// the file's as "f.…" for filegate.ListedLink.
var listedLinks = `SELECT ` + qualifiedAs("l", linkColumns, "") + `, ` + qualified("f", fileColumns) +
	` FROM links l JOIN files f ON f.id = l.file_id`

// CreateLink inserts l (FileID, CreatedBy, Nonce, ExpiresAt, CreatedAt
// and, optionally, MaxDownloads and PasswordHash) and fills in its ID,
// provided its file exists and belongs to l.CreatedBy: otherwise it is
// ENOTFOUND and nothing is inserted. The owner's row is share-locked, so
// a link never slips past a concurrent delete of its file or owner (see
// DeleteFile) without that delete knowing of it.
func (db *DB) CreateLink(ctx context.Context, l *filegate.Link) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	err := db.db.QueryRowxContext(ctx, `INSERT INTO links (file_id, created_by, nonce, expires_at, max_downloads, password_hash, created_at)
		SELECT f.id, u.id, $3, $4, $5, $6, $7 FROM files f JOIN users u ON u.id = f.owner_id
		WHERE f.id = $1 AND u.id = $2 FOR SHARE OF u
		RETURNING id`,
		l.FileID, l.CreatedBy, l.Nonce, l.ExpiresAt, l.MaxDownloads, l.PasswordHash, l.CreatedAt).Scan(&l.ID)
	// A delete of the file that committed while the owner's lock was
	// awaited leaves the insert without its file: 23503, a foreign key.
	var pqErr *pq.Error
	if errors.Is(err, sql.ErrNoRows) || errors.As(err, &pqErr) && pqErr.Code == "23503" {
		return filegate.Errorf(filegate.ENOTFOUND, "No such file.")
	} else if err != nil {
		return wrap("create link", err)
	}
	// A fresh id has nothing cached, unless the database was restored
	// from a backup and reuses it: the old link's entry must go.
	db.linkChanged(ctx, l.ID)
	return nil
}

// Link returns link id with its file, or ENOTFOUND.
func (db *DB) Link(ctx context.Context, id int64) (filegate.ListedLink, error) {
	var l filegate.ListedLink
	err := db.db.GetContext(ctx, &l, listedLinks+` WHERE l.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return l, filegate.Errorf(filegate.ENOTFOUND, "No such link.")
	}
	return l, wrap("link", err)
}

// MaxListedLinks bounds UserLinks.
const MaxListedLinks = 1000

// UserLinks returns the links userID made, newest first, at most
// MaxListedLinks, whatever their state.
func (db *DB) UserLinks(ctx context.Context, userID int64) ([]filegate.ListedLink, error) {
	ls := []filegate.ListedLink{}
	err := db.db.SelectContext(ctx, &ls, listedLinks+` WHERE l.created_by = $1
		ORDER BY l.created_at DESC, l.id DESC LIMIT $2`, userID, MaxListedLinks)
	return ls, wrap("user links", err)
}

// RevokeLink revokes link id at now and returns it; a link revoked
// before keeps its first revocation time. ENOTFOUND when there is no
// such link. authz learns of it before it returns.
func (db *DB) RevokeLink(ctx context.Context, id int64, now time.Time) (filegate.Link, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	var l filegate.Link
	err := db.db.GetContext(ctx, &l, `UPDATE links SET revoked_at = COALESCE(revoked_at, $2)
		WHERE id = $1 RETURNING `+linkColumns, id, now)
	if errors.Is(err, sql.ErrNoRows) {
		return l, filegate.Errorf(filegate.ENOTFOUND, "No such link.")
	}
	if err == nil || uncertain(err) {
		db.linkChanged(ctx, id)
	}
	return l, wrap("revoke link", err)
}

// LinkFacts reads what authz decides a request for link id on, in one
// statement. An unknown id comes back with Exists false, not as an error.
func (db *DB) LinkFacts(ctx context.Context, id int64) (filegate.LinkFacts, error) {
	l, err := db.Link(ctx, id)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return filegate.LinkFacts{}, nil
	} else if err != nil {
		return filegate.LinkFacts{}, err
	}
	return l.Facts(l.File), nil
}

// CountLinkDownload counts one download of link id at now and reports
// whether it did: not when the link is gone, revoked, expired or used up.
// The check and the count are one conditional UPDATE of the link's row,
// whose lock makes concurrent downloads take turns, each re-checking the
// count the one before left: however many race for the last download,
// one gets it. For a limited link, client (when valid) is granted later
// ranges until grantUntil, and grants of this link that have run out are
// dropped.
func (db *DB) CountLinkDownload(ctx context.Context, id int64, client netip.Addr, now, grantUntil time.Time) (bool, error) {
	var addr *string
	if client.IsValid() {
		s := client.Unmap().String()
		addr = &s
	}
	var counted bool
	err := db.db.GetContext(ctx, &counted, `WITH counted AS (
			UPDATE links SET downloads = downloads + 1
			WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2
				AND (max_downloads IS NULL OR downloads < max_downloads)
			RETURNING id, max_downloads
		), granted AS (
			INSERT INTO link_grants (link_id, client, expires_at)
			SELECT id, $3::inet, $4 FROM counted WHERE max_downloads IS NOT NULL AND $3::inet IS NOT NULL
			ON CONFLICT (link_id, client) DO UPDATE SET expires_at = EXCLUDED.expires_at
		), expired AS (
			DELETE FROM link_grants WHERE link_id = $1 AND expires_at <= $2 AND client IS DISTINCT FROM $3::inet
		)
		SELECT EXISTS (SELECT FROM counted)`, id, now, addr, grantUntil)
	return counted, wrap("count link download", err)
}

// AddLinkDownloads adds, to each link's count, the downloads counts
// holds for it, in one statement: authz counts the downloads of links
// without a limit in memory (authz.Tally), since no answer depends on
// those counts. A link deleted meanwhile is skipped; a limited link is
// never counted this way.
func (db *DB) AddLinkDownloads(ctx context.Context, counts map[int64]int64) error {
	if len(counts) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(counts))
	ns := make([]int64, 0, len(counts))
	for id, n := range counts {
		ids, ns = append(ids, id), append(ns, n)
	}
	_, err := db.db.ExecContext(ctx, `UPDATE links l SET downloads = l.downloads + v.n
		FROM unnest($1::bigint[], $2::bigint[]) AS v(id, n)
		WHERE l.id = v.id AND l.max_downloads IS NULL`, pq.Array(ids), pq.Array(ns))
	return wrap("add link downloads", err)
}

// LinkProgress returns link id's count and whether client holds a grant
// at now. An unknown link is ENOTFOUND.
func (db *DB) LinkProgress(ctx context.Context, id int64, client netip.Addr, now time.Time) (filegate.LinkProgress, error) {
	var addr *string
	if client.IsValid() {
		s := client.Unmap().String()
		addr = &s
	}
	var p filegate.LinkProgress
	err := db.db.GetContext(ctx, &p, `SELECT l.downloads, COALESCE(l.max_downloads, 0) AS max,
		EXISTS (SELECT FROM link_grants g WHERE g.link_id = l.id AND g.client = $2::inet AND g.expires_at > $3) AS granted
		FROM links l WHERE l.id = $1`, id, addr, now)
	if errors.Is(err, sql.ErrNoRows) {
		return p, filegate.Errorf(filegate.ENOTFOUND, "No such link.")
	}
	return p, wrap("link progress", err)
}

// linkIDs returns the ids of the links that rows of files matching where
// share, for a delete to report them.
func linkIDs(ctx context.Context, tx *sqlx.Tx, where string, arg any) ([]int64, error) {
	ids := []int64{}
	err := tx.SelectContext(ctx, &ids, `SELECT l.id FROM links l JOIN files f ON f.id = l.file_id WHERE `+where, arg)
	return ids, err
}

// linkChanged and linksChanged tell the Invalidator about committed
// changes of links, as userChanged does.
func (db *DB) linkChanged(ctx context.Context, id int64) {
	if db.Invalidator != nil {
		db.Invalidator.LinkChanged(context.WithoutCancel(ctx), id)
	}
}

func (db *DB) linksChanged(ctx context.Context, ids []int64) {
	for _, id := range ids {
		db.linkChanged(ctx, id)
	}
}
