package ingest

// The tests here hold for both storage backends and run on each: the
// private root on disk, and a bucket on a real S3-compatible server
// (versitygw, testenv.StartS3).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/storage"
	"github.com/filegate/filegate/internal/storage/fs"
	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// eachBackend runs fn as one parallel subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{"fs", "s3"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// newEnvOn is newEnv on backend kind ("fs" or "s3") with quota q.
func newEnvOn(t *testing.T, kind string, maxSize int64, q filegate.Quota) *env {
	t.Helper()
	return newEnvDB(t, kind, testenv.OpenDB(t), maxSize, q)
}

// newEnvDB is newEnvOn over the store db.
func newEnvDB(t *testing.T, kind string, db *postgres.DB, maxSize int64, q filegate.Quota) *env {
	t.Helper()
	u := testenv.AddUser(t, db, testenv.User{Name: "Ann"})
	e := &env{db: db, owner: u.ID}
	switch kind {
	case "fs":
		e.root = filepath.Join(t.TempDir(), "private")
		disk, err := fs.Open(e.root, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { disk.Close() })
		e.storage = disk
	case "s3":
		e.s3 = testenv.StartS3(t)
		bucket, err := s3.New(e.s3.Config)
		if err != nil {
			t.Fatal(err)
		}
		e.storage = bucket
	}
	e.in = newIngesterOn(t, e.storage, db, maxSize, q)
	return e
}

