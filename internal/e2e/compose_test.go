package e2e

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
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
	edits := regexp.MustCompile(`(?m)^\s*\S+ (\S+)[^;\n]*;\s+# EDIT( for s3)?`).FindAllStringSubmatch(string(http), -1)
	if len(edits) == 0 {
		t.Fatal("nginx/filegate-http.conf has no EDIT values")
	}
	for _, e := range edits {
		// compose runs the filesystem backend: the store's address is
		// make run's alone.
		if e[2] == "" && !strings.Contains(string(nginxCmd), "s|"+e[1]+"|") {
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

// composeService is a service of compose.yaml as the hardening checks
// read it.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       map[string]any    `yaml:"build"`
	User        *string           `yaml:"user"`
	Restart     string            `yaml:"restart"`
	Ports       []any             `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
	Command     any               `yaml:"command"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// readCompose parses compose.yaml's services.
func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("compose.yaml does not parse: %v", err)
	}
	return compose.Services
}

// healthchecks are the commands compose's healthchecks run in the
// filegate image, by service.
var healthchecks = map[string][]string{"authz": {"authz", "-healthcheck"}, "uploader": {"uploader", "healthcheck"}}

// compose.yaml would pass a security review: every service restarts
// unless stopped and runs as a non-root user; no port is published but
// nginx's (the metrics listeners stay inside the compose network); the
// private root is read-only in nginx and not in authz at all; authz and
// the uploader have healthchecks (the binaries' own, TestComposeHealthchecks
// runs them), and nginx waits for both.
func TestComposeHardening(t *testing.T) {
	services := readCompose(t)
	if len(services) == 0 {
		t.Fatal("no services")
	}
	// The user the filegate image runs as: the last USER of its
	// Dockerfile, for the services that run that image.
	imageUser := map[string]string{}
	for _, svc := range services {
		inline, _ := svc.Build["dockerfile_inline"].(string)
		if users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(inline, -1); len(users) > 0 {
			imageUser[svc.Image] = users[len(users)-1][1]
		}
	}
	rootUser := func(u string) bool {
		name, _, _ := strings.Cut(u, ":")
		return name == "" || name == "root" || name == "0"
	}
	for name, svc := range services {
		if svc.Restart != "unless-stopped" {
			t.Errorf("%s: restart: %q, want unless-stopped", name, svc.Restart)
		}
		switch user, fromImage := imageUser[svc.Image]; {
		case svc.User != nil && rootUser(*svc.User):
			t.Errorf("%s runs as root (user: %q)", name, *svc.User)
		case svc.User == nil && !fromImage:
			t.Errorf("%s sets no user: %s's default is root", name, svc.Image)
		case svc.User == nil && rootUser(user):
			t.Errorf("%s runs as root: its image's USER is %q", name, user)
		}
		// expose: would be fine: it opens a port to the compose network
		// only, where Prometheus may scrape the metrics listeners.
		if name != "nginx" && len(svc.Ports) > 0 {
			t.Errorf("%s publishes ports %v: only nginx may", name, svc.Ports)
		}
	}
	if ports := services["nginx"].Ports; len(ports) != 1 || !strings.HasPrefix(fmt.Sprint(ports[0]), "127.0.0.1:") {
		t.Errorf("nginx publishes %v, want its one listener, on the loopback", ports)
	}

	// The private root: the uploader's volume at FILEGATE_PRIVATE_ROOT.
	root := services["uploader"].Environment["FILEGATE_PRIVATE_ROOT"]
	var private string
	for _, v := range services["uploader"].Volumes {
		if src, dst, _ := strings.Cut(v, ":"); strings.TrimSuffix(dst, ":rw") == root {
			private = src
		}
	}
	if private == "" {
		t.Fatalf("the uploader mounts no volume at FILEGATE_PRIVATE_ROOT (%q): %v", root, services["uploader"].Volumes)
	}
	for name, svc := range services {
		for _, v := range svc.Volumes {
			src, rest, _ := strings.Cut(v, ":")
			if src != private || name == "uploader" {
				continue
			}
			if name != "nginx" || !strings.HasSuffix(rest, ":ro") {
				t.Errorf("%s mounts the private root as %q: only nginx may, read-only", name, v)
			}
		}
	}
	if !slices.ContainsFunc(services["nginx"].Volumes, func(v string) bool { return strings.HasPrefix(v, private+":") }) {
		t.Error("nginx does not mount the private root: it serves the files")
	}
	if len(services["authz"].Volumes) > 0 {
		t.Errorf("authz mounts %v: it needs no file", services["authz"].Volumes)
	}

	for name, cmd := range healthchecks {
		hc := services[name].Healthcheck
		if hc == nil || !slices.Equal(hc.Test, append([]string{"CMD"}, cmd...)) {
			t.Errorf("%s: healthcheck %+v, want test [CMD %s]", name, hc, strings.Join(cmd, " "))
		}
		if cond := services["nginx"].DependsOn[name].Condition; cond != "service_healthy" {
			t.Errorf("nginx starts when %s is %q, want service_healthy", name, cond)
		}
	}
}

// The healthcheck commands compose runs work: against a running stack
// they exit 0, and 1 once the service is down.
func TestComposeHealthchecks(t *testing.T) {
	t.Parallel()
	services := readCompose(t)
	s := testenv.Start(t, testenv.Options{})
	run := func(cmd []string) (string, error) {
		c := exec.Command(testenv.Binary(t, cmd[0]), cmd[1:]...)
		c.Env = append(os.Environ(), s.Env...)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	for name, svc := range map[string]*testenv.Service{"authz": s.Authz, "uploader": s.Uploader} {
		hc := services[name].Healthcheck
		if hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
			t.Fatalf("%s: no healthcheck command in compose.yaml", name)
		}
		if out, err := run(hc.Test[1:]); err != nil || strings.TrimSpace(out) != "ok" {
			t.Errorf("%s's healthcheck against a healthy %s: %v\n%s", name, name, err, out)
		}
		svc.Stop()
		out, err := run(hc.Test[1:])
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "unhealthy") {
			t.Errorf("%s's healthcheck with %s down: %v, want exit 1 saying unhealthy\n%s", name, name, err, out)
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
