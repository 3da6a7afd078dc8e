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
			if !strings.Contains(html.body, `">`+n+`<`) {
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
		// Without script, Delete opens the confirmation page.
		`<form method="get" action="/delete/` + fmt.Sprint(mine.ID) + `" class="delete" data-name="mine.pdf">`,
		`<input type="hidden" name="back" value="/u/alice">`,
		`<dialog id="delete-dialog"`,
		`<button type="button" class="secondary copy js-only" data-path="` + mine.URL() + `" data-copied="Copied. While your files are private`,
		`<form method="post" action="/settings"`,
		"<span>Share all my files with everyone who logs in</span>",
		"anyone logged in can download all your files",
		`role="switch" aria-checked="false"`,
		`<script src="/static/app.js" defer></script>`,
		`<script src="/static/files.js" defer></script>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("own page lacks %q", want)
		}
	}
	if strings.Contains(r.body, `<th scope="col">Owner</th>`) {
		t.Errorf("own page has an Owner column")
	}

	r = a.do(request{method: "GET", target: "/", as: &alice})
	for _, want := range []string{
		`href="` + theirs.URL() + `">theirs.png<span class="visually-hidden"> by bob</span></a>`,
		`<td data-label="Owner"><a href="/u/bob">bob</a></td>`, "PNG",
		`data-path="` + theirs.URL() + `">Copy link<span class="visually-hidden"> to theirs.png by bob</span></button>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/ lacks %q", want)
		}
	}
	if strings.Contains(r.body, `action="/delete/`+fmt.Sprint(theirs.ID)+`"`) || strings.Contains(r.body, "theirs.png by bob</span></summary>") {
		t.Errorf("/ offers alice to delete or share bob's file")
	}
	r = a.do(request{method: "GET", target: "/u/bob", as: &alice})
	if !strings.Contains(r.body, "<h1>bob’s files</h1>") || strings.Contains(r.body, `action="/settings"`) {
		t.Errorf("bob's page: wrong title or shows alice's switch")
	}
	if strings.Contains(r.body, `<th scope="col">Owner</th>`) || strings.Contains(r.body, `<dialog`) || !strings.Contains(r.body, `>theirs.png<`) {
		t.Errorf("bob's page has an Owner column or a delete dialog, or lacks his file")
	}
}

// sectionOf returns the HTML of the section with id on a files page, or "".
func sectionOf(body, id string) string {
	start := strings.Index(body, `<section class="list" id="`+id+`"`)
	if start < 0 {
		return ""
	}
	end := strings.Index(body[start:], "</section>")
	return body[start : start+end]
}

// rowNames returns the display names a part of a files page lists, in
// order.
func rowNames(part string) []string {
	names := []string{}
	for _, m := range regexp.MustCompile(`<td class="name"><a href="[^"]*">([^<]*)<`).FindAllStringSubmatch(part, -1) {
		names = append(names, html.UnescapeString(m[1]))
	}
	return names
}

