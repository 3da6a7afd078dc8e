package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// newBrowser starts a headless Chromium for one test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	return ctx
}

// result is one entry of the upload page's result list.
type result struct {
	Class    string  `json:"class"`
	Name     string  `json:"name"`
	Progress float64 `json:"progress"`
	Href     string  `json:"href"`
	Message  string  `json:"msg"`
}

const readResults = `Array.from(document.querySelectorAll("#results li")).map(li => ({
	class: li.className,
	name: li.querySelector(".name").textContent,
	progress: li.querySelector("progress") ? li.querySelector("progress").value : -1,
	href: li.querySelector("a") ? li.querySelector("a").getAttribute("href") : "",
	msg: li.querySelector(".msg").textContent,
}))`

// waitResults waits until n uploads have finished (stored, refused or
// cancelled) and returns them all.
func waitResults(t *testing.T, ctx context.Context, n int) []result {
	t.Helper()
	done := `document.querySelectorAll("#results li:is(.done, .failed, .cancelled)").length >= ` + strconv.Itoa(n)
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](done, chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		t.Fatalf("waiting for %d finished uploads: %v", n, err)
	}
	rs, err := chromedp.Run(ctx, chromedp.Evaluate[[]result](readResults))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// get downloads url through nginx with cookie and returns status and body.
func get(t *testing.T, url string, cookie *http.Cookie) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// screenshot saves the whole page of ctx as .artifacts/{name}.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	saveScreenshot(t, ctx, name, chromedp.FullScreenshot(100))
}

