package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// downloadHeaders are the only headers a download may carry, with either
// backend: the file's own, nginx's, and those filegate.conf adds.
var downloadHeaders = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Content-Disposition": true, "Content-Range": true,
	"Accept-Ranges": true, "Etag": true, "Last-Modified": true, "Cache-Control": true,
	"X-Content-Type-Options": true, "Content-Security-Policy": true, "X-Request-Id": true,
	"Date": true, "Server": true, "Connection": true,
}

// checkHeaders fails on any header of resp not in downloadHeaders, and on
// any header sent twice.
func checkHeaders(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for name, values := range resp.Header {
		if !downloadHeaders[name] {
			t.Errorf("%s: header %s: %q reached the client", what, name, values)
		}
		if len(values) != 1 {
			t.Errorf("%s: header %s sent %d times: %q", what, name, len(values), values)
		}
	}
}

// A range costs the store no more than the client gets: whatever the
// client's Range and If-Range, the store sends the range, or the whole
// file to a client that then gets the whole file, or next to nothing. A
// two-byte range with an If-Range used to make nginx fetch the whole
// object and keep two bytes of it, so that anyone with a share link could
// make the store send gigabytes for a few requests. The answers are right
// as well: RFC 9110's If-Range (a range only while the file is the
// client's, by a strong comparison), nginx's own 416 past the end without
// the store's body, and no header of the store's. All of it holds behind
// an operator's cache that keeps every answer too, where nginx would cut
// a range from an answer it stores.
func TestS3RangesCostTheStoreNoMore(t *testing.T) {
	t.Run("no cache", func(t *testing.T) { rangesCostTheStoreNoMore(t, "") })
	t.Run("cache", func(t *testing.T) { rangesCostTheStoreNoMore(t, "any 10m") })
}

func rangesCostTheStoreNoMore(t *testing.T, cacheValid string) {
	d := newDemo(t, testenv.Options{Storage: "s3"})
	if cacheValid != "" {
		withProxyCache(t, d, cacheValid)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 96<<10) // 1.5 MiB of text, under the tests' upload limit
	url := d.Put(t, "alice", "big.txt", big)
	rec := interpose(t, d)

	resp, _ := d.get(t, d.alice, "HEAD", url)
	etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if resp.StatusCode != 200 || !strings.HasPrefix(etag, `"`) || modified == "" {
		t.Fatalf("HEAD: %d, ETag %q, Last-Modified %q", resp.StatusCode, etag, modified)
	}
	checkHeaders(t, "HEAD", resp)
	rec.take()
	rec.sentBytes()

	const (
		whole       = iota // 200 with the whole file
		two                // 206 with bytes 0-1
		either             // two, or whole
		past               // 416
		notModified        // 304
	)
	for _, tt := range []struct {
		name   string
		header []string
		want   int
		// the store's precondition for the range, if any
		sent string
	}{
		{"range", []string{"Range", "bytes=0-1"}, two, ""},
		{"if-range, same entity tag", []string{"Range", "bytes=0-1", "If-Range", etag}, two, "If-Match"},
		{"if-range, other entity tag", []string{"Range", "bytes=0-1", "If-Range", `"0123"`}, whole, "If-Match"},
		{"if-range, weak entity tag", []string{"Range", "bytes=0-1", "If-Range", "W/" + etag}, whole, ""},
		// versitygw keeps sub-second times, so the store finds the object
		// newer than its own Last-Modified: the whole file, which is never
		// wrong. AWS S3 sends the range.
		{"if-range, same date", []string{"Range", "bytes=0-1", "If-Range", modified}, either, "If-Unmodified-Since"},
		{"if-range, older date", []string{"Range", "bytes=0-1", "If-Range", "Sat, 01 Jan 2000 00:00:00 GMT"}, whole, "If-Unmodified-Since"},
		{"if-range, not a date", []string{"Range", "bytes=0-1", "If-Range", "yesterday"}, whole, ""},
		{"if-range and if-none-match", []string{"Range", "bytes=0-1", "If-Range", etag, "If-None-Match", `"nope"`}, two, "If-Match"},
		{"if-range, matching if-none-match", []string{"Range", "bytes=0-1", "If-Range", etag, "If-None-Match", etag}, notModified, "If-Match"},
		{"past the end", []string{"Range", "bytes=99999999-"}, past, ""},
		{"past the end, if-range", []string{"Range", "bytes=99999999-", "If-Range", etag}, past, "If-Match"},
		{"past the end, other if-range", []string{"Range", "bytes=99999999-", "If-Range", `"0123"`}, whole, "If-Match"},
		{"start after end", []string{"Range", "bytes=5-2"}, whole, ""},
		{"empty range", []string{"Range", "bytes=-"}, whole, ""},
		{"space in range", []string{"Range", "bytes= 0-1", "If-Range", etag}, either, ""},
		{"two ranges", []string{"Range", "bytes=0-1,4-5", "If-Range", etag}, whole, ""},
	} {
		for i, method := range []string{"GET", "HEAD"} {
			what := method + " " + tt.name
			header := tt.header
			if cacheValid != "" && !slices.Contains(header, "If-None-Match") {
				// A cache key of its own for each request, as an attacker
				// would make them: every answer comes from the store.
				header = append(slices.Clip(header), "If-None-Match", fmt.Sprintf(`"%s-%d"`, tt.name, i))
			}
			resp, body := d.get(t, d.alice, method, url, header...)
			got := rec.take()
			sent := rec.sentBytes()

			status, content := resp.StatusCode, big
			switch {
			case tt.want == two || tt.want == either && status == 206:
				status, content = 206, big[:2]
			case tt.want == past:
				status, content = 416, nil
			case tt.want == notModified:
				status, content = 304, nil
			default:
				status = 200
			}
			if method == "HEAD" {
				content = nil
			}
			if resp.StatusCode != status || (status != 416 && !bytes.Equal(body, content)) {
				t.Errorf("%s: %d with %d bytes, want %d with %d", what, resp.StatusCode, len(body), status, len(content))
			}
			if status == 416 && (bytes.Contains(body, []byte("<Error>")) || resp.Header.Get("Cache-Control") != "no-store") {
				t.Errorf("%s: 416 with Cache-Control %q and %q", what, resp.Header.Get("Cache-Control"), body)
			}
			if status != 416 {
				checkHeaders(t, what, resp)
			}
			// The store's error bodies are a few hundred bytes; a range of
			// the object it sends in full would be megabytes.
			if sent > int64(len(body))+4096 {
				t.Errorf("%s: the store sent %d bytes, the client got %d", what, sent, len(body))
			}
			if len(got) == 0 {
				t.Fatalf("%s: the store was asked nothing", what)
			}
			if h := got[0].Header; tt.sent != "" && (h.Get(tt.sent) != tt.header[3] || h.Get("Range") != tt.header[1]) {
				t.Errorf("%s: the store was asked with %v, want Range and %s", what, h, tt.sent)
			}
		}
	}
}

