package authz_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/storage"
	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// With files in a bucket, an allowed download, of a file or through a
// share link, is answered with a URL presigned for the client's method,
// the file's object key, a minute from authz's clock, and the type and
// disposition authz answers; never with a path. Refusals carry no URL,
// and a method authz cannot sign for is a 503, never an unsigned 200.
func TestBucketAnswer(t *testing.T) {
	f := newFixture(t)
	signer, err := s3.NewSigner(s3.Config{Endpoint: "https://s3.example.com", Bucket: "files", Region: "eu-west-1", AccessKey: "key", SecretKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Bucket = signer
	_, owner := f.login(t, f.alice, time.Hour)
	_, stranger := f.login(t, f.bob, time.Hour)
	ownerCookie := []*http.Cookie{{Name: session.CookieName, Value: owner}}
	_, link := f.addLink(t, f.aliceFile, testenv.Link{})
	key := storage.Key(f.alice.ID, f.aliceFile.ID, f.aliceFile.StoredName)
	urls := map[string]bool{}
	for _, uri := range []string{f.aliceFile.URL(), link} {
		for _, method := range []string{"GET", "HEAD"} {
			w := f.askLink(t, uri, linkAsk{method: method, cookies: ownerCookie})
			h := w.Header()
			if w.Code != 200 || h.Get(authz.HeaderPath) != "" {
				t.Fatalf("%s %s: %d, path %q; want 200 with a URL, no path", method, uri, w.Code, h.Get(authz.HeaderPath))
			}
			want := signer.Presign(method, key, f.clock.Now(), authz.URLExpiry, h.Get(authz.HeaderType), h.Get(authz.HeaderDisposition))
			if got := h.Get(authz.HeaderURL); got != want {
				t.Errorf("%s %s: URL %q, want %q", method, uri, got, want)
			}
			u, err := url.Parse(h.Get(authz.HeaderURL))
			if err != nil || u.Path != "/files/"+key || u.Query().Get("X-Amz-Expires") != "60" ||
				u.Query().Get("response-content-type") != "application/pdf" || u.Query().Get("response-content-disposition") != h.Get(authz.HeaderDisposition) {
				t.Errorf("%s %s: URL %v (%v)", method, uri, u, err)
			}
			urls[h.Get(authz.HeaderURL)] = true
		}
	}
	if len(urls) != 2 {
		t.Errorf("%d distinct URLs for GET and HEAD of one file; want 2, one per method", len(urls))
	}

	w := f.askLink(t, f.aliceFile.URL(), linkAsk{cookies: []*http.Cookie{{Name: session.CookieName, Value: stranger}}})
	if w.Code != 403 || w.Header().Get(authz.HeaderURL) != "" {
		t.Errorf("stranger: %d, URL %q; want 403 without one", w.Code, w.Header().Get(authz.HeaderURL))
	}
	buf := f.recordAudit()
	for _, method := range []string{"", "POST", "get"} {
		r := httptest.NewRequest(http.MethodGet, "/auth", nil)
		r.Header.Set(authz.HeaderURI, f.aliceFile.URL())
		if method != "" {
			r.Header.Set(authz.HeaderMethod, method)
		}
		r.AddCookie(ownerCookie[0])
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 503 || w.Header().Get(authz.HeaderURL) != "" || w.Header().Get(authz.HeaderPath) != "" {
			t.Errorf("method %q: %d, URL %q; want 503 without one", method, w.Code, w.Header().Get(authz.HeaderURL))
		}
		if lines := auditLines(t, buf); len(lines) != 1 || lines[0]["event.outcome"] != "failure" || lines[0]["event.reason"] != "unavailable" {
			t.Errorf("method %q: audit lines %v, want one failure, unavailable", method, lines)
		}
	}
}
