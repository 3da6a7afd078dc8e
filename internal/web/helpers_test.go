package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
	"github.com/filegate/filegate/internal/link"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/storage/fs"
	"github.com/filegate/filegate/internal/testenv"
	"github.com/filegate/filegate/internal/web"
)

const (
	testPassword  = "password123"
	testMaxUpload = 64 << 10
	testPageSize  = 3
)

var (
	pdfData  = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	htmlData = []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")
	pngData  = func() []byte {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for x := range 16 {
			for y := range 16 {
				img.Set(x, y, color.RGBA{R: uint8(x * 16), G: 90, B: uint8(y * 16), A: 255})
			}
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		return b.Bytes()
	}()
)

// testApp is the web handler on a fresh database and private root, with
// the real store, ingester and session codec, and a clock that stands
// still unless a test moves it.
type testApp struct {
	t        *testing.T
	db       *postgres.DB
	in       *ingest.Ingester
	sessions *session.Codec
	clock    *testenv.Clock
	uses     *account.Recorder
	links    *link.Service
	audit    *auditLog              // the audit lines of the app, its links and its admin page
	metrics  func() testenv.Metrics // a scrape of the app's metrics
	root     string
	h        http.Handler
}

// sessionTTL is the apps' FILEGATE_SESSION_TTL: the default.
const sessionTTL = 14 * 24 * time.Hour

// linkMaxTTL is the apps' FILEGATE_LINK_MAX_TTL: the default.
const linkMaxTTL = 2160 * time.Hour

func newApp(t *testing.T) *testApp {
	t.Helper()
	db := testenv.OpenDB(t)
	return newAppWithStore(t, db)
}

func newAppWithStore(t *testing.T, db *postgres.DB) *testApp {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	clk := testenv.NewClock()
	sessions, err := session.New(session.GenerateKeys(), false, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	types := []string{"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"}
	disk, err := fs.Open(root, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	in, err := ingest.New(disk, db, testMaxUpload, types, testenv.LargeQuota, log)
	if err != nil {
		t.Fatal(err)
	}
	uses := account.NewRecorder(db, clk.Now)
	links, auditLog := link.New(db, sessions, linkMaxTTL), &auditLog{}
	links.Audit, links.Now = audit.New(auditLog), clk.Now
	admin := account.NewAdmin(db, in)
	admin.Audit = links.Audit
	srv := &web.Server{Store: db, Files: in, Sessions: sessions, Links: links, Admin: admin, Log: log, Audit: links.Audit,
		PageSize: testPageSize, SessionTTL: sessionTTL, Uses: uses, Now: clk.Now, Quota: testenv.LargeQuota}
	srv.Throttle, srv.TrustedProxies = newThrottle(t, log), loopback
	reg := metrics.NewRegistry()
	srv.Metrics = metrics.NewUploader(reg)
	links.Metrics = srv.Metrics
	return &testApp{t: t, db: db, in: in, sessions: sessions, clock: clk, uses: uses, links: links, audit: auditLog,
		metrics: func() testenv.Metrics { return testenv.Gather(t, reg) }, root: root, h: srv.Handler()}
}

// addUser creates a user whose password is testPassword.
func (a *testApp) addUser(name string, public, staff bool) filegate.User {
	a.t.Helper()
	return testenv.AddUser(a.t, a.db, testenv.User{Name: name, Password: testPassword, Public: public, Staff: staff})
}

// put stores a file for owner through the ingester.
func (a *testApp) put(owner filegate.User, name string, data []byte) filegate.File {
	a.t.Helper()
	f, err := a.in.Put(context.Background(), owner.ID, name, bytes.NewReader(data))
	if err != nil {
		a.t.Fatal(err)
	}
	return f
}

// fileCount is the number of rows in files.
func (a *testApp) fileCount() int {
	a.t.Helper()
	files, err := a.db.AllFiles(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	return len(files)
}

// cookie starts a session of u, as a login does, and returns its cookie.
// When the store cannot start one (no such user, or no database) it
// returns a validly signed cookie naming a session that does not exist.
func (a *testApp) cookie(u filegate.User) *http.Cookie {
	a.t.Helper()
	claims, err := account.StartSession(context.Background(), a.db, u, "test", a.clock.Now(), sessionTTL)
	if code := filegate.ErrorCode(err); code == filegate.EUNAUTHORIZED || code == filegate.EUNAVAILABLE {
		claims = session.Claims{UserID: u.ID, Token: session.NewToken(), Expires: a.clock.Now().Add(time.Hour)}
	} else if err != nil {
		a.t.Fatal(err)
	}
	return a.encode(claims)
}

func (a *testApp) encode(claims session.Claims) *http.Cookie {
	a.t.Helper()
	v, err := a.sessions.Encode(claims)
	if err != nil {
		a.t.Fatal(err)
	}
	return &http.Cookie{Name: session.CookieName, Value: v}
}

// request describes one request to the handler.
type request struct {
	method, target string
	as             *filegate.User // logged in as, with a new session; nil: no cookie
	cookie         *http.Cookie   // sent as is, instead of as
	json           bool           // Accept: application/json
	form           url.Values     // url-encoded body
	body           io.Reader      // raw body, with contentType
	contentType    string
	header         map[string]string
	peer           string // the TCP peer, host:port; default httptest's 192.0.2.1:1234
}

// response is a recorded answer with its body read.
type response struct {
	*http.Response
	body string
}

func (a *testApp) do(rq request) response {
	a.t.Helper()
	body := rq.body
	if rq.form != nil {
		body = strings.NewReader(rq.form.Encode())
		rq.contentType = "application/x-www-form-urlencoded"
	}
	r := httptest.NewRequest(rq.method, rq.target, body)
	if rq.contentType != "" {
		r.Header.Set("Content-Type", rq.contentType)
	}
	if rq.json {
		r.Header.Set("Accept", "application/json")
	} else {
		r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	if rq.peer != "" {
		r.RemoteAddr = rq.peer
	}
	if rq.cookie != nil {
		r.AddCookie(rq.cookie)
	} else if rq.as != nil {
		r.AddCookie(a.cookie(*rq.as))
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r // Result leaves it nil; failure messages name it
	b, _ := io.ReadAll(res.Body)
	return response{Response: res, body: string(b)}
}

// decode unmarshals the JSON body into v, failing the test if it is not
// JSON.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json; body: %s", ct, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorSentence returns the "error" of a JSON error answer, failing the
// test if the body has any other shape.
func (r response) errorSentence(t *testing.T) string {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	s, ok := m["error"].(string)
	if len(m) != 1 || !ok || s == "" {
		t.Fatalf("body %s: want exactly {\"error\": sentence}", r.body)
	}
	return s
}

func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %.600s", r.Request.Method, r.Request.URL, r.StatusCode, want, r.body)
	}
}

func wantRedirect(t *testing.T, r response, want string) {
	t.Helper()
	wantStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != want {
		t.Fatalf("%s %s: Location %q, want %q", r.Request.Method, r.Request.URL, got, want)
	}
}

// part is one part of a multipart body; without a name it is a plain
// field.
type part struct {
	field, name string
	data        []byte
}

func multipartBody(t *testing.T, parts ...part) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		if p.name == "" {
			w.WriteField(p.field, string(p.data))
			continue
		}
		fw, err := w.CreateFormFile(p.field, p.name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(p.data)
	}
	w.Close()
	return &b, w.FormDataContentType()
}

// upload posts parts to /upload.
func (a *testApp) upload(as *filegate.User, json bool, parts ...part) response {
	a.t.Helper()
	body, ct := multipartBody(a.t, parts...)
	return a.do(request{method: "POST", target: "/upload", as: as, json: json, body: body, contentType: ct})
}

// onDisk reports whether f's bytes exist in the private root.
func (a *testApp) onDisk(f filegate.File) bool {
	_, err := os.Stat(filepath.Join(a.root, f.Path()))
	return err == nil
}
