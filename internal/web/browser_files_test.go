package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// browserLoginAs logs name in on the login page of the browser in ctx,
// with the keyboard, and waits for the home page.
func browserLoginAs(t *testing.T, ctx context.Context, url, name string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/login"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.KeyEvent(name+"\t"+testPassword+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`nav a[href="/account"]`)), // only logged-in pages have it
	); err != nil {
		t.Fatalf("login as %s: %v", name, err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != url+"/" {
		t.Fatalf("after login at %s, want /", loc)
	}
}

// browserCookie returns the session cookie of the browser in ctx.
func browserCookie(t *testing.T, ctx context.Context, url string) *http.Cookie {
	t.Helper()
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cookies.Cookies {
		if c.Name == session.CookieName {
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	t.Fatal("no session cookie in the browser")
	return nil
}

// focused describes the element that has the focus in ctx's page: its
// class, or its tag, and its text.
func focused(t *testing.T, ctx context.Context) string {
	t.Helper()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`(document.activeElement.className || document.activeElement.tagName) + ": " + document.activeElement.textContent.trim()`))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// focusOn waits up to 5 s for the focus to be on want (as focused names
// it) and returns where it is: after a navigation, the new page applies
// autofocus only once it has loaded, which a busy machine delays.
func focusOn(t *testing.T, ctx context.Context, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := focused(t, ctx)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setClipboard lets the page of ctx write the clipboard and read it back,
// or refuses it to write.
func setClipboard(t *testing.T, ctx context.Context, origin string, write bool) {
	t.Helper()
	setting := browser.PermissionSettingGranted
	if !write {
		setting = browser.PermissionSettingDenied
	}
	for name, s := range map[string]browser.PermissionSetting{"clipboard-write": setting, "clipboard-read": browser.PermissionSettingGranted} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: s, Origin: origin}); err != nil {
			t.Fatal(err)
		}
	}
}

// row is the XPath of the row of the file whose link reads name, in the
// section with id.
func row(section, name string) string {
	return `//section[@id="` + section + `"]//tr[./td[@class="name"]/a[text()="` + name + `"]]`
}

