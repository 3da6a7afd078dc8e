package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/storage"
	"github.com/filegate/filegate/internal/testenv"
)

// storeRecorder stands between nginx and the store and keeps every
// request nginx sent it, as the store received it.
type storeRecorder struct {
	mu       sync.Mutex
	requests []*http.Request
	sent     atomic.Int64   // body bytes the store sent (see sentBytes)
	serving  sync.WaitGroup // requests still being answered
}

// interpose starts a recorder in front of d's store and points nginx's
// filegate_s3 at it (restarting nginx).
func interpose(t *testing.T, d *demo) *storeRecorder {
	t.Helper()
	rec := &storeRecorder{}
	target, _ := url.Parse(d.S3.Endpoint)
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host nginx sent
	addr := testenv.FreeAddr(t)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.serving.Add(1)
		defer rec.serving.Done()
		rec.mu.Lock()
		rec.requests = append(rec.requests, r.Clone(context.Background()))
		rec.mu.Unlock()
		proxy.ServeHTTP(countingWriter{w, rec}, r)
	})}
	go srv.ListenAndServe()
	t.Cleanup(func() { srv.Close() })
	restartNginx(t, d, func() { testenv.RenderS3Upstream(t, d.NginxDir, addr) }, "server "+strings.TrimPrefix(d.S3.Endpoint, "http://")+";", "server 127.0.0.1:7070;")
	return rec
}

