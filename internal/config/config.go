// Package config reads the environment variables of both binaries
// (docs/interface.md#configuration). Only the binaries' main packages call
// it; every other package gets plain values.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of both binaries.
type Config struct {
	DatabaseURL  string
	RedisURL     string
	RedisPrefix  string
	PrivateRoot  string
	SessionKeys  string
	CookieSecure bool
	MaxUpload    int64
	AllowedTypes []string
	InlineTypes  []string
	AuthzAddr    string
	UploaderAddr string
	CacheTTL     time.Duration
	HidePrivate  bool
	// MemoryEntries is how many decisions' facts each authz keeps in its
	// memory layer in front of Redis; 0 turns the layer off.
	MemoryEntries int

	SessionTTL         time.Duration
	MaxFilesPerRequest int
	Quota              int64 // bytes per user
	QuotaFiles         int   // files per user
	// TrustedProxies are the peers whose X-Real-IP names the client: the
	// nginx in front of the uploader.
	TrustedProxies []netip.Prefix
	// LinkMaxTTL is the longest a share link may be made to last.
	LinkMaxTTL time.Duration
	// AuditLog is the file the audit lines are appended to, or "-" for
	// standard output (audit.Open).
	AuditLog string

	// AuthzMetricsAddr and UploaderMetricsAddr are where each binary
	// serves GET /metrics, apart from the address nginx proxies to.
	AuthzMetricsAddr    string
	UploaderMetricsAddr string
	// Profiles adds Go's profiles (net/http/pprof) at /debug/pprof/ on
	// both metrics listeners.
	Profiles bool

	// Storage is where the files live: "fs" (PrivateRoot, served by nginx
	// from disk) or "s3" (the bucket S3 names, served through presigned
	// URLs).
	Storage string
	S3      S3
}

// S3 is the bucket of FILEGATE_STORAGE=s3.
type S3 struct {
	// Endpoint is the store's base URL, http:// or https://.
	Endpoint  string
	Bucket    string
	Region    string
	AccessKey string
	SecretKey string
}