// sentBytes returns how many body bytes the store sent since the last
// call. It waits for the answers still being sent: the client can have
// the last bytes before the store's last write has returned.
func (r *storeRecorder) sentBytes() int64 {
	r.serving.Wait()
	return r.sent.Swap(0)
}

// countingWriter counts the body bytes written through it into n.
type countingWriter struct {
	http.ResponseWriter
	r *storeRecorder
}

func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.r.sent.Add(int64(n))
	return n, err
}

// A store's refusal, cached by an operator's proxy_cache_valid for every
// status, is never served: the object put back, or the store's key set
// right again, is the file on the next request, not a 502 until the
// cached refusal expires.
func TestS3CachedRefusalsDoNotLast(t *testing.T) {
	d := newDemo(t, testenv.Options{Storage: "s3"})
	withProxyCache(t, d, "any 10m")
	expect := func(what string, want int) {
		t.Helper()
		for _, method := range []string{"GET", "HEAD"} {
			resp, body := d.get(t, d.alice, method, d.aliceURL)
			if resp.StatusCode != want || method == "GET" && want == 200 && !bytes.Equal(body, d.aliceBytes) {
				t.Errorf("%s: %s: %d %.40q, want %d", what, method, resp.StatusCode, body, want)
			}
		}
	}

	d.setObject(t, d.aliceURL, nil)
	expect("object missing", 502)
	expect("object still missing", 502)
	d.setObject(t, d.aliceURL, d.aliceBytes)
	expect("object back", 200)

	// A URL the store refuses (as after a clock step), then the right key
	// again, a second later so that the URLs differ.
	d.Authz.Stop()
	d.Authz.Restart(t, "FILEGATE_S3_SECRET_KEY=not-the-store-s-key")
	time.Sleep(1100 * time.Millisecond)
	d.get(t, d.alice, "GET", d.aliceURL, "If-None-Match", `"refused"`)
	d.Authz.Stop()
	d.Authz.Restart(t, "FILEGATE_S3_SECRET_KEY="+d.S3.SecretKey)
	resp, body := d.get(t, d.alice, "GET", d.aliceURL, "If-None-Match", `"refused"`)
	if resp.StatusCode != 200 || !bytes.Equal(body, d.aliceBytes) {
		t.Errorf("signed right again: %d %.40q, want the file", resp.StatusCode, body)
	}
}

