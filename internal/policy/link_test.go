package policy_test

import (
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
)

func TestDecideLink(t *testing.T) {
	nonce := []byte("n0nce-01")
	file := filegate.Target{Exists: true, Path: "2/a.pdf"}
	live := filegate.LinkFacts{Exists: true, ID: 5, Nonce: nonce, Expires: now.Add(time.Hour).Unix(), FileID: 9, File: file}
	with := func(change func(*filegate.LinkFacts)) filegate.LinkFacts {
		f := live
		change(&f)
		return f
	}
	tests := []struct {
		name     string
		facts    filegate.LinkFacts
		nonce    []byte
		unlocked bool
		want     policy.Decision
	}{
		// docs/interface.md#share-links, row by row.
		{"no such link", filegate.LinkFacts{}, nonce, false, policy.NotFound},
		{"a reused id", live, []byte("another!"), false, policy.NotFound},
		{"file gone", with(func(f *filegate.LinkFacts) { f.File = filegate.Target{} }), nonce, false, policy.NotFound},
		{"revoked", with(func(f *filegate.LinkFacts) { f.Revoked = true }), nonce, false, policy.Gone},
		{"expired this second", with(func(f *filegate.LinkFacts) { f.Expires = now.Unix() }), nonce, false, policy.Gone},
		{"revoked, with a password", with(func(f *filegate.LinkFacts) { f.Revoked, f.Password = true, true }), nonce, false, policy.Gone},
		{"password, locked", with(func(f *filegate.LinkFacts) { f.Password = true }), nonce, false, policy.Unauthenticated},
		{"password, unlocked", with(func(f *filegate.LinkFacts) { f.Password = true }), nonce, true, policy.Allow},
		{"live", live, nonce, false, policy.Allow},
		{"live, limited", with(func(f *filegate.LinkFacts) { f.Max = 1 }), nonce, false, policy.Allow},
	}
	for _, tt := range tests {
		if got := policy.DecideLink(tt.facts, tt.nonce, now, tt.unlocked); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLinkUse(t *testing.T) {
	tests := []struct {
		method, rng string
		want        policy.Use
	}{
		{"GET", "", policy.Start},
		{"GET", "bytes=0-", policy.Start},
		{"GET", "bytes=0-99", policy.Start},
		{"GET", "bytes=00-", policy.Start},
		{"GET", "bytes=100-", policy.Continue},
		{"GET", "bytes=100-199", policy.Continue},
		{"GET", "bytes=0100-", policy.Continue},
		{"HEAD", "", policy.Peek},
		{"HEAD", "bytes=0-", policy.Peek},
		// Whatever nginx serves from byte 0 or whole counts.
		{"GET", "bytes=-500", policy.Start},                     // a suffix: the whole file when it is short
		{"GET", "bytes=100-199,0-99", policy.Start},             // several ranges: nginx sends the whole file
		{"GET", "bytes=100-, 0-", policy.Start},                 // the same, spaced
		{"GET", "bytes= 100-", policy.Start},                    // a spelling not taken
		{"GET", "BYTES=100-", policy.Start},                     //
		{"GET", "items=100-", policy.Start},                     //
		{"GET", "bytes=100", policy.Start},                      //
		{"GET", "bytes=1x-", policy.Start},                      //
		{"GET", "bytes=99999999999999999999999-", policy.Start}, // past uint64
		{"POST", "", policy.Start},                              // never reaches authz; counts if it did
	}
	for _, tt := range tests {
		if got := policy.LinkUse(tt.method, tt.rng); got != tt.want {
			t.Errorf("LinkUse(%s, %q) = %v, want %v", tt.method, tt.rng, got, tt.want)
		}
	}
}