// A browser's / lists the viewer's files first, then the files others
// share, each paged on its own: the viewer's own go on at their page,
// the others' at /?before=. The viewer's own public files are never in
// the second list.
func TestHomeSections(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", true, false)
	bob := a.addUser("bob", true, false)
	carol := a.addUser("carol", false, false)
	for i := range testPageSize + 1 {
		a.put(alice, fmt.Sprintf("a%d.pdf", i), pdfData)
		a.put(bob, fmt.Sprintf("b%d.pdf", i), pdfData)
		a.put(carol, fmt.Sprintf("c%d.pdf", i), pdfData)
	}
	r := a.do(request{method: "GET", target: "/", as: &alice})
	wantStatus(t, r, http.StatusOK)
	own, public := sectionOf(r.body, "own"), sectionOf(r.body, "public")
	if strings.Index(r.body, `id="own"`) > strings.Index(r.body, `id="public"`) {
		t.Errorf("/ lists other people's files before the viewer's")
	}
	if got := rowNames(own); !slices.Equal(got, []string{"a3.pdf", "a2.pdf", "a1.pdf"}) {
		t.Errorf("your files on /: %v", got)
	}
	if got := rowNames(public); !slices.Equal(got, []string{"b3.pdf", "b2.pdf", "b1.pdf"}) {
		t.Errorf("everyone's files on /: %v", got)
	}
	if !strings.Contains(own, `<h2 id="own-heading">Your files</h2>`) || strings.Contains(own, "Owner</th>") ||
		!strings.Contains(public, `<h2 id="public-heading">Everyone’s public files</h2>`) || !strings.Contains(public, "Owner</th>") {
		t.Errorf("/: the sections' headings or Owner columns are wrong:\n%s", r.body)
	}

	// Your files go on at your page, from where / stopped.
	more := regexp.MustCompile(`<a href="(/u/alice\?before=[0-9]+_[0-9]+)">More of your files →</a>`).FindStringSubmatch(own)
	if more == nil {
		t.Fatalf("/ has no link to more of alice's files:\n%s", own)
	}
	page := a.do(request{method: "GET", target: html.UnescapeString(more[1]), as: &alice})
	if got := rowNames(page.body); !slices.Equal(got, []string{"a0.pdf"}) {
		t.Errorf("more of alice's files: %v", got)
	}

	// Everyone's files page on /; the later pages leave out your files.
	older := regexp.MustCompile(`href="(/\?before=[0-9]+_[0-9]+)" rel="next"`).FindStringSubmatch(public)
	if older == nil || strings.Contains(own, `rel="next"`) {
		t.Fatalf("/: no Older link for everyone's files, or one for yours")
	}
	page = a.do(request{method: "GET", target: html.UnescapeString(older[1]), as: &alice})
	if got := rowNames(page.body); !slices.Equal(got, []string{"b0.pdf"}) || sectionOf(page.body, "own") != "" {
		t.Errorf("the second page of /: %v, or your files again", got)
	}
	if !strings.Contains(page.body, `href="/" rel="first"`) {
		t.Errorf("the second page of / does not link the first")
	}

	// Carol, private with no files of her own: the empty state says how
	// to start; bob's files are there.
	dave := a.addUser("dave", false, false)
	r = a.do(request{method: "GET", target: "/", as: &dave})
	if !strings.Contains(sectionOf(r.body, "own"), `You have no files yet. <a href="/upload">Upload some</a>.`) ||
		len(rowNames(sectionOf(r.body, "public"))) != testPageSize {
		t.Errorf("dave's /:\n%s", r.body)
	}
	// JSON stays the one list of both.
	if got := listNames(t, a.do(request{method: "GET", target: "/", as: &carol, json: true})); len(got) != testPageSize || got[0] != "c3.pdf" {
		t.Errorf("carol's / as JSON: %v", got)
	}
}

