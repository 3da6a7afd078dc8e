package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
	"github.com/filegate/filegate/internal/web"
)

// failingFiles is an ingester that reads each upload to the end and then
// fails with err, as the real one does on a full disk or a broken store.
type failingFiles struct{ err error }

func (f failingFiles) Put(_ context.Context, _ int64, _ string, r io.Reader) (filegate.File, error) {
	io.Copy(io.Discard, r)
	return filegate.File{}, f.err
}

func (f failingFiles) Delete(context.Context, int64) (filegate.File, error) {
	return filegate.File{}, f.err
}

func (f failingFiles) Limits() ingest.Limits { return ingest.Limits{MaxSize: testMaxUpload} }

// Each error code reaches the client as its status
// (docs/interface.md#errors); an internal error is logged in full and
// shown only as "Internal error.".
func TestErrorsFromIngester(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	f := a.put(alice, "a.pdf", pdfData)
	const secret = "/var/lib/filegate/private/7/.upload-1f2e"
	tests := []struct {
		err    error
		status int
		msg    string
	}{
		{fmt.Errorf("ingest: put: write: %w", filegate.Wrap(filegate.ENOSPACE, "There is no space left to store this file.", errors.New("write "+secret+": no space left on device"))),
			http.StatusInsufficientStorage, "There is no space left to store this file."},
		{fmt.Errorf("postgres: begin: %w", filegate.Errorf(filegate.EUNAVAILABLE, "The database is unavailable; try again shortly.")),
			http.StatusServiceUnavailable, "The database is unavailable; try again shortly."},
		{fmt.Errorf("ingest: put: link: %w", errors.New("link "+secret+": input/output error")),
			http.StatusInternalServerError, "Internal error."},
	}
	for _, tt := range tests {
		var logs bytes.Buffer
		srv := &web.Server{Store: a.db, Files: failingFiles{tt.err}, Sessions: a.sessions,
			Log: slog.New(slog.NewTextHandler(&logs, nil))}
		b := *a
		b.h = srv.Handler()
		for _, json := range []bool{true, false} {
			body, ct := multipartBody(t, part{"file", "a.pdf", pdfData})
			for _, r := range []response{
				b.do(request{method: "POST", target: "/upload", as: &alice, json: json, body: body, contentType: ct}),
				b.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &alice, json: json}),
			} {
				wantStatus(t, r, tt.status)
				if json {
					if got := r.errorSentence(t); got != tt.msg {
						t.Errorf("%s: error %q, want %q", r.Request.URL, got, tt.msg)
					}
				} else if !strings.Contains(r.body, tt.msg) {
					t.Errorf("%s: page lacks %q", r.Request.URL, tt.msg)
				}
				if strings.Contains(r.body, secret) {
					t.Errorf("%s: answer shows internal details: %s", r.Request.URL, r.body)
				}
			}
		}
		if tt.status != http.StatusServiceUnavailable && !strings.Contains(logs.String(), secret) {
			t.Errorf("%d: the cause is not logged: %q", tt.status, logs.String())
		}
	}
}

// Names come from users; every page escapes them.
func TestNamesAreEscaped(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", true, false)
	const evil = `"><img src=x onerror=alert(1)>`
	a.put(alice, evil+".pdf", pdfData)
	for _, r := range []response{
		a.do(request{method: "GET", target: "/", as: &alice}),
		a.do(request{method: "GET", target: "/u/alice", as: &alice}),
		a.do(request{method: "GET", target: "/api/files", as: &alice}),
		a.upload(&alice, false, part{"file", evil + ".html", htmlData}), // refused: the name is in the message
		a.upload(&alice, true, part{"file", evil + ".html", htmlData}),
	} {
		if strings.Contains(r.body, "<img src=x") {
			t.Errorf("%s %s: unescaped name in %s", r.Request.Method, r.Request.URL, r.body)
		}
		if !strings.Contains(r.body, "img src=x onerror=alert(1)") {
			t.Errorf("%s %s: name missing from %s", r.Request.Method, r.Request.URL, r.body)
		}
	}
}

// failNamed is the real ingester, except that a file with the given name
// is read to the end and then refused with err.
type failNamed struct {
	web.Ingester
	name string
	err  error
}

func (f failNamed) Put(ctx context.Context, ownerID int64, name string, r io.Reader) (filegate.File, error) {
	if name != f.name {
		return f.Ingester.Put(ctx, ownerID, name, r)
	}
	io.Copy(io.Discard, r)
	return filegate.File{}, f.err
}

// Each refused file's internal error is logged exactly once, whether it
// becomes the answer's error (nothing stored) or is one line of it.
func TestUploadRefusalsLoggedOnce(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	const cause = "link /var/lib/filegate/private/7/.upload-9c1d: input/output error"
	var logs bytes.Buffer
	srv := &web.Server{Store: a.db, Sessions: a.sessions, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Files: failNamed{Ingester: a.in, name: "bad.pdf", err: fmt.Errorf("ingest: put: %w", errors.New(cause))}}
	b := *a
	b.h = srv.Handler()
	good, bad := part{"file", "good.pdf", pdfData}, part{"file", "bad.pdf", pdfData}
	tests := []struct {
		parts  []part
		status int // the same for JSON and browsers: something is refused every time
	}{
		{[]part{bad}, http.StatusInternalServerError},
		{[]part{bad, bad}, http.StatusInternalServerError},
		{[]part{good, bad}, http.StatusCreated},
		{[]part{bad, good}, http.StatusCreated},
	}
	for _, tt := range tests {
		for _, json := range []bool{true, false} {
			logs.Reset()
			r := b.upload(&alice, json, tt.parts...)
			wantStatus(t, r, tt.status)
			refused := 0
			for _, p := range tt.parts {
				if p.name == bad.name {
					refused++
				}
			}
			if n := strings.Count(logs.String(), cause); n != refused {
				t.Errorf("%d parts, %d refused, JSON %t: cause logged %d times:\n%s", len(tt.parts), refused, json, n, logs.String())
			}
		}
	}
}
