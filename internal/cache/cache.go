// Package cache keeps the facts authz decides on in Redis, shared by every
// authz replica (docs/interface.md#cache).
//
// Every cached entry is tagged with a generation token. A change does not
// delete entries; it writes a fresh random token to the generation key of
// the user or file it touched. A lookup reads the current tokens and the
// entries in one MGET and uses only entries whose tag matches. This closes
// the race where authz reads the database just before a change commits and
// writes the stale answer just after the invalidation: that answer carries
// the old token and is never used.
//
// A session's entry is tagged with the generation of the user the cookie
// names. Revoking sessions bumps their user's generation, once however
// many sessions went: every entry of a session of that user is then a
// miss. A cookie naming another user than its session's is refused by the
// policy whatever is cached, so the tag only matters for the right user.
//
// Entries expire after the TTL, which bounds staleness when Redis missed an
// invalidation. Generation keys outlive entries (genTTL > 2×TTL), so when a
// generation key expires no entry tagged before it can still exist.
package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/filegate"
)

// Cache is a decision-facts cache in Redis. It is safe for concurrent use.
// Methods never fail a request: errors are logged or reported as a miss,
// and the caller falls back to the database.
type Cache struct {
	client *goredis.Client
	prefix string
	ttl    time.Duration
	genTTL time.Duration
	log    *slog.Logger
	// lastWarn (unix nanoseconds) rate-limits the warning for a failing
	// Redis: during an outage every request would log otherwise.
	lastWarn atomic.Int64
}

// go-redis logs pool errors through its own global logger, once per failed
// dial. The cache reports failures itself, rate-limited, so mute it.
func init() { goredis.SetLogger(silent{}) }

type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// unreachable logs a Redis failure on the request path at most every ten
// seconds.
func (c *Cache) unreachable(ctx context.Context, op string, err error) {
	now, last := time.Now().UnixNano(), c.lastWarn.Load()
	if now-last > int64(10*time.Second) && c.lastWarn.CompareAndSwap(last, now) {
		c.log.WarnContext(ctx, "redis unreachable; deciding from PostgreSQL", "op", op, "err", err)
	}
}

// Open returns a Cache on the Redis at rawURL (redis://host:port/db). Keys
// start with prefix, so tests and several deployments can share a server.
// It does not check the connection: Redis may come and go, and the cache
// recovers by itself.
func Open(rawURL, prefix string, ttl time.Duration, log *slog.Logger) (*Cache, error) {
	client, err := NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	return &Cache{
		client: client,
		prefix: prefix,
		ttl:    ttl,
		genTTL: max(2*ttl+time.Minute, 24*time.Hour),
		log:    log,
	}, nil
}

// NewClient returns a client for the Redis at rawURL
// (redis://[:password@]host:port/db) that fails fast: every call gives up
// after 300 ms, without retries. Everything filegate keeps in Redis is
// on a request's path and has a fallback (PostgreSQL for the cache, an
// in-process count for the login throttle), and a Redis that is slow to
// fail is worse than none. It does not connect.
func NewClient(rawURL string) (*goredis.Client, error) {
	opt, err := goredis.ParseURL(rawURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redis: parse REDIS_URL: %w", err)
	}
	opt.DialTimeout = 300 * time.Millisecond
	opt.ReadTimeout = 300 * time.Millisecond
	opt.WriteTimeout = 300 * time.Millisecond
	opt.MaxRetries = -1 // 0 would mean go-redis's default of 3, with backoff
	opt.DialerRetries = 1
	return goredis.NewClient(opt), nil
}

// Close closes the connection pool.
func (c *Cache) Close() error { return c.client.Close() }

// tokens are the generations read by a lookup. put tags entries with them,
// so facts read from the database after a lookup are dropped if a change
// happened in between.
type tokens struct {
	key                 filegate.FactsKey
	viewer, owner, file string
	read                bool // the MGET succeeded; the tokens are real
}

type entry[T any] struct {
	Gen   string `json:"g"`
	Value T      `json:"v"`
}

func (c *Cache) userGen(id int64) string   { return c.prefix + "g:u:" + strconv.FormatInt(id, 10) }
func (c *Cache) userEntry(id int64) string { return c.prefix + "c:u:" + strconv.FormatInt(id, 10) }
func (c *Cache) fileGen(owner int64, name string) string {
	return c.prefix + "g:f:" + strconv.FormatInt(owner, 10) + "/" + name
}
func (c *Cache) fileEntry(owner int64, name string) string {
	return c.prefix + "c:f:" + strconv.FormatInt(owner, 10) + "/" + name
}

