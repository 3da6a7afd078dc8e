package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
)

// listNames returns the names of a JSON file list.
func listNames(t *testing.T, r response) []string {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var files []struct{ Name string }
	r.decode(t, &files)
	names := []string{}
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

func TestListVisibility(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", true, false)
	carol := a.addUser("carol", false, false)
	staff := a.addUser("staff", false, true)
	a.put(alice, "alice.pdf", pdfData)
	a.put(bob, "bob.pdf", pdfData)
	a.put(carol, "carol.pdf", pdfData)

	tests := []struct {
		as     filegate.User
		target string
		status int
		names  []string // newest first
	}{
		{alice, "/", 200, []string{"bob.pdf", "alice.pdf"}},
		{carol, "/", 200, []string{"carol.pdf", "bob.pdf"}},
		{staff, "/", 200, []string{"bob.pdf"}},
		{alice, "/u/alice", 200, []string{"alice.pdf"}},
		{alice, "/u/bob", 200, []string{"bob.pdf"}},
		{alice, "/u/carol", 404, nil},
		{alice, "/u/nobody", 404, nil},
		{staff, "/u/carol", 200, []string{"carol.pdf"}},
		{alice, "/api/files", 200, []string{"bob.pdf", "alice.pdf"}},
		{alice, "/api/files?user=bob", 200, []string{"bob.pdf"}},
		{alice, "/api/files?user=carol", 404, nil},
		{staff, "/api/files?user=carol", 200, []string{"carol.pdf"}},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %s", tt.as.Slug, tt.target)
		r := a.do(request{method: "GET", target: tt.target, as: &tt.as, json: true})
		if tt.status != 200 {
			wantStatus(t, r, tt.status)
			r.errorSentence(t)
			html := a.do(request{method: "GET", target: tt.target, as: &tt.as})
			if !strings.HasPrefix(tt.target, "/api/") {
				wantStatus(t, html, tt.status)
			}
			continue
		}
		if got := listNames(t, r); !slices.Equal(got, tt.names) {
			t.Errorf("%s: %v, want %v", name, got, tt.names)
		}
		html := a.do(request{method: "GET", target: tt.target, as: &tt.as})
		if strings.HasPrefix(tt.target, "/api/") {
			continue
		}
		wantStatus(t, html, http.StatusOK)
		for _, n := range tt.names {
			if !strings.Contains(html.body, ">"+n+"</a>") {
				t.Errorf("%s: HTML lacks %s", name, n)
			}
		}
	}
}

func TestListPage(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", true, false)
	mine := a.put(alice, "mine.pdf", pdfData)
	theirs := a.put(bob, "theirs.png", pngData)

	r := a.do(request{method: "GET", target: "/u/alice", as: &alice})
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		"<title>Your files · filegate</title>",
		"<h1>Your files</h1>",
		`href="` + mine.URL() + `">mine.pdf</a>`,
		"PDF", fmt.Sprintf("%d bytes", len(pdfData)),
		`<form method="post" action="/delete/` + fmt.Sprint(mine.ID) + `">`,
		`<form method="post" action="/settings"`,
		"anyone logged in can download all your files",
		`role="switch" aria-checked="false"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("own page lacks %q", want)
		}
	}

	r = a.do(request{method: "GET", target: "/", as: &alice})
	for _, want := range []string{`href="` + theirs.URL() + `">theirs.png</a>`, `<a href="/u/bob">bob</a>`, "PNG"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/ lacks %q", want)
		}
	}
	if strings.Contains(r.body, `action="/delete/`+fmt.Sprint(theirs.ID)+`"`) {
		t.Errorf("/ offers alice to delete bob's file")
	}
	r = a.do(request{method: "GET", target: "/u/bob", as: &alice})
	if !strings.Contains(r.body, "<h1>bob’s files</h1>") || strings.Contains(r.body, `action="/settings"`) {
		t.Errorf("bob's page: wrong title or shows alice's switch")
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	var want []string
	for i := range 2*testPageSize + 1 {
		name := fmt.Sprintf("f%d.pdf", i)
		a.put(alice, name, pdfData)
		want = append([]string{name}, want...) // newest first
	}
	// The pages follow (created_at, id): a file uploaded while a client
	// pages through the list shifts nothing, and no file is seen twice.
	var got []string
	next := "/api/files"
	for page := 1; next != ""; page++ {
		r := a.do(request{method: "GET", target: next, as: &alice})
		names := listNames(t, r)
		if len(names) > testPageSize {
			t.Fatalf("page %d has %d files", page, len(names))
		}
		got = append(got, names...)
		if page == 1 {
			a.put(alice, "late.pdf", pdfData)
		}
		next = ""
		if link := r.Header.Get("Link"); link != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages give %v, want %v", got, want)
	}

	// HTML: "Older" goes on, "Newest" back to the first page.
	want = append([]string{"late.pdf"}, want...)
	olderLink := regexp.MustCompile(`href="(/u/alice\?before=[0-9]+_[0-9]+)" rel="next"`)
	first := a.do(request{method: "GET", target: "/u/alice", as: &alice})
	m := olderLink.FindStringSubmatch(first.body)
	if m == nil || strings.Contains(first.body, `rel="first"`) {
		t.Fatalf("first page: no Older link, or a Newest link")
	}
	r := a.do(request{method: "GET", target: html.UnescapeString(m[1]), as: &alice})
	for _, s := range []string{`href="/u/alice" rel="first"`, `rel="next"`, ">" + want[testPageSize] + "</a>"} {
		if !strings.Contains(r.body, s) {
			t.Errorf("second page lacks %q", s)
		}
	}
	if strings.Contains(r.body, ">"+want[testPageSize-1]+"</a>") {
		t.Errorf("second page repeats the first page's last file")
	}
	r = a.do(request{method: "GET", target: "/?before=1_1", as: &alice})
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "No more files.") || strings.Contains(r.body, `rel="next"`) {
		t.Errorf("a page past the end does not say so")
	}
	for _, bad := range []string{"abc", "1_0", "1_-1", "1_01", "1.5_2", "_3", "12_", "1_2_3", "99999999999999999999_1", "-9000000000000000000_1", "9000000000000000000_1"} {
		wantStatus(t, a.do(request{method: "GET", target: "/?before=" + url.QueryEscape(bad), as: &alice}), http.StatusBadRequest)
	}
}

func TestAPIFields(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	f := a.put(alice, "Grüße.pdf", pdfData)
	r := a.do(request{method: "GET", target: "/api/files", as: &alice})
	var got []map[string]any
	r.decode(t, &got)
	if len(got) != 1 {
		t.Fatalf("got %s", r.body)
	}
	want := map[string]any{
		"id": float64(f.ID), "url": fmt.Sprintf("/files/%d/%s", alice.ID, f.StoredName), "name": "Grüße.pdf",
		"owner": "alice", "content_type": "application/pdf", "size": float64(len(pdfData)),
	}
	created, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(got[0]["created_at"]))
	delete(got[0], "created_at")
	if fmt.Sprint(got[0]) != fmt.Sprint(want) || !created.Equal(f.CreatedAt) {
		t.Errorf("got %v (created %v), want %v (created %v)", got[0], created, want, f.CreatedAt)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", true, false)
	bob := a.addUser("bob", false, false)
	staff := a.addUser("staff", false, true)

	f := a.put(alice, "a.pdf", pdfData)
	for _, as := range []filegate.User{bob} {
		r := a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &as, json: true})
		wantStatus(t, r, http.StatusNotFound)
		r.errorSentence(t)
	}
	for _, target := range []string{"/delete/999999", "/delete/abc", "/delete/-1"} {
		wantStatus(t, a.do(request{method: "POST", target: target, as: &alice, json: true}), http.StatusNotFound)
	}
	if !a.onDisk(f) || a.fileCount() != 1 {
		t.Fatalf("a refused delete removed the file")
	}

	r := a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &alice, json: true})
	wantStatus(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != fmt.Sprintf(`{"deleted":%d}`, f.ID) {
		t.Errorf("body %s", r.body)
	}
	if a.onDisk(f) || a.fileCount() != 0 {
		t.Errorf("owner's delete left the file")
	}
	wantStatus(t, a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &alice, json: true}), http.StatusNotFound)

	// Staff may delete anyone's file; HTML goes back where the form was.
	f = a.put(alice, "b.pdf", pdfData)
	r = a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &staff,
		form: url.Values{"back": {"/u/alice?page=2"}}})
	wantRedirect(t, r, "/u/alice?msg=deleted&page=2")
	if a.onDisk(f) || a.fileCount() != 0 {
		t.Errorf("staff's delete left the file")
	}
	f = a.put(alice, "c.pdf", pdfData)
	r = a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &alice,
		form: url.Values{"back": {"//evil.example/"}}})
	wantRedirect(t, r, "/?msg=deleted")
}

func TestSettings(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", false, false)
	bob := a.addUser("bob", false, false)
	a.put(alice, "a.pdf", pdfData)
	isPublic := func() bool {
		u, err := a.db.UserByID(context.Background(), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.IsPublic
	}
	wantStatus(t, a.do(request{method: "GET", target: "/u/alice", as: &bob}), http.StatusNotFound)

	r := a.do(request{method: "POST", target: "/settings", as: &alice, form: url.Values{"is_public": {"true"}, "back": {"/u/alice"}}})
	wantRedirect(t, r, "/u/alice?msg=public")
	if !isPublic() {
		t.Fatal("form is_public=true did not make alice public")
	}
	page := a.do(request{method: "GET", target: "/u/alice?msg=public", as: &alice})
	if !strings.Contains(page.body, "Your files are now public") || !strings.Contains(page.body, `aria-checked="true"`) {
		t.Errorf("page after the switch does not show it on")
	}
	wantStatus(t, a.do(request{method: "GET", target: "/u/alice", as: &bob}), http.StatusOK)

	r = a.do(request{method: "POST", target: "/settings", as: &alice, json: true,
		body: strings.NewReader(`{"is_public": false}`), contentType: "application/json"})
	wantStatus(t, r, http.StatusOK)
	if strings.TrimSpace(r.body) != `{"is_public":false}` || isPublic() {
		t.Errorf("JSON is_public=false: %s, public=%t", r.body, isPublic())
	}
	wantStatus(t, a.do(request{method: "GET", target: "/u/alice", as: &bob}), http.StatusNotFound)

	for _, bad := range []request{
		{form: url.Values{"is_public": {"yes"}}},
		{form: url.Values{}},
		{body: strings.NewReader(`{"is_public": "true"}`), contentType: "application/json"},
		{body: strings.NewReader(`{}`), contentType: "application/json"},
	} {
		bad.method, bad.target, bad.as, bad.json = "POST", "/settings", &alice, true
		r := a.do(bad)
		wantStatus(t, r, http.StatusBadRequest)
		r.errorSentence(t)
	}
}
