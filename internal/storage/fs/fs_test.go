package fs

import (
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

func TestDiskFullIsENOSPACE(t *testing.T) {
	err := diskError("write", &iofs.PathError{Op: "write", Path: "1/.upload-x", Err: syscall.ENOSPC})
	if filegate.ErrorCode(err) != filegate.ENOSPACE || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("diskError(ENOSPC) = %v", err)
	}
	if err := diskError("write", syscall.EIO); filegate.ErrorCode(err) != filegate.EINTERNAL {
		t.Errorf("diskError(EIO) = %v", err)
	}
}

func TestOpenCreatesRoot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	r, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info, err := os.Stat(dir); err != nil || !info.IsDir() || info.Mode().Perm() != 0o750 {
		t.Errorf("private root not created 0750: %v %v", info, err)
	}
}