// sessionEntry is keyed by the token's hash, which is no secret: the
// cookie needs the token itself.
func (c *Cache) sessionEntry(hash [32]byte) string {
	return c.prefix + "c:s:" + hex.EncodeToString(hash[:])
}

// Facts returns the decision facts for one request: from Redis when all
// of them are cached and current, else from load, whose facts are then
// stored tagged with the generations read before load ran. A change that
// commits while load reads the database bumps a generation, so those facts
// are never used. Nothing is stored when load fails (its error is returned
// as is) or when Redis could not be read (there is nothing to tag with).
// Redis errors are logged, never returned. Cached facts are as they were
// read: a session's expiry is for the caller to check against its clock,
// so an entry never outlives its session.
func (c *Cache) Facts(ctx context.Context, key filegate.FactsKey, load func() (filegate.Facts, error)) (filegate.Facts, error) {
	f, tok, ok := c.get(ctx, key)
	if ok {
		return f, nil
	}
	f, err := load()
	if err != nil {
		return filegate.Facts{}, err
	}
	c.put(ctx, tok, f)
	return f, nil
}

// get returns the cached facts for one request and whether all of them
// were present and current. The tokens are valid even on a miss and must be
// passed to put. A Redis error is a miss.
func (c *Cache) get(ctx context.Context, key filegate.FactsKey) (filegate.Facts, tokens, bool) {
	vals, err := c.client.MGet(ctx,
		c.userGen(key.ViewerID), c.userGen(key.OwnerID), c.fileGen(key.OwnerID, key.StoredName),
		c.userEntry(key.ViewerID), c.sessionEntry(key.SessionHash), c.userEntry(key.OwnerID),
		c.fileEntry(key.OwnerID, key.StoredName)).Result()
	tok := tokens{key: key}
	if err != nil {
		c.unreachable(ctx, "get", err)
		return filegate.Facts{}, tok, false
	}
	tok.viewer, tok.owner, tok.file, tok.read = str(vals[0]), str(vals[1]), str(vals[2]), true
	var f filegate.Facts
	ok := decode(vals[3], tok.viewer, &f.Viewer) &&
		decode(vals[4], tok.viewer, &f.Session) &&
		decode(vals[5], tok.owner, &f.Owner) &&
		decode(vals[6], tok.file, &f.File)
	return f, tok, ok
}

// put stores facts read from the database for the request get was asked
// about, tagged with the tokens get returned before the read. After a
// failed get (Redis down) there are no tokens to tag with, so nothing is
// stored. Errors are logged.
func (c *Cache) put(ctx context.Context, tok tokens, f filegate.Facts) {
	if !tok.read {
		return
	}
	k := tok.key
	_, err := c.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, c.userEntry(k.ViewerID), encode(tok.viewer, f.Viewer), c.ttl)
		p.Set(ctx, c.sessionEntry(k.SessionHash), encode(tok.viewer, f.Session), c.ttl)
		p.Set(ctx, c.userEntry(k.OwnerID), encode(tok.owner, f.Owner), c.ttl)
		p.Set(ctx, c.fileEntry(k.OwnerID, k.StoredName), encode(tok.file, f.File), c.ttl)
		return nil
	})
	if err != nil {
		c.unreachable(ctx, "put", err)
	}
}

// UserChanged implements filegate.Invalidator. It drops the user's
// profile and the facts of every session of the user.
func (c *Cache) UserChanged(ctx context.Context, userID int64) {
	c.bump(ctx, c.userGen(userID))
}

// FileChanged implements filegate.Invalidator.
func (c *Cache) FileChanged(ctx context.Context, ownerID int64, storedName string) {
	c.bump(ctx, c.fileGen(ownerID, storedName))
}

func (c *Cache) bump(ctx context.Context, key string) {
	if err := c.client.Set(ctx, key, newToken(), c.genTTL).Err(); err != nil {
		c.log.WarnContext(ctx, "cache invalidation failed; stale decisions expire with the TTL", "key", key, "ttl", c.ttl, "err", err)
	}
}

func newToken() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func encode[T any](gen string, v T) string {
	b, _ := json.Marshal(entry[T]{Gen: gen, Value: v})
	return string(b)
}

// decode fills dst from a cached entry if it exists and carries the current
// generation token.
func decode[T any](raw any, gen string, dst *T) bool {
	s, ok := raw.(string)
	if !ok {
		return false
	}
	var e entry[T]
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.Gen != gen {
		return false
	}
	*dst = e.Value
	return true
}
