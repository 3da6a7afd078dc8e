package testenv

import (
	"io"
	"net/http"
	"time"
)

// Do sends req as a test client does: it gives up after 10 s and returns
// a redirect rather than following it. It returns the response and its
// whole body, closed; a request that gets no response fails the test.
func Do(t T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp, body
}
