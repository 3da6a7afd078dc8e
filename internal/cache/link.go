package cache

import (
	"context"
	"strconv"

	"github.com/filegate/filegate/internal/filegate"
)

// A link's entry holds everything about it that can only change by a
// change the store reports: revocation, and the deletion of the link,
// its file or its owner all bump the link's generation. Its download
// count is not cached: it changes with every download.

func (c *Cache) linkGen(id int64) string   { return c.prefix + "g:l:" + strconv.FormatInt(id, 10) }
func (c *Cache) linkEntry(id int64) string { return c.prefix + "c:l:" + strconv.FormatInt(id, 10) }

// LinkChanged implements filegate.Invalidator.
func (c *Cache) LinkChanged(ctx context.Context, linkID int64) {
	c.bump(ctx, c.linkGen(linkID))
}

// Link returns the facts of link id with the guarantees of Facts: from
// memory, or from Redis when cached, current and authentic, else from
// load, whose facts are stored tagged with the generation read before
// load ran. load's error is returned as is; Redis errors are logged,
// never returned.
func (c *Cache) Link(ctx context.Context, id int64, load func() (filegate.LinkFacts, error)) (filegate.LinkFacts, error) {
	if c.macs == nil {
		return load()
	}
	if f, ok := c.RememberedLink(id); ok {
		return f, nil
	}
	fl := c.mem.begin()
	epochKey, gen, name := c.epochKey(), c.linkGen(id), c.linkEntry(id)
	epoch, tok := "", ""
	vals, err := c.client.MGet(ctx, epochKey, gen, name).Result()
	if err != nil {
		c.unreachable(ctx, "get link", err)
	} else {
		epoch, tok = str(vals[0]), str(vals[1])
		var lf filegate.LinkFacts
		if written, ok := read(c, name, vals[2], epoch, tok, &lf); ok {
			c.mem.put(fl, c.linkMemEntry(id, lf, written))
			return lf, nil
		}
		if epoch == "" || tok == "" {
			if err := c.createGens(ctx, []string{epochKey, gen}, []*string{&epoch, &tok}); err != nil {
				c.unreachable(ctx, "create link generation", err)
				tok = ""
			}
		}
	}
	lf, err := load()
	if err != nil || tok == "" {
		return lf, err
	}
	at := c.now().UnixMilli()
	if err := c.client.Set(ctx, name, seal(c, name, entry[filegate.LinkFacts]{epoch, tok, at, lf}), c.ttl).Err(); err != nil {
		c.unreachable(ctx, "put link", err)
	}
	c.mem.put(fl, c.linkMemEntry(id, lf, at))
	return lf, nil
}
