// Package throttle limits failed guesses at a secret (a login's password;
// the same guard suits a share link's password) per client address, for
// every uploader replica together (docs/interface.md#web-app).
//
// Two limits apply to each attempt in a scope ("login", "link"): the
// failures of one subject (a user name, a link) from one client address,
// and the failures from one client address whatever the subject. While
// either is reached, an attempt is refused before it is checked: the
// caller never runs bcrypt for it, whatever password it carries.
//
// The window slides: each failure is an entry with its time, a limit is
// reached while Max entries are younger than Window, and a refused attempt
// is told when the oldest of them leaves the window, which is exactly when
// the next attempt is let through, so Retry-After is honest. A fixed window
// (INCR and EXPIRE) would be cheaper, but lets up to 2×Max−1 failures
// through within one Window around its boundary, and its expiry lets a
// whole new burst through at once. The log stays small: an attempt that is
// refused adds nothing, so a subject's log holds at most PerSubject entries
// and an address's at most PerAddress.
//
// An attempt is counted as a failure before it is checked, in the same
// atomic step as the limit check, and refunded afterwards if it was not a
// wrong guess. Counting only after the check would let concurrent guesses
// all pass the check before the first is counted: 24 connections would
// get 24 guesses past a limit of 5.
//
// The counts live in Redis under prefix + "t:", shared by every replica;
// one Lua script checks and reserves. When Redis cannot be reached the same
// limits are counted in this process, so an outage never means unlimited
// guessing, nor everyone locked out; it can give an attacker at most one
// more window's worth of guesses per replica, since the two counts are not
// merged. Every attempt tries Redis first, so it is used again as soon as it
// answers.
package throttle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/cache"
	"github.com/filegate/filegate/internal/filegate"
)

// Limits are how many failures are allowed within Window.
type Limits struct {
	PerSubject int // failures of one subject from one client address
	PerAddress int // failures from one client address, all subjects together
	Window     time.Duration
}

// DefaultLimits are the login limits of docs/interface.md#web-app.
var DefaultLimits = Limits{PerSubject: 5, PerAddress: 50, Window: 15 * time.Minute}

// Throttle counts failed attempts. It is safe for concurrent use.
type Throttle struct {
	client goredis.UniversalClient
	prefix string
	limits Limits
	now    func() time.Time
	log    *slog.Logger
	mem    *memory
	// lastWarn (unix nanoseconds) rate-limits the warning for a failing
	// Redis: during an outage every attempt would log otherwise.
	lastWarn atomic.Int64
}

// Open returns a Throttle counting in the Redis at rawURL under keys
// starting with prefix + "t:". now is the clock (time.Now outside tests);
// it dates the failures in Redis too, so the replicas' clocks must agree to
// well within a window, as NTP keeps them. It does not connect: Redis may
// come and go.
func Open(rawURL, prefix string, limits Limits, now func() time.Time, log *slog.Logger) (*Throttle, error) {
	client, err := cache.NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	return &Throttle{
		client: client,
		prefix: prefix + "t:",
		limits: limits,
		now:    now,
		log:    log,
		mem:    newMemory(memoryKeys),
	}, nil
}

// Close closes the connection pool.
func (t *Throttle) Close() error { return t.client.Close() }

// Guard runs check as one attempt of subject from client in scope, unless
// a limit is reached: then check does not run, and Guard returns how long
// until the next attempt would be let through (always more than zero) and
// a nil error. Otherwise it returns zero and check's error.
//
// check's error decides what the attempt was: nil is a right guess, which
// clears this subject's failures from this address (not the address's
// failures, or an attacker could interleave logins to an account of their
// own); an EUNAUTHORIZED or EFORBIDDEN error is a wrong guess and counts;
// any other error (a store that is down) decided nothing and does not
// count.
//
// scope is a short constant from the code ("login"); subject is compared
// as given, so callers pass the form they look it up by (for logins,
// account.LoginName). Neither is stored in clear: keys hold a hash of the
// subject. The work in Redis outlives ctx's cancellation, so a client that
// hangs up cannot leave a guess uncounted.
func (t *Throttle) Guard(ctx context.Context, scope, subject string, client netip.Addr, check func() error) (time.Duration, error) {
	ctx = context.WithoutCancel(ctx)
	a := t.reserve(ctx, t.keys(scope, subject, client))
	if a.wait > 0 {
		return a.wait, nil
	}
	err := check()
	switch code := filegate.ErrorCode(err); {
	case err == nil:
		t.settle(ctx, a, true)
	case code == filegate.EUNAUTHORIZED, code == filegate.EFORBIDDEN:
		// A wrong guess: the reservation stays, as the failure.
	default:
		t.settle(ctx, a, false)
	}
	return 0, err
}

