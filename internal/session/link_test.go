package session

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

var nonce = []byte("n0nce-01")

func TestLinkToken(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	tok := c.LinkToken(42, nonce)
	if len(tok) != LinkTokenLen || !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Fatalf("token %q: want 43 URL-safe characters", tok)
	}
	if c.LinkToken(42, nonce) != tok {
		t.Error("the same link got two tokens")
	}
	if id, n, ok := c.ParseLinkToken(tok); !ok || id != 42 || !bytes.Equal(n, nonce) {
		t.Fatalf("ParseLinkToken = %d, %q, %v", id, n, ok)
	}

	// After a rotation the old token still opens the link; the page shows
	// the new one. Without the old pair, the old token is dead.
	rotated := mustNew(t, pairB+","+pairA, false, clk)
	if id, _, ok := rotated.ParseLinkToken(tok); !ok || id != 42 {
		t.Error("a token of the second pair is refused")
	}
	if rotated.LinkToken(42, nonce) == tok {
		t.Error("the first pair does not make new tokens")
	}
	if _, _, ok := mustNew(t, pairB, false, clk).ParseLinkToken(tok); ok {
		t.Error("a token of a removed pair is accepted")
	}

	// Attacks: every bit of the token is covered by the MAC, and nothing
	// else parses.
	raw := []byte(tok)
	for i := range raw {
		forged := bytes.Clone(raw)
		forged[i] = map[bool]byte{true: 'B', false: 'A'}[forged[i] == 'A']
		if _, _, ok := c.ParseLinkToken(string(forged)); ok {
			t.Fatalf("a token changed at %d is accepted", i)
		}
	}
	other := c.LinkToken(43, nonce)
	for _, bad := range []string{"", tok[:42], tok + "A", tok[:42] + "=", strings.Repeat("A", 43), other[:22] + tok[22:],
		c.LinkToken(42, []byte("another!"))[:22] + tok[22:], "../../" + tok[6:], tok[:42] + "\n"} {
		if _, _, ok := c.ParseLinkToken(bad); ok {
			t.Errorf("ParseLinkToken(%q) ok", bad)
		}
	}
	if _, _, ok := c.ParseLinkToken(c.LinkToken(0, nonce)); ok {
		t.Error("a token for id 0 is accepted")
	}
}

func TestLinkCookie(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, true, clk)
	tok := c.LinkToken(42, nonce)
	rec := httptest.NewRecorder()
	if err := c.SetLinkCookie(rec, tok, 42, nonce, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("%d cookies", len(cookies))
	}
	ck := cookies[0]
	if ck.Name != LinkCookieName || ck.Path != "/s/"+tok || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode ||
		ck.MaxAge != 3600 {
		t.Errorf("cookie %+v: want Path=/s/{token}, HttpOnly, Secure, SameSite=Lax, Max-Age=3600 (capped at an hour)", ck)
	}
	req := func(cks ...*http.Cookie) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/auth", nil)
		for _, ck := range cks {
			r.AddCookie(ck)
		}
		return r
	}
	if !c.LinkUnlocked(req(ck), 42, nonce) {
		t.Fatal("the cookie does not unlock its link")
	}
	for name, r := range map[string]*http.Request{
		"no cookie":        req(),
		"forged value":     req(&http.Cookie{Name: LinkCookieName, Value: ck.Value[:len(ck.Value)-2] + "xx"}),
		"session cookie":   req(&http.Cookie{Name: CookieName, Value: ck.Value}),
		"as a second name": req(&http.Cookie{Name: "x", Value: ck.Value}),
	} {
		if c.LinkUnlocked(r, 42, nonce) {
			t.Errorf("%s unlocks the link", name)
		}
	}
	if c.LinkUnlocked(req(ck), 43, nonce) || c.LinkUnlocked(req(ck), 42, []byte("another!")) {
		t.Error("the cookie unlocks another link, or a reused id")
	}
	// Another link's cookie next to this one's does not hide it.
	rec2 := httptest.NewRecorder()
	c.SetLinkCookie(rec2, c.LinkToken(7, nonce), 7, nonce, time.Hour)
	if !c.LinkUnlocked(req(rec2.Result().Cookies()[0], ck), 42, nonce) {
		t.Error("a second link cookie hides the first")
	}
	// A session cookie's value is not a link cookie either.
	sv, _ := c.Encode(claimsFor(42, clk))
	if c.LinkUnlocked(req(&http.Cookie{Name: LinkCookieName, Value: sv}), 42, nonce) {
		t.Error("a session cookie's value unlocks a link")
	}
	clk.Advance(time.Hour)
	if c.LinkUnlocked(req(ck), 42, nonce) {
		t.Error("the cookie outlived its hour")
	}
}
