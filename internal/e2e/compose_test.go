package e2e

import (
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
}