// keys are the two counts an attempt touches. Both carry the address in
// braces, a Redis hash tag, so they live in one slot should the Redis ever
// be a cluster (a script may only touch keys of one slot).
type keys struct {
	subject string // failures of the subject from the address
	addr    string // failures from the address
}

func (t *Throttle) keys(scope, subject string, client netip.Addr) keys {
	base := t.prefix + scope + ":{" + addrKey(client) + "}:"
	// A user name is whatever a client typed, of any length: store a fixed
	// size hash, never the name.
	sum := sha256.Sum256([]byte(subject))
	return keys{subject: base + "s:" + hex.EncodeToString(sum[:16]), addr: base + "a"}
}

// addrKey returns the form of a client address the limits count by. An
// IPv4-mapped IPv6 address is its IPv4 address. An IPv6 address counts as
// its /64: one host or household is usually given a whole /64 and could
// otherwise take a new address for every guess. An invalid address (none
// known) is one bucket shared by all such clients, which fails closed.
func addrKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// attempt is one reserved attempt, to be settled after its check.
type attempt struct {
	keys
	id    string        // the entry's member in both logs
	wait  time.Duration // > 0: refused, nothing reserved
	redis bool          // reserved in Redis; else in memory
}

// reserveScript checks both logs and, when neither is full, adds the
// attempt to both. It returns 0, or the milliseconds until the fuller log
// lets one more entry in.
//
// KEYS: the subject's log, the address's log (sorted sets scored by time).
// ARGV: now (ms), window (ms), the subject's and the address's limit, the
// entry's id.
var reserveScript = goredis.NewScript(`
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait = 0
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local max, n = tonumber(ARGV[2 + i]), redis.call('ZCARD', KEYS[i])
  if n >= max then
    local e = redis.call('ZRANGE', KEYS[i], n - max, n - max, 'WITHSCORES')
    wait = math.max(wait, tonumber(e[2]) + window - now)
  end
end
if wait > 0 then
  return wait
end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], window)
end
return 0
`)

// reserve checks the limits and, when neither is reached, counts the
// attempt as a failure: in Redis, or in memory when Redis fails.
func (t *Throttle) reserve(ctx context.Context, k keys) attempt {
	now := t.now()
	a := attempt{keys: k, id: newID()}
	ms, err := reserveScript.Run(ctx, t.client, []string{k.subject, k.addr},
		now.UnixMilli(), t.limits.Window.Milliseconds(), t.limits.PerSubject, t.limits.PerAddress, a.id).Int64()
	if err != nil {
		t.unreachable(ctx, "reserve", err)
		a.wait = t.mem.reserve(k, a.id, now, t.limits)
		return a
	}
	a.redis = true
	// A wait beyond one window can only come from entries dated in the
	// future (a clock that jumped back, or forged state): cap it.
	a.wait = min(time.Duration(ms)*time.Millisecond, t.limits.Window)
	return a
}

// settle finishes a reserved attempt that was not a wrong guess: right
// clears the subject's log and removes the entry from the address's; else
// the entry is removed from both. Should Redis fail now, the attempt stays
// counted as a failure.
func (t *Throttle) settle(ctx context.Context, a attempt, right bool) {
	if !a.redis {
		t.mem.settle(a.keys, a.id, right)
		return
	}
	_, err := t.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		if right {
			p.Del(ctx, a.subject)
		} else {
			p.ZRem(ctx, a.subject, a.id)
		}
		p.ZRem(ctx, a.addr, a.id)
		return nil
	})
	if err != nil {
		t.unreachable(ctx, "settle", err)
	}
}

// unreachable logs a Redis failure at most every ten seconds.
func (t *Throttle) unreachable(ctx context.Context, op string, err error) {
	now, last := time.Now().UnixNano(), t.lastWarn.Load()
	if now-last > int64(10*time.Second) && t.lastWarn.CompareAndSwap(last, now) {
		t.log.WarnContext(ctx, "redis unreachable; counting failed attempts in this process", "op", op, "err", err)
	}
}

// newID returns a random id for one attempt's entries.
func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
