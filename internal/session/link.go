package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
)

// Share links (docs/interface.md#share-links) are named by a token in
// their URL, /s/{token}: the link's id and nonce and a MAC over both
// under a key derived from the session keys. The store keeps the id and
// the nonce but never the key, so a copy of the database cannot make a
// working URL, and a made-up token is refused before any lookup. The
// nonce keeps a token from ever naming another link that reuses its id
// (a database restored from a backup).
//
// A link with a password is unlocked for one browser by a cookie scoped
// to the link's path, set once the password was right.

const (
	linkTokenLabel = "filegate link tokens v1"
	linkIDSize     = 8
	// LinkNonceSize is the length of a link's nonce.
	LinkNonceSize = 8
	linkMACSize   = 16 // 128 bits
	linkRawSize   = linkIDSize + LinkNonceSize + linkMACSize
)

// LinkTokenLen is the length of every link token: 43 characters of the
// URL-safe base64 alphabet.
var LinkTokenLen = base64.RawURLEncoding.EncodedLen(linkRawSize)

// LinkCookieName is the name of the cookie that unlocks a password link.
const LinkCookieName = "filegate_link"

// MaxLinkUnlock is the longest a link cookie lasts.
const MaxLinkUnlock = time.Hour

// LinkToken returns the token of link id with nonce (LinkNonceSize
// bytes), made with the first key pair. The same link always has the same
// token until the first pair changes; tokens made with a later pair stay
// valid while that pair is configured.
func (c *Codec) LinkToken(id int64, nonce []byte) string {
	raw := make([]byte, linkIDSize+LinkNonceSize, linkRawSize)
	binary.BigEndian.PutUint64(raw, uint64(id))
	copy(raw[linkIDSize:], nonce)
	raw = append(raw, linkMAC(c.linkKeys[0], raw)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// ParseLinkToken returns the link id and nonce token names, if any
// configured key pair made it. Anything else, including a token of a
// removed key pair, is not ok.
func (c *Codec) ParseLinkToken(token string) (id int64, nonce []byte, ok bool) {
	if len(token) != LinkTokenLen {
		return 0, nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != linkRawSize {
		return 0, nil, false
	}
	body, mac := raw[:linkIDSize+LinkNonceSize], raw[linkIDSize+LinkNonceSize:]
	for _, k := range c.linkKeys {
		if hmac.Equal(mac, linkMAC(k, body)) {
			id = int64(binary.BigEndian.Uint64(body))
			return id, body[linkIDSize:], id > 0
		}
	}
	return 0, nil, false
}

func linkMAC(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)[:linkMACSize]
}

// linkPayload is the JSON inside a link cookie.
type linkPayload struct {
	LinkID  int64  `json:"lid"`
	Nonce   []byte `json:"n"`
	Expires int64  `json:"exp"` // unix seconds
}

// SetLinkCookie adds a Set-Cookie header that unlocks the link with that
// token, id and nonce in this browser for ttl, at most MaxLinkUnlock:
// Path=/s/{token}, HttpOnly, SameSite=Lax, Secure if configured. It must
// be called before the response header is written.
func (c *Codec) SetLinkCookie(w http.ResponseWriter, token string, id int64, nonce []byte, ttl time.Duration) error {
	ttl = min(ttl, MaxLinkUnlock)
	expires := time.Unix(c.now().Add(ttl).Unix(), 0)
	v, err := securecookie.EncodeMulti(LinkCookieName, linkPayload{LinkID: id, Nonce: nonce, Expires: expires.Unix()}, c.codecs[:1]...)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     LinkCookieName,
		Value:    v,
		Path:     "/s/" + token,
		MaxAge:   int(expires.Sub(c.now()) / time.Second),
		Expires:  expires.UTC(),
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// LinkUnlocked reports whether r carries a link cookie, made with a
// configured key pair and not expired, for link id with nonce. Cookies
// for other links, forged and expired ones are ignored.
func (c *Codec) LinkUnlocked(r *http.Request, id int64, nonce []byte) bool {
	for _, ck := range r.CookiesNamed(LinkCookieName) {
		var p linkPayload
		if securecookie.DecodeMulti(LinkCookieName, ck.Value, &p, c.codecs...) != nil {
			continue
		}
		if p.LinkID == id && hmac.Equal(p.Nonce, nonce) && c.now().Before(time.Unix(p.Expires, 0)) {
			return true
		}
	}
	return false
}
