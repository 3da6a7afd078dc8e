package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"mime/multipart"
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

// paced asks authz at authzURL at a fixed rate for d, whatever its
// answers take (an open loop), and measures each answer from the moment
// it was due, so a stall counts for every request it held up.
func paced(authzURL, cookie, uri string, rate float64, d time.Duration) result {
	const workers = 32
	cl := client(workers)
	defer cl.CloseIdleConnections()
	interval := time.Duration(float64(time.Second) / rate)
	total := int(d / interval)
	var (
		col collector
		wg  sync.WaitGroup
	)
	start := time.Now().Add(50 * time.Millisecond)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < total; k += workers {
				due := start.Add(time.Duration(k) * interval)
				time.Sleep(time.Until(due))
				req, _ := http.NewRequest("GET", authzURL+"/auth", nil)
				req.Header.Set("Cookie", cookie)
				req.Header.Set(authz.HeaderURI, uri)
				resp, err := cl.Do(req)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					resp.Body.Close()
				}
				col.add(time.Since(due), 0, ok)
			}
		}()
	}
	wg.Wait()
	return col.result(start)
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
	cl := client(1)
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
