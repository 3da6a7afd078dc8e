package web_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

func TestUploadJSONMixed(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	r := a.upload(&alice, true,
		part{"file", "pixel.png", pngData},
		part{"file", "invoice.pdf", htmlData}, // HTML wearing a .pdf name
	)
	wantStatus(t, r, http.StatusCreated)
	var got []map[string]any
	r.decode(t, &got)
	if len(got) != 2 {
		t.Fatalf("got %d results, want 2: %s", len(got), r.body)
	}
	ok, bad := got[0], got[1]
	if keys := sortedKeys(ok); !slices.Equal(keys, []string{"content_type", "id", "name", "size", "stored_name", "url"}) {
		t.Errorf("stored entry has keys %v", keys)
	}
	if ok["name"] != "pixel.png" || ok["stored_name"] != "pixel.png" || ok["content_type"] != "image/png" || ok["size"] != float64(len(pngData)) {
		t.Errorf("stored entry = %v", ok)
	}
	if keys := sortedKeys(bad); !slices.Equal(keys, []string{"error", "name"}) {
		t.Errorf("failed entry has keys %v, want exactly error and name", keys)
	}
	if bad["name"] != "invoice.pdf" || bad["error"] != `"invoice.pdf" is a web page (HTML), not a PDF.` {
		t.Errorf("failed entry = %v", bad)
	}

	files, err := a.db.OwnerFiles(context.Background(), alice.ID, filegate.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || a.fileCount() != 1 {
		t.Fatalf("database has %d files, want exactly the PNG", a.fileCount())
	}
	f := files[0]
	if ok["url"] != f.URL() || ok["id"] != float64(f.ID) || !a.onDisk(f.File) {
		t.Errorf("stored entry %v does not match row %+v (on disk: %t)", ok, f.File, a.onDisk(f.File))
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestUploadStatuses(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	tooLarge := append(append([]byte{}, pdfData...), bytes.Repeat([]byte("x"), testMaxUpload)...)
	tests := []struct {
		name   string
		as     *filegate.User
		parts  []part
		status int
	}{
		{"no file part", &alice, []part{{field: "comment", data: []byte("hello")}}, http.StatusBadRequest},
		{"no parts at all", &alice, nil, http.StatusBadRequest},
		{"file field without a file", &alice, []part{{"file", "", nil}}, http.StatusBadRequest},
		{"empty file", &alice, []part{{"file", "empty.pdf", nil}}, http.StatusBadRequest},
		{"too large", &alice, []part{{"file", "big.pdf", tooLarge}}, http.StatusRequestEntityTooLarge},
		{"HTML", &alice, []part{{"file", "page.html", htmlData}}, http.StatusUnsupportedMediaType},
		{"HTML named pdf", &alice, []part{{"file", "report.pdf", htmlData}}, http.StatusUnsupportedMediaType},
		{"first failure decides", &alice, []part{{"file", "a.html", htmlData}, {"file", "e.pdf", nil}}, http.StatusUnsupportedMediaType},
		{"no session", nil, []part{{"file", "pixel.png", pngData}}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.upload(tt.as, true, tt.parts...)
			wantStatus(t, r, tt.status)
			t.Logf("error: %s", r.errorSentence(t))
		})
	}

	t.Run("not multipart", func(t *testing.T) {
		r := a.do(request{method: "POST", target: "/upload", as: &alice, json: true,
			body: strings.NewReader("file=x"), contentType: "application/x-www-form-urlencoded"})
		wantStatus(t, r, http.StatusBadRequest)
		r.errorSentence(t)
	})
	t.Run("malformed multipart", func(t *testing.T) {
		body := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.pdf\"\r\n\r\n%PDF-1.4 cut off"
		r := a.do(request{method: "POST", target: "/upload", as: &alice, json: true,
			body: strings.NewReader(body), contentType: "multipart/form-data; boundary=b"})
		wantStatus(t, r, http.StatusBadRequest)
		r.errorSentence(t)
	})
	if n := a.fileCount(); n != 0 {
		t.Errorf("failed uploads left %d rows", n)
	}
}

func TestUploadForm(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)

	r := a.upload(&alice, false, part{"file", "a.pdf", pdfData}, part{"file", "b.png", pngData})
	wantRedirect(t, r, "/?msg=uploaded&n=2")
	home := a.do(request{method: "GET", target: r.Header.Get("Location"), as: &alice})
	for _, want := range []string{"2 files uploaded.", ">a.pdf</a>", ">b.png</a>"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("page after upload lacks %q", want)
		}
	}

	// Not everything stored: the upload page again, with each file's
	// outcome, and the honest status.
	// A name already taken is stored under another, and the page says
	// which.
	r = a.upload(&alice, false, part{"file", "c.pdf", pdfData}, part{"file", "a.pdf", pdfData}, part{"file", "d.pdf", htmlData})
	wantStatus(t, r, http.StatusCreated)
	for _, want := range []string{
		"Some files were not uploaded",
		`<span class="name">c.pdf</span>`, `Uploaded. <a href="/files/` + strconv.FormatInt(alice.ID, 10) + `/c.pdf">Download<span class="visually-hidden"> c.pdf</span></a>`,
		`<span class="name">a.pdf</span>`, `Uploaded as a-2.pdf. <a href="/files/` + strconv.FormatInt(alice.ID, 10) + `/a-2.pdf">`,
		`<span class="name">d.pdf</span>`, "is a web page (HTML), not a PDF.",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("mixed result page lacks %q:\n%s", want, r.body)
		}
	}
	// Nothing stored: the form again, and the file's sentence once, in
	// its line, under a heading that has the focus.
	r = a.upload(&alice, false, part{"file", "e.pdf", htmlData})
	wantStatus(t, r, http.StatusUnsupportedMediaType)
	if !strings.Contains(r.body, "e.pdf") || !strings.Contains(r.body, `<input id="file" name="file" type="file" multiple`) ||
		!strings.Contains(r.body, `<h2 id="results-heading" tabindex="-1" autofocus>Nothing was uploaded</h2>`) {
		t.Errorf("refused upload does not show the form and the reason: %s", r.body)
	}
	if n := strings.Count(r.body, "is a web page (HTML)"); n != 1 {
		t.Errorf("refused upload says why %d times, want once: %s", n, r.body)
	}
	// No file at all: the request's own sentence.
	r = a.upload(&alice, false)
	wantStatus(t, r, http.StatusBadRequest)
	if !strings.Contains(r.body, `<p class="error" role="alert">Choose at least one file to upload.</p>`) {
		t.Errorf("upload without a file: %s", r.body)
	}
	if n := a.fileCount(); n != 4 {
		t.Errorf("%d rows, want 4", n)
	}
}

