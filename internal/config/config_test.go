package config

import (
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxUpload != 25<<20 || c.CacheTTL != 30*time.Second || c.HidePrivate || c.CookieSecure {
		t.Errorf("defaults: %+v", c)
	}
	if c.AuthzAddr != "127.0.0.1:8081" || c.UploaderAddr != "127.0.0.1:8082" || len(c.AllowedTypes) != 6 {
		t.Errorf("defaults: %+v", c)
	}
	if c.SessionTTL != 336*time.Hour || c.MaxFilesPerRequest != 20 || c.Quota != 1<<30 || c.QuotaFiles != 10000 {
		t.Errorf("limits: %+v", c)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[0].String() != "127.0.0.1/32" || c.TrustedProxies[1].String() != "::1/128" {
		t.Errorf("TrustedProxies = %v", c.TrustedProxies)
	}
	if c.LinkMaxTTL != 2160*time.Hour {
		t.Errorf("LinkMaxTTL = %v, want 2160h", c.LinkMaxTTL)
	}
	if c.AuthzMetricsAddr != "127.0.0.1:9181" || c.UploaderMetricsAddr != "127.0.0.1:9182" {
		t.Errorf("metrics addresses: %q, %q", c.AuthzMetricsAddr, c.UploaderMetricsAddr)
	}
	if c.MemoryEntries != 10000 {
		t.Errorf("MemoryEntries = %d, want the memory layer on with 10000", c.MemoryEntries)
	}
	if c.SessionKeys != "" {
		t.Error("session keys must have no default")
	}
	if c.AuditLog != "-" {
		t.Errorf("AuditLog = %q, want - (standard output)", c.AuditLog)
	}
}

func TestLoadAuditLog(t *testing.T) {
	c, err := Load(env(map[string]string{"FILEGATE_AUDIT_LOG": " /var/log/filegate/audit.log "}))
	if err != nil || c.AuditLog != "/var/log/filegate/audit.log" {
		t.Errorf("AuditLog = %q, %v", c.AuditLog, err)
	}
}

func TestLoadErrors(t *testing.T) {
	for name, kv := range map[string]map[string]string{
		"FILEGATE_COOKIE_SECURE":         {"FILEGATE_COOKIE_SECURE": "yes please"},
		"AUTHZ_HIDE_PRIVATE":             {"AUTHZ_HIDE_PRIVATE": "maybe"},
		"FILEGATE_PPROF":                 {"FILEGATE_PPROF": "sometimes"},
		"AUTHZ_CACHE_TTL":                {"AUTHZ_CACHE_TTL": "-5s"},
		"AUTHZ_MEMORY_CACHE":             {"AUTHZ_MEMORY_CACHE": "0"},
		"FILEGATE_MAX_UPLOAD":            {"FILEGATE_MAX_UPLOAD": "lots"},
		"FILEGATE_SESSION_TTL":           {"FILEGATE_SESSION_TTL": "1s"},
		"FILEGATE_MAX_FILES_PER_REQUEST": {"FILEGATE_MAX_FILES_PER_REQUEST": "0"},
		"FILEGATE_QUOTA":                 {"FILEGATE_QUOTA": "-1"},
		"FILEGATE_QUOTA_FILES":           {"FILEGATE_QUOTA_FILES": "many"},
		"FILEGATE_TRUSTED_PROXIES":       {"FILEGATE_TRUSTED_PROXIES": "nginx.local"},
		"FILEGATE_LINK_MAX_TTL":          {"FILEGATE_LINK_MAX_TTL": "90d"},
		"AUTHZ_METRICS_ADDR":             {"AUTHZ_METRICS_ADDR": "9181"},
		"UPLOADER_METRICS_ADDR":          {"UPLOADER_METRICS_ADDR": "http://127.0.0.1:9182/metrics"},
		"FILEGATE_STORAGE":               {"FILEGATE_STORAGE": "nfs"},
		"FILEGATE_S3_ENDPOINT":           {"FILEGATE_STORAGE": "s3", "FILEGATE_S3_ENDPOINT": "s3.example.com"},
		"FILEGATE_S3_BUCKET":             {"FILEGATE_STORAGE": "s3", "FILEGATE_S3_ENDPOINT": "http://127.0.0.1:7070", "FILEGATE_S3_ACCESS_KEY": "k", "FILEGATE_S3_SECRET_KEY": "s"},
		"FILEGATE_S3_SECRET_KEY":         {"FILEGATE_STORAGE": "s3", "FILEGATE_S3_ENDPOINT": "http://127.0.0.1:7070", "FILEGATE_S3_BUCKET": "b", "FILEGATE_S3_ACCESS_KEY": "k"},
	} {
		_, err := Load(env(kv))
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("%v: error %v, want one naming %s", kv, err, name)
		}
	}
}