// Whatever a store answers but the file, the client gets nginx's status,
// never the store's body or headers: every status from 300 to 599 is a
// 502 (a 416 is nginx's own 416), and a 412 is asked again for the whole
// file. (499 alone cannot be named by error_page and passes; no store
// sends it.) And of the store's headers on a 200 only the file's own pass:
// not those MinIO, RGW and S3 add.
func TestS3StoreAnswersStayWithTheStore(t *testing.T) {
	const secret = "<Error><Key>1/2/a.txt</Key><BucketName>bucket</BucketName><RequestId>r1</RequestId></Error>"
	extra := []string{"X-Amz-Request-Id", "X-Amz-Id-2", "X-Amz-Bucket-Region", "X-Amz-Version-Id", "X-Amz-Server-Side-Encryption",
		"X-Amz-Request-Charged", "X-Minio-Deployment-Id", "X-Rgw-Object-Type", "Strict-Transport-Security", "X-Xss-Protection",
		"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "Vary", "Content-Language",
		"Content-Encoding", "Cache-Control", "Expires", "Set-Cookie", "X-Ratelimit-Limit", "X-Ratelimit-Remaining",
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers",
		"Content-Type", "Content-Disposition"}
	var status int // the store's answer to the next request; 0: the file
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range extra {
			w.Header().Set(h, "from the store")
		}
		if status == 0 || status == 412 && r.Header.Get("If-Match") == "" {
			w.Header().Set("Accept-Ranges", "bytes")
			w.Header().Set("ETag", `"1"`)
			w.Write([]byte("the file"))
			return
		}
		w.Header().Set("Location", "http://evil.example/")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		w.Write([]byte(secret))
	}))
	t.Cleanup(store.Close)
	base := nginxBefore(t, store, func(*http.Request) string {
		return store.URL + "/bucket/1/2/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00ff"
	})

	resp, body := do(t, mustRequest(t, "GET", base+"/files/1/a.txt"))
	if resp.StatusCode != 200 || string(body) != "the file" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("the file: %d %q, Content-Type %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	checkHeaders(t, "the file", resp)

	for status = 300; status < 600; status++ {
		if status == 304 || status == 499 {
			continue
		}
		req := mustRequest(t, "GET", base+"/files/1/a.txt")
		req.Header.Set("Range", "bytes=0-1")
		req.Header.Set("If-Range", `"1"`)
		if status == 408 || status == 444 {
			// nginx ends the request with these two codes by closing
			// the connection, whatever error_page says.
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("store's %d: %d, want the connection closed", status, resp.StatusCode)
			}
			continue
		}
		resp, body := do(t, req)
		want := 502
		switch status {
		case 412:
			want = 200
		case 416:
			want = 416
		}
		if resp.StatusCode != want || bytes.Contains(body, []byte("<Key>")) || want != 200 && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("store's %d: %d %.60q, Cache-Control %q; want %d", status, resp.StatusCode, body, resp.Header.Get("Cache-Control"), want)
		}
		for name, values := range resp.Header {
			if slices.Contains(values, "from the store") {
				t.Errorf("store's %d: %s %q reached the client", status, name, values)
			}
		}
		if want == 200 {
			checkHeaders(t, fmt.Sprintf("store's %d", status), resp)
		}
		if resp.Header.Get("Location") != "" {
			t.Errorf("store's %d: Location %q reached the client", status, resp.Header.Get("Location"))
		}
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// nginxBefore starts nginx with filegate.conf in front of store and a
// stand-in for authz that allows every download and answers the URL
// answer gives for authz's request ("": the filesystem's path, which
// misses). It returns nginx's base URL.
func nginxBefore(t *testing.T, store *httptest.Server, answer func(*http.Request) string) string {
	t.Helper()
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Filegate-URL", answer(r))
		w.Header().Set("X-Filegate-Path", "1/a.txt")
		w.Header().Set("X-Filegate-Type", "text/plain")
	}))
	t.Cleanup(authz.Close)
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx's error log:\n%s", b)
		}
	})
	testenv.RenderHTTPConf(t, dir, strings.TrimPrefix(authz.URL, "http://"), testenv.FreeAddr(t), filepath.Join(dir, "private"))
	testenv.RenderS3Upstream(t, dir, strings.TrimPrefix(store.URL, "http://"))
	addr := testenv.FreeAddr(t)
	return runNginx(t, dir, addr, fmt.Sprintf("pid nginx.pid;\nerror_log error.log;\nevents {}\nhttp {\n    access_log off;\n"+
		"    include filegate-http.conf;\n    server {\n        listen %s;\n        include %s/filegate.conf;\n    }\n}\n",
		addr, filepath.Join(testenv.RepoRoot(), "nginx")))
}
