package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Sentinel is a private Redis set up for failover: a primary, one
// replica that replicates through a cuttable proxy, and three sentinels
// (quorum two) that promote the replica half a second after the primary
// stops answering. It never touches the shared Redis. Everything stops
// when the test ends.
type Sentinel struct {
	// URL is the REDIS_URL that names the primary through the sentinels
	// (redis-sentinel://…), for Options.RedisURL.
	URL              string
	Name             string // the primary's name, as the sentinels know it
	Primary, Replica *Service
	// PrimaryAddr and ReplicaAddr are where each server listens.
	PrimaryAddr, ReplicaAddr string
	// ReplicaLink carries the replication stream from the primary to the
	// replica: Cut it, and writes the primary acknowledges are not
	// replicated.
	ReplicaLink *Proxy
	sentinels   []string
}

// StartSentinel starts the servers and the sentinels, and waits until
// the sentinels agree on the primary and know its replica.
func StartSentinel(t T) *Sentinel {
	t.Helper()
	server := Tool(t, "redis-server")
	dir := t.TempDir()
	addrs := FreeAddrs(t, 5)
	s := &Sentinel{Name: "filegate", PrimaryAddr: addrs[0], ReplicaAddr: addrs[1], sentinels: addrs[2:]}
	s.ReplicaLink = NewProxy(t, s.PrimaryAddr)
	s.Primary = startRedis(t, server, dir, "redis-primary", s.PrimaryAddr)
	lhost, lport, _ := net.SplitHostPort(s.ReplicaLink.Addr)
	s.Replica = startRedis(t, server, dir, "redis-replica", s.ReplicaAddr, "--replicaof", lhost, lport)
	phost, pport, _ := net.SplitHostPort(s.PrimaryAddr)
	for i, addr := range s.sentinels {
		host, port, _ := net.SplitHostPort(addr)
		conf := filepath.Join(dir, fmt.Sprintf("sentinel%d.conf", i+1))
		// down-after 500 ms: the test waits for the failover. A long
		// failover-timeout: it also bounds how soon a sentinel points a
		// replica that replicates from elsewhere (through ReplicaLink)
		// at the primary itself, which would bypass the link.
		body := fmt.Sprintf("bind %s\nport %s\ndir %s\nsentinel monitor %s %s %s 2\n"+
			"sentinel down-after-milliseconds %[4]s 500\nsentinel failover-timeout %[4]s 60000\n",
			host, port, dir, s.Name, phost, pport)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		startService(t, dir, fmt.Sprintf("sentinel%d", i+1), addr, nil, server, conf, "--sentinel")
	}
	for _, addr := range append([]string{s.PrimaryAddr, s.ReplicaAddr}, s.sentinels...) {
		waitListening(t, dir, addr)
	}
	s.URL = "redis-sentinel://" + s.sentinels[0] + "," + s.sentinels[1] + "," + s.sentinels[2] + "/" + s.Name + "/0"
	s.WaitPrimary(t, s.PrimaryAddr, 15*time.Second)
	// The sentinels learn the replica from the primary's INFO, every
	// ten seconds at first: wait until each knows it, or a failover
	// would have nothing to promote.
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, addr := range s.sentinels {
		sc := goredis.NewSentinelClient(&goredis.Options{Addr: addr})
		for {
			replicas, err := sc.Replicas(ctx, s.Name).Result()
			if err == nil && len(replicas) == 1 {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				t.Fatalf("testenv: sentinel %s does not know the replica after 20s: %v %v", addr, replicas, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		sc.Close()
	}
	return s
}

// StartRedis starts a private Redis server, without persistence, and
// returns its address once it listens. It never touches the shared
// Redis, and stops when the test ends.
func StartRedis(t T) string {
	t.Helper()
	dir, addr := t.TempDir(), FreeAddr(t)
	startRedis(t, Tool(t, "redis-server"), dir, "redis", addr)
	waitListening(t, dir, addr)
	return addr
}

// startRedis runs the redis-server at server as name, listening on addr,
// with more arguments, keeping its files under dir/name.
func startRedis(t T, server, dir, name, addr string, more ...string) *Service {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	data := filepath.Join(dir, name)
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// No 5 s wait before a replica's first sync.
	args := append([]string{"--bind", host, "--port", port, "--dir", data, "--save", "", "--appendonly", "no",
		"--repl-diskless-sync-delay", "0"}, more...)
	return startService(t, dir, name, addr, nil, server, args...)
}

// Client returns a plain client on the server at addr, closed when the
// test ends: to look at one server of the set, primary or replica.
func (s *Sentinel) Client(t T, addr string) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// WaitPrimary waits until every sentinel names want as the primary, and
// fails the test after timeout.
func (s *Sentinel) WaitPrimary(t T, want string, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for _, addr := range s.sentinels {
		sc := goredis.NewSentinelClient(&goredis.Options{Addr: addr})
		for {
			got, err := sc.GetMasterAddrByName(ctx, s.Name).Result()
			if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == want {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				t.Fatalf("testenv: sentinel %s names %v as the primary after %v, want %s (%v)", addr, got, timeout, want, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		sc.Close()
	}
}
