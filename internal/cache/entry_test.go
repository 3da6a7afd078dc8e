package cache

import (
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

// BenchmarkReadEntries is the CPU a cache hit spends on its four entries
// once Redis has answered: BenchmarkFactsHit without the round trip.
func BenchmarkReadEntries(b *testing.B) {
	gen := newToken()
	viewer := encode(gen, filegate.Profile{ID: 1, Exists: true})
	sess := encode(gen, filegate.SessionState{ID: 7, Exists: true, UserID: 1, Expires: 1767225600})
	owner := encode(gen, filegate.Profile{ID: 2, Exists: true, Public: true})
	file := encode(gen, filegate.Target{Exists: true, Path: "2/a.pdf", ContentType: "application/pdf", DisplayName: "a.pdf"})
	b.ReportAllocs()
	for b.Loop() {
		var f filegate.Facts
		if !(decode(any(viewer), gen, &f.Viewer) && decode(any(sess), gen, &f.Session) &&
			decode(any(owner), gen, &f.Owner) && decode(any(file), gen, &f.File)) {
			b.Fatal("an entry did not read back")
		}
	}
}
