// Package session issues and verifies the filegate session cookie.
//
// The cookie (named [CookieName]) is encoded with gorilla/securecookie:
// HMAC-SHA256 for authentication and AES-256 for encryption, with a JSON
// payload holding the user id, the session's secret token and an expiry
// time (unix seconds). The expiry is checked by this package against an
// injectable clock; securecookie's own timestamp check is disabled. The
// token names a server-side session record, which the store keeps under
// HashToken(token) only; whether that session is still valid is for the
// callers to check (docs/interface.md#session-cookie).
//
// Keys are supplied in the FILEGATE_SESSION_KEYS format: comma-separated
// "hashkey:blockkey" pairs, hex-encoded. The first pair signs new cookies;
// the remaining pairs are only used to accept cookies signed before a key
// rotation. Key material never appears in errors returned by this package.
package session

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/filegate/filegate/internal/memo"
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
	// configured, or carries an invalid payload (e.g. a user id <= 0, or
	// no session token, as in cookies issued before sessions were
	// server-side records).
	ErrInvalid = errors.New("session: invalid cookie")
	// ErrExpired is returned for an authentic cookie whose expiry has passed.
	ErrExpired = errors.New("session: expired")
)

// tokenBytes is the size of a session token: 128 bits from crypto/rand.
const tokenBytes = 16

// Claims are what a session cookie says: whose session, which one, and
// until when.
type Claims struct {
	UserID  int64
	Token   string // the session's secret token (NewToken); never logged
	Expires time.Time
	// TokenHash is HashToken(Token), what the store knows the session
	// by; Decode and FromRequest fill it in.
	TokenHash [32]byte
}

// payload is the JSON document stored inside the cookie.
type payload struct {
	UserID  int64  `json:"uid"`
	Token   string `json:"sid"`
	Expires int64  `json:"exp"` // unix seconds
}

