package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// upload is one file part of a request to POST /upload.
type upload struct {
	name string
	data []byte
}

// uploadResult is one entry of a 201 answer, or the error of another.
type uploadResult struct {
	URL   string `json:"url"`
	Name  string `json:"name"`
	Error string `json:"error"`
}

// postFiles uploads files through nginx as user in one multipart request
// and returns the status and the body.
func postFiles(t *testing.T, s *testenv.Stack, user int64, files ...upload) (int, []byte) {
	t.Helper()
	ct, body := multipartFiles(files...)
	return postBody(t, s, user, ct, body, int64(body.Len()))
}

// multipartFiles returns files as a multipart body and its content type.
func multipartFiles(files ...upload) (string, *bytes.Buffer) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, f := range files {
		w, _ := mw.CreateFormFile("file", f.name) // writing to a buffer cannot fail
		w.Write(f.data)
	}
	mw.Close()
	return mw.FormDataContentType(), &body
}

// postBody sends body (of size bytes) to POST /upload through nginx as
// user, asking for JSON.
func postBody(t *testing.T, s *testenv.Stack, user int64, contentType string, body io.Reader, size int64) (int, []byte) {
	t.Helper()
	status, b, err := send(s, s.Cookie(t, user), contentType, body, size)
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}

// send is postBody for other goroutines than the test's: it returns its
// errors.
func send(s *testenv.Stack, cookie *http.Cookie, contentType string, body io.Reader, size int64) (int, []byte, error) {
	req, err := http.NewRequest("POST", s.URL+"/upload", body)
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(cookie)
	// A connection of its own: nginx may close one whose request body the
	// app answered before reading it all (a refused part), and a body that
	// cannot be sent again cannot retry on a pooled connection nginx has
	// just closed ("server closed idle connection").
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("POST /upload: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// wantQuotaRefusal checks for the 507 answer of an upload over the quota.
func wantQuotaRefusal(t *testing.T, status int, body []byte) {
	t.Helper()
	var e map[string]string
	if status != http.StatusInsufficientStorage || json.Unmarshal(body, &e) != nil || len(e) != 1 || !strings.Contains(e["error"], "quota") {
		t.Fatalf("upload over the quota: %d %s; want 507 {\"error\": \"…quota…\"}", status, body)
	}
}

// stored returns the names of the files of user (whose slug is slug), as
// the JSON list shows them, after checking that their folder holds
// exactly their bytes: no temporary file and nothing without a row.
func stored(t *testing.T, s *testenv.Stack, user int64, slug string) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/api/files?user="+slug, nil)
	req.AddCookie(s.Cookie(t, user))
	resp, body := do(t, req)
	var files []uploadResult
	if err := json.Unmarshal(body, &files); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/files: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Link") != "" {
		t.Fatalf("more files than a page")
	}
	var names, onDisk []string
	for _, f := range files {
		names = append(names, f.Name)
		onDisk = append(onDisk, filepath.Base(f.URL))
	}
	entries, _ := os.ReadDir(filepath.Join(s.PrivateRoot, strconv.FormatInt(user, 10)))
	if len(entries) != len(onDisk) {
		var all []string
		for _, e := range entries {
			all = append(all, e.Name())
		}
		t.Errorf("user %d: folder holds %v, rows %v", user, all, onDisk)
	}
	return names
}

// wantSweepClean checks that `uploader sweep` finds nothing to fix.
func wantSweepClean(t *testing.T, s *testenv.Stack) {
	t.Helper()
	if out := s.CLI(t, "", "sweep"); !strings.Contains(out, "0 files without rows, 0 rows without files") {
		t.Errorf("sweep:\n%s", out)
	}
}

func text(n int) []byte { return bytes.Repeat([]byte("quota words\n"), n/12) }

func TestFilesPerRequestThroughNginx(t *testing.T) {
	s := testenv.Start(t, testenv.Options{})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})
	var files []upload
	for i := range 21 {
		files = append(files, upload{fmt.Sprintf("f%02d.txt", i), []byte("one of many\n")})
	}
	status, body := postFiles(t, s, alice, files...)
	var got []uploadResult
	if status != http.StatusCreated || json.Unmarshal(body, &got) != nil || len(got) != 21 {
		t.Fatalf("21 parts: %d %s", status, body)
	}
	for i, res := range got[:20] {
		if res.Error != "" || res.URL == "" {
			t.Errorf("part %d: %+v", i, res)
		}
	}
	if last := got[20]; last.Name != "f20.txt" || last.URL != "" || !strings.Contains(last.Error, "Only 20 files") {
		t.Errorf("part 21: %+v", last)
	}
	if n := len(stored(t, s, alice, "alice")); n != 20 {
		t.Errorf("%d files stored, want 20", n)
	}

	// Headers over 16 KiB: a 400, nothing stored, the name not echoed.
	name := strings.Repeat("n", 20<<10) + ".txt"
	status, body = postFiles(t, s, alice, upload{name, []byte("words\n")})
	if status != http.StatusBadRequest || !strings.Contains(string(body), "16 KiB") || len(body) > 1<<10 {
		t.Errorf("part header over 16 KiB: %d %.200s", status, body)
	}
	if n := len(stored(t, s, alice, "alice")); n != 20 {
		t.Errorf("%d files after the refused upload, want 20", n)
	}
	wantSweepClean(t, s)
}