func TestUploadPage(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	r := a.do(request{method: "GET", target: "/upload", as: &alice})
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		`<form id="upload-form" class="card upload" method="post" action="/upload" enctype="multipart/form-data"
      data-max-upload="65536" data-max-upload-text="64 KiB">`,
		`<label for="file">`,
		`<input id="file" name="file" type="file" multiple`,
		`<script src="/static/upload.js" defer></script>`,
		"PDF, PNG, JPEG, GIF, WebP, plain text, up to 64 KiB each.",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("upload page lacks %q", want)
		}
	}
}

func TestPagesAnswerJSON(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	r := a.do(request{method: "GET", target: "/upload", as: &alice, json: true})
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, `"max_upload":`) || !strings.Contains(r.body, `"application/pdf"`) {
		t.Errorf("GET /upload as JSON: %s", r.body)
	}
	r = a.do(request{method: "GET", target: "/login", as: &alice, json: true})
	if strings.TrimSpace(r.body) != `{"logged_in":true,"user":"alice"}` {
		t.Errorf("GET /login as JSON, logged in: %s", r.body)
	}
	r = a.do(request{method: "GET", target: "/login", json: true})
	if strings.TrimSpace(r.body) != `{"logged_in":false}` {
		t.Errorf("GET /login as JSON, anonymous: %s", r.body)
	}
}
