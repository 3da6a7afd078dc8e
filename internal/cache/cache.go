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
// Redis is not trusted with decisions. Each entry carries an HMAC-SHA256,
// under a key Redis never sees, of its key name, its tag, the time it was
// written and its facts: an entry written by anyone else, or moved to
// another key, is a miss and counted (BadEntries). A missing generation key
// (expired, evicted, deleted) is created with a fresh token before the
// database is read, so no entry is ever tagged with an empty token and a
// lost generation key cannot bring old entries back. An entry older than
// the TTL is a miss whatever Redis says about its expiry.
//
// Entries expire after the TTL, which bounds staleness when Redis missed
// an invalidation. A change whose invalidation Redis refused is retried:
// at once, then in the background until the TTL has passed, after which
// every entry it should have dropped has expired anyway.
package cache

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/filegate/filegate/internal/filegate"
)

// MinKeySize is the shortest key Open accepts for authenticating entries.
const MinKeySize = 32

const (
	// bumpPatience bounds how long a change waits for Redis to take its
	// invalidation before it is left to the background retry.
	bumpPatience = time.Second
	// maxPending bounds the invalidations waiting for the background
	// retry; beyond it a change's stale entries simply expire.
	maxPending = 10000
)

// Cache is a decision-facts cache in Redis. It is safe for concurrent use.
// Methods never fail a request: errors are logged or reported as a miss,
// and the caller falls back to the database.
type Cache struct {
	client goredis.UniversalClient
	prefix string
	ttl    time.Duration
	genTTL time.Duration
	log    *slog.Logger
	now    func() time.Time // entries' write times; tests set it

	// macs holds HMAC-SHA256 states under the entry key, ready for Reset;
	// nil when the cache has no key and only invalidates.
	macs *sync.Pool
	bad  atomic.Uint64 // entries that failed authentication
	// redisErrors counts the calls to Redis that failed on a request's
	// path (each a miss or a change left to the retry).
	redisErrors atomic.Uint64

	// lastWarn, lastBad and lastSlow (unix nanoseconds) rate-limit the
	// warnings for a failing Redis, for forged entries and for replicas
	// that do not acknowledge: each could otherwise log on every request.
	lastWarn, lastBad, lastSlow atomic.Int64

	retry retrier

	// downMu guards downSince: when this writer first failed to reach
	// Redis since it last succeeded (lease.go, outage); zero while it
	// reaches it.
	downMu    sync.Mutex
	downSince time.Time

	// mem is the memory layer, nil while off (EnableMemory).
	mem *memory
}

// go-redis logs pool errors through its own global logger, once per failed
// dial. The cache reports failures itself, rate-limited, so mute it.
func init() { goredis.SetLogger(silent{}) }

type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// unreachable logs a Redis failure on the request path at most every ten
// seconds.
func (c *Cache) unreachable(ctx context.Context, op string, err error) {
	c.redisErrors.Add(1)
	if rateLimit(&c.lastWarn) {
		c.log.WarnContext(ctx, "redis unreachable; deciding from PostgreSQL", "op", op, "err", err)
	}
}

// rateLimit reports whether ten seconds have passed since it last said
// yes for last.
func rateLimit(last *atomic.Int64) bool {
	now, prev := time.Now().UnixNano(), last.Load()
	return now-prev > int64(10*time.Second) && last.CompareAndSwap(prev, now)
}

