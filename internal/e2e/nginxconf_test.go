package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/filegate/filegate/internal/testenv"
)

// Operators read nginx/*.conf in a terminal or a diff, next to their own
// config: no line is wider than 100 columns.
func TestNginxConfLineWidth(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "nginx", "*.conf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no nginx/*.conf: %v", err)
	}
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if n := utf8.RuneCountInString(line); n > 100 {
				t.Errorf("%s:%d is %d columns wide, more than 100", filepath.Base(path), i+1, n)
			}
		}
	}
}
