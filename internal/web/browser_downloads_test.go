package web_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/testenv"
)

// TestBrowserDownloads, through the real stack: a logged-out visitor
// opens a file's URL, is told on the login page why they are there, and
// after logging in lands on a page that names the file and whose download
// starts by itself; a refused download is a page of the product, saying
// in words what happened.
func TestBrowserDownloads(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	s.AddUser(t, testenv.User{Name: "bob", Password: testPassword, Public: true})
	readme := []byte("bob's readme, for everyone\n")
	fileURL := s.Put(t, "bob", "bob-readme.txt", readme)

	ctx := newBrowser(t)
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}

	// nginx sends the visitor to the login page, which says why.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+fileURL), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		t.Fatalf("file link, logged out: %v", err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); h1 != "Log in to download this file" {
		t.Errorf("login page heading %q", h1)
	}
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent("alice\t"+testPassword+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`a[download]`)),
	); err != nil {
		t.Fatalf("login: %v", err)
	}
	// The landing page, not the login form: it names the file, links
	// it, and the download has started by itself.
	landing := strings.Replace(fileURL, "/files/", "/download/", 1)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.URL+landing {
		t.Errorf("after login at %s, want %s", loc, s.URL+landing)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); h1 != "Your download of bob-readme.txt has started" {
		t.Errorf("landing page heading %q", h1)
	}
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("a[download]").getAttribute("href")`)); href != fileURL {
		t.Errorf("landing page links %q, want %q", href, fileURL)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("input[type=password]").length`)); n != 0 {
		t.Errorf("the landing page still has a password field")
	}
	if who, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".who"))); !strings.Contains(who, "Logged in as") {
		t.Errorf("the landing page says %q, not who is logged in", who)
	}
	waitDownload(t, downloads, readme)
	screenshot(t, ctx, "login-from-link.png")

	// A file that is not there: the product's page, with the status, not
	// nginx's.
	gone := strings.Replace(fileURL, "bob-readme", "bob-notes", 1)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+gone), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatalf("a missing file: %v", err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1"))); h1 != "This file isn't available" {
		t.Errorf("missing file page heading %q", h1)
	}
	if back, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main a").getAttribute("href")`)); back != "/" {
		t.Errorf("missing file page: the way back goes to %q", back)
	}
	if css, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.styleSheets.length`)); css != 1 {
		t.Errorf("missing file page: %d style sheets, want the app's", css)
	}
	screenshot(t, ctx, "error-page.png")
}

// waitDownload waits until a file with want's bytes is in dir.
func waitDownload(t *testing.T, dir string, want []byte) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && bytes.Equal(b, want) {
				return
			}
		}
	}
	t.Fatalf("no download of %q in %s", want, dir)
}