// Var documents one environment variable for -h.
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable with its default, in the order -h shows them.
var Vars = []Var{
	{"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/filegate?sslmode=disable", "PostgreSQL connection URL"},
	{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL: the decision cache and the login throttle; redis-sentinel://[:password@]host:port[,host:port...]/primary[/db] follows a primary through Sentinel failovers"},
	{"FILEGATE_REDIS_PREFIX", "filegate:", "prefix of every Redis key (separates deployments sharing a Redis)"},
	{"FILEGATE_PRIVATE_ROOT", "/var/lib/filegate/private", "directory holding the files, as {owner_id}/{stored_name}"},
	{"FILEGATE_SESSION_KEYS", "", "required: comma-separated hex hashkey:blockkey pairs; the first signs, all verify"},
	{"FILEGATE_COOKIE_SECURE", "false", "mark the session cookie Secure (set true behind HTTPS)"},
	{"FILEGATE_MAX_UPLOAD", "25MiB", "largest accepted file (bytes, or with KiB/MiB/GiB)"},
	{"FILEGATE_ALLOWED_TYPES", "application/pdf,image/png,image/jpeg,image/gif,image/webp,text/plain", "types accepted, as sniffed from the bytes"},
	{"FILEGATE_INLINE_TYPES", "image/png,image/jpeg,image/gif,image/webp", "types served inline; all others download as attachments"},
	{"AUTHZ_ADDR", "127.0.0.1:8081", "listen address of authz"},
	{"UPLOADER_ADDR", "127.0.0.1:8082", "listen address of the uploader web app"},
	{"AUTHZ_METRICS_ADDR", "127.0.0.1:9181", "listen address of authz's Prometheus metrics (GET /metrics); never publish it through nginx"},
	{"UPLOADER_METRICS_ADDR", "127.0.0.1:9182", "listen address of the web app's Prometheus metrics (GET /metrics); never publish it through nginx"},
	{"FILEGATE_PPROF", "false", "also serve Go's profiles (GET /debug/pprof/) on both metrics addresses, for `go tool pprof` (docs/operating.md#profiling)"},
	{"AUTHZ_CACHE_TTL", "30s", "how long a cached decision lives; bounds staleness when Redis missed a change"},
	{"AUTHZ_MEMORY_CACHE", "10000", "entries authz keeps in memory in front of Redis (about 1 KiB each), or off; changes still show on the next request (docs/interface.md#cache)"},
	{"AUTHZ_HIDE_PRIVATE", "false", "answer 404 instead of 403, so strangers cannot probe which private files exist (docs/operating.md)"},
	{"FILEGATE_SESSION_TTL", "336h", "how long a login lasts"},
	{"FILEGATE_MAX_FILES_PER_REQUEST", "20", "most files one upload request stores; later parts are refused"},
	{"FILEGATE_QUOTA", "1GiB", "bytes each user may store"},
	{"FILEGATE_QUOTA_FILES", "10000", "files each user may store"},
	{"FILEGATE_TRUSTED_PROXIES", "127.0.0.1/32,::1/128", "comma-separated addresses or CIDR prefixes whose X-Real-IP header names the client"},
	{"FILEGATE_LINK_MAX_TTL", "2160h", "longest a share link may be made to last"},
	{"FILEGATE_AUDIT_LOG", "-", "file the audit lines are appended to (reopened on SIGHUP), or - for standard output"},
	{"FILEGATE_STORAGE", "fs", "where files live: fs (FILEGATE_PRIVATE_ROOT, sent by nginx from disk) or s3 (the bucket below, through presigned URLs)"},
	{"FILEGATE_S3_ENDPOINT", "", "with s3: the store's base URL, like https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7070 (no user:password@)"},
	{"FILEGATE_S3_BUCKET", "", "with s3: the bucket (it must exist)"},
	{"FILEGATE_S3_REGION", "us-east-1", "with s3: the bucket's region, part of every signature"},
	{"FILEGATE_S3_ACCESS_KEY", "", "with s3: the access key id"},
	{"FILEGATE_S3_SECRET_KEY", "", "with s3: the secret key (never logged)"},
}

// Load reads the configuration through getenv (os.Getenv in main). An
// unset or empty variable takes its default. It does not validate the
// session keys: session.New does, with a clear message.
func Load(getenv func(string) string) (Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, v := range Vars {
			if v.Name == name {
				return v.Default
			}
		}
		panic("config: unknown variable " + name)
	}
	c := Config{
		DatabaseURL:  get("DATABASE_URL"),
		RedisURL:     get("REDIS_URL"),
		RedisPrefix:  get("FILEGATE_REDIS_PREFIX"),
		PrivateRoot:  get("FILEGATE_PRIVATE_ROOT"),
		SessionKeys:  getenv("FILEGATE_SESSION_KEYS"),
		AllowedTypes: list(get("FILEGATE_ALLOWED_TYPES")),
		InlineTypes:  list(get("FILEGATE_INLINE_TYPES")),
		AuthzAddr:    get("AUTHZ_ADDR"),
		UploaderAddr: get("UPLOADER_ADDR"),

		AuthzMetricsAddr:    get("AUTHZ_METRICS_ADDR"),
		UploaderMetricsAddr: get("UPLOADER_METRICS_ADDR"),
		AuditLog:            get("FILEGATE_AUDIT_LOG"),
		Storage:             strings.ToLower(get("FILEGATE_STORAGE")),
		S3: S3{
			Endpoint:  get("FILEGATE_S3_ENDPOINT"),
			Bucket:    get("FILEGATE_S3_BUCKET"),
			Region:    get("FILEGATE_S3_REGION"),
			AccessKey: get("FILEGATE_S3_ACCESS_KEY"),
			SecretKey: get("FILEGATE_S3_SECRET_KEY"),
		},
	}
	var err error
	if c.CookieSecure, err = strconv.ParseBool(get("FILEGATE_COOKIE_SECURE")); err != nil {
		return c, fmt.Errorf("FILEGATE_COOKIE_SECURE: want true or false, got %q", get("FILEGATE_COOKIE_SECURE"))
	}
	if c.Profiles, err = strconv.ParseBool(get("FILEGATE_PPROF")); err != nil {
		return c, fmt.Errorf("FILEGATE_PPROF: want true or false, got %q", get("FILEGATE_PPROF"))
	}
	if c.HidePrivate, err = strconv.ParseBool(get("AUTHZ_HIDE_PRIVATE")); err != nil {
		return c, fmt.Errorf("AUTHZ_HIDE_PRIVATE: want true or false, got %q", get("AUTHZ_HIDE_PRIVATE"))
	}
	if c.CacheTTL, err = time.ParseDuration(get("AUTHZ_CACHE_TTL")); err != nil || c.CacheTTL <= 0 {
		return c, fmt.Errorf("AUTHZ_CACHE_TTL: want a positive duration like 30s, got %q", get("AUTHZ_CACHE_TTL"))
	}
	if v := get("AUTHZ_MEMORY_CACHE"); !strings.EqualFold(v, "off") {
		if c.MemoryEntries, err = strconv.Atoi(v); err != nil || c.MemoryEntries < 1 {
			return c, fmt.Errorf("AUTHZ_MEMORY_CACHE: want a number of entries from 1, or off, got %q", v)
		}
	}
	if c.MaxUpload, err = ParseSize(get("FILEGATE_MAX_UPLOAD")); err != nil {
		return c, fmt.Errorf("FILEGATE_MAX_UPLOAD: %w", err)
	}
	if c.SessionTTL, err = time.ParseDuration(get("FILEGATE_SESSION_TTL")); err != nil || c.SessionTTL < time.Minute {
		return c, fmt.Errorf("FILEGATE_SESSION_TTL: want a duration of at least 1m like 336h, got %q", get("FILEGATE_SESSION_TTL"))
	}
	if c.MaxFilesPerRequest, err = strconv.Atoi(get("FILEGATE_MAX_FILES_PER_REQUEST")); err != nil || c.MaxFilesPerRequest < 1 {
		return c, fmt.Errorf("FILEGATE_MAX_FILES_PER_REQUEST: want a whole number from 1, got %q", get("FILEGATE_MAX_FILES_PER_REQUEST"))
	}
	if c.Quota, err = ParseSize(get("FILEGATE_QUOTA")); err != nil {
		return c, fmt.Errorf("FILEGATE_QUOTA: %w", err)
	}
	if c.QuotaFiles, err = strconv.Atoi(get("FILEGATE_QUOTA_FILES")); err != nil || c.QuotaFiles < 1 {
		return c, fmt.Errorf("FILEGATE_QUOTA_FILES: want a whole number from 1, got %q", get("FILEGATE_QUOTA_FILES"))
	}
	if c.TrustedProxies, err = prefixes(get("FILEGATE_TRUSTED_PROXIES")); err != nil {
		return c, fmt.Errorf("FILEGATE_TRUSTED_PROXIES: %w", err)
	}
	if c.LinkMaxTTL, err = time.ParseDuration(get("FILEGATE_LINK_MAX_TTL")); err != nil || c.LinkMaxTTL < time.Hour {
		return c, fmt.Errorf("FILEGATE_LINK_MAX_TTL: want a duration of at least 1h like 2160h, got %q", get("FILEGATE_LINK_MAX_TTL"))
	}
	for _, v := range []struct{ name, addr string }{{"AUTHZ_METRICS_ADDR", c.AuthzMetricsAddr}, {"UPLOADER_METRICS_ADDR", c.UploaderMetricsAddr}} {
		if _, _, err := net.SplitHostPort(v.addr); err != nil {
			return c, fmt.Errorf("%s: want host:port like 127.0.0.1:9181, got %q", v.name, v.addr)
		}
	}
	switch c.Storage {
	case "fs":
	case "s3":
		if err := c.S3.check(); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("FILEGATE_STORAGE: want fs or s3, got %q", c.Storage)
	}
	return c, nil
}

