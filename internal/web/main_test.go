package web_test

import (
	"testing"

	"github.com/filegate/filegate/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
