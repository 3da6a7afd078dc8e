package filegate

import "time"

// Link is a share link: one file given to people without an account,
// until it expires, is revoked or has been downloaded MaxDownloads
// times (docs/interface.md#share-links). Its URL carries a token made
// from ID and Nonce under a key the database never holds
// (session.Codec.LinkToken), so a copy of the table opens nothing.
type Link struct {
	ID           int64      `db:"id"`
	FileID       int64      `db:"file_id"`
	CreatedBy    int64      `db:"created_by"`
	Nonce        []byte     `db:"nonce" json:"-"` // random, part of the token (session.LinkNonceSize bytes)
	ExpiresAt    time.Time  `db:"expires_at"`
	MaxDownloads *int64     `db:"max_downloads"` // nil: no limit
	Downloads    int64      `db:"downloads"`
	PasswordHash []byte     `db:"password_hash" json:"-"` // bcrypt; nil without a password
	RevokedAt    *time.Time `db:"revoked_at"`             // nil while not revoked
	CreatedAt    time.Time  `db:"created_at"`
}

// ListedLink is a link with the file it shares, as lists show it.
type ListedLink struct {
	Link
	File File `db:"f"`
}

// LinkState is what a link is at some moment.
type LinkState string

const (
	LinkActive    LinkState = "active"
	LinkExpired   LinkState = "expired"
	LinkRevoked   LinkState = "revoked"
	LinkExhausted LinkState = "exhausted" // downloaded MaxDownloads times
)

// State returns l's state at now. Revoked wins over expired, and expired
// over used up: the first reason that stops the link.
func (l Link) State(now time.Time) LinkState {
	switch {
	case l.RevokedAt != nil:
		return LinkRevoked
	case !now.Before(l.ExpiresAt):
		return LinkExpired
	case l.MaxDownloads != nil && l.Downloads >= *l.MaxDownloads:
		return LinkExhausted
	}
	return LinkActive
}

// LinkURL is the public address of the link whose token is token
// (session.Codec.LinkToken).
func LinkURL(token string) string { return "/s/" + token }

// LinkFacts is what authz needs to know about a link to decide a request
// for it, apart from its download count, which changes with every
// download and is kept in the store alone. When Exists is false (no such
// link, or its file is gone) the other fields are empty.
type LinkFacts struct {
	Exists   bool   `json:"e"`
	ID       int64  `json:"id,omitempty"`
	Nonce    []byte `json:"n,omitempty"`
	Revoked  bool   `json:"r,omitempty"`
	Expires  int64  `json:"x,omitempty"` // Unix seconds; the link is valid before
	Max      int64  `json:"m,omitempty"` // the download limit; 0: none
	Password bool   `json:"p,omitempty"` // a password must unlock it
	FileID   int64  `json:"f,omitempty"`
	File     Target `json:"t"`
}

// Facts returns l as authz sees it, sharing file f.
func (l Link) Facts(f File) LinkFacts {
	lf := LinkFacts{Exists: true, ID: l.ID, Nonce: l.Nonce, Revoked: l.RevokedAt != nil, Expires: l.ExpiresAt.Unix(),
		Password: l.PasswordHash != nil, FileID: f.ID, File: f.Target()}
	if l.MaxDownloads != nil {
		lf.Max = *l.MaxDownloads
	}
	return lf
}

// LinkProgress is where a link's downloads stand for one client address:
// what authz asks the store, uncached, for a request that may not count
// (policy.LinkUse).
type LinkProgress struct {
	Downloads int64 `db:"downloads"`
	Max       int64 `db:"max"`     // 0: no limit
	Granted   bool  `db:"granted"` // the client holds an unexpired grant
}
