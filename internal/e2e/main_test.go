package e2e

import (
	"testing"

	"github.com/filegate/filegate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