// An endpoint with credentials in it is refused, and the error, which
// the binaries print and log, quotes none of them.
func TestLoadS3EndpointCredentials(t *testing.T) {
	for _, endpoint := range []string{
		"https://AKIAEXAMPLE:hunter2-secret@s3.example.com",
		"https://hunter2-secret@s3.example.com",
		"http://AKIAEXAMPLE:hunter2-secret@127.0.0.1:7070/",
		"AKIAEXAMPLE:hunter2-secret@s3.example.com",            // no scheme: url.Parse fails
		"https://AKIAEXAMPLE:hunter2%zz-secret@s3.example.com", // bad escape: url.Parse fails
	} {
		_, err := Load(env(map[string]string{"FILEGATE_STORAGE": "s3", "FILEGATE_S3_ENDPOINT": endpoint,
			"FILEGATE_S3_BUCKET": "b", "FILEGATE_S3_ACCESS_KEY": "k", "FILEGATE_S3_SECRET_KEY": "s"}))
		if err == nil || !strings.HasPrefix(err.Error(), "FILEGATE_S3_ENDPOINT:") {
			t.Errorf("%s: error %v, want one naming FILEGATE_S3_ENDPOINT", endpoint, err)
		} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "AKIAEXAMPLE") {
			t.Errorf("%s: error quotes the credentials: %v", endpoint, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"25MiB", 25 << 20, true},
		{"25M", 25 << 20, true},
		{"1 GiB", 1 << 30, true},
		{"512KiB", 512 << 10, true},
		{"10B", 10, true},
		{"0", 0, false},
		{"-1MiB", 0, false},
		{"1.5MiB", 0, false},
		{"MiB", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLists(t *testing.T) {
	c, err := Load(env(map[string]string{"FILEGATE_INLINE_TYPES": " Image/PNG, ,text/plain "}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.InlineTypes, "|") != "image/png|text/plain" {
		t.Errorf("InlineTypes = %q", c.InlineTypes)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(env(map[string]string{"FILEGATE_TRUSTED_PROXIES": "10.1.2.3, 192.168.0.0/16 ,fd00::/8"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.1.2.3/32 192.168.0.0/16 fd00::/8" {
		t.Errorf("TrustedProxies = %v", got)
	}
}

func TestLinkMaxTTL(t *testing.T) {
	c, err := Load(env(map[string]string{"FILEGATE_LINK_MAX_TTL": "720h"}))
	if err != nil || c.LinkMaxTTL != 720*time.Hour {
		t.Errorf("FILEGATE_LINK_MAX_TTL=720h: %v, %v", c.LinkMaxTTL, err)
	}
	// The shortest expiry the share form offers is an hour.
	if _, err := Load(env(map[string]string{"FILEGATE_LINK_MAX_TTL": "30m"})); err == nil || !strings.HasPrefix(err.Error(), "FILEGATE_LINK_MAX_TTL:") {
		t.Errorf("FILEGATE_LINK_MAX_TTL=30m: %v, want an error naming the variable", err)
	}
}

// The metrics listeners are set apart from the main addresses; a port of
// 0 lets the system choose, as tests that start extra processes want.
func TestMetricsAddrs(t *testing.T) {
	c, err := Load(env(map[string]string{"AUTHZ_METRICS_ADDR": "0.0.0.0:9181", "UPLOADER_METRICS_ADDR": "127.0.0.1:0"}))
	if err != nil || c.AuthzMetricsAddr != "0.0.0.0:9181" || c.UploaderMetricsAddr != "127.0.0.1:0" {
		t.Errorf("metrics addresses: %q, %q, %v", c.AuthzMetricsAddr, c.UploaderMetricsAddr, err)
	}
}

func TestMemoryCache(t *testing.T) {
	for v, want := range map[string]int{"off": 0, "OFF": 0, " 500 ": 500, "": 10000} {
		c, err := Load(env(map[string]string{"AUTHZ_MEMORY_CACHE": v}))
		if err != nil || c.MemoryEntries != want {
			t.Errorf("AUTHZ_MEMORY_CACHE=%q: %d, %v; want %d", v, c.MemoryEntries, err, want)
		}
	}
	for _, v := range []string{"-1", "no", "1e4", "false"} {
		if _, err := Load(env(map[string]string{"AUTHZ_MEMORY_CACHE": v})); err == nil || !strings.HasPrefix(err.Error(), "AUTHZ_MEMORY_CACHE:") {
			t.Errorf("AUTHZ_MEMORY_CACHE=%q: %v, want an error naming the variable", v, err)
		}
	}
}

func TestStorage(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.Storage != "fs" {
		t.Errorf("default storage %q, %v; want fs", c.Storage, err)
	}
	c, err = Load(env(map[string]string{"FILEGATE_STORAGE": "S3", "FILEGATE_S3_ENDPOINT": "https://s3.example.com", "FILEGATE_S3_BUCKET": "files", "FILEGATE_S3_ACCESS_KEY": "k", "FILEGATE_S3_SECRET_KEY": "s"}))
	want := S3{Endpoint: "https://s3.example.com", Bucket: "files", Region: "us-east-1", AccessKey: "k", SecretKey: "s"}
	if err != nil || c.Storage != "s3" || c.S3 != want {
		t.Errorf("s3: %q %+v, %v; want %+v", c.Storage, c.S3, err, want)
	}
	// Trimmed like every other variable: a stray space would otherwise
	// be signed into every request, and refused by the store.
	c, err = Load(env(map[string]string{"FILEGATE_STORAGE": "s3", "FILEGATE_S3_ENDPOINT": " https://s3.example.com ", "FILEGATE_S3_BUCKET": " files", "FILEGATE_S3_ACCESS_KEY": "k ", "FILEGATE_S3_SECRET_KEY": " s"}))
	if err != nil || c.S3 != want {
		t.Errorf("s3 with spaces: %+v, %v; want %+v", c.S3, err, want)
	}
}