// saveScreenshot saves the PNG that capture takes in ctx as
// .artifacts/{name}.
func saveScreenshot(t *testing.T, ctx context.Context, name string, capture chromedp.Action[[]byte]) {
	t.Helper()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testenv.RepoRoot(), ".artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser drives the real stack (nginx, authz, uploader) from headless
// Chromium: keyboard login, multi-file upload with progress, download
// through nginx, a refused file, and the public switch.
func TestBrowser(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	bob := s.AddUser(t, testenv.User{Name: "bob", Password: testPassword})

	dir := t.TempDir()
	report := append(append([]byte{}, pdfData...), bytes.Repeat([]byte("% filler line of a larger report\n"), 30000)...) // ~1 MiB
	paths := map[string][]byte{"report.pdf": report, "pixel.png": pngData, "invoice.pdf": htmlData}
	for name, data := range paths {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newBrowser(t)

	// Log in with the keyboard only; the login page brings us back.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/upload"),
		chromedp.WaitVisible(chromedp.ID("username")),
	); err != nil {
		t.Fatalf("login page: %v", err)
	}
	screenshot(t, ctx, "login-page.png")
	checkA11y(t, ctx, "login page")
	// A wrong password first: the form again, with its error.
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent("alice\twrong password\r"),
		chromedp.WaitVisible(chromedp.CSS(".error")),
	); err != nil {
		t.Fatalf("wrong password: %v", err)
	}
	checkA11y(t, ctx, "login page with an error")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/upload"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.KeyEvent("alice\t"+testPassword+"\r"),
		chromedp.WaitVisible(chromedp.ID("dropzone")),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.URL+"/upload" {
		t.Fatalf("after login at %s, want /upload", loc)
	}
	checkA11y(t, ctx, "upload page")

	// Two files at once: two requests, two progress bars, two results.
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"),
		[]string{filepath.Join(dir, "report.pdf"), filepath.Join(dir, "pixel.png")})); err != nil {
		t.Fatal(err)
	}
	rs := waitResults(t, ctx, 2)
	if len(rs) != 2 {
		t.Fatalf("results: %+v", rs)
	}
	for _, r := range rs {
		if r.Class != "result done" || r.Progress != 100 || !strings.HasPrefix(r.Href, "/files/") {
			t.Errorf("upload of %s: %+v", r.Name, r)
		}
	}
	screenshot(t, ctx, "upload-page.png")
	checkA11y(t, ctx, "upload page with results")

	// Download through nginx with the browser's own session cookie.
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var aliceCookie *http.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == session.CookieName {
			aliceCookie = &http.Cookie{Name: c.Name, Value: c.Value}
			if !c.HTTPOnly {
				t.Errorf("session cookie is not HttpOnly")
			}
		}
	}
	if aliceCookie == nil {
		t.Fatal("no session cookie in the browser")
	}
	reportURL := s.URL + rs[0].Href
	if status, body := get(t, reportURL, aliceCookie); status != 200 || !bytes.Equal(body, report) {
		t.Fatalf("alice's download: %d, %d bytes (want %d)", status, len(body), len(report))
	}

	// HTML named .pdf: refused, with the server's sentence on the page.
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "invoice.pdf")})); err != nil {
		t.Fatal(err)
	}
	rs = waitResults(t, ctx, 3)
	if bad := rs[2]; bad.Class != "result failed" || bad.Name != "invoice.pdf" ||
		!strings.Contains(bad.Message, `"invoice.pdf" is a web page (HTML), not a PDF.`) {
		t.Errorf("refused upload shows %+v", bad)
	}
	screenshot(t, ctx, "upload-page-refused.png")
	checkA11y(t, ctx, "upload page with a refused file")

	// A real drop on the zone: a DataTransfer holding a file made in the
	// page, as a drag from the desktop delivers it.
	const drop = `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(["dropped words\n"], "dropped.txt", {type: "text/plain"}));
		document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true;
	})()`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](drop)); err != nil {
		t.Fatal(err)
	}
	rs = waitResults(t, ctx, 4)
	if r := rs[3]; r.Class != "result done" || r.Name != "dropped.txt" || r.Progress != 100 {
		t.Errorf("dropped file: %+v", r)
	}

	// The public switch on the page flips bob's download from 403 to 200.
	bobCookie := s.Cookie(t, bob)
	if status, _ := get(t, reportURL, bobCookie); status != http.StatusForbidden {
		t.Fatalf("bob's download of a private file: %d, want 403", status)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.Click(chromedp.CSS(`button.switch[aria-checked="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button.switch[aria-checked="true"]`)),
	); err != nil {
		t.Fatalf("public switch: %v", err)
	}
	if flash, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".flash"))); !strings.Contains(flash, "now public") {
		t.Errorf("flash after the switch: %q", flash)
	}
	// The list shows the uploads, newest first.
	if table, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("table.files tbody"))); !regexp.MustCompile(`(?s)dropped\.txt.*report\.pdf`).MatchString(table) || !strings.Contains(table, "pixel.png") {
		t.Errorf("files table after the uploads:\n%s", table)
	}
	if status, body := get(t, reportURL, bobCookie); status != http.StatusOK || !bytes.Equal(body, report) {
		t.Fatalf("bob's download after alice went public: %d, want 200", status)
	}
	checkA11y(t, ctx, "files page with a message")

	// A phone-sized screen gets the same page, one card per file.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/")); err != nil {
		t.Fatal(err)
	}
	checkA11y(t, ctx, "files page on a phone")

	// Without JavaScript the plain form posts the files and the answer is
	// a redirect to the list with a message.
	setScripts(t, ctx, false)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/upload"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "pixel.png")}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	); err != nil {
		t.Fatalf("upload without JavaScript: %v", err)
	}
	if flash, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".flash"))); flash != "1 file uploaded." {
		t.Errorf("flash after a form upload: %q", flash)
	}
	setScripts(t, ctx, true) // for axe; the page's own script did not run
	checkA11y(t, ctx, "files page after a form upload")

	// A refused file without JavaScript: the upload page again, saying
	// why once (in the file's line), not twice.
	setScripts(t, ctx, false)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/upload"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "invoice.pdf")}),
		chromedp.Click(chromedp.CSS(`#upload-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#results li.failed")),
	); err != nil {
		t.Fatalf("refused upload without JavaScript: %v", err)
	}
	sentence, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#results li.failed .msg")))
	page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if sentence == "" || strings.Count(page, sentence) != 1 {
		t.Errorf("the page after a refused form upload says %q %d times, want once:\n%s", sentence, strings.Count(page, sentence), page)
	}
	setScripts(t, ctx, true)
	if focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "results-heading" {
		t.Errorf("after a refused form upload the focus is on %q, want the results' heading", focused)
	}
	screenshot(t, ctx, "upload-page-refused-form.png")
	checkA11y(t, ctx, "upload page after a refused form upload")

	// The app's own error page.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	checkA11y(t, ctx, "error page")
}

// setScripts turns the page's JavaScript on or off in the browser of ctx;
// off takes effect from the next page on.
func setScripts(t *testing.T, ctx context.Context, on bool) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		t.Fatal(err)
	}
}