// leftovers lists, sorted, everything in storage as the store itself
// shows it, not through the adapter: files below the private root
// ("7/.upload-42" included), or keys and unfinished uploads ("upload
// 7/42/x.pdf") in the bucket.
func (e *env) leftovers(t *testing.T) []string {
	t.Helper()
	var out []string
	if e.s3 == nil {
		err := filepath.WalkDir(e.root, func(p string, d iofs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(e.root, p)
				out = append(out, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			t.Fatal(err)
		}
		return out
	}
	ctx := context.Background()
	for o := range e.s3.Client.ListObjects(ctx, e.s3.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	for u := range e.s3.Client.ListIncompleteUploads(ctx, e.s3.Bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		out = append(out, "upload "+u.Key)
	}
	slices.Sort(out)
	return out
}

// wantLeft checks that storage holds exactly the bytes of files.
func (e *env) wantLeft(t *testing.T, files ...filegate.File) {
	t.Helper()
	var want []string
	for _, f := range files {
		want = append(want, e.storage.Name(f))
	}
	slices.Sort(want)
	if got := e.leftovers(t); !slices.Equal(got, want) {
		t.Errorf("storage holds %q, want %q", got, want)
	}
}

// openDB opens the store at storeURL and, for what the test does behind
// its back (locks, triggers, pg_stat_activity), a plain connection pool at
// directURL, both closed when the test ends.
func openDB(t *testing.T, storeURL, directURL string) (*postgres.DB, *sql.DB) {
	t.Helper()
	db, err := postgres.Open(storeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	direct, err := sql.Open("postgres", directURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { direct.Close() })
	return db, direct
}

// readObject reads f's object from the bucket with the root client.
func (e *env) readObject(t *testing.T, f filegate.File) []byte {
	t.Helper()
	obj, err := e.s3.Client.GetObject(context.Background(), e.s3.Bucket, storage.Key(f.OwnerID, f.ID, f.StoredName), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("read %s: %v", f.Path(), err)
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pattern returns n bytes of patternReader: a PDF of n bytes.
func pattern(n int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(&patternReader{}, n))
	return b
}

func TestBackendsPut(t *testing.T) {
	const limit = 12 << 20
	tests := []struct {
		name string
		data []byte
	}{
		{"small.pdf", pdfSample},
		{"notes.txt", textSample},
		{"one part.pdf", pattern(s3.PartSize)},
		{"three parts.pdf", pattern(11 << 20)},
		{"at the limit.pdf", pattern(limit)},
	}
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, limit, testenv.LargeQuota)
		var stored []filegate.File
		for _, tt := range tests {
			f := e.put(t, tt.name, tt.data)
			if f.Size != int64(len(tt.data)) || f.SHA256 != sum(tt.data) {
				t.Errorf("%s: stored size %d sha %s, want %d", tt.name, f.Size, f.SHA256, len(tt.data))
			}
			if got := e.read(t, f); sum(got) != sum(tt.data) {
				t.Errorf("%s: read back %d bytes that differ", tt.name, len(got))
			}
			if kind == "s3" {
				info, err := e.s3.Client.StatObject(context.Background(), e.s3.Bucket, storage.Key(f.OwnerID, f.ID, f.StoredName), minio.StatObjectOptions{})
				if err != nil || info.ContentType != f.ContentType {
					t.Errorf("%s: object content type %q (%v), want the sniffed %q", tt.name, info.ContentType, err, f.ContentType)
				}
			}
			stored = append(stored, f)
		}
		e.wantLeft(t, stored...) // no temp file, no staged copy, no unfinished upload
	})
}

// cancelAfter cancels a context once n bytes were read, like a server
// shutting down mid-upload.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestBackendsRefused(t *testing.T) {
	const limit = 12 << 20
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, limit, testenv.LargeQuota)
		huge := &patternReader{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tests := []struct {
			desc string
			ctx  context.Context
			r    io.Reader
			code string
		}{
			{"one byte too large", nil, bytes.NewReader(pattern(limit + 1)), filegate.ETOOLARGE},
			{"much too large", nil, io.LimitReader(huge, 1<<30), filegate.ETOOLARGE},
			{"wrong type", nil, strings.NewReader("<!DOCTYPE html><html><script>alert(1)</script></html>"), filegate.EUNSUPPORTED},
			{"client gone in the first part", nil, &failingReader{pattern(1 << 20), syscall.ECONNRESET}, filegate.EINVALID},
			{"client gone in the second part", nil, &failingReader{pattern(7 << 20), syscall.ECONNRESET}, filegate.EINVALID},
			{"cancelled mid-stream", ctx, &cancelAfter{r: io.LimitReader(&patternReader{}, 11<<20), n: 7 << 20, cancel: cancel}, filegate.EINTERNAL},
		}
		for _, tt := range tests {
			c := tt.ctx
			if c == nil {
				c = context.Background()
			}
			f, err := e.in.Put(c, e.owner, "x.pdf", tt.r)
			if err == nil {
				t.Fatalf("%s: Put = %+v, want an error", tt.desc, f)
			}
			if code := filegate.ErrorCode(err); code != tt.code {
				t.Errorf("%s: Put: %v (code %s), want %s", tt.desc, err, code, tt.code)
			}
			e.assertNothingLeft(t)
			if got := e.leftovers(t); len(got) != 0 {
				t.Errorf("%s: left %q", tt.desc, got)
			}
		}
		if huge.n > limit+2*firstReadSlack {
			t.Errorf("read %d bytes of a 1 GiB upload over a %d limit", huge.n, limit)
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Error("the mid-stream cancel never happened")
		}
	})
}

// firstReadSlack bounds how far past the limit a refused upload is read:
// one read of the source.
const firstReadSlack = 64 << 10

// Display names any URL or key would have to encode: the stored name is
// safe by construction, the display name kept as given.
func TestBackendsNames(t *testing.T) {
	names := []string{"my report 2024.pdf", "a+b=c.pdf", "100% done.pdf", "Grüße ☃.pdf", "what?.pdf", "#1 #2.pdf", "x%2F..%2Fy.pdf", "日本語.pdf"}
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, 1<<20, testenv.LargeQuota)
		var stored []filegate.File
		for i, name := range names {
			data := fmt.Appendf([]byte(pdfHeader), "file %d\n", i)
			f := e.put(t, name, data)
			if f.DisplayName != name || !filegate.StoredNamePattern.MatchString(f.StoredName) {
				t.Errorf("%q stored as %q, displayed as %q", name, f.StoredName, f.DisplayName)
			}
			if got := e.read(t, f); !bytes.Equal(got, data) {
				t.Errorf("%q: read back %q", name, got)
			}
			row, err := e.db.FileByID(context.Background(), f.ID)
			if err != nil || row.DisplayName != name {
				t.Errorf("%q: row %+v, %v", name, row, err)
			}
			stored = append(stored, f)
		}
		e.wantLeft(t, stored...)
	})
}

