package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/filegate/filegate/internal/testenv"
)

// browserLogin logs alice in on the login page of the browser in ctx,
// with the keyboard, and waits for the home page.
func browserLogin(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	browserLoginAs(t, ctx, url, "alice")
}

// TestBrowserAccount: two browsers (separate cookie jars) log in as
// alice; the account page lists both sessions and marks its own; "Log out
// everywhere" in one sends the other's next download to the login page.
func TestBrowserAccount(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	s.AddUser(t, testenv.User{Name: "alice", Password: testPassword})
	image := s.Put(t, "alice", "pixel.png", pngData) // shown inline, so a browser navigates to it

	laptop := newBrowser(t)
	browserLogin(t, laptop, s.URL)
	phone, cancel := chromedp.NewContext(laptop, chromedp.WithNewBrowserContext())
	defer cancel()
	browserLogin(t, phone, s.URL)

	// The other browser downloads while its session lives.
	if err := chromedp.Do(phone, chromedp.Navigate(s.URL+image), chromedp.WaitVisible(chromedp.CSS("img"))); err != nil {
		t.Fatalf("download before logout: %v", err)
	}

	if err := chromedp.Do(laptop,
		chromedp.Click(chromedp.CSS(`nav a[href="/account"]`)),
		chromedp.WaitVisible(chromedp.ID("sessions-heading")),
	); err != nil {
		t.Fatalf("account page: %v", err)
	}
	rows, err := chromedp.Run(laptop, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("table.sessions tbody tr")).map(tr => tr.className + "|" + tr.textContent.trim())`))
	if err != nil {
		t.Fatal(err)
	}
	current := 0
	for _, r := range rows {
		if strings.HasPrefix(r, "current|") && strings.Contains(r, "this one") {
			current++
		}
	}
	if len(rows) != 2 || current != 1 {
		t.Fatalf("sessions on the account page: %q, want two, one of them this one", rows)
	}
	screenshot(t, laptop, "account-page.png")
	checkA11y(t, laptop, "account page")

	// A wrong current password: the page again, with the form's error.
	if err := chromedp.Do(laptop,
		chromedp.SendKeys(chromedp.ID("current_password"), "not my password"),
		chromedp.SendKeys(chromedp.ID("new_password"), "a new password\r"),
		chromedp.WaitVisible(chromedp.ID("password-error")),
	); err != nil {
		t.Fatalf("wrong current password: %v", err)
	}
	checkA11y(t, laptop, "account page with a form error")

	if err := chromedp.Do(laptop,
		chromedp.Click(chromedp.CSS(`form.everywhere button`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	); err != nil {
		t.Fatalf("log out everywhere: %v", err)
	}
	// The other browser's next download ends on the login page, which
	// would bring it back to the file.
	if err := chromedp.Do(phone, chromedp.Navigate(s.URL+image), chromedp.WaitVisible(chromedp.ID("username"))); err != nil {
		t.Fatalf("download after logout everywhere: %v", err)
	}
	if loc, _ := chromedp.Run(phone, chromedp.Location()); loc != s.URL+"/login?next="+image {
		t.Errorf("the other browser is at %s, want the login page", loc)
	}
}