// Open returns a Cache on the Redis at rawURL (redis://[:password@]host:port/db).
// Keys start with prefix, so tests and several deployments can share a
// server. key authenticates entries: at least MinKeySize secret bytes
// that every authz replica shares and Redis never sees
// (session.CacheKey). A nil key makes a cache that only invalidates, as
// the uploader needs: its Facts always loads and stores nothing. Open
// does not check the connection: Redis may come and go, and the cache
// recovers by itself.
func Open(rawURL, prefix string, ttl time.Duration, key []byte, log *slog.Logger) (*Cache, error) {
	if key != nil && len(key) < MinKeySize {
		return nil, fmt.Errorf("cache: entry key of %d bytes; at least %d needed", len(key), MinKeySize)
	}
	opt, err := clientOptions(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Cache{
		prefix: KeyPrefix(prefix),
		ttl:    ttl,
		genTTL: max(2*ttl+time.Minute, 24*time.Hour),
		log:    log,
		now:    time.Now,
	}
	if key != nil {
		key = append([]byte(nil), key...)
		c.macs = &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
		opt.OnConnect = c.claimEpoch
	}
	c.client = goredis.NewUniversalClient(opt)
	c.retry.init()
	return c, nil
}

// SentinelScheme is the scheme of a REDIS_URL naming a primary that Redis
// Sentinel watches:
// redis-sentinel://[:password@]host:port[,host:port…]/primary[/db][?sentinel_password=…],
// where the hosts are the sentinels, primary the name they know it by,
// and the password Redis's.
const SentinelScheme = "redis-sentinel"

// NewClient returns a client for the Redis at rawURL: a single server
// (redis://[:password@]host:port/db, or rediss:// for TLS), or the
// primary that the sentinels of a SentinelScheme URL name, followed
// through every failover. It only ever talks to a primary: never to a
// replica, which may lag behind and hold a generation token a change has
// since replaced. Every call gives up after 300 ms, without retries.
// Everything filegate keeps in Redis is on a request's path and has a
// fallback (PostgreSQL for the cache, an in-process count for the login
// throttle), and a Redis that is slow to fail is worse than none. It
// does not connect.
func NewClient(rawURL string) (goredis.UniversalClient, error) {
	opt, err := clientOptions(rawURL)
	if err != nil {
		return nil, err
	}
	return goredis.NewUniversalClient(opt), nil
}

// clientOptions parses rawURL (NewClient) into options that fail fast.
func clientOptions(rawURL string) (*goredis.UniversalOptions, error) {
	var opt *goredis.UniversalOptions
	if rest, ok := strings.CutPrefix(rawURL, SentinelScheme+"://"); ok {
		var err error
		if opt, err = sentinelOptions(rest); err != nil {
			return nil, fmt.Errorf("redis: parse REDIS_URL: %w", err)
		}
	} else {
		o, err := goredis.ParseURL(rawURL)
		if err != nil {
			// A *url.Error quotes the whole URL, password included.
			if ue := (*url.Error)(nil); errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("redis: parse REDIS_URL: %w", err)
		}
		opt = &goredis.UniversalOptions{Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password,
			DB: o.DB, TLSConfig: o.TLSConfig, Protocol: o.Protocol}
	}
	opt.DialTimeout = 300 * time.Millisecond
	opt.ReadTimeout = 300 * time.Millisecond
	opt.WriteTimeout = 300 * time.Millisecond
	opt.MaxRetries = -1 // 0 would mean go-redis's default of 3, with backoff
	opt.DialerRetries = 1
	// Reads go to the primary: no routing to replicas, and one address
	// is one server, never a Cluster.
	opt.RouteByLatency, opt.RouteRandomly, opt.ReadOnly, opt.IsClusterMode = false, false, false, false
	return opt, nil
}

// sentinelOptions parses what follows SentinelScheme's "://".
func sentinelOptions(rest string) (*goredis.UniversalOptions, error) {
	opt := &goredis.UniversalOptions{}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, pass, ok := strings.Cut(rest[:i], ":")
		if !ok {
			return nil, errors.New("the password goes after a colon: redis-sentinel://:password@host:port/primary")
		}
		var err1, err2 error
		opt.Username, err1 = url.PathUnescape(user)
		opt.Password, err2 = url.PathUnescape(pass)
		if err1 != nil || err2 != nil {
			return nil, errors.New("malformed user or password")
		}
		rest = rest[i+1:]
	}
	rest, query, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	for h := range strings.SplitSeq(hosts, ",") {
		if host, port, err := net.SplitHostPort(h); err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("sentinel address %q is not host:port", h)
		}
		opt.Addrs = append(opt.Addrs, h)
	}
	name, db, _ := strings.Cut(path, "/")
	if opt.MasterName = name; name == "" {
		return nil, errors.New("no primary name: redis-sentinel://host:port/primary")
	}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("database %q is not a number", db)
		}
		opt.DB = n
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("malformed query")
	}
	for k := range q {
		if k != "sentinel_password" {
			return nil, fmt.Errorf("unknown option %q", k)
		}
	}
	opt.SentinelPassword = q.Get("sentinel_password")
	return opt, nil
}

// Close stops the memory layer, giving its lease back, and the background
// retry, and closes the connection pool. Invalidations still waiting for
// Redis are given up: their stale entries expire with the TTL.
func (c *Cache) Close() error {
	if c.mem != nil {
		c.mem.close()
	}
	c.retry.close()
	return c.client.Close()
}

// BadEntries is how many entries have failed authentication since Open:
// written into Redis by someone without the key, moved between keys, or
// written under a key that has since been rotated.
func (c *Cache) BadEntries() uint64 { return c.bad.Load() }