// Same-named files can be told apart: the stored name shows where it
// differs, and every control of a row has an accessible name no other
// control of its kind on the page has, also across owners.
func TestSameNames(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", true, false)
	bob := a.addUser("bob", true, false)
	staff := a.addUser("staff", true, true)
	first := a.put(alice, "photo.png", pngData)
	second := a.put(alice, "photo.png", pngData)
	a.put(bob, "photo.png", pngData)
	a.put(staff, "photo.png", pngData)
	if first.StoredName != "photo.png" || second.StoredName != "photo-2.png" || second.DisplayName != "photo.png" {
		t.Fatalf("stored %s and %s", first.StoredName, second.StoredName)
	}
	// The accessible name of each kind of control: its text with the
	// visually hidden part.
	controls := map[string]*regexp.Regexp{
		"download":  regexp.MustCompile(`<td class="name"><a href="[^"]*">(.*?)</a>`),
		"copy link": regexp.MustCompile(`>(Copy link<span class="visually-hidden">.*?)</button>`),
		"share":     regexp.MustCompile(`<summary>(.*?)</summary>`),
		"delete":    regexp.MustCompile(`>(Delete<span class="visually-hidden">.*?)</button>`),
		"create":    regexp.MustCompile(`>(Create link<span class="visually-hidden">.*?)</button>`),
	}
	tag := regexp.MustCompile(`<[^>]*>`)
	for _, tt := range []struct {
		as     filegate.User
		target string
		want   map[string]int // controls of each kind on the page
	}{
		{alice, "/", map[string]int{"download": 4, "copy link": 4, "share": 2, "delete": 2, "create": 2}},
		{alice, "/u/alice", map[string]int{"download": 2, "copy link": 2, "share": 2, "delete": 2, "create": 2}},
		{staff, "/", map[string]int{"download": 4, "copy link": 4, "share": 1, "delete": 4, "create": 1}},
	} {
		r := a.do(request{method: "GET", target: tt.target, as: &tt.as})
		wantStatus(t, r, http.StatusOK)
		for kind, re := range controls {
			seen := map[string]bool{}
			for _, m := range re.FindAllStringSubmatch(r.body, -1) {
				name := html.UnescapeString(tag.ReplaceAllString(m[1], ""))
				if seen[name] {
					t.Errorf("%s %s: two %s controls are named %q", tt.as.Slug, tt.target, kind, name)
				}
				seen[name] = true
			}
			if len(seen) != tt.want[kind] {
				t.Errorf("%s %s: %d %s controls, want %d: %v", tt.as.Slug, tt.target, len(seen), kind, tt.want[kind], seen)
			}
		}
		if n := strings.Count(r.body, `<span class="stored" aria-hidden="true">saved as photo-2.png</span>`); n != 1 {
			t.Errorf("%s %s: the stored name photo-2.png shows %d times", tt.as.Slug, tt.target, n)
		}
	}
	r := a.do(request{method: "GET", target: "/", as: &staff})
	for _, want := range []string{
		`>Delete<span class="visually-hidden"> photo.png (photo-2.png) by alice</span></button>`,
		`>Delete<span class="visually-hidden"> photo.png by bob</span></button>`,
		`>Delete<span class="visually-hidden"> photo.png</span></button>`,
		`data-name="photo.png (photo-2.png)" data-whose="alice"`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("staff's / lacks %q", want)
		}
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
	for _, target := range []string{"/delete/999999", "/delete/abc", "/delete/-1", "/delete/01"} {
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

	// Staff may delete anyone's file; HTML goes back where the form was,
	// with a message that names the file.
	f = a.put(alice, "b “report”.pdf", pdfData)
	r = a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &staff,
		form: url.Values{"back": {"/u/alice?page=2"}}})
	wantStatus(t, r, http.StatusSeeOther)
	loc, _ := url.Parse(r.Header.Get("Location"))
	q := loc.Query()
	if loc.Path != "/u/alice" || q.Get("msg") != "deleted" || q.Get("page") != "2" || q.Get("note") == "" {
		t.Errorf("Location %s", loc)
	}
	if strings.Contains(loc.RawQuery, "report") {
		t.Errorf("the file's name is in the URL in the clear: %s", loc)
	}
	if a.onDisk(f) || a.fileCount() != 0 {
		t.Errorf("staff's delete left the file")
	}
	const named = `<p class="flash" role="status" tabindex="-1" autofocus>b “report”.pdf (b-report.pdf) deleted.</p>`
	const plain = `<p class="flash" role="status" tabindex="-1" autofocus>File deleted.</p>`
	if page := a.do(request{method: "GET", target: loc.RequestURI(), as: &staff}); !strings.Contains(page.body, named) {
		t.Errorf("after the delete the page does not name the file:\n%s", page.body)
	}
	// Links use no flash: Older, Newest and the forms' back leave it out.
	if page := a.do(request{method: "GET", target: loc.RequestURI(), as: &staff}); strings.Contains(page.body, "note=") {
		t.Errorf("the page carries the note on")
	}

	// The note opens only for the viewer who deleted, and only for a
	// while; a forged one is no message.
	forged := url.Values{"msg": {"deleted"}, "note": {"Your account is locked, call 555"}}
	stolen := url.Values{"msg": {"deleted"}, "note": {q.Get("note")}}
	for _, tt := range []struct {
		name string
		as   filegate.User
		q    url.Values
	}{
		{"another user's note", alice, stolen},
		{"a forged note", staff, forged},
	} {
		page := a.do(request{method: "GET", target: "/?" + tt.q.Encode(), as: &tt.as})
		if !strings.Contains(page.body, plain) || strings.Contains(page.body, "report") || strings.Contains(page.body, "locked") {
			t.Errorf("%s: the page says\n%s", tt.name, page.body)
		}
	}
	a.clock.Advance(11 * time.Minute)
	if page := a.do(request{method: "GET", target: loc.RequestURI(), as: &staff}); !strings.Contains(page.body, plain) {
		t.Errorf("an old note still names the file")
	}

	f = a.put(alice, "c.pdf", pdfData)
	r = a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &alice,
		form: url.Values{"back": {"//evil.example/"}}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc, _ := url.Parse(r.Header.Get("Location")); loc.Path != "/" || loc.Host != "" {
		t.Errorf("a foreign back leads to %s", loc)
	}
}

