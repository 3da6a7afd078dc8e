package postgres_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/testenv"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// addLink stores a link to file f made by its owner, expiring an hour
// after t0, with max downloads (0: none).
func addLink(t *testing.T, db *postgres.DB, f filegate.File, max int64) filegate.Link {
	t.Helper()
	l := filegate.Link{FileID: f.ID, CreatedBy: f.OwnerID, Nonce: []byte("12345678"), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	if max > 0 {
		l.MaxDownloads = &max
	}
	if err := db.CreateLink(context.Background(), &l); err != nil {
		t.Fatalf("CreateLink: %v", err)
	}
	return l
}

func TestLinks(t *testing.T) {
	t.Parallel()
	db, ch := open(t)
	ctx := context.Background()
	alice, bob := user(t, db, "alice"), user(t, db, "bob")
	f := testenv.AddFileRow(t, db, alice.ID, "a.pdf", "a.pdf", "")

	// Only the owner links a file.
	l := filegate.Link{FileID: f.ID, CreatedBy: bob.ID, Nonce: []byte("12345678"), ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	if err := db.CreateLink(ctx, &l); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Fatalf("bob links alice's file: %v, want ENOTFOUND", err)
	}
	*ch = nil
	l = addLink(t, db, f, 2)
	if !slices.Equal(*ch, []string{"link " + itoa(l.ID)}) {
		t.Errorf("create reported %v", *ch)
	}
	facts, err := db.LinkFacts(ctx, l.ID)
	want := filegate.LinkFacts{Exists: true, ID: l.ID, Nonce: []byte("12345678"), Expires: t0.Add(time.Hour).Unix(), Max: 2,
		FileID: f.ID, File: f.Target()}
	if err != nil || !equalFacts(facts, want) {
		t.Fatalf("LinkFacts = %+v, %v; want %+v", facts, err, want)
	}
	if facts, err := db.LinkFacts(ctx, l.ID+1000); err != nil || facts.Exists {
		t.Errorf("unknown link: %+v, %v", facts, err)
	}

	me, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, want := range []bool{true, true, false} {
		if ok, err := db.CountLinkDownload(ctx, l.ID, me, t0, t0.Add(time.Hour)); err != nil || ok != want {
			t.Fatalf("download %d: %v, %v; want %v", i+1, ok, err, want)
		}
	}
	p, err := db.LinkProgress(ctx, l.ID, me, t0.Add(59*time.Minute))
	if err != nil || p != (filegate.LinkProgress{Downloads: 2, Max: 2, Granted: true}) {
		t.Errorf("progress = %+v, %v", p, err)
	}
	if p, _ := db.LinkProgress(ctx, l.ID, other, t0); p.Granted {
		t.Error("another address holds a grant")
	}
	if p, _ := db.LinkProgress(ctx, l.ID, me, t0.Add(time.Hour)); p.Granted {
		t.Error("the grant outlived its hour")
	}

	// Expired and revoked links count nothing.
	l2 := addLink(t, db, f, 0)
	if ok, _ := db.CountLinkDownload(ctx, l2.ID, netip.Addr{}, t0.Add(time.Hour), t0); ok {
		t.Error("an expired link counted")
	}
	*ch = nil
	if r, err := db.RevokeLink(ctx, l2.ID, t0); err != nil || r.RevokedAt == nil || !r.RevokedAt.Equal(t0) {
		t.Fatalf("RevokeLink = %+v, %v", r, err)
	}
	if r, _ := db.RevokeLink(ctx, l2.ID, t0.Add(time.Minute)); !r.RevokedAt.Equal(t0) {
		t.Errorf("a second revocation moved the time to %v", r.RevokedAt)
	}
	if !slices.Equal(*ch, []string{"link " + itoa(l2.ID), "link " + itoa(l2.ID)}) {
		t.Errorf("revoke reported %v", *ch)
	}
	if ok, _ := db.CountLinkDownload(ctx, l2.ID, netip.Addr{}, t0, t0); ok {
		t.Error("a revoked link counted")
	}
	ls, err := db.UserLinks(ctx, alice.ID)
	if err != nil || len(ls) != 2 || ls[0].ID != l2.ID || ls[1].File.ID != f.ID || ls[1].Downloads != 2 {
		t.Fatalf("UserLinks = %+v, %v", ls, err)
	}
	if ls, _ := db.UserLinks(ctx, bob.ID); len(ls) != 0 {
		t.Errorf("bob lists %d links", len(ls))
	}

	// Deleting the file deletes its links and reports each.
	*ch = nil
	if _, err := db.DeleteFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	slices.Sort(*ch)
	wantCh := []string{fmt.Sprintf("file %d/a.pdf", alice.ID), "link " + itoa(l.ID), "link " + itoa(l2.ID)}
	slices.Sort(wantCh)
	if !slices.Equal(*ch, wantCh) {
		t.Errorf("delete reported %v, want %v", *ch, wantCh)
	}
	if _, err := db.Link(ctx, l.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("a deleted file's link: %v", err)
	}

	// Removing the owner reports the links of all their files.
	g := testenv.AddFileRow(t, db, bob.ID, "b.pdf", "b.pdf", "")
	l3 := addLink(t, db, g, 0)
	*ch = nil
	if _, err := db.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(*ch, "link "+itoa(l3.ID)) {
		t.Errorf("user removal reported %v", *ch)
	}
}

// However many race for the last downloads, exactly the limit count.
func TestLinkCountUnderConcurrency(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	alice := user(t, db, "alice")
	l := addLink(t, db, testenv.AddFileRow(t, db, alice.ID, "a.pdf", "a.pdf", ""), 5)
	var wg sync.WaitGroup
	var counted atomic.Int64
	for i := range 50 {
		wg.Go(func() {
			addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
			ok, err := db.CountLinkDownload(context.Background(), l.ID, addr, t0, t0.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			if ok {
				counted.Add(1)
			}
		})
	}
	wg.Wait()
	got, _ := db.Link(context.Background(), l.ID)
	if counted.Load() != 5 || got.Downloads != 5 {
		t.Errorf("%d counted, %d recorded; want 5", counted.Load(), got.Downloads)
	}
}

func equalFacts(a, b filegate.LinkFacts) bool {
	return a.Exists == b.Exists && a.ID == b.ID && string(a.Nonce) == string(b.Nonce) && a.Revoked == b.Revoked &&
		a.Expires == b.Expires && a.Max == b.Max && a.Password == b.Password && a.FileID == b.FileID && a.File == b.File
}

func itoa(n int64) string { return fmt.Sprint(n) }

// AddLinkDownloads adds each count to its link in one statement, for
// links without a limit only; an unknown link is skipped, and an empty
// batch writes nothing.
func TestAddLinkDownloads(t *testing.T) {
	t.Parallel()
	db, _ := open(t)
	ctx := context.Background()
	alice := user(t, db, "alice")
	f := testenv.AddFileRow(t, db, alice.ID, "a.pdf", "a.pdf", "")
	free, other, limited := addLink(t, db, f, 0), addLink(t, db, f, 0), addLink(t, db, f, 5)
	if err := db.AddLinkDownloads(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.AddLinkDownloads(ctx, map[int64]int64{free.ID: 40, other.ID: 1, limited.ID: 3, limited.ID + 1000: 7}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		id   int64
		want int64
	}{{free.ID, 80}, {other.ID, 2}, {limited.ID, 0}} {
		l, err := db.Link(ctx, c.id)
		if err != nil || l.Downloads != c.want {
			t.Errorf("link %d: %d downloads, %v; want %d", c.id, l.Downloads, err, c.want)
		}
	}
}