func TestQuotaThroughNginx(t *testing.T) {
	s := testenv.Start(t, testenv.Options{Env: []string{"FILEGATE_QUOTA=10KiB", "FILEGATE_QUOTA_FILES=5"}})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})

	// Bytes: three files of 3000 bytes fit in 10 KiB, a fourth does not.
	for i := range 3 {
		if status, body := postFiles(t, s, alice, upload{fmt.Sprintf("big%d.txt", i), text(3000)}); status != 201 {
			t.Fatalf("upload %d: %d %s", i, status, body)
		}
	}
	status, body := postFiles(t, s, alice, upload{"big3.txt", text(3000)})
	wantQuotaRefusal(t, status, body)
	if got := stored(t, s, alice, "alice"); len(got) != 3 {
		t.Errorf("after the refusal: %v", got)
	}
	wantSweepClean(t, s)

	// `uploader put` takes the same path.
	path := filepath.Join(t.TempDir(), "put.txt")
	os.WriteFile(path, text(3000), 0o644)
	out, err := s.TryCLI(t, "", "put", "alice", path)
	if err == nil || !strings.Contains(out, "put.txt: error:") || !strings.Contains(out, "quota") {
		t.Errorf("uploader put over the quota: %v\n%s", err, out)
	}
	if got := stored(t, s, alice, "alice"); len(got) != 3 {
		t.Errorf("after the refused put: %v", got)
	}

	// Deleting frees quota.
	req, _ := http.NewRequest("GET", s.URL+"/api/files", nil)
	req.AddCookie(s.Cookie(t, alice))
	_, list := do(t, req)
	var ids []struct{ ID int64 }
	if err := json.Unmarshal(list, &ids); err != nil || len(ids) == 0 {
		t.Fatalf("GET /api/files: %s", list)
	}
	req, _ = http.NewRequest("POST", fmt.Sprintf("%s/delete/%d", s.URL, ids[0].ID), nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(s.Cookie(t, alice))
	if resp, body := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if status, body := postFiles(t, s, alice, upload{"big3.txt", text(3000)}); status != 201 {
		t.Fatalf("upload after a delete: %d %s", status, body)
	}

	// Files: 5 at most, however small.
	s.CLI(t, "", "put", "alice", writeFile(t, "small1.txt", "a\n"))
	if status, body := postFiles(t, s, alice, upload{"small2.txt", []byte("b\n")}); status != 201 {
		t.Fatalf("fifth file: %d %s", status, body)
	}
	status, body = postFiles(t, s, alice, upload{"small3.txt", []byte("c\n")})
	wantQuotaRefusal(t, status, body)
	if !strings.Contains(string(body), "5 files") {
		t.Errorf("file quota sentence: %s", body)
	}
	if got := stored(t, s, alice, "alice"); len(got) != 5 {
		t.Errorf("files: %v", got)
	}
	wantSweepClean(t, s)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Ten uploads at once, through nginx, where only some fit: exactly that
// many are stored, the others are 507 and leave nothing.
func TestQuotaRaceThroughNginx(t *testing.T) {
	s := testenv.Start(t, testenv.Options{Env: []string{"FILEGATE_QUOTA=10KiB", "FILEGATE_QUOTA_FILES=4"}})
	for _, tt := range []struct {
		user string
		size int
		fit  int
	}{
		{"bytes", 3000, 3}, // 3 × 3000 bytes fit in 10 KiB
		{"files", 12, 4},   // 4 files
	} {
		t.Run(tt.user, func(t *testing.T) {
			user := s.AddUser(t, testenv.User{Name: tt.user, Password: "a-password"})
			cookie := s.Cookie(t, user)
			statuses, bodies, errs := make([]int, 10), make([][]byte, 10), make([]error, 10)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range statuses {
				ct, body := multipartFiles(upload{fmt.Sprintf("race%d.txt", i), text(tt.size)})
				wg.Go(func() {
					<-start
					statuses[i], bodies[i], errs[i] = send(s, cookie, ct, body, int64(body.Len()))
				})
			}
			close(start)
			wg.Wait()
			created := 0
			for i, st := range statuses {
				if errs[i] != nil {
					t.Fatal(errs[i])
				} else if st == 201 {
					created++
				} else {
					wantQuotaRefusal(t, st, bodies[i])
				}
			}
			if got := stored(t, s, user, tt.user); created != tt.fit || len(got) != tt.fit {
				t.Errorf("%d uploads answered 201 and %d files are stored; want %d", created, len(got), tt.fit)
			}
		})
	}
	wantSweepClean(t, s)
}

// statusMiB reads a memory line of /proc/{pid}/status ("VmHWM", "VmRSS"),
// in MiB.
func statusMiB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssWatch follows the resident memory of a process: the kernel's high
// water mark (VmHWM), and to be sure, VmRSS sampled every few
// milliseconds, since the kernel keeps its counters per CPU and updates
// the mark lazily.
type rssWatch struct {
	pid  int
	mu   sync.Mutex
	max  float64
	stop chan struct{}
	done chan struct{}
}

func watchRSS(t *testing.T, pid int) *rssWatch {
	w := &rssWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := statusMiB(pid, "VmRSS"); err == nil {
				w.mu.Lock()
				w.max = max(w.max, rss)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(w.stop); <-w.done })
	return w
}

