package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/testenv"
)

// The file commands on a bucket (FILEGATE_STORAGE=s3): put streams into
// it, sweep compares it with the table, user remove empties the user's
// keys.
func TestFileCommandsOnS3(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	store := testenv.StartS3(t)
	c.env = append(c.env, store.Env()...)
	dir := t.TempDir()
	small, big := filepath.Join(dir, "a b.pdf"), filepath.Join(dir, "big.pdf")
	if err := os.WriteFile(small, []byte("%PDF-1.4\nsmall\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, append([]byte("%PDF-1.4\n"), make([]byte, 12<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok(t, "pw-alice-1234\n", "user", "add", "alice", "--password-stdin")
	// Parts of 5 MiB, at most 10,000 of them: a larger limit fails at once.
	if errOut := c.fails(t, "", []string{"FILEGATE_MAX_UPLOAD=50GiB"}, "put", "alice", small); !strings.Contains(errOut, "FILEGATE_MAX_UPLOAD: at most") {
		t.Errorf("put with a 50 GiB limit on s3: %s", errOut)
	}
	out := c.ok(t, "", "put", "alice", small, big)
	if !strings.Contains(out, "/files/1/a-b.pdf") || !strings.Contains(out, "/files/1/big.pdf") {
		t.Errorf("put printed %q", out)
	}
	files, err := c.db.AllFiles(context.Background())
	if err != nil || len(files) != 2 {
		t.Fatalf("rows %+v, %v", files, err)
	}
	var want []string
	for _, f := range files {
		want = append(want, strings.Join([]string{itoa(f.OwnerID), itoa(f.ID), f.StoredName}, "/"))
	}
	slices.Sort(want)
	if got := keys(t, store); !slices.Equal(got, want) {
		t.Errorf("bucket holds %q, want the rows' keys %q", got, want)
	}
	if out := c.ok(t, "", "sweep"); !strings.Contains(out, "sweep: 0 files without rows, 0 rows without files\n") {
		t.Errorf("sweep printed %q", out)
	}
	c.ok(t, "", "user", "remove", "alice")
	if got := keys(t, store); len(got) != 0 {
		t.Errorf("bucket after user remove: %q", got)
	}
}

// keys lists the bucket.
func keys(t *testing.T, store *testenv.S3) []string {
	t.Helper()
	var out []string
	for o := range store.Client.ListObjects(context.Background(), store.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}
