// Package config reads the environment variables of both binaries
// (docs/interface.md#configuration). Only the binaries' main packages call
// it; every other package gets plain values.
package config

import (
	"fmt"
	"io"
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
}

// Var documents one environment variable for -h.
type Var struct {
	Name, Default, Help string
}

// Vars lists every variable with its default, in the order -h shows them.
var Vars = []Var{
	{"DATABASE_URL", "postgres://postgres@127.0.0.1:5432/filegate?sslmode=disable", "PostgreSQL connection URL"},
	{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL for the decision cache"},
	{"FILEGATE_REDIS_PREFIX", "filegate:", "prefix of every Redis key (separates deployments sharing a Redis)"},
	{"FILEGATE_PRIVATE_ROOT", "/var/lib/filegate/private", "directory holding the files, as {owner_id}/{stored_name}"},
	{"FILEGATE_SESSION_KEYS", "", "required: comma-separated hex hashkey:blockkey pairs; the first signs, all verify"},
	{"FILEGATE_COOKIE_SECURE", "false", "mark the session cookie Secure (set true behind HTTPS)"},
	{"FILEGATE_MAX_UPLOAD", "25MiB", "largest accepted file (bytes, or with KiB/MiB/GiB)"},
	{"FILEGATE_ALLOWED_TYPES", "application/pdf,image/png,image/jpeg,image/gif,image/webp,text/plain", "types accepted, as sniffed from the bytes"},
	{"FILEGATE_INLINE_TYPES", "image/png,image/jpeg,image/gif,image/webp", "types served inline; all others download as attachments"},
	{"AUTHZ_ADDR", "127.0.0.1:8081", "listen address of authz"},
	{"UPLOADER_ADDR", "127.0.0.1:8082", "listen address of the uploader web app"},
	{"AUTHZ_CACHE_TTL", "30s", "how long a cached decision lives; bounds staleness when Redis missed a change"},
	{"AUTHZ_HIDE_PRIVATE", "false", "answer 404 instead of 403, so strangers cannot probe private files"},
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
	}
	var err error
	if c.CookieSecure, err = strconv.ParseBool(get("FILEGATE_COOKIE_SECURE")); err != nil {
		return c, fmt.Errorf("FILEGATE_COOKIE_SECURE: want true or false, got %q", get("FILEGATE_COOKIE_SECURE"))
	}
	if c.HidePrivate, err = strconv.ParseBool(get("AUTHZ_HIDE_PRIVATE")); err != nil {
		return c, fmt.Errorf("AUTHZ_HIDE_PRIVATE: want true or false, got %q", get("AUTHZ_HIDE_PRIVATE"))
	}
	if c.CacheTTL, err = time.ParseDuration(get("AUTHZ_CACHE_TTL")); err != nil || c.CacheTTL <= 0 {
		return c, fmt.Errorf("AUTHZ_CACHE_TTL: want a positive duration like 30s, got %q", get("AUTHZ_CACHE_TTL"))
	}
	if c.MaxUpload, err = ParseSize(get("FILEGATE_MAX_UPLOAD")); err != nil {
		return c, fmt.Errorf("FILEGATE_MAX_UPLOAD: %w", err)
	}
	return c, nil
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