func TestBackendsDeleteAndPutAgain(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, 1<<20, testenv.LargeQuota)
		ctx := context.Background()
		first := e.put(t, "a.pdf", pdfSample)
		if _, err := e.in.Delete(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		e.wantLeft(t)
		v2 := append([]byte(pdfHeader), "second version"...)
		second := e.put(t, "a.pdf", v2)
		if second.StoredName != first.StoredName || second.ID == first.ID {
			t.Errorf("put again as %q id %d, first %q id %d", second.StoredName, second.ID, first.StoredName, first.ID)
		}
		if kind == "s3" && e.storage.Name(second) == e.storage.Name(first) {
			t.Errorf("key %s reused", e.storage.Name(first))
		}
		if !bytes.Equal(e.read(t, second), v2) {
			t.Error("the second version reads back wrong")
		}
		e.wantLeft(t, second)
	})
}

func TestBackendsSameNameConcurrently(t *testing.T) {
	const n = 4
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, 16<<20, testenv.LargeQuota)
		var wg sync.WaitGroup
		files, datas, errs := make([]filegate.File, n), make([][]byte, n), make([]error, n)
		for i := range n {
			// Two of them large enough for a multipart upload.
			datas[i] = fmt.Appendf(pattern(int64(i%2)*6<<20+100), "upload %d", i)
			wg.Go(func() {
				files[i], errs[i] = e.in.Put(context.Background(), e.owner, "same.pdf", bytes.NewReader(datas[i]))
			})
		}
		wg.Wait()
		var names []string
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("upload %d: %v", i, errs[i])
			}
			names = append(names, files[i].StoredName)
			if got := e.read(t, files[i]); !bytes.Equal(got, datas[i]) {
				t.Errorf("upload %d (%s) reads back other bytes", i, files[i].StoredName)
			}
		}
		slices.Sort(names)
		if want := []string{"same-2.pdf", "same-3.pdf", "same-4.pdf", "same.pdf"}; !slices.Equal(names, want) {
			t.Errorf("stored as %q, want %q", names, want)
		}
		e.wantLeft(t, files...)
	})
}

func TestBackendsRemoveUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, 16<<20, testenv.LargeQuota)
		bob := testenv.AddUser(t, e.db, testenv.User{Name: "Bob"})
		e.put(t, "a.pdf", pdfSample)
		e.put(t, "big.pdf", pattern(6<<20))
		kept, err := e.in.Put(context.Background(), bob.ID, "a.pdf", bytes.NewReader(pdfSample))
		if err != nil {
			t.Fatal(err)
		}
		gone, err := e.in.RemoveUser(context.Background(), e.owner)
		if err != nil || len(gone) != 2 {
			t.Fatalf("RemoveUser = %d files, %v", len(gone), err)
		}
		e.wantLeft(t, kept)
	})
}

func TestBackendsCommitFails(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, 16<<20, testenv.LargeQuota)
		e.in = newIngesterOn(t, e.storage, commitFails{e.db}, 16<<20, testenv.LargeQuota)
		for _, data := range [][]byte{pdfSample, pattern(6 << 20)} {
			if _, err := e.in.Put(context.Background(), e.owner, "x.pdf", bytes.NewReader(data)); err == nil {
				t.Fatal("Put succeeded")
			}
			e.assertNothingLeft(t)
			e.wantLeft(t)
		}
	})
}

