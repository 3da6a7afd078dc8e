package cache

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/session"
)

// BenchmarkReadEntries is the CPU a cache hit spends on its four entries
// once Redis has answered: BenchmarkFactsHit without the round trip.
func BenchmarkReadEntries(b *testing.B) {
	c, err := Open("redis://127.0.0.1:1/0", "p:", time.Minute, make([]byte, MinKeySize), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	gen, at := newToken(), time.Now().UnixMilli()
	k := filegate.FactsKey{ViewerID: 1, SessionHash: session.HashToken("t1"), OwnerID: 2, StoredName: "a.pdf"}
	names := [4]string{c.userEntry(1), c.sessionEntry(k.SessionHash), c.userEntry(2), c.fileEntry(2, "a.pdf")}
	viewer := seal(c, names[0], entry[filegate.Profile]{"", gen, at, filegate.Profile{ID: 1, Exists: true}})
	sess := seal(c, names[1], entry[filegate.SessionState]{"", gen, at, filegate.SessionState{ID: 7, Exists: true, UserID: 1, Expires: 1767225600}})
	owner := seal(c, names[2], entry[filegate.Profile]{"", gen, at, filegate.Profile{ID: 2, Exists: true, Public: true}})
	file := seal(c, names[3], entry[filegate.Target]{"", gen, at, filegate.Target{Exists: true, Path: "2/a.pdf", ContentType: "application/pdf", DisplayName: "a.pdf"}})
	b.ReportAllocs()
	for b.Loop() {
		var f filegate.Facts
		_, ok1 := read(c, names[0], any(viewer), "", gen, &f.Viewer)
		_, ok2 := read(c, names[1], any(sess), "", gen, &f.Session)
		_, ok3 := read(c, names[2], any(owner), "", gen, &f.Owner)
		_, ok4 := read(c, names[3], any(file), "", gen, &f.File)
		if !(ok1 && ok2 && ok3 && ok4) {
			b.Fatal("an entry did not read back")
		}
	}
}
