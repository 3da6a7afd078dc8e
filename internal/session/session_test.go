package session

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// Fixed, recognisable test keys (32-byte hash keys, 32-byte block keys).
var (
	hashA  = strings.Repeat("a1", 32)
	blockA = strings.Repeat("b1", 32)
	hashB  = strings.Repeat("a2", 32)
	blockB = strings.Repeat("b2", 32)
	hashC  = strings.Repeat("a3", 32)
	blockC = strings.Repeat("b3", 32)

	pairA = hashA + ":" + blockA
	pairB = hashB + ":" + blockB
	pairC = hashC + ":" + blockC
)

const testTTL = time.Hour

// fakeClock is an injectable clock that tests can advance.
type fakeClock struct{ t time.Time }

func (f *fakeClock) Now() time.Time          { return f.t }
func (f *fakeClock) Advance(d time.Duration) { f.t = f.t.Add(d) }

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// mustNew returns a Codec that remembers the payloads it read from
// requests, as authz's does: every test that asks about a request twice
// checks that a remembered payload gives what decoding would
// (TestRemember checks the rest).
func mustNew(t testing.TB, keys string, secure bool, clk *fakeClock) *Codec {
	t.Helper()
	c, err := New(keys, secure, clk.Now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.Remember(100)
	return c
}

// claimsFor returns claims of a fresh session of uid, expiring testTTL
// after clk's now.
func claimsFor(uid int64, clk *fakeClock) Claims {
	return Claims{UserID: uid, Token: NewToken(), Expires: clk.Now().Add(testTTL)}
}

func TestRoundTrip(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	for _, uid := range []int64{1, 42, 1 << 53, 1<<63 - 1} {
		want := claimsFor(uid, clk)
		v, err := c.Encode(want)
		if err != nil {
			t.Fatalf("Encode(%d): %v", uid, err)
		}
		got, err := c.Decode(v)
		if err != nil {
			t.Fatalf("Decode(Encode(%d)): %v", uid, err)
		}
		if got.UserID != uid || got.Token != want.Token || !got.Expires.Equal(want.Expires) || got.TokenHash != HashToken(want.Token) {
			t.Fatalf("Decode(Encode(%+v)) = %+v", want, got)
		}
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		tok := NewToken()
		if !validToken(tok) || seen[tok] {
			t.Fatalf("NewToken = %q: malformed or repeated", tok)
		}
		seen[tok] = true
	}
	if a, b := HashToken("a"), HashToken("b"); a == b || a == [32]byte{} {
		t.Fatal("HashToken does not tell tokens apart")
	}
}

func TestEncodeRejectsBadClaims(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	good := claimsFor(3, clk)
	for name, cl := range map[string]Claims{
		"zero user id":     {UserID: 0, Token: good.Token, Expires: good.Expires},
		"negative user id": {UserID: -1, Token: good.Token, Expires: good.Expires},
		"no token":         {UserID: 3, Expires: good.Expires},
		"short token":      {UserID: 3, Token: good.Token[1:], Expires: good.Expires},
		"uppercase token":  {UserID: 3, Token: strings.ToUpper(good.Token), Expires: good.Expires},
		"no expiry":        {UserID: 3, Token: good.Token},
	} {
		if _, err := c.Encode(cl); err == nil {
			t.Errorf("%s: Encode succeeded", name)
		}
		rec := httptest.NewRecorder()
		if err := c.Set(rec, cl); err == nil {
			t.Errorf("%s: Set succeeded", name)
		}
		if h := rec.Header().Values("Set-Cookie"); len(h) != 0 {
			t.Errorf("%s: Set wrote %q despite error", name, h)
		}
	}
	rec := httptest.NewRecorder()
	past := Claims{UserID: 3, Token: good.Token, Expires: clk.Now()}
	if err := c.Set(rec, past); err == nil || len(rec.Header().Values("Set-Cookie")) != 0 {
		t.Errorf("Set of an expired session: %v, %q", err, rec.Header().Values("Set-Cookie"))
	}
}

func TestTamperedValueRejected(t *testing.T) {
	c := mustNew(t, pairA, false, newClock())
	v := mustEncode(t, c, 7)

	// Flip one bit of every byte of the (base64-decoded) cookie in turn.
	raw, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("cookie value is not base64url: %v", err)
	}
	for i := range raw {
		mod := append([]byte(nil), raw...)
		mod[i] ^= 0x01
		bad := base64.URLEncoding.EncodeToString(mod)
		if _, err := c.Decode(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("byte %d flipped: err = %v, want ErrInvalid", i, err)
		}
	}

	// And a textual change of one character in the middle of the value.
	b := []byte(v)
	mid := len(b) / 2
	if b[mid] == 'A' {
		b[mid] = 'B'
	} else {
		b[mid] = 'A'
	}
	if _, err := c.Decode(string(b)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("char %d changed: err = %v, want ErrInvalid", mid, err)
	}
}

