package testenv

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/storage"
)

// mirrorToBucket copies the file at the download URL fileURL from the
// private root, where `uploader put` stores it until the uploader writes
// to buckets, to its key in the stack's bucket.
// TODO(s3in): remove once the uploader streams into the bucket.
func (s *Stack) mirrorToBucket(t T, fileURL string) {
	t.Helper()
	f := s.File(t, fileURL)
	b, err := os.ReadFile(filepath.Join(s.PrivateRoot, f.Path()))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	key := storage.Key(f.OwnerID, f.ID, f.StoredName)
	if _, err := s.S3.Client.PutObject(context.Background(), s.S3.Bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("testenv: put %s: %v", key, err)
	}
}
