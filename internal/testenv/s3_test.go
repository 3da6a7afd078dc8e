package testenv

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
)

// The S3 server tests run on is a real one: what is put can be read back.
func TestStartS3(t *testing.T) {
	s := StartS3(t)
	ctx := context.Background()
	body := []byte("hello, bucket")
	if _, err := s.Client.PutObject(ctx, s.Bucket, "1/2/a b+c.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	obj, err := s.Client.GetObject(ctx, s.Bucket, "1/2/a b+c.txt", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back %q, %v; want %q", got, err, body)
	}
}
