package session

import (
	"strings"
	"testing"
)

func TestNote(t *testing.T) {
	clk := newClock()
	c := mustNew(t, pairA, false, clk)
	const text = "report “Q3”.pdf"
	sealed, err := c.SealNote(7, text)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.OpenNote(7, sealed); !ok || got != text {
		t.Fatalf("OpenNote = %q, %v", got, ok)
	}
	if strings.Contains(sealed, "report") {
		t.Errorf("the sealed note shows its text: %s", sealed)
	}

	// Attacks: another user's note, a changed one, a session cookie or
	// a link cookie passed off as a note, one of a removed key pair.
	if _, ok := c.OpenNote(8, sealed); ok {
		t.Error("user 8 opens user 7's note")
	}
	if _, ok := c.OpenNote(0, sealed); ok {
		t.Error("nobody (user 0) opens a note")
	}
	// Each character flips the top bit of the 6 it encodes (the low bits
	// of the last one may be padding that decodes to nothing).
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range sealed {
		at := strings.IndexByte(alphabet, sealed[i])
		if at < 0 {
			continue // "=" padding
		}
		forged := []byte(sealed)
		forged[i] = alphabet[at^32]
		if _, ok := c.OpenNote(7, string(forged)); ok {
			t.Fatalf("a note changed at %d opens", i)
		}
	}
	cookie, err := c.Encode(claimsFor(7, clk))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "report.pdf", cookie} {
		if _, ok := c.OpenNote(7, bad); ok {
			t.Errorf("OpenNote(%.40q) ok", bad)
		}
	}
	if _, ok := mustNew(t, pairB, false, clk).OpenNote(7, sealed); ok {
		t.Error("a note of a removed pair opens")
	}
	if _, ok := mustNew(t, pairB+","+pairA, false, clk).OpenNote(7, sealed); !ok {
		t.Error("after a rotation a note of the second pair is refused")
	}

	// It lasts NoteTTL.
	clk.Advance(NoteTTL - 1)
	if _, ok := c.OpenNote(7, sealed); !ok {
		t.Error("a note is refused before NoteTTL")
	}
	clk.Advance(1)
	if _, ok := c.OpenNote(7, sealed); ok {
		t.Error("a note opens after NoteTTL")
	}
}