// RedisErrors is how many calls to Redis on a request's path have failed
// since Open: lookups answered from PostgreSQL instead, and fills or
// changes that did not reach Redis.
func (c *Cache) RedisErrors() uint64 { return c.redisErrors.Load() }

// tokens are the generations read by a lookup. put tags entries with them,
// so facts read from the database after a lookup are dropped if a change
// happened in between.
type tokens struct {
	key                 filegate.FactsKey
	epoch               string // the epoch (epoch.go) the tokens belong to
	viewer, owner, file string
	read                bool // the tokens are real: read or created in Redis
}

// entry is the authenticated part of a cached value: the epoch and the
// generation it is tagged with, when it was written (unix milliseconds)
// and the facts. In Redis it follows its MAC (see seal).
type entry[T any] struct {
	Epoch   string `json:"ep"`
	Gen     string `json:"g"`
	Written int64  `json:"t"`
	Value   T      `json:"v"`
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

// Facts returns the decision facts for one request: from memory when the
// memory layer is on and holds them, else from Redis when all of them are
// cached, current and authentic, else from load, whose facts are then
// stored tagged with the generations read before load ran. A change that
// commits while load reads the database bumps a generation, so those
// facts are never used, and memory keeps no facts read before an
// invalidation it has applied. Nothing is stored when load fails (its
// error is returned as is) or when Redis could not be read (there is
// nothing to tag with). Redis errors are logged, never returned. Cached
// facts are as they were read: a session's expiry is for the caller to
// check against its clock, so an entry never outlives its session.
func (c *Cache) Facts(ctx context.Context, key filegate.FactsKey, load func() (filegate.Facts, error)) (filegate.Facts, error) {
	if c.macs == nil {
		return load()
	}
	if f, ok := c.Remembered(key); ok {
		return f, nil
	}
	fl := c.mem.begin()
	f, tok, written, ok := c.get(ctx, key)
	if ok {
		c.mem.put(fl, c.factsEntry(key, f, written))
		return f, nil
	}
	f, err := load()
	if err != nil {
		return filegate.Facts{}, err
	}
	if at := c.put(ctx, tok, f); at != 0 {
		c.mem.put(fl, c.factsEntry(key, f, at))
	}
	return f, nil
}

// get returns the cached facts for one request, when the oldest of them
// was written (unix milliseconds), and whether all of them were present,
// current and authentic. The tokens are valid even on a miss and must be
// passed to put. A Redis error is a miss.
func (c *Cache) get(ctx context.Context, key filegate.FactsKey) (filegate.Facts, tokens, int64, bool) {
	gens := [4]string{c.epochKey(), c.userGen(key.ViewerID), c.userGen(key.OwnerID), c.fileGen(key.OwnerID, key.StoredName)}
	names := [4]string{c.userEntry(key.ViewerID), c.sessionEntry(key.SessionHash), c.userEntry(key.OwnerID),
		c.fileEntry(key.OwnerID, key.StoredName)}
	vals, err := c.client.MGet(ctx, gens[0], gens[1], gens[2], gens[3], names[0], names[1], names[2], names[3]).Result()
	tok := tokens{key: key}
	if err != nil {
		c.unreachable(ctx, "get", err)
		return filegate.Facts{}, tok, 0, false
	}
	tok.epoch, tok.viewer, tok.owner, tok.file, tok.read = str(vals[0]), str(vals[1]), str(vals[2]), str(vals[3]), true
	// Every entry is checked, so that each forged one is counted.
	var f filegate.Facts
	w1, ok1 := read(c, names[0], vals[4], tok.epoch, tok.viewer, &f.Viewer)
	w2, ok2 := read(c, names[1], vals[5], tok.epoch, tok.viewer, &f.Session)
	w3, ok3 := read(c, names[2], vals[6], tok.epoch, tok.owner, &f.Owner)
	w4, ok4 := read(c, names[3], vals[7], tok.epoch, tok.file, &f.File)
	if ok1 && ok2 && ok3 && ok4 {
		return f, tok, min(w1, w2, w3, w4), true
	}
	if tok.epoch == "" || tok.viewer == "" || tok.owner == "" || tok.file == "" {
		// A missing epoch (deleted, evicted) is made like a generation:
		// the next connection claims it again (epoch.go).
		if err := c.createGens(ctx, gens[:], []*string{&tok.epoch, &tok.viewer, &tok.owner, &tok.file}); err != nil {
			c.unreachable(ctx, "create generations", err)
			tok.read = false
		}
	}
	return filegate.Facts{}, tok, 0, false
}

// createGens gives every generation key of gens whose token in have is
// empty a fresh token, unless another process was quicker, and fills
// have with the tokens Redis now holds. It runs before the database is
// read, as every tagging token must.
func (c *Cache) createGens(ctx context.Context, gens []string, have []*string) error {
	cmds := map[string]*goredis.StringCmd{}
	_, err := c.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		for i, name := range gens {
			if *have[i] == "" && cmds[name] == nil {
				p.SetNX(ctx, name, newToken(), c.genTTL)
				cmds[name] = p.Get(ctx, name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, name := range gens {
		if *have[i] == "" {
			*have[i] = cmds[name].Val()
		}
		if *have[i] == "" {
			return errors.New("a generation key vanished as it was created")
		}
	}
	return nil
}

// put stores facts read from the database for the request get was asked
// about, tagged with the tokens get returned before the read, and returns
// the time it dated them with (unix milliseconds). After a failed get
// (Redis down) there are no tokens to tag with, so nothing is stored and
// it returns 0. Errors are logged.
func (c *Cache) put(ctx context.Context, tok tokens, f filegate.Facts) int64 {
	if !tok.read {
		return 0
	}
	k := tok.key
	at := c.now().UnixMilli()
	viewer, session, owner, file := c.userEntry(k.ViewerID), c.sessionEntry(k.SessionHash), c.userEntry(k.OwnerID),
		c.fileEntry(k.OwnerID, k.StoredName)
	_, err := c.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, viewer, seal(c, viewer, entry[filegate.Profile]{tok.epoch, tok.viewer, at, f.Viewer}), c.ttl)
		p.Set(ctx, session, seal(c, session, entry[filegate.SessionState]{tok.epoch, tok.viewer, at, f.Session}), c.ttl)
		p.Set(ctx, owner, seal(c, owner, entry[filegate.Profile]{tok.epoch, tok.owner, at, f.Owner}), c.ttl)
		p.Set(ctx, file, seal(c, file, entry[filegate.Target]{tok.epoch, tok.file, at, f.File}), c.ttl)
		return nil
	})
	if err != nil {
		c.unreachable(ctx, "put", err)
	}
	return at
}

// seal returns what Redis keeps under the key name for e: the MAC of
// name and of e's JSON, then that JSON.
func seal[T any](c *Cache, name string, e entry[T]) string {
	body, _ := json.Marshal(e)
	return string(c.sum(signed(name, string(body)))) + string(body)
}

// read fills dst from the value raw that Redis holds under the key name,
// if it is there, authentic, tagged with the current epoch and
// generation gen and younger than the TTL, and returns when it was written (unix
// milliseconds). An entry that fails authentication is counted and
// logged.
func read[T any](c *Cache, name string, raw any, epoch, gen string, dst *T) (int64, bool) {
	s, ok := raw.(string)
	if !ok {
		return 0, false
	}
	if len(s) < sha256.Size {
		c.forged(name)
		return 0, false
	}
	msg := signed(name, s[sha256.Size:])
	if !hmac.Equal([]byte(s[:sha256.Size]), c.sum(msg)) {
		c.forged(name)
		return 0, false
	}
	var e entry[T]
	if err := json.Unmarshal(msg[8+len(name):], &e); err != nil || e.Gen == "" || e.Gen != gen || e.Epoch != epoch ||
		c.now().UnixMilli()-e.Written > c.ttl.Milliseconds() {
		return 0, false
	}
	*dst = e.Value
	return e.Written, true
}

// signed returns what the MAC of the entry body under the key name
// covers: the name's length (so that no two name, body pairs give the
// same bytes), the name and the body, with room left for the MAC.
func signed(name, body string) []byte {
	msg := make([]byte, 8, 8+len(name)+len(body)+sha256.Size)
	binary.BigEndian.PutUint64(msg, uint64(len(name)))
	msg = append(msg, name...)
	return append(msg, body...)
}

// sum returns the MAC of msg, written in the room signed leaves after it.
func (c *Cache) sum(msg []byte) []byte {
	h := c.macs.Get().(hash.Hash)
	defer c.macs.Put(h)
	h.Reset()
	h.Write(msg)
	return h.Sum(msg[len(msg):])
}

// forged counts an entry that failed authentication and warns, at most
// every ten seconds. The key name is not logged: a session's names the
// hash of its token.
func (c *Cache) forged(name string) {
	n := c.bad.Add(1)
	if rateLimit(&c.lastBad) {
		c.log.Warn("cache entry failed authentication (written without the key, moved, or from before a key change); reading PostgreSQL instead",
			"kind", kind(c.prefix, name), "bad_entries", n)
	}
}

// kind names what the entry under name holds: user, session, file or
// link.
func kind(prefix, name string) string {
	if len(name) >= len(prefix)+3 {
		switch name[len(prefix):][:3] {
		case "c:u":
			return "user"
		case "c:s":
			return "session"
		case "c:f":
			return "file"
		case "c:l":
			return "link"
		}
	}
	return "unknown"
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

// bump writes a fresh token to the generation key name and publishes the
// invalidation, after a change committed, then waits until every replica
// answering from memory has applied it or lost its lease (lease.go): at
// most LeaseTTL. Nothing the caller does cancels it: a change asked for
// is made visible even when its client has gone. It tries again at once
// (a pooled connection Redis closed fails only its first use), then with
// a short backoff for up to bumpPatience in all. While earlier
// invalidations are still waiting for Redis, it does not retry: Redis is
// down, and every change would pay the full patience. What it could not
// write is left to the background retry, and the change waits until no
// replica can still answer from memory (outage).
func (c *Cache) bump(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bumpPatience)
	defer cancel()
	var err error
	var failed time.Time
	for attempt, wait := 0, 25*time.Millisecond; ; attempt++ {
		var seq int64
		var holders []holder
		var nonce string
		if seq, nonce, holders, err = c.publish(ctx, []string{name}); err == nil {
			c.reached()
			c.await(seq, nonce, holders)
			return
		}
		if attempt == 0 {
			failed = time.Now()
			continue
		}
		if c.retry.waiting() {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			wait *= 2
			continue
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	queued := c.retry.add(c, name)
	c.log.WarnContext(ctx, "cache invalidation failed; stale decisions expire with the TTL", "key", name, "ttl", c.ttl,
		"retrying", queued, "err", err)
	c.outage(failed)
}

// retrier writes the generation tokens that bump could not, until Redis
// takes them or the TTL has passed since the change (its stale entries
// have expired by then). One goroutine does it for every key, running
// only while some wait; at most maxPending wait.
type retrier struct {
	mu      sync.Mutex
	keys    map[string]pending
	seq     uint64
	running bool
	stop    chan struct{} // closed by close
}

// pending is one generation key waiting for a fresh token: until when it
// is worth writing, and which failure it stands for.
type pending struct {
	until time.Time
	seq   uint64
}

func (r *retrier) init() {
	r.keys = map[string]pending{}
	r.stop = make(chan struct{})
}

// waiting reports whether invalidations are waiting for Redis.
func (r *retrier) waiting() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys) > 0
}

// add queues name for c's retry loop and reports whether it was queued:
// not when c is closed or maxPending keys wait already.
func (r *retrier) add(c *Cache, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stop:
		return false
	default:
	}
	if _, ok := r.keys[name]; !ok && len(r.keys) >= maxPending {
		return false
	}
	r.seq++
	r.keys[name] = pending{until: time.Now().Add(c.ttl), seq: r.seq}
	if !r.running {
		r.running = true
		go r.run(c)
	}
	return true
}