// peak returns the highest resident memory seen so far, in MiB.
func (w *rssWatch) peak(t *testing.T) float64 {
	t.Helper()
	hwm, err := statusMiB(w.pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(hwm, w.max)
}

// padding is an endless stream of one byte.
type padding byte

func (p padding) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(p)
	}
	return len(b), nil
}

// The requests that once took the uploader from 30 MiB to gigabytes, sent
// through nginx: the uploader's peak resident memory stays under 64 MiB.
func TestUploaderMemoryUnderAbuse(t *testing.T) {
	s := testenv.Start(t, testenv.Options{MaxBody: "64m"})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "alice-password"})
	rss := watchRSS(t, s.UploaderPID())
	const limit = 64.0 // MiB
	t.Logf("uploader peak RSS after start: %.1f MiB", rss.peak(t))

	// (a) 18 MiB of parts with long raw names and refused contents, the
	// first one stored, so the answer is a 201 listing the parts.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	longName := strings.Repeat("<é>", 2500) // 12.5 KiB, each byte escaped in JSON
	for i := 0; body.Len() < 18<<20; i++ {
		content := []byte("<!DOCTYPE html><script>alert(1)</script>")
		if i == 0 {
			content = []byte("first, stored\n")
		}
		w, _ := mw.CreateFormFile("file", fmt.Sprintf("%d%s.txt", i, longName))
		w.Write(content)
	}
	mw.Close()
	size := body.Len()
	status, answer := postBody(t, s, alice, mw.FormDataContentType(), &body, int64(size))
	var got []uploadResult
	if status != 201 || json.Unmarshal(answer, &got) != nil || len(got) != 20+100 {
		t.Errorf("18 MiB of long names: %d, %d entries, %d bytes", status, len(got), len(answer))
	}
	for _, res := range got {
		if len(res.Name) > 255 {
			t.Fatalf("an entry names a file with %d bytes", len(res.Name))
		}
	}
	name := rss.peak(t)
	t.Logf("(a) %d MiB request of long names: answer %d KiB; uploader peak RSS %.1f MiB", size>>20, len(answer)>>10, name)

	// The same 18 MiB as six names of 3 MiB: a 400 at the first.
	body.Reset()
	mw = multipart.NewWriter(&body)
	for i := range 6 {
		w, _ := mw.CreateFormFile("file", fmt.Sprintf("%d%s.txt", i, strings.Repeat("n", 3<<20)))
		w.Write([]byte("x\n"))
	}
	mw.Close()
	status, answer = postBody(t, s, alice, mw.FormDataContentType(), &body, int64(body.Len()))
	if status != 400 || len(answer) > 1<<10 {
		t.Errorf("names of 3 MiB: %d %.200s", status, answer)
	}
	huge := rss.peak(t)
	t.Logf("(a') 18 MiB request of six 3 MiB names: %d; uploader peak RSS %.1f MiB", status, huge)

	// (b) 60 uploads at once, each with 9 MiB of part headers, generated
	// as they are sent.
	const uploads, headers = 60, 9 << 20
	prefix := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nX-Pad: "
	suffix := "\r\n\r\nwords\r\n--b--\r\n"
	var wg sync.WaitGroup
	statuses, errs := make([]int, uploads), make([]error, uploads)
	cookie := s.Cookie(t, alice)
	for i := range uploads {
		wg.Go(func() {
			body := io.MultiReader(strings.NewReader(prefix), io.LimitReader(padding('h'), headers), strings.NewReader(suffix))
			statuses[i], _, errs[i] = send(s, cookie, "multipart/form-data; boundary=b", body, int64(len(prefix)+headers+len(suffix)))
		})
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 400 || errs[i] != nil {
			t.Errorf("upload %d with 9 MiB of headers: %d %v, want 400", i, st, errs[i])
		}
	}
	peak := rss.peak(t)
	t.Logf("(b) %d concurrent uploads with 9 MiB of part headers: uploader peak RSS %.1f MiB", uploads, peak)
	if peak > limit {
		t.Errorf("uploader peak RSS %.1f MiB, want under %.0f MiB", peak, limit)
	}
	if got := stored(t, s, alice, "alice"); len(got) != 1 {
		t.Errorf("stored %v, want only the first file of (a)", got)
	}
	wantSweepClean(t, s)
}