// check says which FILEGATE_S3_* variable is missing or malformed.
func (s S3) check() error {
	// Credentials go in their own variables; a user:password@ here would
	// be quoted in errors and logs, so the value is not quoted then.
	if strings.Contains(s.Endpoint, "@") {
		return errors.New("FILEGATE_S3_ENDPOINT: holds a user or password (@); give the store's base URL alone, and the keys in FILEGATE_S3_ACCESS_KEY and FILEGATE_S3_SECRET_KEY")
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("FILEGATE_S3_ENDPOINT: want a base URL like https://s3.example.com, got %q", s.Endpoint)
	}
	for _, v := range []struct{ name, value string }{{"FILEGATE_S3_BUCKET", s.Bucket}, {"FILEGATE_S3_ACCESS_KEY", s.AccessKey}, {"FILEGATE_S3_SECRET_KEY", s.SecretKey}} {
		if v.value == "" {
			return fmt.Errorf("%s: required with FILEGATE_STORAGE=s3", v.name)
		}
	}
	return nil
}

// ParseSize reads a byte count: a plain number, or one with a suffix
// K/KiB, M/MiB, G/GiB (all powers of 1024). It must be positive.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size like 25MiB, got %q", s)
	}
	return n * mult, nil
}

// prefixes reads a comma-separated list of addresses ("10.0.0.5") and
// CIDR prefixes ("10.0.0.0/8"); an address is a prefix of its full length.
func prefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list(s) {
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(v); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		} else {
			return nil, fmt.Errorf("want addresses or prefixes like 127.0.0.1/32, got %q", v)
		}
	}
	return out, nil
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Usage writes the variables a binary reads, with their defaults.
func Usage(w io.Writer, names ...string) {
	fmt.Fprintln(w, "Environment:")
	for _, v := range Vars {
		for _, n := range names {
			if n == v.Name {
				def := v.Default
				if def == "" {
					def = "(none)"
				}
				fmt.Fprintf(w, "  %-24s %s\n  %-24s default: %s\n", v.Name, v.Help, "", def)
			}
		}
	}
}
