package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/testenv"
)

// TestBrowserAdmin: a staff member manages users on /admin in a real
// browser, through nginx and authz: creates one (whose one-time password
// logs them in), makes another's files public (the next download sees
// it), logs a third out everywhere and removes a user after the dialog
// asks. Every state of the page passes axe.
func TestBrowserAdmin(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "staff", Password: testPassword, Staff: true})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	bob := s.AddUser(t, testenv.User{Name: "bob", Password: testPassword})
	report := s.Put(t, "alice", "report.pdf", pdfData)
	bobCookie := s.Login(t, "bob", testPassword, "bob's browser")
	if status, _ := get(t, s.URL+report, bobCookie); status != http.StatusForbidden {
		t.Fatalf("bob's download of alice's private file: %d, want 403", status)
	}

	ctx := newBrowser(t)
	browserLoginAs(t, ctx, s.URL, "staff")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="/admin"]`)),
		chromedp.WaitVisible(chromedp.ID("users-heading")),
	); err != nil {
		t.Fatalf("admin page: %v", err)
	}
	checkA11y(t, ctx, "admin page")
	row := func(id int64) string { return fmt.Sprintf(`//tr[@id="user-%d"]`, id) }
	if cells, _ := chromedp.Run(ctx, chromedp.Text(chromedp.Search(row(alice)))); !strings.Contains(cells, "1 of 10000") ||
		!strings.Contains(cells, fmt.Sprintf("%d bytes of 1 GiB", len(pdfData))) {
		t.Errorf("alice's row: %q", cells)
	}

	// Create carol: the page shows her one-time password, once.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("new-name"), "carol"),
		chromedp.Click(chromedp.ID("new-public")),
		chromedp.Click(chromedp.CSS(`form.create-user button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("one-time-password")),
	); err != nil {
		t.Fatalf("create a user: %v", err)
	}
	password, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("one-time-password")))
	if err != nil || len(password) < 20 {
		t.Fatalf("one-time password %q: %v", password, err)
	}
	if got := focused(t, ctx); got != "H2: User carol created" {
		t.Errorf("after the create the focus is on %q, want the password's heading", got)
	}
	screenshot(t, ctx, "admin-page.png")
	checkA11y(t, ctx, "admin page with a one-time password")
	s.Login(t, "carol", password, "carol's browser")

	// alice's files public: bob's next download is let through.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(row(alice)+`//button[contains(., "Make public")]`))); err != nil {
		t.Fatalf("make alice public: %v", err)
	}
	waitFlash(t, ctx, "alice’s files are public now: anyone logged in can download them.")
	if status, body := get(t, s.URL+report, bobCookie); status != http.StatusOK || !bytes.Equal(body, pdfData) {
		t.Errorf("bob's download after alice went public: %d", status)
	}
	checkA11y(t, ctx, "admin page with a message")

	// Log bob out everywhere: his cookie is refused at once.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(row(bob)+`//button[contains(., "Log out everywhere")]`))); err != nil {
		t.Fatalf("log bob out: %v", err)
	}
	waitFlash(t, ctx, "bob: 1 session logged out.")
	if status, _ := get(t, s.URL+report, bobCookie); status != http.StatusUnauthorized {
		t.Errorf("bob's download after being logged out: %d, want 401", status)
	}

	// Remove alice: the dialog asks first; Cancel keeps her.
	remove := row(alice) + `//form[@class="delete"]/button`
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(remove)),
		chromedp.WaitVisible(chromedp.CSS("dialog#delete-dialog[open]")),
	); err != nil {
		t.Fatalf("remove dialog: %v", err)
	}
	if title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("delete-title"))); title != "Remove user alice (1 file)?" {
		t.Errorf("the dialog asks %q", title)
	}
	if got := focused(t, ctx); got != "secondary cancel: Cancel" {
		t.Errorf("in the dialog the focus is on %q, want Cancel", got)
	}
	checkA11y(t, ctx, "the remove dialog")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("dialog#delete-dialog button.cancel")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#delete-dialog[open]")),
		chromedp.Click(chromedp.Search(remove)),
		chromedp.WaitVisible(chromedp.CSS("dialog#delete-dialog[open]")),
		chromedp.Click(chromedp.CSS(`dialog#delete-dialog button[type=submit]`)),
	); err != nil {
		t.Fatalf("remove alice: %v", err)
	}
	waitFlash(t, ctx, "alice removed with 1 file.")
	staffCookie := browserCookie(t, ctx, s.URL)
	if status, _ := get(t, s.URL+report, staffCookie); status != http.StatusNotFound {
		t.Errorf("alice's file after her removal: %d, want 404", status)
	}

	// Without script, Remove opens the page that asks.
	setScripts(t, ctx, false)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/admin"),
		chromedp.Click(chromedp.Search(row(bob)+`//form[@class="delete"]/button`)),
		chromedp.WaitVisible(chromedp.CSS(".confirm h1")),
	); err != nil {
		t.Fatalf("remove without script: %v", err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".confirm h1"))); h1 != "Remove user bob?" {
		t.Errorf("the confirmation page asks %q", h1)
	}
	setScripts(t, ctx, true)
	checkA11y(t, ctx, "the remove confirmation page")

	// A phone-sized screen: one card per user.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(s.URL+"/admin"),
		chromedp.WaitVisible(chromedp.ID("users-heading"))); err != nil {
		t.Fatal(err)
	}
	checkA11y(t, ctx, "admin page on a phone")
}

// waitFlash waits until the page in ctx has loaded with the message
// want, after a form's redirect.
func waitFlash(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	quoted, _ := json.Marshal(want)
	waitFor(t, ctx, `document.readyState === "complete" && document.querySelector(".flash") !== null && document.querySelector(".flash").textContent === `+string(quoted))
}
