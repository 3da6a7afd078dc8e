package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The decision label of authz's decisions: policy.Decision's String(),
// or DecisionError when the store failed and authz answered 503.
const (
	DecisionAllow           = "allow"
	DecisionDeny            = "deny"
	DecisionNotFound        = "not_found"
	DecisionUnauthenticated = "unauthenticated"
	DecisionGone            = "gone"
	DecisionError           = "error"
)

// The source label: where a decision's facts came from.
const (
	SourceNone   = "none"   // no lookup was needed: no session cookie, a forged link token
	SourceMemory = "memory" // authz's in-process layer in front of Redis
	SourceRedis  = "redis"  // the shared cache answered
	SourceDB     = "db"     // the store was read
)

var (
	decisions = []string{DecisionAllow, DecisionDeny, DecisionNotFound, DecisionUnauthenticated, DecisionGone, DecisionError}
	sources   = []string{SourceNone, SourceMemory, SourceRedis, SourceDB}
)

// decisionBuckets span a decision from a warm cache (tens of
// microseconds) to one that waited for a slow database (authz gives up
// after StoreTimeout, 3 s).
var decisionBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// Authz is authz's collectors. Its methods are safe for concurrent use;
// on a nil *Authz they do nothing.
type Authz struct {
	decisions      *counterVec
	latency        prometheus.Histogram
	lookups        *counterVec
	postgresErrors prometheus.Counter
}

// CacheStats reads the counts authz's cache keeps itself
// (cache.Cache's BadEntries, RedisErrors, MemoryEntries,
// MemoryEvictions), at each scrape. A nil func reads as 0.
type CacheStats struct {
	BadEntries, RedisErrors, MemoryEvictions func() uint64
	MemoryEntries                            func() int
}

// NewAuthz registers authz's collectors on reg, with the cache's own
// counts read from stats. It panics when reg holds them already: a
// second call for one registry is a bug.
func NewAuthz(reg prometheus.Registerer, stats CacheStats) *Authz {
	m := &Authz{
		decisions: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_authz_decisions_total",
			Help: "Download decisions (files and share links), by decision and by where their facts came from.",
		}, []string{"decision", "source"}, decisions, sources),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "filegate_authz_decision_duration_seconds",
			Help:    "Time from nginx's subrequest to authz's answer.",
			Buckets: decisionBuckets,
		}),
		lookups: newCounterVec(reg, prometheus.CounterOpts{
			Name: "filegate_authz_cache_lookups_total",
			Help: "Lookups in the shared cache (Redis), by result: hit, or miss (also when Redis failed or an entry was stale or forged).",
		}, []string{"result"}, []string{"hit", "miss"}),
		postgresErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "filegate_authz_postgres_errors_total",
			Help: "Reads and writes of PostgreSQL that failed or timed out; each made a decision an error (503).",
		}),
	}
	count := func(f func() uint64) func() float64 {
		return func() float64 {
			if f == nil {
				return 0
			}
			return float64(f())
		}
	}
	reg.MustRegister(m.latency, m.postgresErrors,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "filegate_authz_cache_bad_entries_total",
			Help: "Cache entries that failed authentication (written by someone without the entry key, or moved); each is a miss.",
		}, count(stats.BadEntries)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "filegate_authz_redis_errors_total",
			Help: "Calls to Redis on a request's path that failed: lookups answered from PostgreSQL instead, fills that were not kept.",
		}, count(stats.RedisErrors)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "filegate_authz_memory_evictions_total",
			Help: "Entries the in-process memory layer evicted to stay within AUTHZ_MEMORY_CACHE.",
		}, count(stats.MemoryEvictions)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "filegate_authz_memory_entries",
			Help: "Entries the in-process memory layer holds now (0 while it does not answer, or is off).",
		}, func() float64 {
			if stats.MemoryEntries == nil {
				return 0
			}
			return float64(stats.MemoryEntries())
		}))
	return m
}

// Decided records one decision: decision is policy.Decision's String()
// or DecisionError, source one of the Source constants, took the time
// from the request to the answer.
func (m *Authz) Decided(decision, source string, took time.Duration) {
	if m == nil {
		return
	}
	m.decisions.add(1, decision, source)
	m.latency.Observe(took.Seconds())
}

// CacheLookup records one lookup in the shared cache, a hit or a miss.
func (m *Authz) CacheLookup(hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.lookups.add(1, result)
}

// PostgresError records one failed store call.
func (m *Authz) PostgresError() {
	if m == nil {
		return
	}
	m.postgresErrors.Inc()
}
