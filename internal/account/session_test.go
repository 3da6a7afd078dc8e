package account_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

func TestUserAgent(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 400 bytes
	for in, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64)": "Mozilla/5.0 (X11; Linux x86_64)",
		"":                                "",
		"  curl/8.0\r\nX-Evil: 1 ":        "curl/8.0X-Evil: 1",
		"bad \xff byte":                   "bad \uFFFD byte",
		long:                              strings.Repeat("é", 127), // 254 bytes: the 128th would split
	} {
		got := account.UserAgent(in)
		if got != want {
			t.Errorf("UserAgent(%.40q) = %.40q, want %.40q", in, got, want)
		}
		if len(got) > 255 || !utf8.ValidString(got) {
			t.Errorf("UserAgent(%.40q): %d bytes, valid UTF-8 %v", in, len(got), utf8.ValidString(got))
		}
	}
}

func TestStartSession(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t)
	ctx := context.Background()
	alice := testenv.AddUser(t, db, testenv.User{Name: "alice", Password: "correct horse"})
	now := time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	claims, err := account.StartSession(ctx, db, alice, strings.Repeat("x", 1000), now, 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wantExp := time.Date(2030, 1, 16, 3, 4, 5, 0, time.UTC)
	if claims.UserID != alice.ID || !claims.Expires.Equal(wantExp) || len(claims.Token) != 32 {
		t.Errorf("claims = %+v, want alice's, expiring %v", claims, wantExp)
	}
	s, _, err := db.SessionByToken(ctx, session.HashToken(claims.Token))
	if err != nil || !s.ExpiresAt.Equal(wantExp) || !s.CreatedAt.Equal(now) || len(s.UserAgent) != 255 {
		t.Errorf("stored session = %+v, %v", s, err)
	}
	// The token itself is stored nowhere.
	if strings.Contains(string(s.TokenHash), claims.Token) {
		t.Error("the token is in the store")
	}
	gone := filegate.User{ID: 999, PasswordHash: alice.PasswordHash}
	if _, err := account.StartSession(ctx, db, gone, "", now, time.Hour); filegate.ErrorCode(err) != filegate.EUNAUTHORIZED {
		t.Errorf("session of a removed user: %v, want EUNAUTHORIZED", err)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t)
	ctx := context.Background()
	alice := testenv.AddUser(t, db, testenv.User{Name: "alice", Password: "correct horse"})
	change := func(current, next string) (int64, error) {
		return account.ChangePassword(ctx, db, alice, current, next, 0)
	}
	if _, err := change("wrong horse", "battery staple"); filegate.ErrorCode(err) != filegate.EFORBIDDEN {
		t.Errorf("wrong current password: %v, want EFORBIDDEN", err)
	}
	if _, err := change("correct horse", "short"); filegate.ErrorCode(err) != filegate.EINVALID {
		t.Errorf("short new password: %v, want EINVALID", err)
	}
	if _, err := change("correct horse", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := account.Authenticate(ctx, db, "alice", "battery staple"); err != nil {
		t.Errorf("new password does not log in: %v", err)
	}
	// alice as read before the change still holds the old hash: a second
	// change checked against it is refused like a wrong password.
	if _, err := change("correct horse", "another one"); filegate.ErrorCode(err) != filegate.EFORBIDDEN {
		t.Errorf("change against a replaced password: %v, want EFORBIDDEN", err)
	}
}

// touches records what a Recorder writes to the real store.
type touches struct {
	db    *postgres.DB
	mu    sync.Mutex
	calls []map[int64]time.Time
	fail  error
}

func (s *touches) TouchSessions(ctx context.Context, lastUsed map[int64]time.Time) error {
	s.mu.Lock()
	s.calls = append(s.calls, lastUsed)
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	return s.db.TouchSessions(ctx, lastUsed)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t)
	ctx := context.Background()
	alice := testenv.AddUser(t, db, testenv.User{Name: "alice", Password: "correct horse"})
	clk := testenv.NewClock()
	c1, _ := account.StartSession(ctx, db, alice, "", clk.Now(), time.Hour)
	c2, _ := account.StartSession(ctx, db, alice, "", clk.Now(), time.Hour)
	s1, _, _ := db.SessionByToken(ctx, session.HashToken(c1.Token))
	s2, _, _ := db.SessionByToken(ctx, session.HashToken(c2.Token))
	store := &touches{db: db}
	rec := account.NewRecorder(store, clk.Now)

	if err := rec.Flush(ctx); err != nil || len(store.calls) != 0 {
		t.Fatalf("flush of nothing: %v, %d writes", err, len(store.calls))
	}
	// Many uses from many goroutines: one write, the latest time each.
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if i%2 == 0 {
				rec.Used(s1.ID)
			} else {
				rec.Used(s2.ID)
			}
		})
		if i == 100 {
			wg.Wait()
			clk.Advance(time.Second)
		}
	}
	wg.Wait()
	last := clk.Now()
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.calls) != 1 || len(store.calls[0]) != 2 || !store.calls[0][s1.ID].Equal(last) {
		t.Fatalf("writes = %v, want one with both sessions at %v", store.calls, last)
	}
	for _, c := range []string{c1.Token, c2.Token} {
		if s, _, _ := db.SessionByToken(ctx, session.HashToken(c)); !s.LastUsedAt.Equal(last) {
			t.Errorf("last used = %v, want %v", s.LastUsedAt, last)
		}
	}
	if err := rec.Flush(ctx); err != nil || len(store.calls) != 1 {
		t.Errorf("second flush with nothing new: %v, %d writes", err, len(store.calls))
	}

	// A failed write keeps the uses for the next flush; a later use wins.
	store.fail = errors.New("database down")
	clk.Advance(time.Second)
	rec.Used(s1.ID)
	if err := rec.Flush(ctx); err == nil {
		t.Fatal("failed write not reported")
	}
	clk.Advance(time.Second)
	rec.Used(s1.ID)
	store.fail = nil
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := db.SessionByToken(ctx, session.HashToken(c1.Token)); !s.LastUsedAt.Equal(clk.Now()) {
		t.Errorf("after a failed flush: last used = %v, want %v", s.LastUsedAt, clk.Now())
	}
}

// Run flushes on its own, every interval, until its context ends.
func TestRecorderRun(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	store := &touches{db: db}
	rec := account.NewRecorder(store, nil)
	rec.Used(1)
	done := make(chan struct{})
	go func() { rec.Run(ctx, 10*time.Millisecond, slog.New(slog.DiscardHandler)); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		store.mu.Lock()
		n := len(store.calls)
		store.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not flush within 10s at a 10ms interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

// CleanSessions deletes expired and revoked sessions on its own, every
// interval, and leaves the live ones.
func TestCleanSessions(t *testing.T) {
	t.Parallel()
	db := testenv.OpenDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alice := testenv.AddUser(t, db, testenv.User{Name: "alice", Password: "correct horse"})
	if _, err := account.StartSession(ctx, db, alice, "", time.Now().Add(-2*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	live, err := account.StartSession(ctx, db, alice, "", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		account.CleanSessions(ctx, db, 10*time.Millisecond, slog.New(slog.DiscardHandler))
		close(done)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, err := db.StaleSessions(ctx, time.Now()); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired session is still there after 10s at a 10ms interval")
		}
	}
	cancel()
	<-done
	if _, _, err := db.SessionByToken(context.Background(), session.HashToken(live.Token)); err != nil {
		t.Errorf("the live session went: %v", err)
	}
}