func TestGarbageRejected(t *testing.T) {
	c := mustNew(t, pairA, false, newClock())
	for _, v := range []string{
		"", "x", "||", "a|b|c", "====", "not base64 !!",
		base64.URLEncoding.EncodeToString([]byte("1|2|3")),
		strings.Repeat("A", 5000),
	} {
		if _, err := c.Decode(v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%.20q) err = %v, want ErrInvalid", v, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	v := mustEncode(t, c, 9)

	clk.Advance(testTTL - time.Second)
	if cl, err := c.Decode(v); err != nil || cl.UserID != 9 {
		t.Fatalf("just before expiry: uid=%d err=%v, want 9, nil", cl.UserID, err)
	}

	clk.Advance(time.Second) // exactly at expiry
	_, err := c.Decode(v)
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: err = %v, want ErrExpired", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Fatalf("expired cookie must not also be ErrInvalid")
	}

	clk.Advance(30 * 24 * time.Hour)
	if _, err := c.Decode(v); !errors.Is(err, ErrExpired) {
		t.Fatalf("long after expiry: err = %v, want ErrExpired", err)
	}
}

// securecookie's own timestamp check (30 days by default) must be disabled:
// only the expiry in our payload, checked against the injected clock, counts.
func TestSecurecookieTimestampIgnored(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	v := mustEncode(t, c, 5)

	// Re-sign the same payload with a securecookie timestamp 60 days old.
	old := time.Now().Add(-60 * 24 * time.Hour).Unix()
	raw, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("unexpected securecookie format")
	}
	body := []byte(fmt.Sprintf("%d|%s", old, parts[1]))
	mac := hmac.New(sha256.New, mustHex(t, hashA))
	mac.Write([]byte(CookieName + "|"))
	mac.Write(body)
	resigned := base64.URLEncoding.EncodeToString(append(append(body, '|'), mac.Sum(nil)...))

	// Sanity check: a default securecookie codec rejects it as too old.
	var p payload
	sc := securecookie.New(mustHex(t, hashA), mustHex(t, blockA)).SetSerializer(securecookie.JSONEncoder{})
	if err := sc.Decode(CookieName, resigned, &p); err == nil {
		t.Fatal("default securecookie accepted a 60-day-old timestamp; test is not exercising MaxAge")
	}
	if cl, err := c.Decode(resigned); err != nil || cl.UserID != 5 {
		t.Fatalf("uid=%d err=%v, want 5, nil", cl.UserID, err)
	}
}

func TestKeyRotation(t *testing.T) {
	clk := newClock()
	oldOnly := mustNew(t, pairB, false, clk)
	rotated := mustNew(t, pairA+","+pairB, false, clk)
	newOnly := mustNew(t, pairA, false, clk)
	unrelated := mustNew(t, pairC, false, clk)

	oldCookie := mustEncode(t, oldOnly, 11)
	newCookie := mustEncode(t, rotated, 12)

	tests := []struct {
		name    string
		codec   *Codec
		value   string
		wantUID int64
		wantErr error
	}{
		{"retired but listed pair accepted", rotated, oldCookie, 11, nil},
		{"primary pair accepted", rotated, newCookie, 12, nil},
		{"new cookies signed with first pair", newOnly, newCookie, 12, nil},
		{"new cookies not signed with second pair", oldOnly, newCookie, 0, ErrInvalid},
		{"dropped pair rejected", newOnly, oldCookie, 0, ErrInvalid},
		{"unlisted key rejected", rotated, mustEncode(t, unrelated, 13), 0, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := tt.codec.Decode(tt.value)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || cl.UserID != tt.wantUID {
				t.Fatalf("uid=%d err=%v, want %d, nil", cl.UserID, err, tt.wantUID)
			}
		})
	}
}