// Without script, Delete opens GET /delete/{id}: the page that asks
// first. It deletes nothing, says whose file it is to staff, and is 404
// for whoever may not delete the file.
func TestConfirmDelete(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	alice := a.addUser("alice", true, false)
	bob := a.addUser("bob", true, false)
	staff := a.addUser("staff", false, true)
	a.put(alice, "photo.png", pngData)
	f := a.put(alice, "photo.png", pngData) // stored as photo-2.png
	target := fmt.Sprintf("/delete/%d?back=%s", f.ID, url.QueryEscape("/u/alice?before=1_1"))

	r := a.do(request{method: "GET", target: target, as: &alice})
	wantStatus(t, r, http.StatusOK)
	for _, want := range []string{
		"<title>Delete photo.png (photo-2.png)? · filegate</title>",
		"<h1>Delete photo.png (photo-2.png)?</h1>",
		"<p>This can’t be undone.</p>",
		fmt.Sprintf(`<form method="post" action="/delete/%d" class="buttons">`, f.ID),
		`<input type="hidden" name="back" value="/u/alice?before=1_1">`,
		`<a href="/u/alice?before=1_1">Cancel</a>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("alice's confirmation lacks %q:\n%s", want, r.body)
		}
	}
	r = a.do(request{method: "GET", target: target, as: &staff})
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(r.body, "<p>This can’t be undone. It belongs to alice, not to you.</p>") {
		t.Errorf("staff are not told whose file it is:\n%s", r.body)
	}
	if !a.onDisk(f) || a.fileCount() != 2 {
		t.Fatal("the confirmation page deleted the file")
	}

	// JSON: the file, as the lists show it.
	r = a.do(request{method: "GET", target: target, as: &staff, json: true})
	var got map[string]any
	r.decode(t, &got)
	if got["id"] != float64(f.ID) || got["name"] != "photo.png" || got["owner"] != "alice" || got["url"] != f.URL() {
		t.Errorf("JSON %s", r.body)
	}

	// Whoever may not delete it cannot tell it from a missing file.
	for _, rq := range []request{
		{target: target, as: &bob},
		{target: target, as: &bob, json: true},
		{target: "/delete/999999", as: &alice},
		{target: "/delete/abc", as: &alice},
	} {
		rq.method = "GET"
		r := a.do(rq)
		wantStatus(t, r, http.StatusNotFound)
		if strings.Contains(r.body, "photo") {
			t.Errorf("%s as %s names the file: %s", rq.target, rq.as.Slug, r.body)
		}
	}
	wantRedirect(t, a.do(request{method: "GET", target: target}), "/login?next="+url.QueryEscape(target))

	// A foreign back becomes /.
	r = a.do(request{method: "GET", target: fmt.Sprintf("/delete/%d?back=//evil.example/", f.ID), as: &alice})
	if !strings.Contains(r.body, `<a href="/">Cancel</a>`) || strings.Contains(r.body, "evil") {
		t.Errorf("a foreign back is kept:\n%s", r.body)
	}

	// The page's form deletes; back to where it was, named.
	r = a.do(request{method: "POST", target: fmt.Sprintf("/delete/%d", f.ID), as: &alice, form: url.Values{"back": {"/u/alice"}}})
	wantStatus(t, r, http.StatusSeeOther)
	page := a.do(request{method: "GET", target: r.Header.Get("Location"), as: &alice})
	if !strings.Contains(page.body, "photo.png (photo-2.png) deleted.") || a.fileCount() != 1 {
		t.Errorf("after confirming: %d files, page:\n%s", a.fileCount(), page.body)
	}
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
