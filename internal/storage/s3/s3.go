// Package s3 keeps files in an S3-compatible bucket (FILEGATE_STORAGE=s3):
// the uploader streams uploads into it, and authz answers an allowed
// download with a short-lived presigned URL that nginx fetches.
package s3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config names the bucket and the credentials for it.
type Config struct {
	// Endpoint is the store's base URL: http:// or https://, a host, no path.
	Endpoint  string
	Bucket    string
	Region    string
	AccessKey string
	SecretKey string
}

// maxTries is how many times a request is sent before its error counts.
const maxTries = 3

// Bucket is one bucket on one store. It is safe for concurrent use.
type Bucket struct {
	client *minio.Client
	name   string

	// Log receives what the caller is not told: a failed abort, keys
	// sweep skips. nil discards.
	Log *slog.Logger
}

// New returns the bucket c names. It makes no request: a wrong endpoint
// or key shows at the first upload or download.
func New(c Config) (*Bucket, error) {
	u, err := parseEndpoint(c.Endpoint)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: c.Region,
		// Path-style URLs (host/bucket/key): every S3-compatible store
		// takes them, and the host nginx connects to is the endpoint's,
		// whatever the bucket is called.
		BucketLookup: minio.BucketLookupPath,
		// Three tries in all, not minio's ten: a store that refuses
		// connections answers 503 in under a second (0.7 s on average,
		// 1.4 s at most, of backoff) instead of after some four, while a
		// passing failure (a reset, a SlowDown) still gets two more chances.
		MaxRetries: maxTries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	return &Bucket{client: client, name: c.Bucket}, nil
}

// parseEndpoint checks that endpoint is a base URL, http:// or https://
// and a host. One with a user or password is refused without being
// quoted, so that the error cannot log them.
func parseEndpoint(endpoint string) (*url.URL, error) {
	if strings.Contains(endpoint, "@") {
		return nil, errors.New("s3: endpoint holds a user or password (@); want a base URL like https://s3.example.com")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3: endpoint %q: want a base URL like https://s3.example.com", endpoint)
	}
	return u, nil
}
