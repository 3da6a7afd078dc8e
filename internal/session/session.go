// Package session issues and verifies the filegate session cookie.
//
// The cookie (named [CookieName]) is encoded with gorilla/securecookie:
// HMAC-SHA256 for authentication and AES-256 for encryption, with a JSON
// payload holding the user id and an expiry time (unix seconds). The expiry is
// checked by this package against an injectable clock; securecookie's own
// timestamp check is disabled.
//
// Keys are supplied in the FILEGATE_SESSION_KEYS format: comma-separated
// "hashkey:blockkey" pairs, hex-encoded. The first pair signs new cookies;
// the remaining pairs are only used to accept cookies signed before a key
// rotation. Key material never appears in errors returned by this package.
package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// CookieName is the name of the session cookie.
const CookieName = "filegate_session"

// keysVar is the environment variable the keys string comes from. It is only
// used to make error messages actionable; this package never reads the
// environment.
const keysVar = "FILEGATE_SESSION_KEYS"

const (
	// minHashKeyLen is the minimum HMAC-SHA256 key length in bytes.
	minHashKeyLen = 32
	// blockKeyLen is the AES-256 key length in bytes.
	blockKeyLen = 32
)

var (
	// ErrInvalid is returned for a cookie that is missing, malformed, has a
	// bad signature, was signed with a key that is not (or no longer)
	// configured, or carries an invalid payload (e.g. a user id <= 0).
	ErrInvalid = errors.New("session: invalid cookie")
	// ErrExpired is returned for an authentic cookie whose expiry has passed.
	ErrExpired = errors.New("session: expired")
)

// payload is the JSON document stored inside the cookie.
type payload struct {
	UserID  int64 `json:"uid"`
	Expires int64 `json:"exp"` // unix seconds
}

// Codec encodes and decodes session cookies. It is safe for concurrent use.
type Codec struct {
	codecs []securecookie.Codec // codecs[0] signs; all are accepted
	secure bool
	ttl    time.Duration
	now    func() time.Time
}

// New parses keys in the FILEGATE_SESSION_KEYS format (comma-separated,
// hex-encoded "hashkey:blockkey" pairs; hash key at least 32 bytes, block key
// exactly 32 bytes) and returns a Codec. The first pair signs new cookies;
// later pairs are still accepted when decoding, to allow key rotation.
// Whitespace around pairs and keys is ignored.
//
// secure sets the Secure attribute on cookies written by Set and Clear. ttl is
// the session lifetime and must be at least one second. now is the clock used
// for issuing and checking expiry; nil means time.Now.
//
// Errors name FILEGATE_SESSION_KEYS and say what is wrong, but never contain
// key material.
func New(keys string, secure bool, ttl time.Duration, now func() time.Time) (*Codec, error) {
	if ttl < time.Second {
		return nil, fmt.Errorf("session: ttl must be at least 1s, got %v", ttl)
	}
	if now == nil {
		now = time.Now
	}
	pairs, err := parseKeys(keys)
	if err != nil {
		return nil, err
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, sc := range codecs {
		s := sc.(*securecookie.SecureCookie)
		// Expiry is carried in the payload and checked against c.now.
		s.MaxAge(0)
		s.SetSerializer(securecookie.JSONEncoder{})
	}
	return &Codec{codecs: codecs, secure: secure, ttl: ttl, now: now}, nil
}

// parseKeys decodes the FILEGATE_SESSION_KEYS format into a flat
// hash, block, hash, block, ... slice for securecookie.CodecsFromPairs.
func parseKeys(keys string) ([][]byte, error) {
	if strings.TrimSpace(keys) == "" {
		return nil, fmt.Errorf("%s: not set or empty; expected comma-separated hex hashkey:blockkey pairs", keysVar)
	}
	var out [][]byte
	for i, pair := range strings.Split(keys, ",") {
		n := i + 1
		pair = strings.TrimSpace(pair)
		if pair == "" {
			return nil, fmt.Errorf("%s: pair %d: empty (stray comma?)", keysVar, n)
		}
		hashHex, blockHex, ok := strings.Cut(pair, ":")
		if !ok || strings.Contains(blockHex, ":") {
			return nil, fmt.Errorf("%s: pair %d: expected exactly one ':' separating hashkey:blockkey", keysVar, n)
		}
		hashKey, err := decodeKey(n, "hash", hashHex)
		if err != nil {
			return nil, err
		}
		if len(hashKey) < minHashKeyLen {
			return nil, fmt.Errorf("%s: pair %d: hash key must be at least %d bytes (%d hex digits), got %d",
				keysVar, n, minHashKeyLen, 2*minHashKeyLen, len(hashKey))
		}
		blockKey, err := decodeKey(n, "block", blockHex)
		if err != nil {
			return nil, err
		}
		if len(blockKey) != blockKeyLen {
			return nil, fmt.Errorf("%s: pair %d: block key must be %d bytes (%d hex digits), got %d",
				keysVar, n, blockKeyLen, 2*blockKeyLen, len(blockKey))
		}
		out = append(out, hashKey, blockKey)
	}
	return out, nil
}

// decodeKey hex-decodes one key. The error deliberately does not wrap the
// encoding/hex error, which would quote the offending character.
func decodeKey(pair int, which, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%s: pair %d: %s key is empty", keysVar, pair, which)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		reason := "contains a non-hex character"
		if errors.Is(err, hex.ErrLength) {
			reason = "has an odd number of hex digits"
		}
		return nil, fmt.Errorf("%s: pair %d: %s key is not valid hex (%s)", keysVar, pair, which, reason)
	}
	return b, nil
}