func (r *retrier) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
}

// run writes every waiting key, in invalidations of up to publishBatch
// keys, backing off from 100 ms to a second while Redis refuses, and returns once none waits or the
// cache is closed.
func (r *retrier) run(c *Cache) {
	wait := 100 * time.Millisecond
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(wait):
		}
		r.mu.Lock()
		now, batch := time.Now(), map[string]pending{}
		for name, p := range r.keys {
			if now.After(p.until) {
				delete(r.keys, name)
			} else {
				batch[name] = p
			}
		}
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()

		// Each batch goes out as one invalidation, published like any
		// other: replicas that refilled their memory from Redis meanwhile
		// drop what it names. Nobody waits for the acknowledgements.
		names := slices.Sorted(maps.Keys(batch))
		done := 0
		for chunk := range slices.Chunk(names, publishBatch) {
			ctx, cancel := context.WithTimeout(context.Background(), bumpPatience)
			_, _, _, err := c.publish(ctx, chunk)
			cancel()
			if err != nil {
				break
			}
			c.reached()
			r.mu.Lock()
			for _, name := range chunk {
				// A key that failed again meanwhile stands for a change
				// that may have committed after this write: it stays.
				if r.keys[name].seq == batch[name].seq {
					delete(r.keys, name)
					done++
				}
			}
			r.mu.Unlock()
		}
		if done > 0 {
			c.log.Info("cache invalidations written after Redis came back", "count", done)
			wait = 100 * time.Millisecond
		} else {
			wait = min(2*wait, time.Second)
		}
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
