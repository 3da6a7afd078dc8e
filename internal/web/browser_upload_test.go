package web_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
)

// TestBrowserUpload: the upload page's own behaviour. It says that
// uploads start at once; a file over the limit is refused in the page,
// naming the limit, and never sent; Cancel stops a file on its way up and
// the server keeps nothing of it (no row, no file, no temp file); leaving
// the page mid-upload asks first; a name already taken says which name
// the file got; on a touch screen the page does not offer to drop files.
func TestBrowserUpload(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{}) // a 2 MiB limit
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	dir := t.TempDir()
	files := map[string][]byte{
		"big.pdf":   pdfFiller(3 << 20),
		"slow.pdf":  pdfFiller(1900 << 10),
		"pixel.png": pngData,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ctx := newBrowser(t)
	var mu sync.Mutex
	posts := 0
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request.Method == "POST" && strings.HasSuffix(e.Request.URL, "/upload") {
			mu.Lock()
			posts++
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, s.URL)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/upload"), chromedp.WaitVisible(chromedp.ID("upload-starts"))); err != nil {
		t.Fatalf("upload page: %v", err)
	}
	if said, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("upload-starts"))); !strings.Contains(said, "Files start uploading as soon as you choose them.") {
		t.Errorf("the page says %q about when uploads start", said)
	}
	if desc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("file").getAttribute("aria-describedby")`)); desc != "upload-hint upload-starts" {
		t.Errorf("the file field is described by %q", desc)
	}

	// Too large: refused here, with the numbers, and not sent at all.
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "big.pdf")})); err != nil {
		t.Fatal(err)
	}
	rs := waitResults(t, ctx, 1)
	if r := rs[0]; r.Class != "result failed" || r.Name != "big.pdf" ||
		r.Message != "big.pdf is 3 MiB, larger than the 2 MiB limit for one file, so it was not sent." {
		t.Errorf("oversized file: %+v", r)
	}
	mu.Lock()
	if posts != 0 {
		t.Errorf("%d uploads sent for a file over the limit", posts)
	}
	mu.Unlock()
	checkA11y(t, ctx, "upload page with a file over the limit")

	// Cancel, while the server is writing the file: uploads slowed to
	// 128 KiB/s take about 15 s for this one.
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{URLPattern: s.URL + "/upload", DownloadThroughput: -1, UploadThroughput: 128 << 10}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "slow.pdf")})); err != nil {
		t.Fatal(err)
	}
	userDir := filepath.Join(s.PrivateRoot, strconv.FormatInt(alice, 10))
	waitUntil(t, "the upload's temp file", func() bool {
		names := dirNames(t, userDir)
		return len(names) == 1 && strings.HasPrefix(names[0], ".upload-")
	})
	leave, err := chromedp.Run(ctx, chromedp.Evaluate[bool](beforeUnload))
	if err != nil || !leave {
		t.Errorf("leaving the page mid-upload does not ask first (%v)", err)
	}
	checkA11y(t, ctx, "upload page with a file going up")
	screenshot(t, ctx, "upload-cancel.png")
	if err := chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS("#results li.pending button.cancel")),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#results li.cancelled")),
	); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	rs, err = chromedp.Run(ctx, chromedp.Evaluate[[]result](readResults))
	if err != nil {
		t.Fatal(err)
	}
	if r := rs[1]; r.Class != "result cancelled" || r.Name != "slow.pdf" || r.Message != "Cancelled." || r.Progress >= 100 {
		t.Errorf("cancelled upload: %+v", r)
	}
	focused, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.activeElement === document.querySelector("#results li.cancelled")`))
	if !focused {
		t.Errorf("focus is not on the cancelled file's line once its button went")
	}
	if leave, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](beforeUnload)); leave {
		t.Errorf("leaving the page asks first with no upload under way")
	}
	waitUntil(t, "the server to drop the cancelled upload", func() bool {
		return len(dirNames(t, userDir)) == 0
	})
	if listed, err := s.Store.OwnerFiles(context.Background(), alice, filegate.Cursor{}, 10); err != nil || len(listed) != 0 {
		t.Errorf("after the cancel alice has %d files (%v), want none", len(listed), err)
	}
	if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{}}); err != nil {
		t.Fatal(err)
	}

	// The same name twice: the second says the name it got.
	for range 2 {
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "pixel.png")})); err != nil {
			t.Fatal(err)
		}
		rs = waitResults(t, ctx, len(rs)+1)
	}
	if r := rs[2]; r.Class != "result done" || r.Message != "Uploaded. Download pixel.png" {
		t.Errorf("first pixel.png: %+v", r)
	}
	if r := rs[3]; r.Class != "result done" || r.Message != "Uploaded as pixel-2.png. Download pixel-2.png" ||
		r.Href != "/files/"+strconv.FormatInt(alice, 10)+"/pixel-2.png" {
		t.Errorf("second pixel.png: %+v", r)
	}

	// A 413 from before the app (a proxy whose limit is lower than the
	// page's): the answer's sentence when it is the app's JSON shape,
	// else the page's own.
	answers := make(chan fetch.FulfillRequestParams, 1)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			go func() {
				a := <-answers
				a.RequestID = e.RequestID
				chromedp.Call(ctx, fetch.FulfillRequest, a)
			}()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/upload"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		contentType, body, want string
	}{
		{"application/json", `{"error":"The upload is larger than the proxy's 1 MiB limit."}`, "The upload is larger than the proxy's 1 MiB limit."},
		{"text/html", "<html><body><h1>413 Request Entity Too Large</h1></body></html>", "This file is larger than the server accepts."},
	} {
		answers <- fetch.FulfillRequestParams{ResponseCode: http.StatusRequestEntityTooLarge, Body: []byte(c.body),
			ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: c.contentType}}}
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("file"), []string{filepath.Join(dir, "pixel.png")})); err != nil {
			t.Fatal(err)
		}
		rs = waitResults(t, ctx, len(rs)+1)
		if r := rs[len(rs)-1]; r.Class != "result failed" || r.Message != c.want {
			t.Errorf("413 with %s: %+v, want %q", c.contentType, r, c.want)
		}
	}
	if _, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}

	// A phone: no offer to drop files, still the sentence about when
	// uploads start.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(s.URL+"/upload"),
		chromedp.WaitVisible(chromedp.ID("upload-starts")),
	); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]bool](`[".drop-hint", "#upload-starts"].map(s => document.querySelector(s).checkVisibility())`))
	if err != nil || len(shown) != 2 || shown[0] || !shown[1] {
		t.Errorf("on a touch screen, drop hint and start sentence shown: %v (%v), want false, true", shown, err)
	}
	screenshot(t, ctx, "upload-page-phone.png")
	checkA11y(t, ctx, "upload page on a phone")
}

// beforeUnload reports whether the page asks before it is left.
const beforeUnload = `(() => {
	const e = new Event("beforeunload", {cancelable: true});
	window.dispatchEvent(e);
	return e.defaultPrevented;
})()`

// pdfFiller is a PDF of n bytes.
func pdfFiller(n int) []byte {
	b := append([]byte{}, pdfData...)
	return append(b, bytes.Repeat([]byte("%"), n-len(b))...)
}

// dirNames lists the names in dir; a missing dir has none.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// waitUntil polls cond for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
	}
}
