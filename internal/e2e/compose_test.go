package e2e

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/filegate/filegate/internal/config"
	"github.com/filegate/filegate/internal/testenv"
)

// No Docker engine runs here, so compose.yaml is checked by reading it:
// it must parse, run the five services, configure them only with the
// variables the binaries know, and fill every placeholder of the nginx
// example config and every EDIT value of the filegate-http.conf it
// includes, as make run (.ci/dev) does.
func TestComposeFile(t *testing.T) {
	root := testenv.RepoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Command     any               `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]any    `yaml:"depends_on"`
			Networks    map[string]struct {
				IPv4 string `yaml:"ipv4_address"`
			} `yaml:"networks"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml does not parse: %v", err)
	}
	var names []string
	for name := range compose.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"authz", "nginx", "postgres", "redis", "uploader"}; !slices.Equal(names, want) {
		t.Errorf("services = %v, want %v", names, want)
	}
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Name] = true
	}
	for _, svc := range []string{"authz", "uploader"} {
		env := compose.Services[svc].Environment
		if len(env) == 0 {
			t.Errorf("%s has no environment", svc)
		}
		for name := range env {
			if !known[name] {
				t.Errorf("%s: unknown variable %s", svc, name)
			}
		}
		if !strings.HasPrefix(env["FILEGATE_SESSION_KEYS"], "${FILEGATE_SESSION_KEYS") {
			t.Errorf("%s: FILEGATE_SESSION_KEYS must come from the environment, not the file", svc)
		}
	}
	// The uploader believes X-Real-IP only from nginx: without that, every
	// client would count as nginx's address to the login throttle.
	if proxy, trusted := compose.Services["nginx"].Networks["default"].IPv4, compose.Services["uploader"].Environment["FILEGATE_TRUSTED_PROXIES"]; proxy == "" || trusted != proxy {
		t.Errorf("uploader trusts X-Real-IP from %q, but nginx's fixed address is %q", trusted, proxy)
	}
	example, err := os.ReadFile(filepath.Join(root, "nginx", "example.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dev, err := os.ReadFile(filepath.Join(root, ".ci", "dev"))
	if err != nil {
		t.Fatal(err)
	}
	nginxCmd, _ := yaml.Marshal(compose.Services["nginx"].Command)
	placeholders := regexp.MustCompile(`\{\{[A-Z_]+\}\}`).FindAllString(string(example), -1)
	if len(placeholders) == 0 {
		t.Fatal("nginx/example.conf has no placeholders")
	}
	for _, p := range placeholders {
		if !strings.Contains(string(nginxCmd), p) {
			t.Errorf("compose nginx command does not fill %s", p)
		}
		if !strings.Contains(string(dev), p) {
			t.Errorf(".ci/dev does not fill %s", p)
		}
	}
	http, err := os.ReadFile(filepath.Join(root, "nginx", "filegate-http.conf"))
	if err != nil {
		t.Fatal(err)
	}
	edits := regexp.MustCompile(`(?m)^\s*\S+ (\S+);\s+# EDIT`).FindAllStringSubmatch(string(http), -1)
	if len(edits) == 0 {
		t.Fatal("nginx/filegate-http.conf has no EDIT values")
	}
	for _, e := range edits {
		if !strings.Contains(string(nginxCmd), "s|"+e[1]+"|") {
			t.Errorf("compose nginx command does not replace %s in filegate-http.conf", e[1])
		}
		if !strings.Contains(string(dev), "s|"+e[1]+"|") {
			t.Errorf(".ci/dev does not replace %s in filegate-http.conf", e[1])
		}
	}
	// nginx reaches authz and the uploader by their service names, on the
	// ports they listen on.
	for svc, edit := range map[string]struct{ value, addrVar string }{
		"authz": {"127.0.0.1:8081", "AUTHZ_ADDR"}, "uploader": {"127.0.0.1:8082", "UPLOADER_ADDR"},
	} {
		_, port, err := net.SplitHostPort(compose.Services[svc].Environment[edit.addrVar])
		if want := "s|" + edit.value + "|" + svc + ":" + port + "|"; err != nil || !strings.Contains(string(nginxCmd), want) {
			t.Errorf("compose nginx command does not point filegate-http.conf at %s: no %s", svc, want)
		}
	}
}

// No password is written in compose.yaml: PostgreSQL's and Redis's come
// from the environment (FILEGATE_POSTGRES_PASSWORD, FILEGATE_REDIS_PASSWORD),
// compose refuses to start without them, and once filled in, the URLs
// authz and the uploader get carry the passwords the servers require.
func TestComposePasswords(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	literal := func(v string) bool { return !strings.HasPrefix(v, "${") && !strings.HasPrefix(v, "$$") }
	for _, m := range regexp.MustCompile(`(?im)^\s*-?\s*"?(\w*password\w*)"?\s*[:=]\s*"?([^\s"#]+)`).FindAllStringSubmatch(string(raw), -1) {
		if literal(m[2]) {
			t.Errorf("compose.yaml sets %s to a literal", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`\w+://[^:/@\s]*:(\$\{[^}]*\}|[^@\s]*)@`).FindAllStringSubmatch(string(raw), -1) {
		if literal(m[1]) {
			t.Errorf("compose.yaml has a URL with a literal password: %s", m[0])
		}
	}
	for _, m := range regexp.MustCompile(`requirepass\s+(\S+)`).FindAllStringSubmatch(string(raw), -1) {
		if literal(m[1]) {
			t.Error("compose.yaml gives redis-server a literal password")
		}
	}

	env := map[string]string{"FILEGATE_SESSION_KEYS": "keys", "FILEGATE_POSTGRES_PASSWORD": "pgpass0123", "FILEGATE_REDIS_PASSWORD": "redispass0123"}
	for name := range env {
		if name == "FILEGATE_SESSION_KEYS" {
			continue
		}
		without := maps.Clone(env)
		delete(without, name)
		if _, err := interpolate(string(raw), without); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s, compose would start (or not say why): %v", name, err)
		}
	}
	filled, err := interpolate(string(raw), env)
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command     any               `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(filled), &compose); err != nil {
		t.Fatalf("compose.yaml, filled in, does not parse: %v", err)
	}
	if got := compose.Services["postgres"].Environment["POSTGRES_PASSWORD"]; got != env["FILEGATE_POSTGRES_PASSWORD"] {
		t.Errorf("PostgreSQL's password is %q", got)
	}
	redisCmd, _ := yaml.Marshal(compose.Services["redis"].Command)
	redisPass := compose.Services["redis"].Environment["REDIS_PASSWORD"]
	if redisPass != env["FILEGATE_REDIS_PASSWORD"] || !strings.Contains(string(redisCmd), "requirepass $REDIS_PASSWORD") {
		t.Errorf("Redis does not require FILEGATE_REDIS_PASSWORD: password %q, command %s", redisPass, redisCmd)
	}
	for _, svc := range []string{"authz", "uploader"} {
		e := compose.Services[svc].Environment
		for name, want := range map[string]string{"DATABASE_URL": env["FILEGATE_POSTGRES_PASSWORD"], "REDIS_URL": env["FILEGATE_REDIS_PASSWORD"]} {
			u, err := url.Parse(e[name])
			if err != nil {
				t.Errorf("%s: %s: %v", svc, name, err)
				continue
			}
			if got, _ := u.User.Password(); got != want {
				t.Errorf("%s: %s carries password %q, want %q", svc, name, got, want)
			}
		}
	}
}

// interpolate fills in s as compose does: $$ is a dollar sign, ${NAME}
// and ${NAME:-default} take env's value, and ${NAME:?message} is an error
// when NAME is unset or empty.
func interpolate(s string, env map[string]string) (string, error) {
	var err error
	out := regexp.MustCompile(`\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}`).ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		p := regexp.MustCompile(`^\$\{(\w+)(?::([-?])([^}]*))?\}$`).FindStringSubmatch(m)
		v := env[p[1]]
		switch {
		case v != "":
			return v
		case p[2] == "?":
			err = errors.Join(err, fmt.Errorf("%s: %s", p[1], p[3]))
		case p[2] == "-":
			return p[3]
		}
		return ""
	})
	return out, err
}

// The metrics listeners answer inside the compose network, where a
// Prometheus container can scrape them, and are published on no host
// port: only nginx publishes anything, and not those.
func TestComposeMetricsNotPublished(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Ports       []any             `yaml:"ports"`
			Expose      []any             `yaml:"expose"`
			NetworkMode string            `yaml:"network_mode"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml does not parse: %v", err)
	}
	metricsPorts := map[string]bool{}
	for svc, name := range map[string]string{"authz": "AUTHZ_METRICS_ADDR", "uploader": "UPLOADER_METRICS_ADDR"} {
		addr := compose.Services[svc].Environment[name]
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" || port == "0" {
			t.Errorf("%s: %s = %q, want host:port", svc, name, addr)
			continue
		}
		// On loopback, nothing outside the container could scrape it.
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			t.Errorf("%s: %s = %q listens on %q only, want 0.0.0.0 inside the container", svc, name, addr, host)
		}
		metricsPorts[port] = true
	}
	for svc, s := range compose.Services {
		if s.NetworkMode == "host" {
			t.Errorf("%s runs in the host's network, where every listener is on the host", svc)
		}
		if len(s.Ports) > 0 && svc != "nginx" {
			t.Errorf("%s publishes ports %v; only nginx may", svc, s.Ports)
		}
		for _, p := range s.Ports {
			if port := containerPort(p); port == "" || metricsPorts[port] {
				t.Errorf("%s publishes %v: a metrics port, or one this test cannot read", svc, p)
			}
		}
	}
	if len(compose.Services["nginx"].Ports) == 0 {
		t.Error("nginx publishes nothing: the test would pass for nothing")
	}
}

// containerPort returns the container side of a compose port mapping, in
// the short syntax ("127.0.0.1:8080:8080", "8080:80/tcp", "9181") or the
// long one ({target: 8080, published: 8080}); "" when it is neither.
func containerPort(p any) string {
	switch v := p.(type) {
	case string:
		v, _, _ = strings.Cut(v, "/")
		if i := strings.LastIndex(v, ":"); i >= 0 {
			v = v[i+1:]
		}
		return v
	case int:
		return fmt.Sprint(v)
	case map[string]any:
		if target, ok := v["target"]; ok {
			return fmt.Sprint(target)
		}
	}
	return ""
}