// NewToken returns a fresh session token: 128 bits from crypto/rand, as 32
// lowercase hex digits.
func NewToken() string {
	b := make([]byte, tokenBytes)
	// crypto/rand.Read never returns an error (it crashes the program if
	// the system randomness source fails).
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HashToken returns what the store keeps of a token: its SHA-256.
func HashToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// validToken reports whether t has the shape NewToken gives.
func validToken(t string) bool {
	if len(t) != 2*tokenBytes {
		return false
	}
	for _, c := range []byte(t) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Codec encodes and decodes session cookies. It is safe for concurrent use.
type Codec struct {
	codecs   []securecookie.Codec // codecs[0] signs; all are accepted
	linkKeys [][]byte             // linkKeys[0] makes link tokens; all are accepted (link.go)
	secure   bool
	now      func() time.Time
	// decoded holds session payloads, and their tokens' hashes, by the
	// Cookie header they came in (Remember); nil keeps none.
	decoded *memo.Map[string, verified]
}

// verified is a payload that verified, with its token's hash.
type verified struct {
	payload
	hash [32]byte
}

// maxRememberedLine is the longest Cookie header FromRequest remembers a
// payload by: the session cookie (about 300 bytes) and a few others, not
// an abuse of them. It bounds the memory Remember(n) can take, n lines of
// at most this, whatever lines a holder of a cookie makes up; a longer
// line is verified every time.
const maxRememberedLine = 1 << 10

// Remember makes FromRequest keep the session payloads of up to n
// requests' Cookie headers, so that a client asking again costs a map
// lookup instead of parsing its cookies, the MAC, the decryption and the
// JSON (authz decodes one on every download). The key is the whole
// header line as it came, not a hash of it: what FromRequest finds in a
// line depends on that line alone, and a hit means exactly the bytes that
// were parsed and verified, so a forged cookie can never meet the
// payload of a real one. Only payloads that verified and are well-formed
// are kept, so a flood of forged cookies neither fills it nor is spared
// the verification; the expiry is checked on every call. The keys never
// change for a Codec, so a kept payload stays what decoding would give.
// It is called once, before the Codec is used.
func (c *Codec) Remember(n int) {
	c.decoded = memo.New[string, verified](n)
}

// New parses keys in the FILEGATE_SESSION_KEYS format (comma-separated,
// hex-encoded "hashkey:blockkey" pairs; hash key at least 32 bytes, block key
// exactly 32 bytes) and returns a Codec. The first pair signs new cookies;
// later pairs are still accepted when decoding, to allow key rotation.
// Whitespace around pairs and keys is ignored.
//
// secure sets the Secure attribute on cookies written by Set and Clear. now
// is the clock used for checking expiry and for the cookie's Max-Age; nil
// means time.Now. The lifetime of a session is the caller's: it is in the
// Claims.
//
// Errors name FILEGATE_SESSION_KEYS and say what is wrong, but never contain
// key material.
func New(keys string, secure bool, now func() time.Time) (*Codec, error) {
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
	var linkKeys [][]byte
	for i := 0; i < len(pairs); i += 2 {
		linkKeys = append(linkKeys, derive(pairs[i], linkTokenLabel))
	}
	return &Codec{codecs: codecs, linkKeys: linkKeys, secure: secure, now: now}, nil
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

// Encode returns a cookie value for cl, signed with the first key pair.
// The user id must be positive, the token one from NewToken and the
// expiry set; the expiry is kept in whole seconds.
func (c *Codec) Encode(cl Claims) (string, error) {
	switch {
	case cl.UserID <= 0:
		return "", fmt.Errorf("session: user id must be positive, got %d", cl.UserID)
	case !validToken(cl.Token):
		return "", errors.New("session: malformed session token")
	case cl.Expires.Unix() <= 0:
		return "", errors.New("session: no expiry")
	}
	p := payload{UserID: cl.UserID, Token: cl.Token, Expires: cl.Expires.Unix()}
	v, err := securecookie.EncodeMulti(CookieName, p, c.codecs[:1]...)
	if err != nil {
		return "", fmt.Errorf("session: encode: %w", err)
	}
	return v, nil
}

// Decode verifies a cookie value against all configured key pairs and returns
// its claims. It returns an error wrapping ErrInvalid for anything that is
// not an authentic, well-formed cookie with a positive user id and a
// session token, and one wrapping ErrExpired for an authentic cookie whose
// expiry is not after now. Decode never panics, whatever the input. The
// claims are the cookie's word only: the session they name may have been
// revoked since.
func (c *Codec) Decode(value string) (Claims, error) {
	v, err := c.verify(value)
	if err != nil {
		return Claims{}, err
	}
	return c.claims(v)
}

// verify returns the payload of value, with its token's hash, if value is
// authentic under one of the keys and the payload well-formed, whatever
// its expiry.
func (c *Codec) verify(value string) (verified, error) {
	if value == "" {
		return verified{}, fmt.Errorf("%w: empty value", ErrInvalid)
	}
	var p payload
	if err := securecookie.DecodeMulti(CookieName, value, &p, c.codecs...); err != nil {
		return verified{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if p.UserID <= 0 {
		return verified{}, fmt.Errorf("%w: non-positive user id", ErrInvalid)
	}
	if !validToken(p.Token) {
		// Cookies from before server-side sessions have none.
		return verified{}, fmt.Errorf("%w: no session token", ErrInvalid)
	}
	if p.Expires <= 0 {
		return verified{}, fmt.Errorf("%w: missing expiry", ErrInvalid)
	}
	return verified{payload: p, hash: HashToken(p.Token)}, nil
}

// claims returns v's claims, or ErrExpired when its expiry is not after
// now.
func (c *Codec) claims(v verified) (Claims, error) {
	if !c.now().Before(time.Unix(v.Expires, 0)) {
		return Claims{}, ErrExpired
	}
	return Claims{UserID: v.UserID, Token: v.Token, Expires: time.Unix(v.Expires, 0), TokenHash: v.hash}, nil
}

// FromRequest decodes the session cookie of r, as Decode does. A request
// without the cookie yields an error wrapping ErrInvalid ("no cookie").
func (c *Codec) FromRequest(r *http.Request) (Claims, error) {
	// A request with one Cookie header of a sane size may have been seen.
	var line string
	if lines := r.Header["Cookie"]; c.decoded != nil && len(lines) == 1 && len(lines[0]) <= maxRememberedLine {
		line = lines[0]
		if v, ok := c.decoded.Get(line); ok {
			return c.claims(v)
		}
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: no cookie", ErrInvalid)
	}
	v, err := c.verify(ck.Value)
	if err != nil {
		return Claims{}, err
	}
	claims, err := c.claims(v)
	if line != "" && err == nil {
		// An expired payload is never remembered: it can only be refused.
		c.decoded.Put(line, v)
	}
	return claims, err
}

// Set adds a Set-Cookie header carrying cl: HttpOnly, SameSite=Lax, Path=/,
// Secure if configured, with Expires at cl's expiry and Max-Age the whole
// seconds until then, rounded up. It must be called before the response
// header is written. Nothing is written if encoding fails or the expiry
// is not in the future.
func (c *Codec) Set(w http.ResponseWriter, cl Claims) error {
	expires := time.Unix(cl.Expires.Unix(), 0)
	left := expires.Sub(c.now())
	if left <= 0 {
		return errors.New("session: expiry is not in the future")
	}
	v, err := c.Encode(cl)
	if err != nil {
		return err
	}
	ck := c.cookie(v)
	ck.MaxAge = int((left + time.Second - 1) / time.Second)
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

// CacheKey derives from keys, in the FILEGATE_SESSION_KEYS format, the
// key that authenticates authz's cached entries (docs/interface.md#cache):
// the HMAC-SHA256 of a fixed label under the first pair's hash key. Every
// authz replica derives the same key, Redis never sees it, and it reveals
// nothing about the cookie keys. It changes with the first pair: after a
// rotation every entry cached before it is a miss once.
func CacheKey(keys string) ([]byte, error) {
	pairs, err := parseKeys(keys)
	if err != nil {
		return nil, err
	}
	return derive(pairs[0], "filegate cache entries v1"), nil
}

// derive returns a key for one purpose, named by label, from a hash key:
// the HMAC-SHA256 of label. Keys for different labels reveal nothing
// about each other or the hash key.
func derive(hashKey []byte, label string) []byte {
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte(label))
	return m.Sum(nil)
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
