package web_test

import (
	"os"
	"testing"

	"github.com/filegate/filegate/internal/testenv"
)

// TestMain removes the binaries testenv built for this package's stacks.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}
