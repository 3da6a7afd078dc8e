package cache

import (
	"context"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// Key names and failovers.
//
// Every key of the cache starts with KeyPrefix: the deployment's prefix,
// then the hash tag {cache}. A Redis Cluster places a key by its hash tag
// alone, so all of them share one slot: a decision's MGET reads two
// users' and a file's generations and entries, a change's script writes
// any users' and files' generations with the memory layer's counter and
// lease set, and no other tag could keep every such set together (the
// viewer and the owner are any two users). What a Cluster can spread is
// the rest: the login throttle's keys carry the client address as their
// tag, and deployments whose prefixes carry tags of their own
// (FILEGATE_REDIS_PREFIX={a}:) land on slots of their own.
//
// A failover may lose writes: Redis replicates asynchronously, so a
// primary can acknowledge a change's fresh generation token and die
// before its replica has it. The replica, promoted, then holds the old
// token, and the entries tagged with it would be current again. So every
// entry is bound, under its MAC, to an epoch as well: the value of the
// key {cache}m:epoch when its facts were looked up. Before a connection
// of an authz is used, claimEpoch makes sure the epoch names the server
// at its other end: its run id, new with every start, and its
// replication id, new whenever a replica is promoted. A promoted replica
// or a restarted server thus gets a fresh epoch from the first authz
// that connects to it, before that authz reads anything there, and every
// entry written before the failover or the restart is a miss. Nothing a
// lost write could have undone survives it.
//
// The memory layer leans on the epoch too: its lease must be held on the
// server it hears the invalidations from. After a failover that leaves
// the old primary up, go-redis sends new commands to the new primary but
// keeps a subscription where it was, and the changes made on one side
// never reach the other. A subscription's connection claims the epoch
// like any other, and notes what it claimed (claimedKey); its lease is
// then granted only where the epoch is that (lease.go).

// KeyPrefix is what every key of the cache under the deployment's prefix
// starts with; tests and operators use it to find them.
func KeyPrefix(prefix string) string { return prefix + "{cache}" }

func (c *Cache) epochKey() string { return c.prefix + "m:epoch" }

// claimedKey is a context key: a connection made under a context that
// holds a *string under it stores there the epoch it claimed. The
// subscription (lease.go) learns so which server it listens on.
type claimedKey struct{}

// epochScript: KEYS = the epoch; ARGV = the server's identity. It makes
// the epoch the identity unless it is already.
var epochScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
`)

// claimEpoch runs on every new connection of a cache with an entry key,
// before its first use. It refuses a server that is not a primary, and
// makes the epoch name the server (see above). An error closes the
// connection: the lookup that wanted it answers from PostgreSQL.
func (c *Cache) claimEpoch(ctx context.Context, cn *goredis.Conn) error {
	info, err := cn.Info(ctx).Result()
	if err != nil {
		return fmt.Errorf("redis: info: %w", err)
	}
	mode, role, id := "", "", ""
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "redis_mode":
			mode = v
		case "role":
			role = v
		case "run_id", "master_replid":
			id += v + "/"
		}
	}
	if mode == "sentinel" {
		// go-redis connects to the sentinels with the same options.
		return nil
	}
	if role != "master" || len(id) < 3 {
		return fmt.Errorf("redis: the server is not a primary (role %q); filegate reads primaries only", role)
	}
	if err := epochScript.Run(ctx, cn, []string{c.epochKey()}, id).Err(); err != nil {
		return fmt.Errorf("redis: claim the epoch: %w", err)
	}
	if claimed, ok := ctx.Value(claimedKey{}).(*string); ok {
		*claimed = id
	}
	return nil
}
