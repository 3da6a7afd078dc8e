package policy

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// DecideLink applies the share-link rules (docs/interface.md#share-links)
// at now to the facts of the link a token named, with the nonce the token
// carried. unlocked says whether the request carries the link's password
// cookie. An Allow here still needs the download count's consent for a
// request that counts (LinkUse). The owner's public switch plays no part:
// a link is an explicit share.
func DecideLink(f filegate.LinkFacts, nonce []byte, now time.Time, unlocked bool) Decision {
	switch {
	case !f.Exists || !f.File.Exists || !bytes.Equal(f.Nonce, nonce):
		return NotFound
	case f.Revoked || !now.Before(time.Unix(f.Expires, 0)):
		return Gone
	case f.Password && !unlocked:
		return Unauthenticated
	}
	return Allow
}

// Use is what one request for a link does to its download count.
type Use int

const (
	// Start counts one download. It is the zero value, so that whatever
	// LinkUse cannot place costs a download rather than giving bytes away.
	Start Use = iota
	// Continue is a range that starts after byte 0: the rest of a
	// download. It is free for a client address that started a download
	// of the link within LinkGrant; from anyone else it is a Start.
	Continue
	// Peek is a HEAD request: no bytes. It is let through while the link
	// has downloads left, or for an address holding a grant.
	Peek
)

// LinkGrant is how long after a counted download its client address may
// fetch later ranges of the same link without counting again: long
// enough for parallel connections and resumed transfers of a large file,
// short enough that a used-up link stays used up.
const LinkGrant = time.Hour

// LinkUse returns what a request with method and Range header does to a
// link's count. Only a single range "bytes=N-" or "bytes=N-M" with
// N > 0, in exactly that spelling, continues a download: nginx serves a
// request with any other Range (several ranges, a suffix, a syntax it
// does not take) from byte 0 or whole, so it starts one.
func LinkUse(method, rangeHeader string) Use {
	if method == http.MethodHead {
		return Peek
	}
	spec, ok := strings.CutPrefix(rangeHeader, "bytes=")
	if !ok {
		return Start
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok || !digits(first) || (last != "" && !digits(last)) {
		return Start
	}
	if n, err := strconv.ParseUint(first, 10, 64); err != nil || n == 0 {
		return Start
	}
	return Continue
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
