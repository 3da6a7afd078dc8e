package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"
)

// Signer makes presigned download URLs for one bucket: what authz needs
// of the store, which it never talks to. It is safe for concurrent use.
//
// It signs by itself (AWS Signature Version 4, query string) rather than
// through minio-go's Presign, which signs the same URL byte for byte
// (TestPresignMatchesMinio) but costs about five times a whole cached
// authz decision; and it takes the clock as an argument, so the tests can
// sign as a skewed authz would.
type Signer struct {
	scheme, host      string // the endpoint's; host is sent as Host, and signed
	bucket            string
	region, accessKey string
	secretKey         string
	// day caches the signing key, derived from the secret key and the
	// date (four HMACs), which is the same all day long.
	day atomic.Pointer[signingKey]
}

type signingKey struct {
	date string // yyyymmdd, UTC
	key  []byte
}

// NewSigner returns the signer of the bucket c names. It makes no request.
func NewSigner(c Config) (*Signer, error) {
	u, err := parseEndpoint(c.Endpoint)
	if err != nil {
		return nil, err
	}
	return &Signer{scheme: u.Scheme, host: u.Host, bucket: c.Bucket, region: c.Region, accessKey: c.AccessKey, secretKey: c.SecretKey}, nil
}

// Presign returns a URL that lets whoever holds it make one kind of
// request, method (GET or HEAD: a URL signed for one is refused for the
// other), for the object key, from now until expiry (whole seconds, at
// most a week) has passed on the store's clock. The store answers it with
// the Content-Type and Content-Disposition given (response-content-type
// and response-content-disposition, covered by the signature), so a URL
// that leaks can only ever serve the file as filegate would. The URL is
// path-style, scheme://host/bucket/key?query, with the key's bytes
// percent-encoded but for letters, digits, "-._~" and "/". Presign is pure
// computation: it asks the store nothing.
func (s *Signer) Presign(method, key string, now time.Time, expiry time.Duration, contentType, disposition string) string {
	now = now.UTC()
	var date [16]byte
	amzDate := now.AppendFormat(date[:0], "20060102T150405Z")
	day := string(amzDate[:8])

	// The canonical query: every parameter, sorted by name, names and
	// values escaped the strict way. This order is the sorted one. One
	// buffer for the whole URL: a download's signature is on authz's hot
	// path.
	u := make([]byte, 0, 512+len(key)+len(contentType)+3*len(disposition))
	u = append(u, s.scheme...)
	u = append(u, "://"...)
	u = append(u, s.host...)
	pathStart := len(u)
	u = append(u, '/')
	u = appendEscaped(u, s.bucket, false)
	u = append(u, '/')
	u = appendEscaped(u, key, false)
	queryStart := len(u) + 1
	u = append(u, "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="...)
	u = appendEscaped(u, s.accessKey+"/"+day+"/"+s.region+"/s3/aws4_request", true)
	u = append(u, "&X-Amz-Date="...)
	u = append(u, amzDate...)
	u = append(u, "&X-Amz-Expires="...)
	u = strconv.AppendInt(u, int64(expiry/time.Second), 10)
	u = append(u, "&X-Amz-SignedHeaders=host&response-content-disposition="...)
	u = appendEscaped(u, disposition, true)
	u = append(u, "&response-content-type="...)
	u = appendEscaped(u, contentType, true)

	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{'\n'})
	h.Write(u[pathStart : queryStart-1])
	h.Write([]byte{'\n'})
	h.Write(u[queryStart:])
	h.Write([]byte("\nhost:" + s.host + "\n\nhost\nUNSIGNED-PAYLOAD"))
	var sum [sha256.Size]byte
	toSign := make([]byte, 0, 128)
	toSign = append(toSign, "AWS4-HMAC-SHA256\n"...)
	toSign = append(toSign, amzDate...)
	toSign = append(toSign, '\n')
	toSign = append(toSign, day+"/"+s.region+"/s3/aws4_request\n"...)
	toSign = hex.AppendEncode(toSign, h.Sum(sum[:0]))
	u = append(u, "&X-Amz-Signature="...)
	u = hex.AppendEncode(u, mac(s.signingKey(day), toSign))
	return string(u)
}

// signingKey returns the key of date (yyyymmdd), derived once a day.
func (s *Signer) signingKey(date string) []byte {
	if k := s.day.Load(); k != nil && k.date == date {
		return k.key
	}
	key := mac([]byte("AWS4"+s.secretKey), []byte(date))
	for _, part := range []string{s.region, "s3", "aws4_request"} {
		key = mac(key, []byte(part))
	}
	s.day.Store(&signingKey{date: date, key: key})
	return key
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// appendEscaped appends s percent-encoded as Signature Version 4 wants
// it: every byte but letters, digits and "-._~", and "/" too when
// escapeSlash is true (query values), not in a path.
func appendEscaped(b []byte, s string, escapeSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && !escapeSlash {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	return b
}
