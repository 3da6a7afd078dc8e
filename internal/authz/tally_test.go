package authz_test

import (
	"context"
	"sync"
	"testing"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/testenv"
)

// With a Tally, the downloads of a link without a limit are counted in
// memory and reach the store at the next flush, exactly, however many
// were concurrent; HEADs and ranges still count nothing, a revoked link
// is gone at once and counts nothing, and a limited link is still
// counted in the store as each download happens. A flush the store
// refuses loses nothing.
func TestLinkTally(t *testing.T) {
	f := newFixture(t)
	tally := authz.NewTally(f.db)
	f.srv.Tally = tally
	const a, b = "192.0.2.1", "198.51.100.7"
	l, u := f.addLink(t, f.aliceFile, testenv.Link{})
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if got := status(f.askLink(t, u, linkAsk{client: a})); got != 200 {
				t.Errorf("GET: %d, want 200", got)
			}
		})
	}
	wg.Wait()
	for _, ask := range []linkAsk{{method: "HEAD", client: b}, {rng: "bytes=10-", client: b}} {
		if got := status(f.askLink(t, u, ask)); got != 200 {
			t.Errorf("%+v: %d, want 200", ask, got)
		}
	}
	if got := f.downloads(t, l.ID); got != 0 {
		t.Fatalf("%d downloads in the store before the flush, want 0", got)
	}

	// A limited link is counted at once, with the Tally or without.
	limited, lu := f.addLink(t, f.aliceFile, testenv.Link{MaxDownloads: 1})
	if got := status(f.askLink(t, lu, linkAsk{client: a})); got != 200 || f.downloads(t, limited.ID) != 1 {
		t.Fatalf("limited link: %d, %d downloads; want 200 and 1 at once", got, f.downloads(t, limited.ID))
	}
	if got := status(f.askLink(t, lu, linkAsk{client: b})); got != 410 {
		t.Fatalf("limited link used up: %d, want 410", got)
	}

	// The store refuses the flush: the counts wait for the next one.
	refused := authz.NewTally(deadStore(t))
	refused.Add(l.ID)
	if err := refused.Flush(context.Background()); err == nil {
		t.Fatal("a flush to a dead store succeeded")
	}
	if err := tally.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.downloads(t, l.ID); got != 40 {
		t.Fatalf("%d downloads after the flush, want 40", got)
	}
	if err := tally.Flush(context.Background()); err != nil || f.downloads(t, l.ID) != 40 {
		t.Fatalf("a second flush: %v, %d downloads; want 40 still", err, f.downloads(t, l.ID))
	}

	// Revoked: gone on the next request, and nothing more to count.
	if _, err := f.db.RevokeLink(context.Background(), l.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got := status(f.askLink(t, u, linkAsk{client: a})); got != 410 {
		t.Fatalf("revoked: %d, want 410", got)
	}
	if err := tally.Close(); err != nil || f.downloads(t, l.ID) != 40 {
		t.Fatalf("close: %v, %d downloads; want 40", err, f.downloads(t, l.ID))
	}
}
