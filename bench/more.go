package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/lib/pq"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/testenv"
)

// paced asks the authorizer at authzURL (http://host:port) about uri at
// a fixed rate for d, whatever its answers take (an open loop), and
// measures each answer from the moment it was due, so a stall counts for
// every request it held up (no coordinated omission). The requests are
// due in bursts, one every millisecond: Go's timers do not wake a
// sleeper sooner than about a millisecond on Linux (time.Sleep of 20 µs
// takes 1.08 ms here), so pacing each request by its own sleep made them
// all late by up to a millisecond and more, and that lateness counted as
// the authorizer's latency. A burst is harsher on the authorizer than
// the same rate spread evenly. It is a lean client, to weigh as little as
// it can on the cores it shares with the authorizer: one request made
// once, written on one of pacedConns keep-alive connections that is
// free, and the answer read up to its empty body. A request whose time
// has come while every connection waits for an answer waits too, and
// that wait counts. lag is how late the client itself sent the requests
// (its wake-ups and its connections), part of every latency; service is
// the time from sending each request to its answer.
func paced(authzURL, cookie, uri string, rate float64, d time.Duration) (res, lag, service result) {
	addr := strings.TrimPrefix(authzURL, "http://")
	req := []byte("GET /auth HTTP/1.1\r\nHost: " + addr + "\r\nCookie: " + cookie + "\r\n" +
		authz.HeaderURI + ": " + uri + "\r\n\r\n")
	const tick = time.Millisecond
	ticks := int(d / tick)
	total := int(rate * d.Seconds())
	due := make(chan time.Time, total)
	var (
		col, lags, svc collector
		wg             sync.WaitGroup
	)
	for range pacedConns {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			col.add(0, 0, false)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			br := bufio.NewReader(conn)
			for at := range due {
				sent := time.Now()
				lags.add(sent.Sub(at), 0, true)
				_, err := conn.Write(req)
				ok := err == nil && readAnswer(br) == nil
				col.add(time.Since(at), 0, ok)
				svc.add(time.Since(sent), 0, ok)
				if !ok {
					return
				}
			}
		}()
	}
	// Burst k is due at start + k ticks and holds the requests due by
	// then; a late wake-up sends every burst it left behind at once,
	// each still timed from when it was due.
	start := time.Now().Add(50 * time.Millisecond)
	sent := 0
	for k := 1; k <= ticks; k++ {
		at := start.Add(time.Duration(k) * tick)
		if wait := time.Until(at); wait > 0 {
			time.Sleep(wait)
		}
		for n := total * k / ticks; sent < n; sent++ {
			due <- at
		}
	}
	close(due)
	wg.Wait()
	return col.result(start), lags.result(start), svc.result(start)
}

// pacedConns is how many connections paced keeps: enough that a stall of
// a few milliseconds at its rates does not leave requests waiting for a
// connection rather than for the authorizer.
const pacedConns = 64

// readAnswer reads one bodiless HTTP/1.1 answer from br and fails unless
// it is a 200 with Content-Length 0, as authz answers an allowed
// download.
func readAnswer(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("answer %q", status)
	}
	empty := false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			empty = string(bytes.TrimSpace(v)) == "0"
		}
	}
	if !empty {
		return errors.New("an answer with a body")
	}
	return nil
}

// uploadSpeed uploads size bytes n times through nginx (POST /upload, as
// the upload page does) and writes the same bytes n times with dd and
// fsync on the disk of the private root, alternating, and returns both
// speeds in MiB/s and the uploader's peak resident memory in MiB during
// the uploads (VmHWM, reset first).
func uploadSpeed(t *runner, s *testenv.Stack, cookie string, size int64, n int) (upload, dd, rssMiB float64) {
	pid := s.UploaderPID()
	// "5" resets the peak resident size (proc(5), clear_refs).
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset the uploader's peak memory: %v", err)
	}
	data := pdf(int(size))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "upload.pdf")
	part.Write(data)
	mw.Close()
	// The body goes out in 256 KiB writes, not net/http's 4 KiB: the
	// client shares the cores with nginx and the uploader.
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{WriteBufferSize: 256 << 10, DisableCompression: true}}
	defer cl.CloseIdleConnections()
	target := filepath.Join(filepath.Dir(s.PrivateRoot), "dd.out")
	var upTime, ddTime time.Duration
	for i := range n {
		t0 := time.Now()
		cmd := exec.Command("dd", "if=/dev/zero", "of="+target, "bs=1M", fmt.Sprintf("count=%d", size>>20), "conv=fsync")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("dd: %v\n%s", err, out)
		}
		ddTime += time.Since(t0)
		os.Remove(target)

		req, _ := http.NewRequest(http.MethodPost, s.URL+"/upload", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Cookie", cookie)
		t0 = time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		upTime += time.Since(t0)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("upload %d: %s %s", i, resp.Status, msg)
		}
	}
	mib := float64(size) * float64(n) / (1 << 20)
	return mib / upTime.Seconds(), mib / ddTime.Seconds(), vmHWM(t, pid)
}

// vmHWM is process pid's peak resident memory in MiB.
func vmHWM(t *runner, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// seedFiles gives the stack's database n more file rows in one statement,
// alternately alice's and public bob's, newest last, and returns how long
// that took. Only rows: the lists never open the files. To stay within
// seconds it drops the files table's plain indexes and builds them again
// afterwards (one sort instead of a million insertions each), and skips
// the per-row foreign-key triggers (session_replication_role; the owners
// exist).
func seedFiles(t *runner, s *testenv.Stack, alice, bob int64, n int) time.Duration {
	db, err := sql.Open("postgres", s.DatabaseURL)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer conn.Close()
	start := time.Now()
	exec := func(q string, args ...any) {
		if _, err := conn.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("seed files: %s: %v", q, err)
		}
	}
	// The indexes that back no constraint, by name and definition.
	rows, err := conn.QueryContext(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename = 'files'
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`)
	if err != nil {
		t.Fatalf("seed files: %v", err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatalf("seed files: %v", err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	for _, name := range names {
		exec("DROP INDEX " + name)
	}
	exec("SET session_replication_role = replica")
	exec(`INSERT INTO files (owner_id, stored_name, display_name, content_type, size, sha256, created_at, owner_public)
SELECT CASE WHEN g % 2 = 0 THEN $1::bigint ELSE $2::bigint END, 'seed-' || g || '.pdf', 'seed ' || g || '.pdf',
       'application/pdf', 4096, repeat('0', 64), now() - interval '1 year' + g * interval '1 millisecond', g % 2 = 1
FROM generate_series(1, $3::int) g`, alice, bob, n)
	exec("RESET session_replication_role")
	for _, def := range defs {
		exec(def)
	}
	exec(`UPDATE users u SET used_files = t.n, used_bytes = t.b
FROM (SELECT owner_id, count(*) AS n, sum(size) AS b FROM files GROUP BY owner_id) t WHERE u.id = t.owner_id`)
	exec("ANALYZE files")
	return time.Since(start)
}

// page loads url one request at a time for d, as one user clicking
// through would, expecting 200.
func page(url, cookie, accept string, d time.Duration) result {
	return get(url, cookie, accept, 1, d)
}