// TestBrowserFiles: alice's files page in Chromium. Her files come
// first, then bob's public ones; dates are in her time zone; same-named
// files are told apart; Copy link puts the absolute URL on the clipboard,
// or shows it selected where the page may not write the clipboard; the
// public switch and every action leave the focus on the message that
// says what happened; Delete asks first, in a dialog (Cancel keeps the
// file, Delete removes it) or, without JavaScript, on a page of its own;
// staff are told whose file they would delete; logging out says so.
func TestBrowserFiles(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	s.AddUser(t, testenv.User{Name: "bob", Password: testPassword, Public: true})
	s.AddUser(t, testenv.User{Name: "staff", Password: testPassword, Staff: true})
	s.Put(t, "bob", "holiday.png", pngData)
	s.Put(t, "bob", "notes.txt", []byte("bob's notes\n"))
	report := s.Put(t, "alice", "report.pdf", pdfData)
	s.Put(t, "alice", "photo.png", pngData)
	photo2 := s.Put(t, "alice", "photo.png", pngData)
	s.Put(t, "alice", "minutes.txt", []byte("minutes\n"))
	if !strings.HasSuffix(photo2, "/photo-2.png") {
		t.Fatalf("the second photo.png is at %s", photo2)
	}

	ctx := newBrowser(t)
	// Tokyo has no summer time: its clock is UTC+9 all year.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en_US"}); err != nil {
		t.Fatal(err)
	}
	browserLoginAs(t, ctx, s.URL, "alice")
	setClipboard(t, ctx, s.URL, true)

	// The first Tab shows the skip link, beside the logo, not over it.
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	overlap, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const skip = document.activeElement.getBoundingClientRect(), logo = document.querySelector(".brand").getBoundingClientRect();
		if (document.activeElement.className !== "skip" || skip.height === 0) return "the skip link is not shown";
		const apart = skip.right <= logo.left || logo.right <= skip.left || skip.bottom <= logo.top || logo.bottom <= skip.top;
		return apart ? "" : "the skip link covers the logo";
	})()`))
	if err != nil || overlap != "" {
		t.Errorf("after one Tab: %s (%v)", overlap, err)
	}

	// Your files first, then everyone's; no Owner column for your own.
	type section struct {
		ID, Heading string
		Names       []string
		Owners      bool
	}
	sections, err := chromedp.Run(ctx, chromedp.Evaluate[[]section](`Array.from(document.querySelectorAll("section.list")).map(s => ({
		ID: s.id,
		Heading: s.querySelector("h2").textContent,
		Names: Array.from(s.querySelectorAll("td.name a")).map(a => a.firstChild.textContent),
		Owners: s.querySelector("th:nth-child(5)").textContent === "Owner",
	}))`))
	if err != nil {
		t.Fatal(err)
	}
	want := []section{
		{"own", "Your files", []string{"minutes.txt", "photo.png", "photo.png", "report.pdf"}, false},
		{"public", "Everyone’s public files", []string{"notes.txt", "holiday.png"}, true},
	}
	if len(sections) != 2 || strings.Join(sections[0].Names, ",") != strings.Join(want[0].Names, ",") ||
		strings.Join(sections[1].Names, ",") != strings.Join(want[1].Names, ",") || sections[0].Heading != want[0].Heading ||
		sections[1].Heading != want[1].Heading || sections[0].Owners || !sections[1].Owners {
		t.Errorf("sections of /: %+v, want %+v", sections, want)
	}
	if stored, _ := chromedp.Run(ctx, chromedp.Text(chromedp.Search(row("own", "photo.png")+`//span[@class="stored"]`))); stored != "saved as photo-2.png" {
		t.Errorf("the second photo.png shows %q", stored)
	}

	// Dates in the viewer's time zone, the UTC time in the title.
	type date struct{ Datetime, Text, Title string }
	d, err := chromedp.Run(ctx, chromedp.Evaluate[date](`(() => { const t = document.querySelector("td time");
		return {Datetime: t.getAttribute("datetime"), Text: t.textContent, Title: t.title}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, d.Datetime)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("\u202f", " ", "\u00a0", " ").Replace(d.Text)
	if tokyo := at.In(time.FixedZone("JST", 9*60*60)).Format("Jan 2, 2006, 3:04 PM"); text != tokyo || d.Title != at.UTC().Format("2 Jan 2006, 15:04 UTC") {
		t.Errorf("a date of %s shows %q titled %q, want %q titled in UTC", d.Datetime, d.Text, d.Title, tokyo)
	}

	screenshot(t, ctx, "files-page.png")
	checkA11y(t, ctx, "the two lists on /")

	// Copy link: the absolute URL on the clipboard, and a word that
	// alice's files are private.
	copyReport := row("own", "report.pdf") + `//button[contains(@class, "copy")]`
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(copyReport)),
		chromedp.Poll[chromedp.Void](`document.querySelector(".copied:not(:empty)") !== null`, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil {
		t.Fatalf("copy link: %v", err)
	}
	said, _ := chromedp.Run(ctx, chromedp.Text(chromedp.Search(row("own", "report.pdf")+`//span[@class="copied"]`)))
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil || copied != s.URL+report || !strings.HasPrefix(said, "Copied. While your files are private") {
		t.Errorf("after Copy link the row says %q and the clipboard holds %q (%v), want %q", said, copied, err, s.URL+report)
	}
	// Where the page may not write the clipboard, the URL shows selected
	// in a field named after the file.
	setClipboard(t, ctx, s.URL, false)
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(row("public", "holiday.png")+`//button[contains(@class, "copy")]`)),
		chromedp.WaitVisible(chromedp.Search(row("public", "holiday.png")+`//input[@class="link-url"]`)),
	); err != nil {
		t.Fatalf("copy link without the clipboard: %v", err)
	}
	type field struct{ Value, Label, Selected string }
	f, err := chromedp.Run(ctx, chromedp.Evaluate[field](`(() => { const f = document.activeElement;
		return {Value: f.value, Label: f.getAttribute("aria-label"), Selected: f.value.substring(f.selectionStart, f.selectionEnd)}; })()`))
	if err != nil || !strings.HasPrefix(f.Value, s.URL+"/files/") || !strings.HasSuffix(f.Value, "/holiday.png") ||
		f.Selected != f.Value || f.Label != "Link to holiday.png by bob" {
		t.Errorf("the focused field: %+v (%v)", f, err)
	}
	setClipboard(t, ctx, s.URL, true)
	screenshot(t, ctx, "files-page-copy-link.png")

	// The public switch says what it does; after it the focus is on the
	// message, not at the top of the page.
	if label, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("button.switch"))); label != "Share all my files with everyone who logs in" {
		t.Errorf("the switch is labelled %q", label)
	}
	if err := chromedp.Do(ctx,
		chromedp.Focus(chromedp.CSS("button.switch")),
		chromedp.KeyEvent(" "),
		chromedp.WaitVisible(chromedp.CSS(`button.switch[aria-checked="true"]`)),
	); err != nil {
		t.Fatalf("public switch: %v", err)
	}
	if got := focusOn(t, ctx, "flash: Your files are now public: anyone logged in can download all of them."); got != "flash: Your files are now public: anyone logged in can download all of them." {
		t.Errorf("after the public switch the focus is on %q", got)
	}

	// Delete asks in a dialog; Cancel keeps the file and gives the focus
	// back to the button.
	aliceCookie := browserCookie(t, ctx, s.URL)
	deleteReport := row("own", "report.pdf") + `//form[@class="delete"]/button`
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(deleteReport)),
		chromedp.WaitVisible(chromedp.CSS("dialog#delete-dialog[open]")),
	); err != nil {
		t.Fatalf("delete dialog: %v", err)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("delete-title"))); title != "Delete report.pdf?" {
		t.Errorf("the dialog asks %q", title)
	}
	if help, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("delete-help"))); help != "This can’t be undone." {
		t.Errorf("the dialog says %q", help)
	}
	if got := focusOn(t, ctx, "secondary cancel: Cancel"); got != "secondary cancel: Cancel" {
		t.Errorf("in the dialog the focus is on %q, want Cancel", got)
	}
	// The dialog's backdrop covers the viewport, not the whole page.
	saveScreenshot(t, ctx, "delete-confirm.png", chromedp.CaptureScreenshot())
	checkA11y(t, ctx, "the delete dialog")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("dialog#delete-dialog button.cancel")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#delete-dialog[open]")),
	); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if got := focusOn(t, ctx, "danger: Delete report.pdf"); got != "danger: Delete report.pdf" {
		t.Errorf("after Cancel the focus is on %q", got)
	}
	if status, _ := get(t, s.URL+report, aliceCookie); status != http.StatusOK {
		t.Fatalf("after Cancel report.pdf answers %d", status)
	}

	// Delete in the dialog removes it; the message names it and has the
	// focus.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(deleteReport)),
		chromedp.WaitVisible(chromedp.CSS("dialog#delete-dialog[open]")),
		chromedp.Click(chromedp.CSS(`dialog#delete-dialog button[type=submit]`)),
	); err != nil {
		t.Fatalf("confirm the delete: %v", err)
	}
	waitFor(t, ctx, `document.readyState === "complete" && document.querySelector(".flash") !== null && document.querySelector(".flash").textContent.includes("deleted")`)
	if got := focusOn(t, ctx, "flash: report.pdf deleted."); got != "flash: report.pdf deleted." {
		t.Errorf("after the delete the focus is on %q", got)
	}
	if status, _ := get(t, s.URL+report, aliceCookie); status != http.StatusNotFound {
		t.Errorf("after the delete report.pdf answers %d", status)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("td.name a[href$='/report.pdf']").length`)); n != 0 {
		t.Errorf("report.pdf is still listed")
	}

	// A phone-sized screen gets the same page, one card per file.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("section#own"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "files-page-phone.png")
	checkA11y(t, ctx, "the two lists on a phone")
	if err := chromedp.Do(ctx, chromedp.EmulateReset(), chromedp.EmulateViewport(1100, 800)); err != nil {
		t.Fatal(err)
	}

	// Without JavaScript, Delete opens the page that asks; Cancel goes
	// back and keeps the file, Delete removes it, and the message takes
	// the focus all the same.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	deleteMinutes := row("own", "minutes.txt") + `//form[@class="delete"]/button`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.Click(chromedp.Search(deleteMinutes)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Delete minutes.txt?"]`)),
		chromedp.Click(chromedp.Search(`//a[text()="Cancel"]`)),
		chromedp.WaitVisible(chromedp.CSS("section#own")),
	); err != nil {
		t.Fatalf("confirmation page, Cancel: %v", err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.URL+"/" {
		t.Errorf("Cancel leads to %s", loc)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(deleteMinutes)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Delete minutes.txt?"]`)),
		chromedp.Click(chromedp.Search(`//form[@class="buttons"]/button[text()="Delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	); err != nil {
		t.Fatalf("confirmation page, Delete: %v", err)
	}
	if got := focusOn(t, ctx, "flash: minutes.txt deleted."); got != "flash: minutes.txt deleted." {
		t.Errorf("after the delete without JavaScript the focus is on %q", got)
	}
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}

	// Logging out says so, and the message has the focus, not the user
	// name field.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//button[text()="Log out"]`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	); err != nil {
		t.Fatalf("log out: %v", err)
	}
	if got := focusOn(t, ctx, "flash: You’re logged out."); got != "flash: You’re logged out." {
		t.Errorf("after logging out the focus is on %q", got)
	}

	// Staff deleting someone else's file are told whose it is.
	staff, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	browserLoginAs(t, staff, s.URL, "staff")
	if err := chromedp.Do(staff,
		chromedp.Click(chromedp.Search(row("public", "holiday.png")+`//form[@class="delete"]/button`)),
		chromedp.WaitVisible(chromedp.CSS("dialog#delete-dialog[open]")),
	); err != nil {
		t.Fatalf("staff's delete dialog: %v", err)
	}
	if help, _ := chromedp.Run(staff, chromedp.Text(chromedp.ID("delete-help"))); help != "This can’t be undone. It belongs to bob, not to you." {
		t.Errorf("staff's dialog says %q", help)
	}
}