// Encode returns a cookie value for userID, signed with the first key pair
// and expiring ttl after now. userID must be positive.
func (c *Codec) Encode(userID int64) (string, error) {
	return c.encode(userID, c.now().Add(c.ttl))
}

func (c *Codec) encode(userID int64, expires time.Time) (string, error) {
	if userID <= 0 {
		return "", fmt.Errorf("session: user id must be positive, got %d", userID)
	}
	p := payload{UserID: userID, Expires: expires.Unix()}
	v, err := securecookie.EncodeMulti(CookieName, p, c.codecs[:1]...)
	if err != nil {
		return "", fmt.Errorf("session: encode: %w", err)
	}
	return v, nil
}

// Decode verifies a cookie value against all configured key pairs and returns
// the user id. It returns an error wrapping ErrInvalid for anything that is
// not an authentic, well-formed cookie with a positive user id, and one
// wrapping ErrExpired for an authentic cookie whose expiry is not after now.
// Decode never panics, whatever the input.
func (c *Codec) Decode(value string) (int64, error) {
	if value == "" {
		return 0, fmt.Errorf("%w: empty value", ErrInvalid)
	}
	var p payload
	if err := securecookie.DecodeMulti(CookieName, value, &p, c.codecs...); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if p.UserID <= 0 {
		return 0, fmt.Errorf("%w: non-positive user id", ErrInvalid)
	}
	if p.Expires <= 0 {
		return 0, fmt.Errorf("%w: missing expiry", ErrInvalid)
	}
	if !c.now().Before(time.Unix(p.Expires, 0)) {
		return 0, ErrExpired
	}
	return p.UserID, nil
}

// FromRequest decodes the session cookie of r, as Decode does. A request
// without the cookie yields an error wrapping ErrInvalid ("no cookie").
func (c *Codec) FromRequest(r *http.Request) (int64, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return 0, fmt.Errorf("%w: no cookie", ErrInvalid)
	}
	return c.Decode(ck.Value)
}

// Set adds a Set-Cookie header carrying a fresh session for userID:
// HttpOnly, SameSite=Lax, Path=/, Secure if configured, with Max-Age equal to
// ttl and a matching Expires. It must be called before the response header
// is written. Nothing is written if encoding fails.
func (c *Codec) Set(w http.ResponseWriter, userID int64) error {
	expires := c.now().Add(c.ttl)
	v, err := c.encode(userID, expires)
	if err != nil {
		return err
	}
	ck := c.cookie(v)
	ck.MaxAge = int(c.ttl / time.Second)
	ck.Expires = expires.UTC()
	http.SetCookie(w, ck)
	return nil
}

// Clear adds a Set-Cookie header that expires the session cookie immediately
// (Max-Age=0, Expires in the past) with the same attributes as Set.
func (c *Codec) Clear(w http.ResponseWriter) {
	ck := c.cookie("")
	ck.MaxAge = -1 // serialized as Max-Age=0
	ck.Expires = time.Unix(0, 0).UTC()
	http.SetCookie(w, ck)
}

func (c *Codec) cookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// GenerateKeys returns a fresh random key pair in the FILEGATE_SESSION_KEYS
// format: a 32-byte hash key and a 32-byte block key, hex-encoded and joined
// by ':'. Intended for development setups.
func GenerateKeys() string {
	hashKey := make([]byte, minHashKeyLen)
	blockKey := make([]byte, blockKeyLen)
	// crypto/rand.Read never returns an error (it crashes the program if the
	// system randomness source fails).
	_, _ = rand.Read(hashKey)
	_, _ = rand.Read(blockKey)
	return hex.EncodeToString(hashKey) + ":" + hex.EncodeToString(blockKey)
}