// Authentic cookies with a bad payload are still ErrInvalid. Cookies
// issued before sessions were server-side records ({"uid", "exp"}, no
// token) are among them: they end with the upgrade.
func TestBadPayloadRejected(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	exp := clk.Now().Add(time.Hour).Unix()
	tok := NewToken()
	tests := []struct {
		name  string
		value any
	}{
		{"zero user id", payload{UserID: 0, Token: tok, Expires: exp}},
		{"negative user id", payload{UserID: -3, Token: tok, Expires: exp}},
		{"missing expiry", map[string]any{"uid": 3, "sid": tok}},
		{"old cookie without a session", map[string]any{"uid": 3, "exp": exp}},
		{"empty session token", payload{UserID: 3, Expires: exp}},
		{"malformed session token", payload{UserID: 3, Token: "../../etc", Expires: exp}},
		{"session token as a number", map[string]any{"uid": 3, "sid": 12345, "exp": exp}},
		{"wrong types", map[string]any{"uid": "3", "sid": tok, "exp": exp}},
		{"not an object", []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := securecookie.New(mustHex(t, hashA), mustHex(t, blockA)).
				SetSerializer(securecookie.JSONEncoder{})
			v, err := sc.Encode(CookieName, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if cl, err := c.Decode(v); !errors.Is(err, ErrInvalid) {
				t.Fatalf("claims=%+v err=%v, want ErrInvalid", cl, err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	short := strings.Repeat("c4", 16) // 16 bytes
	long := strings.Repeat("d5", 48)  // 48 bytes
	tests := []struct {
		name string
		keys string
		want string
	}{
		{"missing", "", "not set or empty"},
		{"blank", " \n\t ", "not set or empty"},
		{"short hash key", short + ":" + blockA, "pair 1: hash key must be at least 32 bytes (64 hex digits), got 16"},
		{"short block key", hashA + ":" + short, "pair 1: block key must be 32 bytes (64 hex digits), got 16"},
		{"long block key", hashA + ":" + long, "pair 1: block key must be 32 bytes (64 hex digits), got 48"},
		{"bad second pair", pairA + "," + hashB + ":" + short, "pair 2: block key must be 32 bytes (64 hex digits), got 16"},
		{"non-hex hash key", "zz" + hashA[2:] + ":" + blockA, "pair 1: hash key is not valid hex (contains a non-hex character)"},
		{"non-hex block key", hashA + ":" + blockA[:62] + "xy", "pair 1: block key is not valid hex (contains a non-hex character)"},
		{"odd-length hex", hashA + "f:" + blockA, "pair 1: hash key is not valid hex (has an odd number of hex digits)"},
		{"missing colon", hashA + blockA, "pair 1: expected exactly one ':'"},
		{"two colons", pairA + ":" + blockB, "pair 1: expected exactly one ':'"},
		{"empty hash key", ":" + blockA, "pair 1: hash key is empty"},
		{"empty block key", hashA + ":", "pair 1: block key is empty"},
		{"trailing comma", pairA + ",", "pair 2: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.keys, false, nil)
			if err == nil {
				t.Fatalf("New succeeded (%v), want error", c != nil)
			}
			msg := err.Error()
			if !strings.Contains(msg, "FILEGATE_SESSION_KEYS") {
				t.Errorf("error %q does not name FILEGATE_SESSION_KEYS", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			assertNoKeyMaterial(t, msg, tt.keys)
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, keys := range []string{
		pairA,
		strings.ToUpper(pairA),
		" " + pairA + " , " + pairB + "\n",
		strings.Repeat("e6", 64) + ":" + blockA, // 64-byte hash key
		GenerateKeys(),
	} {
		if _, err := New(keys, true, nil); err != nil {
			t.Errorf("New(...): %v", err)
		}
	}
}

func TestCodecDoesNotPrintKeys(t *testing.T) {
	c := mustNew(t, pairA, false, newClock())
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c)} {
		assertNoKeyMaterial(t, s, pairA)
	}
}

func TestGenerateKeys(t *testing.T) {
	k1, k2 := GenerateKeys(), GenerateKeys()
	if k1 == k2 {
		t.Fatal("GenerateKeys returned the same pair twice")
	}
	hashHex, blockHex, ok := strings.Cut(k1, ":")
	if !ok || len(hashHex) != 64 || len(blockHex) != 64 {
		t.Fatalf("GenerateKeys format: got %d:%d hex digits, want 64:64", len(hashHex), len(blockHex))
	}
	c := mustNew(t, k1, false, newClock())
	if cl, err := c.Decode(mustEncode(t, c, 3)); err != nil || cl.UserID != 3 {
		t.Fatalf("round trip with generated keys: uid=%d err=%v", cl.UserID, err)
	}
}

func TestFromRequest(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	valid := mustEncode(t, c, 21)

	tests := []struct {
		name    string
		cookies []*http.Cookie
		wantUID int64
		wantErr error
		wantMsg string
	}{
		{"valid", []*http.Cookie{{Name: CookieName, Value: valid}}, 21, nil, ""},
		{"valid among others", []*http.Cookie{{Name: "other", Value: "x"}, {Name: CookieName, Value: valid}}, 21, nil, ""},
		{"missing", nil, 0, ErrInvalid, "no cookie"},
		{"other cookie only", []*http.Cookie{{Name: "other", Value: valid}}, 0, ErrInvalid, "no cookie"},
		{"empty value", []*http.Cookie{{Name: CookieName, Value: ""}}, 0, ErrInvalid, ""},
		{"garbage", []*http.Cookie{{Name: CookieName, Value: "garbage"}}, 0, ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, ck := range tt.cookies {
				r.AddCookie(ck)
			}
			cl, err := c.FromRequest(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err %q does not mention %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil || cl.UserID != tt.wantUID {
				t.Fatalf("uid=%d err=%v, want %d, nil", cl.UserID, err, tt.wantUID)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: CookieName, Value: valid})
		clk2 := *clk
		clk2.Advance(testTTL)
		c2 := mustNew(t, pairA, false, &clk2)
		if _, err := c2.FromRequest(r); !errors.Is(err, ErrExpired) {
			t.Fatalf("err = %v, want ErrExpired", err)
		}
	})
}

func TestSetAndClear(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure=%v", secure), func(t *testing.T) {
			clk := newClock()
			c := mustNew(t, pairA, secure, clk)

			// Set, with an expiry a fraction of a second past a whole
			// second: Max-Age rounds up, Expires is in whole seconds.
			clk.Advance(300 * time.Millisecond)
			want := claimsFor(77, clk)
			rec := httptest.NewRecorder()
			if err := c.Set(rec, want); err != nil {
				t.Fatalf("Set: %v", err)
			}
			raw := rec.Header().Values("Set-Cookie")
			if len(raw) != 1 {
				t.Fatalf("Set wrote %d Set-Cookie headers, want 1", len(raw))
			}
			ck := onlyCookie(t, rec)
			checkAttrs(t, ck, raw[0], secure)
			if ck.MaxAge != int(testTTL/time.Second) {
				t.Errorf("MaxAge = %d, want %d", ck.MaxAge, int(testTTL/time.Second))
			}
			if w := want.Expires.Truncate(time.Second); !ck.Expires.Equal(w) {
				t.Errorf("Expires = %v, want %v", ck.Expires, w)
			}

			// The cookie the browser would send back carries the claims.
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
			if cl, err := c.FromRequest(r); err != nil || cl.UserID != 77 || cl.Token != want.Token {
				t.Fatalf("FromRequest after Set: %+v err=%v", cl, err)
			}

			// Clear.
			rec = httptest.NewRecorder()
			c.Clear(rec)
			raw = rec.Header().Values("Set-Cookie")
			if len(raw) != 1 {
				t.Fatalf("Clear wrote %d Set-Cookie headers, want 1", len(raw))
			}
			ck = onlyCookie(t, rec)
			checkAttrs(t, ck, raw[0], secure)
			if ck.Value != "" {
				t.Errorf("Clear value = %q, want empty", ck.Value)
			}
			if ck.MaxAge >= 0 || !strings.Contains(raw[0], "Max-Age=0") {
				t.Errorf("Clear does not expire the cookie: MaxAge=%d header=%q", ck.MaxAge, raw[0])
			}
			if !ck.Expires.Before(clk.Now()) {
				t.Errorf("Clear Expires = %v, want in the past", ck.Expires)
			}
		})
	}
}

func checkAttrs(t *testing.T, ck *http.Cookie, raw string, secure bool) {
	t.Helper()
	if ck.Name != CookieName {
		t.Errorf("Name = %q, want %q", ck.Name, CookieName)
	}
	if ck.Path != "/" {
		t.Errorf("Path = %q, want /", ck.Path)
	}
	if !ck.HttpOnly {
		t.Errorf("HttpOnly not set: %q", raw)
	}
	if ck.SameSite != http.SameSiteLaxMode || !strings.Contains(raw, "SameSite=Lax") {
		t.Errorf("SameSite not Lax: %q", raw)
	}
	if ck.Secure != secure {
		t.Errorf("Secure = %v, want %v: %q", ck.Secure, secure, raw)
	}
	if ck.Domain != "" {
		t.Errorf("Domain = %q, want host-only cookie", ck.Domain)
	}
}

func onlyCookie(t *testing.T, rec *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	cks := rec.Result().Cookies()
	if len(cks) != 1 {
		t.Fatalf("got %d cookies, want 1", len(cks))
	}
	return cks[0]
}

// mustEncode returns a cookie value for a fresh session of uid, expiring
// testTTL after the codec's now.
func mustEncode(t testing.TB, c *Codec, uid int64) string {
	t.Helper()
	v, err := c.Encode(Claims{UserID: uid, Token: NewToken(), Expires: c.now().Add(testTTL)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoKeyMaterial fails if msg contains any run of 8 or more characters
// from a key in keys (split on ',' and ':'), or the raw bytes of a key.
func assertNoKeyMaterial(t *testing.T, msg, keys string) {
	t.Helper()
	lmsg := strings.ToLower(msg)
	for _, pair := range strings.Split(keys, ",") {
		for _, k := range strings.Split(strings.TrimSpace(pair), ":") {
			k = strings.ToLower(strings.TrimSpace(k))
			for i := 0; i+8 <= len(k); i++ {
				if strings.Contains(lmsg, k[i:i+8]) {
					t.Fatalf("message leaks key material %q: %q", k[i:i+8], msg)
				}
			}
			if b, err := hex.DecodeString(k); err == nil && len(b) >= 8 && strings.Contains(msg, string(b[:8])) {
				t.Fatalf("message leaks raw key bytes: %q", msg)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	clk := newClock()
	c := mustNew(f, pairA+","+pairB, false, clk)
	// Fixed claims: the fuzzing workers each run this setup, and an
	// accepted value must say what every one of them encoded.
	produced := Claims{UserID: 1, Token: strings.Repeat("ab", 16), Expires: clk.Now().Add(testTTL)}
	valid, err := c.Encode(produced)
	if err != nil {
		f.Fatal(err)
	}
	other := mustEncode(f, mustNew(f, pairC, false, clk), 1)
	for _, seed := range []string{
		"", "x", "|", "||", "a|b|c", "====", valid, other,
		valid[:len(valid)/2], valid + "A", strings.ToUpper(valid),
		base64.URLEncoding.EncodeToString([]byte("1|2|3")),
		base64.URLEncoding.EncodeToString([]byte("1|" + base64.URLEncoding.EncodeToString(make([]byte, 16)) + "|")),
		strings.Repeat("A", 4097),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		cl, err := c.Decode(value)
		switch {
		case err == nil:
			// Only Encode's output can carry a good MAC: whatever the
			// fuzzer made of it, an accepted value says what valid says.
			if cl.UserID != produced.UserID || cl.Token != produced.Token || !cl.Expires.Equal(produced.Expires) {
				t.Fatalf("Decode(%q) = %+v, nil; Encode produced only %+v", value, cl, produced)
			}
		case errors.Is(err, ErrInvalid), errors.Is(err, ErrExpired):
			if cl != (Claims{}) {
				t.Fatalf("Decode(%q) = %+v, %v; want zero claims on error", value, cl, err)
			}
		default:
			t.Fatalf("Decode(%q) error %v is neither ErrInvalid nor ErrExpired", value, err)
		}
	})
}

// The public format (docs/interface.md#session-cookie): any securecookie
// codec with the first pair (HMAC-SHA256 + AES-256) and the JSON
// serializer reads the user id, the session token and the expiry.
func TestPinnedFormat(t *testing.T) {
	clk := newClock()
	cl := claimsFor(42, clk)
	v, err := mustNew(t, pairA, false, clk).Encode(cl)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	sc := securecookie.New(mustHex(t, hashA), mustHex(t, blockA)).SetSerializer(securecookie.JSONEncoder{})
	if err := sc.Decode(CookieName, v, &got); err != nil {
		t.Fatalf("plain securecookie cannot decode: %v", err)
	}
	if len(got) != 3 || got["uid"] != float64(42) || got["sid"] != cl.Token || got["exp"] != float64(clk.Now().Add(testTTL).Unix()) {
		t.Errorf("payload = %v, want exactly uid 42, sid and exp now+ttl", got)
	}
}

// The cache's entry key follows the first pair only, is the same for the
// same keys (every replica agrees), is not the hash key itself, and is
// refused for keys New would refuse.
func TestCacheKey(t *testing.T) {
	a, err := CacheKey(pairA + "," + pairB)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := CacheKey(" " + pairA + " ")
	rotated, _ := CacheKey(pairC + "," + pairA)
	hashKey, _ := hex.DecodeString(hashA)
	switch {
	case len(a) != sha256.Size:
		t.Errorf("key of %d bytes", len(a))
	case !bytes.Equal(a, again):
		t.Error("the same first pair gave another key")
	case bytes.Equal(a, rotated):
		t.Error("a new first pair kept the key")
	case bytes.Contains(a, hashKey[:8]):
		t.Error("the key shows the hash key")
	}
	for _, bad := range []string{"", "zz:" + blockA, hashA[:10] + ":" + blockA} {
		if _, err := CacheKey(bad); err == nil {
			t.Errorf("CacheKey(%.20q) succeeded", bad)
		}
	}
}

// A remembering Codec answers a request whose Cookie header it verified
// before from memory, with the expiry still checked on every call, and
// keeps nothing that did not verify: forged, tampered, malformed or
// signed with a key it does not hold. Another header line, even with the
// same session cookie, is parsed afresh; it never holds more than it was
// told.
func TestRemember(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	c.Remember(3)
	ask := func(lines ...string) (Claims, error) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, l := range lines {
			r.Header.Add("Cookie", l)
		}
		return c.FromRequest(r)
	}
	cl := claimsFor(7, clk)
	v, err := c.Encode(cl)
	if err != nil {
		t.Fatal(err)
	}
	line := "theme=dark; " + CookieName + "=" + v
	for range 2 {
		got, err := ask(line)
		if err != nil || got.UserID != 7 || got.Token != cl.Token || !got.Expires.Equal(time.Unix(cl.Expires.Unix(), 0)) ||
			got.TokenHash != HashToken(cl.Token) {
			t.Fatalf("FromRequest = %+v, %v; want the claims encoded, with the token's hash", got, err)
		}
	}
	if n := c.decoded.Len(); n != 1 {
		t.Fatalf("%d payloads kept after one cookie, want 1", n)
	}

	// Nothing that fails verification is kept, however often it comes.
	raw, _ := base64.URLEncoding.DecodeString(v)
	raw[len(raw)/2] ^= 1
	foreign := mustEncode(t, mustNew(t, pairB, false, clk), 7)
	sc := securecookie.New(mustHex(t, hashA), mustHex(t, blockA)).SetSerializer(securecookie.JSONEncoder{})
	malformed, err := sc.Encode(CookieName, payload{UserID: 0, Token: NewToken(), Expires: clk.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "x", base64.URLEncoding.EncodeToString(raw), foreign, malformed, v[:len(v)-1], v + "A"} {
		for range 2 {
			if got, err := ask("theme=dark; " + CookieName + "=" + bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("cookie %.30q: %+v, %v; want ErrInvalid", bad, got, err)
			}
		}
	}
	// A line naming the remembered cookie under another name, or only in
	// a second Cookie header, is no hit.
	if got, err := ask("x" + CookieName + "=" + v); !errors.Is(err, ErrInvalid) {
		t.Errorf("the cookie under another name: %+v, %v", got, err)
	}
	if got, err := ask("theme=dark", line); err != nil || got.UserID != 7 {
		t.Errorf("two Cookie headers: %+v, %v", got, err)
	}
	if n := c.decoded.Len(); n != 1 {
		t.Errorf("%d payloads kept after forged cookies and two header lines, want 1", n)
	}
	// The same cookie in a line too long to keep is parsed every time.
	long := "pad=" + strings.Repeat("x", maxRememberedLine) + "; " + CookieName + "=" + v
	if got, err := ask(long); err != nil || got.UserID != 7 || c.decoded.Len() != 1 {
		t.Errorf("long line: %+v, %v, %d kept", got, err, c.decoded.Len())
	}

	// A remembered cookie expires when its payload says.
	clk.Advance(testTTL)
	if _, err := ask(line); !errors.Is(err, ErrExpired) {
		t.Errorf("remembered cookie at its expiry: %v, want ErrExpired", err)
	}
	// An expired cookie is never remembered, in whatever line it comes:
	// a holder of one cannot fill the memory with it.
	kept := c.decoded.Len()
	for i := range 5 {
		if _, err := ask(fmt.Sprintf("pad=%d; %s=%s", i, CookieName, v)); !errors.Is(err, ErrExpired) {
			t.Errorf("expired cookie in a new line: %v, want ErrExpired", err)
		}
	}
	if n := c.decoded.Len(); n != kept {
		t.Errorf("%d payloads kept after an expired cookie in 5 new lines, want %d", n, kept)
	}

	// Bounded: more clients than its size each still get their own
	// claims.
	for uid := int64(1); uid <= 10; uid++ {
		cl := claimsFor(uid, clk)
		v, err := c.Encode(cl)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got, err := ask(CookieName + "=" + v); err != nil || got.UserID != uid || got.Token != cl.Token || got.TokenHash != HashToken(cl.Token) {
				t.Fatalf("cookie of user %d: %+v, %v", uid, got, err)
			}
		}
	}
	if n := c.decoded.Len(); n != 3 {
		t.Errorf("%d payloads kept, want at most the size, 3", n)
	}
}

// What reading a request's session cookie costs, the first time and when
// remembered: authz reads one on every download.
func BenchmarkFromRequest(b *testing.B) {
	for _, remember := range []bool{false, true} {
		b.Run(fmt.Sprintf("remember=%v", remember), func(b *testing.B) {
			clk := newClock()
			c, err := New(pairA, false, clk.Now)
			if err != nil {
				b.Fatal(err)
			}
			if remember {
				c.Remember(100)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", "theme=dark; "+CookieName+"="+mustEncode(b, c, 7))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.FromRequest(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
