package testenv

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/filegate/filegate/internal/storage/s3"
)

// S3 is a real S3-compatible server for one test: versitygw over a
// temporary folder, with one empty bucket.
type S3 struct {
	s3.Config
	// Service is the server's process, to stop and restart it.
	Service *Service
	// Client talks to the server with the root credentials, for tests that
	// look at or forge what is in the bucket.
	Client *minio.Client
	// Data is the folder versitygw keeps the bucket in (Data/Bucket), for
	// tests that age what it holds.
	Data string
}

// StartS3 runs versitygw (installed by .ci/deps, which Tool runs when it is
// missing) on a free loopback port until the test ends, and creates the
// bucket.
func StartS3(t T) *S3 {
	t.Helper()
	bin := Tool(t, "versitygw")
	dir := t.TempDir()
	data, meta := filepath.Join(dir, "data"), filepath.Join(dir, "meta")
	for _, d := range []string{data, meta} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	addr := FreeAddr(t)
	cfg := s3.Config{
		Endpoint:  "http://" + addr,
		Bucket:    "filegate-" + RandomID(),
		Region:    "us-east-1",
		AccessKey: "filegate" + RandomID(),
		SecretKey: RandomID() + RandomID() + RandomID(),
	}
	env := []string{"ROOT_ACCESS_KEY=" + cfg.AccessKey, "ROOT_SECRET_KEY=" + cfg.SecretKey}
	svc := startService(t, dir, "versitygw", addr, env, bin, "--port", addr, "posix", "--sidecar", meta, data)
	waitListening(t, dir, addr)

	client, err := minio.New(addr, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("testenv: s3 client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		t.Fatalf("testenv: make bucket %s: %v", cfg.Bucket, err)
	}
	return &S3{Config: cfg, Service: svc, Client: client, Data: data}
}

// Env is the FILEGATE_STORAGE=s3 configuration of both binaries for this
// server.
func (s *S3) Env() []string {
	return []string{
		"FILEGATE_STORAGE=s3",
		"FILEGATE_S3_ENDPOINT=" + s.Endpoint,
		"FILEGATE_S3_BUCKET=" + s.Bucket,
		"FILEGATE_S3_REGION=" + s.Region,
		"FILEGATE_S3_ACCESS_KEY=" + s.AccessKey,
		"FILEGATE_S3_SECRET_KEY=" + s.SecretKey,
	}
}