// restartNginx stops nginx, undoes the rendering of filegate-http.conf's
// upstream (replacing from with to) when asked, calls change, and starts
// nginx again.
func restartNginx(t *testing.T, d *demo, change func(), from, to string) {
	t.Helper()
	d.Nginx.Stop()
	if from != "" {
		path := filepath.Join(d.NginxDir, "filegate-http.conf")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	change()
	d.Nginx.Restart(t)
}

// setObject puts data into the bucket as the object of the file at url,
// or with nil removes the object, as if the store had lost it.
func (d *demo) setObject(t *testing.T, url string, data []byte) {
	t.Helper()
	f := d.File(t, url)
	key := storage.Key(f.OwnerID, f.ID, f.StoredName)
	ctx := context.Background()
	var err error
	if data == nil {
		err = d.S3.Client.RemoveObject(ctx, d.S3.Bucket, key, minio.RemoveObjectOptions{})
	} else {
		_, err = d.S3.Client.PutObject(ctx, d.S3.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// withProxyCache restarts d's nginx with an operator's proxy_cache in its
// server {}, keeping answers of the store as valid says (the arguments of
// proxy_cache_valid).
func withProxyCache(t *testing.T, d *demo, valid string) {
	t.Helper()
	restartNginx(t, d, func() {
		path := filepath.Join(d.NginxDir, "nginx.conf")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.Replace(string(b), "    server {\n", "    proxy_cache_path "+filepath.Join(d.NginxDir, "cache")+" keys_zone=store:1m;\n    server {\n"+
			"        proxy_cache store;\n        proxy_cache_valid "+valid+";\n", 1)
		if conf == string(b) {
			t.Fatal("no server {} in nginx.conf")
		}
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
	}, "", "")
}

func (r *storeRecorder) take() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.requests
	r.requests = nil
	return got
}

// Nothing of the client's request reaches the store but the method and
// the range and conditional headers: the path and query are authz's
// presigned URL for the file's key, whatever the client's URL said, and
// no cookie, credential or other header of the client's goes along. A
// refused request never reaches it. And nothing of the store's own
// reaches the client: no x-amz-* header, no cookie.
func TestS3StoreSeesOnlySignedRequests(t *testing.T) {
	d := newDemo(t, testenv.Options{Storage: "s3"})
	rec := interpose(t, d)
	file := d.File(t, d.aliceURL)
	wantPath := "/" + d.S3.Bucket + "/" + storage.Key(file.OwnerID, file.ID, file.StoredName)
	host := strings.TrimPrefix(d.URL, "http://")
	hostile := []string{"Authorization", "AWS4-HMAC-SHA256 Credential=evil", "X-Amz-Security-Token", "evil",
		"X-Amz-Date", "20000101T000000Z", "X-Forwarded-Host", "evil.example", "X-Evil", "1",
		"If-Match", `"x"`, "If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}
	for _, tt := range []struct {
		method, path string
		extra        []string
		want         int
	}{
		{"GET", d.aliceURL, nil, 200},
		{"HEAD", d.aliceURL, nil, 200},
		{"GET", d.aliceURL + "?X-Amz-Expires=604800&response-content-type=text/html&versionId=1", nil, 200},
		{"GET", d.paths("/files/{b}/../{a}/notes.txt")[0], []string{"Range", "bytes=0-4"}, 206},
		{"GET", d.aliceURL, []string{"Range", "bytes=0-1,3-4"}, 200},
		{"GET", d.aliceURL, []string{"If-None-Match", `"nope"`, "If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"}, 200},
	} {
		resp, body := d.get(t, d.alice, tt.method, tt.path, append(hostile, tt.extra...)...)
		if resp.StatusCode != tt.want || tt.method == "GET" && tt.want == 200 && !bytes.Equal(body, d.aliceBytes) {
			t.Errorf("%s %s: %d %.40q, want %d", tt.method, tt.path, resp.StatusCode, body, tt.want)
		}
		for name := range resp.Header {
			if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") || l == "set-cookie" || l == "content-encoding" || l == "server" && resp.Header.Get(name) != "nginx" {
				t.Errorf("%s %s: the store's %s reached the client: %q", tt.method, tt.path, name, resp.Header.Values(name))
			}
		}
		got := rec.take()
		if len(got) != 1 {
			t.Fatalf("%s %s: %d requests reached the store, want 1", tt.method, tt.path, len(got))
		}
		r := got[0]
		q := r.URL.Query()
		if r.Method != tt.method || r.URL.Path != wantPath || r.Host != strings.TrimPrefix(d.S3.Endpoint, "http://") ||
			q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-Expires") != "60" || q.Get("response-content-type") != "text/plain; charset=utf-8" || q.Has("versionId") {
			t.Errorf("%s %s reached the store as %s %s (Host %s)", tt.method, tt.path, r.Method, r.URL, r.Host)
		}
		for name := range r.Header {
			switch name {
			case "Range", "If-None-Match", "If-Modified-Since":
			default:
				t.Errorf("%s %s: the store got the header %s: %q", tt.method, tt.path, name, r.Header.Values(name))
			}
		}
		if rng := r.Header.Get("Range"); rng != "" && rng != "bytes=0-4" {
			t.Errorf("%s %s: the store got Range %q; want a single range or none", tt.method, tt.path, rng)
		}
	}

	// Refusals and hostile URLs never reach the store.
	stranger := d.cookie(t, d.bob)
	for _, p := range d.paths("/files/{a}/notes.txt", "/_filegate/s3", "/_filegate/s3/", "/_filegate/s3/whole", "/_filegate/s3?"+url.QueryEscape(wantPath), "/files/{b}/%2e%2e/{a}/notes.txt") {
		if status, body := rawGet(t, host, p, stranger); status == 200 || bytes.Contains(body, d.aliceBytes) {
			t.Errorf("stranger GET %s: %d", p, status)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("%d refused requests reached the store, first %s", len(got), got[0].URL)
	}
}

// A store that refuses or fails a download authz allowed is the server's
// fault: 502, for curl and browsers alike, never the user's 401, 403 or
// 404. The store's 404 (a row without its object), its 403 (a URL it
// will not take: here a wrong secret key, as a skewed clock would make
// an expired one) and its absence each.
func TestS3StoreFailuresAre502(t *testing.T) {
	d := newDemo(t, testenv.Options{Storage: "s3"})
	expect := func(what string, want int) {
		t.Helper()
		for _, method := range []string{"GET", "HEAD"} {
			for _, accept := range []string{"*/*", "text/html"} {
				resp, body := d.get(t, d.alice, method, d.aliceURL, "Accept", accept)
				if resp.StatusCode != want || want != 200 && bytes.Contains(body, d.aliceBytes) {
					t.Errorf("%s: %s with Accept %s: %d, want %d", what, method, accept, resp.StatusCode, want)
				}
				if want == 502 && resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s: %s: Cache-Control %q, want no-store", what, method, resp.Header.Get("Cache-Control"))
				}
			}
		}
		// Someone the rules refuse is refused as ever: authz decides first.
		if resp, _ := d.get(t, d.bob, "GET", d.aliceURL); resp.StatusCode != 403 {
			t.Errorf("%s: stranger: %d, want 403", what, resp.StatusCode)
		}
	}
	expect("store up", 200)

	f := d.File(t, d.aliceURL)
	key := storage.Key(f.OwnerID, f.ID, f.StoredName)
	ctx := context.Background()
	obj, err := d.S3.Client.GetObject(ctx, d.S3.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.setObject(t, d.aliceURL, nil)
	obj.Close()
	expect("object missing", 502)
	d.setObject(t, d.aliceURL, d.aliceBytes)
	expect("object back", 200)

	d.Authz.Stop()
	d.Authz.Restart(t, "FILEGATE_S3_SECRET_KEY=not-the-store-s-key")
	expect("URL signed with another key", 502)
	d.Authz.Stop()
	d.Authz.Restart(t, "FILEGATE_S3_SECRET_KEY="+d.S3.SecretKey)
	expect("signed right again", 200)

	d.S3.Service.Stop()
	expect("store down", 502)
}

// An operator's proxy_cache in front of the store (http {} or server {},
// inherited by the include's location) keeps every guarantee: Range,
// If-Range, HEAD and 304 answer as without it, authz still decides every
// request, and a file deleted and uploaded again under the same name is
// never served from the cache, because its object key is new.
func TestS3BehindProxyCache(t *testing.T) {
	d := newDemo(t, testenv.Options{Storage: "s3"})
	withProxyCache(t, d, "200 206 304 10m")

	check := func(when string) {
		t.Helper()
		resp, body := d.get(t, d.alice, "GET", d.aliceURL)
		if ct := resp.Header.Values("Content-Type"); resp.StatusCode != 200 || !bytes.Equal(body, d.aliceBytes) || len(ct) != 1 || ct[0] != "text/plain; charset=utf-8" {
			t.Errorf("%s: GET: %d %q %q", when, resp.StatusCode, body, ct)
		}
		etag := resp.Header.Get("ETag")
		if resp, _ := d.get(t, d.alice, "HEAD", d.aliceURL); resp.StatusCode != 200 || resp.ContentLength != int64(len(d.aliceBytes)) {
			t.Errorf("%s: HEAD: %d, Content-Length %d", when, resp.StatusCode, resp.ContentLength)
		}
		if resp, body := d.get(t, d.alice, "GET", d.aliceURL, "Range", "bytes=2-6"); resp.StatusCode != 206 || !bytes.Equal(body, d.aliceBytes[2:7]) {
			t.Errorf("%s: range: %d %q", when, resp.StatusCode, body)
		}
		if resp, body := d.get(t, d.alice, "GET", d.aliceURL, "Range", "bytes=2-6", "If-Range", etag); resp.StatusCode != 206 || !bytes.Equal(body, d.aliceBytes[2:7]) {
			t.Errorf("%s: if-range, same: %d %q", when, resp.StatusCode, body)
		}
		if resp, body := d.get(t, d.alice, "GET", d.aliceURL, "Range", "bytes=2-6", "If-Range", `"old"`); resp.StatusCode != 200 || !bytes.Equal(body, d.aliceBytes) {
			t.Errorf("%s: if-range, another: %d %q", when, resp.StatusCode, body)
		}
		if resp, body := d.get(t, d.alice, "GET", d.aliceURL, "If-None-Match", etag); resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("%s: if-none-match: %d", when, resp.StatusCode)
		}
		if resp, _ := d.get(t, d.bob, "GET", d.aliceURL); resp.StatusCode != 403 {
			t.Errorf("%s: stranger: %d, want 403", when, resp.StatusCode)
		}
	}
	check("first")
	// Every answer above is in the cache now: with the store gone they
	// come from it, still behind authz. A second later every URL authz
	// signs is another (X-Amz-Date), so only a key without the signature
	// finds them.
	time.Sleep(1100 * time.Millisecond)
	d.S3.Service.Stop()
	check("from the cache")
	d.S3.Service.Restart(t)

	// Deleted and uploaded again under the same name: the same URL, new
	// bytes under a new key, which no cached answer can stand for.
	id := d.fileID(t, d.alice, d.aliceURL)
	if resp, body := d.get(t, d.alice, "POST", fmt.Sprintf("/delete/%d", id), "Accept", "application/json"); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if resp, _ := d.get(t, d.alice, "GET", d.aliceURL); resp.StatusCode != 404 {
		t.Errorf("deleted file: %d, want 404", resp.StatusCode)
	}
	d.aliceBytes = []byte("alice's new notes, longer than the old ones\n")
	if u := d.Put(t, "alice", "notes.txt", d.aliceBytes); u != d.aliceURL {
		t.Fatalf("uploaded again at %s, want %s", u, d.aliceURL)
	}
	check("replaced")
}

// nginx takes only a well-formed URL from authz, and only to the store it
// was configured with: with a broken or hostile X-Filegate-URL (a broken
// or compromised authz) a download is a 502 that reaches nothing, and a
// foreign host in the URL is only ever sent as Host to filegate_s3, never
// connected to: nginx is no open proxy.
func TestS3URLAnswersTakenApart(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
		w.Write([]byte("the store's bytes"))
	}))
	t.Cleanup(store.Close)
	storeHost := strings.TrimPrefix(store.URL, "http://")
	const query = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00ff"
	answers := []string{
		"http://" + storeHost + "/bucket/1/2/a.txt" + query, // well formed
		"http://evil.example:8443/bucket/1/2/a.txt" + query, // well formed, another host
		"ftp://" + storeHost + "/bucket/1/2/a.txt" + query,
		"http://" + storeHost + query,
		"http://" + storeHost + "/bucket/1/2/a.txt",
		"http://" + storeHost + "/bucket/1/2/a.txt?",
		"/bucket/1/2/a.txt" + query,
		"http://" + storeHost + "/bucket/1/2/a b.txt" + query,
		"http:///bucket/1/2/a.txt" + query,
		"",
	}
	// authz's stand-in answers the URL the cookie probe=<i> picks.
	base := nginxBefore(t, store, func(r *http.Request) string {
		c, _ := r.Cookie("probe")
		i, _ := strconv.Atoi(c.Value)
		return answers[i]
	})
	for i, answer := range answers {
		req, _ := http.NewRequest("GET", base+"/files/1/a.txt", nil)
		req.AddCookie(&http.Cookie{Name: "probe", Value: strconv.Itoa(i)})
		resp, body := do(t, req)
		mu.Lock()
		reached := got
		got = nil
		mu.Unlock()
		switch i {
		case 0, 1:
			host := storeHost
			if i == 1 {
				host = "evil.example:8443"
			}
			if resp.StatusCode != 200 || string(body) != "the store's bytes" || len(reached) != 1 ||
				reached[0].RequestURI != "/bucket/1/2/a.txt"+query || reached[0].Host != host {
				t.Errorf("%q: %d %q, store got %d requests %v", answer, resp.StatusCode, body, len(reached), reached)
			}
		case len(answers) - 1:
			// No URL: the private root, where nothing is.
			if resp.StatusCode != 404 || len(reached) != 0 {
				t.Errorf("no URL: %d, store got %d requests; want the private root's 404", resp.StatusCode, len(reached))
			}
		default:
			if resp.StatusCode != 502 || len(reached) != 0 {
				t.Errorf("%q: %d %q, store got %d requests; want 502 and none", answer, resp.StatusCode, body, len(reached))
			}
		}
	}
}
