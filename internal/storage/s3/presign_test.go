package s3_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// Object keys with bytes that need encoding in a path: filegate's own
// keys never have them (stored names are [A-Za-z0-9._-]), but the signer
// must not depend on that.
var awkwardKeys = []string{
	"1/2/report.pdf",
	"1/3/a b+c.txt",
	"1/4/100%.txt",
	"1/5/résumé ünïcödé.pdf",
	"1/6/~tilde!star*(paren)'quote'.txt",
	"1/7/semi;colon=eq&amp?q#hash.txt",
	"1/8/double//slash.txt",
}

const disposition = `attachment; filename="Bob's r_sum_.pdf"; filename*=UTF-8''Bob%27s%20r%C3%A9sum%C3%A9.pdf`

// The signer makes the URL minio-go's Presign makes, signature and all,
// for any method and key: it is Signature Version 4, not an
// approximation. (minio writes a space in the query as "+", the signer
// as "%20": the same value.)
func TestPresignMatchesMinio(t *testing.T) {
	cfg := s3.Config{Endpoint: "http://127.0.0.1:7070", Bucket: "files", Region: "eu-west-1", AccessKey: "AKIDEXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	signer, err := s3.NewSigner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := minio.New("127.0.0.1:7070", &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""), Region: cfg.Region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range awkwardKeys {
		for _, method := range []string{"GET", "HEAD"} {
			params := url.Values{"response-content-type": {"text/plain; charset=utf-8"}, "response-content-disposition": {disposition}}
			var want *url.URL
			var got string
			// Both sign with the time in whole seconds: retry when a
			// second ended in between.
			for {
				before := time.Now()
				if want, err = client.Presign(context.Background(), method, cfg.Bucket, key, time.Minute, params); err != nil {
					t.Fatal(err)
				}
				got = signer.Presign(method, key, before, time.Minute, "text/plain; charset=utf-8", disposition)
				if before.Unix() == time.Now().Unix() {
					break
				}
			}
			g, err := url.Parse(got)
			if err != nil {
				t.Fatalf("%s %s: %v", method, key, err)
			}
			if g.Scheme != want.Scheme || g.Host != want.Host || g.EscapedPath() != want.EscapedPath() {
				t.Errorf("%s %s: %s, minio %s", method, key, got, want)
			}
			gq, wq := g.Query(), want.Query()
			if len(gq) != len(wq) {
				t.Errorf("%s %s: query %v, minio %v", method, key, gq, wq)
			}
			for name := range wq {
				if gq.Get(name) != wq.Get(name) {
					t.Errorf("%s %s: %s = %q, minio %q", method, key, name, gq.Get(name), wq.Get(name))
				}
			}
		}
	}
}

// Against a real store: a URL works for its own method, key, type and
// disposition, and for nothing else; and it works while the store's clock
// is within its lifetime, which is the tolerance for clock skew between
// authz and the store.
func TestPresignedURLs(t *testing.T) {
	store := testenv.StartS3(t)
	signer, err := s3.NewSigner(store.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range awkwardKeys {
		body := []byte("bytes of " + key)
		if _, err := store.Client.PutObject(ctx, store.Bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		now := time.Now()
		get := signer.Presign("GET", key, now, time.Minute, "text/plain; charset=utf-8", disposition)
		resp, got := fetch(t, "GET", get)
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Errorf("GET %s: %d %.80q, want 200 with its bytes", key, resp.StatusCode, got)
		}
		if ct, cd := resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"); ct != "text/plain; charset=utf-8" || cd != disposition {
			t.Errorf("GET %s: Content-Type %q, Content-Disposition %q: not the signed ones", key, ct, cd)
		}
		// A URL signed for GET is refused for HEAD, and the other way round.
		if resp, _ := fetch(t, "HEAD", get); resp.StatusCode != 403 {
			t.Errorf("HEAD with a URL signed for GET, %s: %d, want 403", key, resp.StatusCode)
		}
		head := signer.Presign("HEAD", key, now, time.Minute, "text/plain; charset=utf-8", disposition)
		if resp, _ := fetch(t, "HEAD", head); resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) {
			t.Errorf("HEAD %s: %d, Content-Length %d", key, resp.StatusCode, resp.ContentLength)
		}
		if resp, _ := fetch(t, "GET", head); resp.StatusCode != 403 {
			t.Errorf("GET with a URL signed for HEAD, %s: %d, want 403", key, resp.StatusCode)
		}
	}

	key := awkwardKeys[0]
	valid := signer.Presign("GET", key, time.Now(), time.Minute, "application/pdf", disposition)
	u, _ := url.Parse(valid)
	for name, change := range map[string]func(q url.Values){
		"type changed":        func(q url.Values) { q.Set("response-content-type", "text/html") },
		"disposition changed": func(q url.Values) { q.Set("response-content-disposition", "inline") },
		"expiry lengthened":   func(q url.Values) { q.Set("X-Amz-Expires", "604800") },
		"date moved":          func(q url.Values) { q.Set("X-Amz-Date", time.Now().Add(time.Hour).UTC().Format("20060102T150405Z")) },
	} {
		q := u.Query()
		change(q)
		forged := *u
		forged.RawQuery = q.Encode()
		if resp, body := fetch(t, "GET", forged.String()); resp.StatusCode != 403 {
			t.Errorf("%s: %d %.60q, want 403", name, resp.StatusCode, body)
		}
	}
	other := *u
	other.Path = "/" + store.Bucket + "/" + awkwardKeys[1]
	if resp, _ := fetch(t, "GET", other.String()); resp.StatusCode != 403 {
		t.Errorf("another key under the same signature: %d, want 403", resp.StatusCode)
	}

	// Clock skew. authz behind the store: the URL's lifetime, a minute
	// counted from its whole second, is the margin; past it the store
	// refuses (nginx says 502). authz ahead: versitygw accepts a date in
	// its future, AWS S3 up to 15 minutes.
	for _, tt := range []struct {
		name string
		skew time.Duration // authz's clock minus the store's
		want int
	}{
		{"authz 50s behind", -50 * time.Second, 200},
		{"authz 62s behind", -62 * time.Second, 403},
		{"authz 5m ahead", 5 * time.Minute, 200},
	} {
		signed := signer.Presign("GET", key, time.Now().Add(tt.skew), time.Minute, "application/pdf", disposition)
		if resp, _ := fetch(t, "GET", signed); resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

func fetch(t *testing.T, method, rawURL string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Do(t, req)
}

func BenchmarkPresign(b *testing.B) {
	signer, err := s3.NewSigner(s3.Config{Endpoint: "http://127.0.0.1:7070", Bucket: "files", Region: "us-east-1", AccessKey: "key", SecretKey: "secret"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		signer.Presign("GET", "1/2/report.pdf", time.Now(), time.Minute, "application/pdf", disposition)
	}
}