// The reply to COMMIT is lost while PostgreSQL goes on committing (a
// deferred trigger makes the commit take a second, and the connection is
// cut meanwhile). The row is there, so the bytes must stay: the upload
// succeeded when the database can say so after all, and otherwise its
// bytes are left for sweep. Before the fix they were removed, and the
// committed row pointed at nothing.
func TestBackendsCommitReplyLost(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		dbURL := testenv.NewDatabase(t)
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := testenv.NewProxy(t, u.Host)
		u.Host = proxy.Addr
		db, direct := openDB(t, u.String(), dbURL)
		_, err = direct.Exec(`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$;
			CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON files
				DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnvDB(t, kind, db, 16<<20, testenv.LargeQuota)

		// waitCommit waits until the server runs a COMMIT, or none.
		waitCommit := func(running bool) {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				var n int
				err := direct.QueryRow(`SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND state = 'active' AND query = 'COMMIT'`).Scan(&n)
				if err != nil {
					t.Fatal(err)
				}
				if (n > 0) == running {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("waited 30 s for a COMMIT running: %v", running)
				}
			}
		}
		// putCut uploads data and cuts the database's connections while
		// the server runs the COMMIT; restore brings them back at once.
		putCut := func(name string, data []byte, restore bool) (filegate.File, error) {
			t.Helper()
			type result struct {
				f   filegate.File
				err error
			}
			done := make(chan result, 1)
			go func() {
				f, err := e.in.Put(context.Background(), e.owner, name, bytes.NewReader(data))
				done <- result{f, err}
			}()
			waitCommit(true)
			proxy.Cut()
			if restore {
				proxy.Restore()
			}
			r := <-done
			proxy.Restore()
			waitCommit(false) // the server finishes what it was told
			return r.f, r.err
		}
		committed := func(name string) filegate.File {
			t.Helper()
			f, err := e.db.FileByName(context.Background(), e.owner, name)
			if err != nil {
				t.Fatalf("row of %s: %v", name, err)
			}
			return f
		}

		// The database answers again: FileExists waits for the commit
		// and finds the row.
		data := pattern(6 << 20)
		f, err := putCut("a.pdf", data, true)
		if err != nil {
			t.Fatalf("Put with the reply to COMMIT lost: %v, want the committed file", err)
		}
		if row := committed("a.pdf"); row.ID != f.ID || !bytes.Equal(e.read(t, f), data) {
			t.Errorf("row %+v, Put returned %+v", row, f)
		}

		// The database stays away: nobody can tell, the bytes stay.
		_, err = putCut("b.pdf", pdfSample, false)
		if filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
			t.Errorf("Put with the database gone at COMMIT: %v, want EUNAVAILABLE", err)
		}
		b := committed("b.pdf")
		if !bytes.Equal(e.read(t, b), pdfSample) {
			t.Error("b.pdf reads back other bytes")
		}
		e.wantLeft(t, f, b)
	})
}

func TestBackendsQuota(t *testing.T) {
	eachBackend(t, func(t *testing.T, kind string) {
		e := newEnvOn(t, kind, 16<<20, filegate.Quota{Bytes: 8 << 20, Files: 3})
		a := e.put(t, "a.pdf", pattern(6<<20))
		_, err := e.in.Put(context.Background(), e.owner, "b.pdf", bytes.NewReader(pattern(6<<20)))
		wantQuotaError(t, err)
		b := e.put(t, "b.pdf", pdfSample)
		c := e.put(t, "c.pdf", pdfSample)
		_, err = e.in.Put(context.Background(), e.owner, "d.pdf", bytes.NewReader(pdfSample))
		wantQuotaError(t, err)
		e.wantLeft(t, a, b, c)
	})
}

// A store that is down refuses an upload as unavailable (503), and one
// lost mid-upload leaves at most an unfinished upload, which sweep
// aborts.
func TestS3Down(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, "s3", 16<<20, testenv.LargeQuota)
	e.s3.Service.Stop()
	start := time.Now()
	_, err := e.in.Put(context.Background(), e.owner, "x.pdf", bytes.NewReader(pdfSample))
	if filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
		t.Errorf("Put with the store down: %v, want EUNAVAILABLE", err)
	}
	// minio's ten tries took 4.4 s; three take 1.4 s at most.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("refused after %v, want within 2 s", took)
	} else {
		t.Logf("refused after %v", took)
	}
	e.s3.Service.Restart(t)
	e.assertNothingLeft(t)

	// Lost after the first part: the abort fails too.
	stop := &cancelAfter{r: io.LimitReader(&patternReader{}, 12<<20), n: 6 << 20, cancel: e.s3.Service.Stop}
	_, err = e.in.Put(context.Background(), e.owner, "y.pdf", stop)
	if filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
		t.Errorf("Put losing the store mid-upload: %v, want EUNAVAILABLE", err)
	}
	e.s3.Service.Restart(t)
	if rows := e.rows(t); len(rows) != 0 {
		t.Errorf("rows left: %+v", rows)
	}
	e.in.grace, e.in.unfinishedGrace = 0, 0
	rep, err := e.in.Sweep(context.Background(), true)
	if err != nil || len(rep.OrphanFiles)+len(rep.MissingFiles) != 0 || rep.Removed != len(rep.Unfinished) {
		t.Errorf("Sweep = %+v, %v", rep, err)
	}
	e.wantLeft(t)
}

func TestS3Sweep(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, "s3", 16<<20, testenv.LargeQuota)
	ctx := context.Background()
	kept := e.put(t, "kept.pdf", pdfSample)
	lost := e.put(t, "lost.pdf", pdfSample)
	c := e.s3.Client
	if err := c.RemoveObject(ctx, e.s3.Bucket, e.storage.Name(lost), minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	orphan := storage.Key(e.owner, 999_999, "orphan.pdf")
	for _, key := range []string{orphan, "notes/readme.txt", "7/x/y.pdf"} {
		if _, err := c.PutObject(ctx, e.s3.Bucket, key, bytes.NewReader(pdfSample), int64(len(pdfSample)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	core := minio.Core{Client: c}
	unfinished := storage.Key(e.owner, 999_998, "died.pdf")
	upload, err := core.NewMultipartUpload(ctx, e.s3.Bucket, unfinished, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, e.s3.Bucket, unfinished, upload, 1, bytes.NewReader(pattern(s3.PartSize)), s3.PartSize, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}

	// Young: maybe uploads in flight, so only the missing row counts.
	rep, err := e.in.Sweep(ctx, true)
	if err != nil || len(rep.OrphanFiles)+len(rep.Unfinished) != 0 || len(rep.MissingFiles) != 1 || rep.MissingFiles[0].ID != lost.ID {
		t.Fatalf("Sweep of young leftovers = %+v, %v, want only row %d missing", rep, err, lost.ID)
	}

	// Old: but an unfinished upload may still be running for a day.
	e.in.grace, e.in.settle = 0, 100*time.Millisecond
	rep, err = e.in.Sweep(ctx, false)
	if err != nil || !slices.Equal(rep.OrphanFiles, []string{orphan}) || len(rep.Unfinished) != 0 {
		t.Fatalf("Sweep(false) of a running upload = %+v, %v, want only orphan %s", rep, err, orphan)
	}

	e.in.unfinishedGrace = 0
	rep, err = e.in.Sweep(ctx, false)
	if err != nil || !slices.Equal(rep.OrphanFiles, []string{orphan}) || len(rep.MissingFiles) != 0 ||
		len(rep.Unfinished) != 1 || rep.Unfinished[0].Name != unfinished || rep.Unfinished[0].Upload != upload {
		t.Fatalf("Sweep(false) = %+v, %v, want orphan %s and upload %s", rep, err, orphan, unfinished)
	}
	if got := e.leftovers(t); len(got) != 5 {
		t.Fatalf("Sweep without apply changed the bucket: %q", got)
	}
	rep, err = e.in.Sweep(ctx, true)
	if err != nil || rep.Removed != 2 {
		t.Fatalf("Sweep(true) = %+v, %v, want 2 removed", rep, err)
	}
	// The row's object stays however old; keys filegate never writes too.
	want := []string{"7/x/y.pdf", e.storage.Name(kept), "notes/readme.txt"}
	slices.Sort(want)
	if got := e.leftovers(t); !slices.Equal(got, want) {
		t.Errorf("bucket after sweep: %q, want %q", got, want)
	}
	if rep, err := e.in.Sweep(ctx, false); err != nil || len(rep.OrphanFiles)+len(rep.MissingFiles)+len(rep.Unfinished) != 0 {
		t.Errorf("second sweep = %+v, %v, want nothing", rep, err)
	}
}

// A bucket dates a multipart object from the start of its upload, so
// sweep may list a just completed one as old while its row has not
// committed: here the commit waits on the owner's row, held as a copy by
// another upload would hold it, and is let go after sweep read the rows.
// Sweep must read them again only once the commit has had its time, and
// keep the object. Before the fix it removed the object at once, and the
// row committed without bytes.
func TestS3SweepSlowCommit(t *testing.T) {
	t.Parallel()
	dbURL := testenv.NewDatabase(t)
	db, direct := openDB(t, dbURL, dbURL)
	e := newEnvDB(t, "s3", db, 16<<20, testenv.LargeQuota)
	e.in.grace, e.in.settle = 0, 2*time.Second // every object counts as old
	ctx := context.Background()

	lock, err := direct.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback()
	if _, err := lock.Exec(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, e.owner); err != nil {
		t.Fatal(err)
	}
	data := pattern(6 << 20)
	type result struct {
		f   filegate.File
		err error
	}
	put := make(chan result, 1)
	go func() {
		f, err := e.in.Put(ctx, e.owner, "slow.pdf", bytes.NewReader(data))
		put <- result{f, err}
	}()
	// The object is complete and its CreateFile waits for the lock.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		err := direct.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting > 0 && len(e.leftovers(t)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload never waited for its commit; bucket holds %q", e.leftovers(t))
		}
	}

	type swept struct {
		rep SweepReport
		err error
	}
	sweep := make(chan swept, 1)
	go func() {
		rep, err := e.in.Sweep(ctx, true)
		sweep <- swept{rep, err}
	}()
	time.Sleep(500 * time.Millisecond) // sweep has listed and read the rows
	if err := lock.Commit(); err != nil {
		t.Fatal(err)
	}
	p := <-put
	if p.err != nil {
		t.Fatalf("Put: %v", p.err)
	}
	sw := <-sweep
	if sw.err != nil || sw.rep.Removed != 0 || len(sw.rep.OrphanFiles) != 0 {
		t.Errorf("Sweep = %+v, %v, want nothing removed", sw.rep, sw.err)
	}
	if got := e.readObject(t, p.f); !bytes.Equal(got, data) {
		t.Errorf("the committed file reads back %d other bytes", len(got))
	}
	e.wantLeft(t, p.f)
}

// TestS3PutStreams runs alone (not parallel): it measures the process's
// allocations. A part is buffered whole, so an upload costs about one
// part of memory, whatever its size.
func TestS3PutStreams(t *testing.T) {
	e := newEnvOn(t, "s3", 128<<20, testenv.LargeQuota)
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := trackPeak()
	f, err := e.in.Put(context.Background(), e.owner, "big.pdf", io.LimitReader(&patternReader{}, size))
	inuse := peak()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != size || f.SHA256 != sum(pattern(size)) {
		t.Errorf("Put = size %d, sha256 %s", f.Size, f.SHA256)
	}
	t.Logf("a %d MiB upload in %d MiB parts allocated %d MiB, heap peak %d MiB over the start", size>>20, s3.PartSize>>20,
		(after.TotalAlloc-before.TotalAlloc)>>20, (inuse-before.HeapInuse)>>20)
	if grew := inuse - before.HeapInuse; grew > 4*s3.PartSize {
		t.Errorf("a %d MiB upload raised the heap by %d MiB; it must stream", size>>20, grew>>20)
	}
}

// trackPeak samples the heap in use every millisecond until the returned
// function is called, which returns the highest sample.
func trackPeak() func() uint64 {
	var peak uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak
	}
}
