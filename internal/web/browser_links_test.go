package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/session"
	"github.com/filegate/filegate/internal/testenv"
)

// TestBrowserLinks: alice shares a file from the Share action of her
// files list, finds the link on the Links page with its full URL and
// copies it; a visitor without an account opens the URL, gets the
// password page, is refused a wrong password and let in by the right
// one (303 back to the link, with the link's cookie).
//
// The visitor reaches the password page through nginx. What nginx does
// with /s/ once the link is unlocked (serve the file) is authz's and
// nginx's, tested with the downloads; here the visitor's 303 and cookie
// are checked, not what the link then serves.
func TestBrowserLinks(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	s.Put(t, "alice", "holiday.png", pngData)
	s.Put(t, "alice", "report.pdf", pdfData)

	ctx := newBrowser(t)
	browserLogin(t, ctx, s.URL)
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "clipboard-write"}, Setting: browser.PermissionSettingGranted, Origin: s.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "clipboard-read"}, Setting: browser.PermissionSettingGranted, Origin: s.URL}); err != nil {
		t.Fatal(err)
	}

	// Share holiday.png for a day, three downloads, with a password.
	const share = `//tr[.//a[text()="holiday.png"]]//details[@class="share"]`
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(share+`/summary`)),
		chromedp.WaitVisible(chromedp.Search(share+`//select`)),
		chromedp.SetValue(chromedp.Search(share+`//select`), "24h"),
		chromedp.SendKeys(chromedp.Search(share+`//input[@name="max_downloads"]`), "3"),
		chromedp.SendKeys(chromedp.Search(share+`//input[@name="password"]`), "open sesame"),
	); err != nil {
		t.Fatalf("share form: %v", err)
	}
	screenshot(t, ctx, "share-form.png")
	checkA11y(t, ctx, "files page with a share form open")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(share+`//button[@type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.links")),
	); err != nil {
		t.Fatalf("create the link: %v", err)
	}
	if flash, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".flash"))); flash != "Share link to “holiday.png” created. Copy its URL below." {
		t.Errorf("flash %q", flash)
	}
	type row struct {
		File, URL, Downloads, Password, State, Current string
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll("table.links tbody tr")).map(tr => ({
		File: tr.querySelector("td.name").textContent,
		URL: tr.querySelector("input.link-url").value,
		Downloads: tr.querySelector("[data-label=Downloads]").textContent,
		Password: tr.querySelector("[data-label=Password]").textContent,
		State: tr.querySelector("[data-label=State]").textContent,
		Current: document.querySelector("nav a[aria-current=page]").textContent,
	}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("links page rows %+v", rows)
	}
	r := rows[0]
	if r.File != "holiday.png" || !strings.HasPrefix(r.URL, s.URL+"/s/") || len(r.URL) != len(s.URL)+3+session.LinkTokenLen ||
		r.Downloads != "0 / 3" || r.Password != "Yes" || r.State != "Active" || r.Current != "Links" {
		t.Errorf("links page row %+v", r)
	}

	// Copy puts the absolute URL on the clipboard and says so.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("button.copy")),
		chromedp.Poll[chromedp.Void](`document.querySelector(".copied").textContent !== ""`, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil {
		t.Fatalf("copy: %v", err)
	}
	said, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".copied")))
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if said != "Copied." || err != nil || copied != r.URL {
		t.Errorf("after Copy the page says %q and the clipboard holds %q (%v), want %q", said, copied, err, r.URL)
	}
	screenshot(t, ctx, "links-page.png")
	checkA11y(t, ctx, "links page with a message, a link copied")

	// A visitor, in a browser of their own: the password page, which
	// does not name the file.
	visitor, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	var mu sync.Mutex
	var redirects []*network.Response
	if err := chromedp.Listen(visitor, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.RedirectResponse != nil {
			mu.Lock()
			redirects = append(redirects, e.RedirectResponse)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(visitor, chromedp.Navigate(r.URL), chromedp.WaitVisible(chromedp.ID("link-password"))); err != nil {
		t.Fatalf("password page: %v", err)
	}
	if body, _ := chromedp.Run(visitor, chromedp.Text(chromedp.CSS("body"))); strings.Contains(body, "holiday") {
		t.Errorf("the password page names the file:\n%s", body)
	}
	checkA11y(t, visitor, "link password page")
	if err := chromedp.Do(visitor,
		chromedp.SendKeys(chromedp.ID("link-password"), "open sesame?\r"),
		chromedp.WaitVisible(chromedp.ID("link-error")),
	); err != nil {
		t.Fatalf("wrong password: %v", err)
	}
	if msg, _ := chromedp.Run(visitor, chromedp.Text(chromedp.ID("link-error"))); msg != "Wrong password." {
		t.Errorf("after a wrong password the page says %q", msg)
	}
	focused, _ := chromedp.Run(visitor, chromedp.Evaluate[string](`document.activeElement.id`))
	if focused != "link-password" {
		t.Errorf("focus on %q after a wrong password, want the password field", focused)
	}
	screenshot(t, visitor, "link-password.png")
	checkA11y(t, visitor, "link password page with an error")

	if err := chromedp.Do(visitor, chromedp.SendKeys(chromedp.ID("link-password"), "open sesame\r")); err != nil {
		t.Fatalf("right password: %v", err)
	}
	// Whatever the link then shows (the file, through nginx), the form
	// is gone.
	waitFor(t, visitor, `document.readyState === "complete" && document.getElementById("link-password") === null`)
	mu.Lock()
	var unlocked *network.Response
	for _, red := range redirects {
		if red.URL == r.URL && red.Status == 303 {
			unlocked = red
		}
	}
	mu.Unlock()
	if unlocked == nil || unlocked.Headers["Location"] != strings.TrimPrefix(r.URL, s.URL) {
		t.Fatalf("right password: redirects %+v, want a 303 from %s back to it", redirects, r.URL)
	}
	cookies, err := chromedp.Call(visitor, network.GetCookies, network.GetCookiesParams{URLs: []string{r.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var linkCookie *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == session.LinkCookieName {
			linkCookie = c
		}
	}
	path := strings.TrimPrefix(r.URL, s.URL)
	if linkCookie == nil || linkCookie.Path != path || !linkCookie.HTTPOnly || linkCookie.SameSite != network.CookieSameSiteLax ||
		linkCookie.Expires > float64(time.Now().Add(time.Hour+time.Minute).Unix()) {
		t.Errorf("link cookie %+v, want Path=%s, HttpOnly, SameSite=Lax, at most an hour", linkCookie, path)
	}
	if loc, _ := chromedp.Run(visitor, chromedp.Location()); loc != r.URL {
		t.Errorf("after unlocking at %s, want %s", loc, r.URL)
	}

	// Revoke from the Links page: the row says so, the button is gone.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(`//button[contains(., "Revoke")]`))); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	waitFor(t, ctx, `document.readyState === "complete" && document.querySelector(".flash").textContent.includes("revoked")`)
	if st, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("td[data-label=State]"))); st != "Revoked" {
		t.Errorf("state after Revoke: %q", st)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("form[action$='/revoke']").length`)); n != 0 {
		t.Errorf("%d Revoke buttons left", n)
	}

	// A phone-sized screen gets one card per link.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/links"),
		chromedp.WaitVisible(chromedp.CSS("input.link-url"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "links-page-phone.png")
	checkA11y(t, ctx, "links page on a phone, a link revoked")
}

// waitFor waits up to 10 s for the JavaScript expression cond to be true
// in the page of ctx, across the navigation a click started: each try
// stands on its own, since one that meets the navigation fails.
func waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
