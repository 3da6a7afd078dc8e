package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	iofs "io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/postgres"
	"github.com/filegate/filegate/internal/storage/fs"
	"github.com/filegate/filegate/internal/testenv"
)

var allowed = []string{"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain"}

// env is one Ingester over a fresh database and storage (a directory, or
// a bucket: see newEnvOn), with one owner.
type env struct {
	in      *Ingester
	db      *postgres.DB
	storage Storage
	root    string      // the private root, with fs
	s3      *testenv.S3 // the store, with s3
	owner   int64
}

func newEnv(t *testing.T, maxSize int64) *env {
	t.Helper()
	return newEnvOn(t, "fs", maxSize, testenv.LargeQuota)
}

func newIngester(t *testing.T, root string, store Store, maxSize int64) *Ingester {
	t.Helper()
	return newIngesterQuota(t, root, store, maxSize, testenv.LargeQuota)
}

func newIngesterQuota(t *testing.T, root string, store Store, maxSize int64, quota filegate.Quota) *Ingester {
	t.Helper()
	disk, err := fs.Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	return newIngesterOn(t, disk, store, maxSize, quota)
}

func newIngesterOn(t *testing.T, st Storage, store Store, maxSize int64, quota filegate.Quota) *Ingester {
	t.Helper()
	in, err := New(st, store, maxSize, allowed, quota, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (e *env) ownerDir() string { return filepath.Join(e.root, strconv.FormatInt(e.owner, 10)) }

// dirNames lists every entry of the owner's directory, dot files included.
func (e *env) dirNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(e.ownerDir())
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range entries {
		names = append(names, de.Name())
	}
	return names
}

func (e *env) rows(t *testing.T) []filegate.File {
	t.Helper()
	files, err := e.db.AllFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// assertNothingLeft checks that a failed Put left no row and no bytes.
func (e *env) assertNothingLeft(t *testing.T) {
	t.Helper()
	if rows := e.rows(t); len(rows) != 0 {
		t.Errorf("rows left: %+v", rows)
	}
	if names := e.leftovers(t); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
}

func (e *env) put(t *testing.T, name string, data []byte) filegate.File {
	t.Helper()
	f, err := e.in.Put(context.Background(), e.owner, name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	return f
}

func (e *env) read(t *testing.T, f filegate.File) []byte {
	t.Helper()
	if e.s3 != nil {
		return e.readObject(t, f)
	}
	b, err := os.ReadFile(filepath.Join(e.root, filepath.FromSlash(f.Path())))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Minimal files of each allowed type.
var (
	pdfSample  = []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	jpegSample = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9}
	gifSample  = append([]byte("GIF89a"), 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3B)
	textSample = []byte("Grüße aus Köln\nsecond line\n")
	pngSample  = func() []byte {
		chunk := func(typ string, data []byte) []byte {
			b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
			b = append(append(b, typ...), data...)
			return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
		}
		ihdr := []byte{0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0}
		b := []byte("\x89PNG\r\n\x1a\n")
		b = append(b, chunk("IHDR", ihdr)...)
		b = append(b, chunk("IDAT", []byte{0x78, 0x9C, 0x62, 0, 1, 0, 0, 5, 0, 1})...)
		return append(b, chunk("IEND", nil)...)
	}()
	webpSample = func() []byte {
		body := append([]byte("WEBPVP8 "), binary.LittleEndian.AppendUint32(nil, 10)...)
		body = append(body, 0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A, 1, 0, 1, 0)
		return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
	}()
)

func TestPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1<<20)
	tests := []struct {
		name     string
		data     []byte
		stored   string
		wantType string
	}{
		{"Report 2024.PDF", pdfSample, "Report-2024.pdf", "application/pdf"},
		{"photo.png", pngSample, "photo.png", "image/png"},
		{"IMG_0001.JPEG", jpegSample, "IMG_0001.jpg", "image/jpeg"},
		{"anim.gif", gifSample, "anim.gif", "image/gif"},
		{"pic.webp", webpSample, "pic.webp", "image/webp"},
		// The client's extension never survives: the bytes say PNG.
		{"notes.txt", pngSample, "notes.png", "image/png"},
		{"notes.txt", textSample, "notes.txt", "text/plain; charset=utf-8"},
	}
	var want []string
	for _, tt := range tests {
		f := e.put(t, tt.name, tt.data)
		sum := sha256.Sum256(tt.data)
		if f.ID == 0 || f.OwnerID != e.owner || f.StoredName != tt.stored || f.DisplayName != tt.name ||
			f.ContentType != tt.wantType || f.Size != int64(len(tt.data)) || f.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("Put(%q) = %+v, want stored %q, type %q, size %d", tt.name, f, tt.stored, tt.wantType, len(tt.data))
		}
		if got := e.read(t, f); !bytes.Equal(got, tt.data) {
			t.Errorf("%s: bytes on disk differ", f.Path())
		}
		row, err := e.db.FileByID(context.Background(), f.ID)
		if err != nil || row.StoredName != f.StoredName || row.ContentType != f.ContentType || row.Size != f.Size || row.SHA256 != f.SHA256 {
			t.Errorf("row %+v (%v), want %+v", row, err, f)
		}
		info, err := os.Stat(filepath.Join(e.root, filepath.FromSlash(f.Path())))
		if err != nil || info.Mode().Perm()&^0o640 != 0 {
			t.Errorf("%s: mode %v (%v), want at most 0640", f.Path(), info.Mode(), err)
		}
		want = append(want, f.StoredName)
	}
	// No temp files remain beside the stored ones.
	if got := e.dirNames(t); len(got) != len(want) {
		t.Errorf("owner dir holds %v, want %v", got, want)
	}
}

// failingReader returns its data and then err, like a client that goes away.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestPutRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 64<<10)
	bigPDF := append(append([]byte{}, pdfSample...), bytes.Repeat([]byte("x"), 64<<10)...)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		desc, name string
		ctx        context.Context
		r          io.Reader
		code       string
		message    string // a substring of the user's message
	}{
		// A name promising an allowed type: what the file is instead.
		{"HTML as PDF", "x.pdf", nil, strings.NewReader("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
			filegate.EUNSUPPORTED, `"x.pdf" is a web page (HTML), not a PDF.`},
		{"SVG as PNG", "x.PNG", nil, strings.NewReader(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`),
			filegate.EUNSUPPORTED, `"x.PNG" is an SVG image, not a PNG image.`},
		{"XML as text", "x.txt", nil, strings.NewReader(`<?xml version="1.0"?><note>hi</note>`),
			filegate.EUNSUPPORTED, `"x.txt" is an XML document, not plain text.`},
		{"shell script", "run.txt", nil, strings.NewReader("#!/bin/sh\nrm -rf ~\n"),
			filegate.EUNSUPPORTED, `"run.txt" is a shell script, not plain text.`},
		{"ZIP as JPEG", "photo.jpeg", nil, strings.NewReader("PK\x03\x04\x14\x00\x00\x00\x08\x00"),
			filegate.EUNSUPPORTED, `"photo.jpeg" is a ZIP archive, not a JPEG image.`},
		{"unknown binary", "x.pdf", nil, bytes.NewReader([]byte{0, 1, 2, 3, 0xFE, 0xFF}),
			filegate.EUNSUPPORTED, `"x.pdf" is of an unknown type, not a PDF.`},
		// Any other name: what may be uploaded.
		{"ZIP", "photos.zip", nil, strings.NewReader("PK\x03\x04\x14\x00\x00\x00\x08\x00"),
			filegate.EUNSUPPORTED, `"photos.zip" is a ZIP archive, which can't be uploaded here. Allowed: PDF, PNG, JPEG, GIF, WebP, plain text.`},
		{"HTML without an extension", "index", nil, strings.NewReader("<!DOCTYPE html><html></html>"),
			filegate.EUNSUPPORTED, `"index" is a web page (HTML), which can't be uploaded here. Allowed: PDF, PNG, JPEG, GIF, WebP, plain text.`},
		{"CSV", "data.csv", nil, strings.NewReader("a,b,c\n1,2,3\n4,5,6\n"),
			filegate.EUNSUPPORTED, `"data.csv" is a .csv file, which can't be uploaded here.`},
		{"empty", "empty.pdf", nil, strings.NewReader(""),
			filegate.EINVALID, `"empty.pdf" is empty.`},
		{"too large", "big.pdf", nil, bytes.NewReader(bigPDF[:64<<10+1]),
			filegate.ETOOLARGE, `"big.pdf" is larger than the 64 KiB limit.`},
		{"server body limit", "big.pdf", nil, &failingReader{pdfSample, &http.MaxBytesError{Limit: 1 << 10}},
			filegate.ETOOLARGE, "larger than the 64 KiB limit"},
		{"client gone in head", "x.pdf", nil, &failingReader{pdfSample, io.ErrUnexpectedEOF},
			filegate.EINVALID, "The upload was interrupted."},
		{"client gone mid-stream", "x.pdf", nil, &failingReader{bigPDF[:32<<10], syscall.ECONNRESET},
			filegate.EINVALID, "The upload was interrupted."},
		{"cancelled", "x.pdf", cancelled, bytes.NewReader(pdfSample),
			filegate.EINTERNAL, ""},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			f, err := e.in.Put(ctx, e.owner, tt.name, tt.r)
			if err == nil {
				t.Fatalf("Put = %+v, want an error", f)
			}
			if code := filegate.ErrorCode(err); code != tt.code || !strings.Contains(filegate.ErrorMessage(err), tt.message) {
				t.Errorf("Put: %v (code %s, message %q), want code %s, message with %q", err, code, filegate.ErrorMessage(err), tt.code, tt.message)
			}
			if !strings.HasPrefix(err.Error(), "ingest: put: ") {
				t.Errorf("error %q lacks context", err)
			}
			e.assertNothingLeft(t)
		})
	}
	if !errors.Is(mustPutErr(t, e, cancelled), context.Canceled) {
		t.Error("a cancelled Put should say so")
	}
}

func mustPutErr(t *testing.T, e *env, ctx context.Context) error {
	_, err := e.in.Put(ctx, e.owner, "x.pdf", bytes.NewReader(pdfSample))
	if err == nil {
		t.Fatal("Put succeeded")
	}
	return err
}

func TestPutCollision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1<<20)
	first := e.put(t, "report.pdf", pdfSample)
	second := e.put(t, "report.pdf", append([]byte("%PDF-1.7\n"), "second"...))
	if first.StoredName != "report.pdf" || second.StoredName != "report-2.pdf" {
		t.Fatalf("stored names %q, %q", first.StoredName, second.StoredName)
	}
	if !bytes.Equal(e.read(t, first), pdfSample) {
		t.Error("the first file was overwritten")
	}
	// A file without a row (say, a delete that could not remove it) is
	// never overwritten either.
	orphan := []byte("%PDF-1.4\norphan")
	if err := os.WriteFile(filepath.Join(e.ownerDir(), "report-3.pdf"), orphan, 0o640); err != nil {
		t.Fatal(err)
	}
	third := e.put(t, "report.pdf", pdfSample)
	if third.StoredName != "report-4.pdf" {
		t.Errorf("third stored as %q, want report-4.pdf", third.StoredName)
	}
	if b, _ := os.ReadFile(filepath.Join(e.ownerDir(), "report-3.pdf")); !bytes.Equal(b, orphan) {
		t.Error("the orphan was overwritten")
	}

	// After twenty numbered names come random ones.
	for i := 1; i <= 20; i++ {
		e.put(t, "a.txt", textSample)
	}
	if f := e.put(t, "a.txt", textSample); !regexp.MustCompile(`^a-[0-9a-f]{8}\.txt$`).MatchString(f.StoredName) {
		t.Errorf("21st a.txt stored as %q", f.StoredName)
	}
	for _, name := range e.dirNames(t) {
		if strings.HasPrefix(name, ".") {
			t.Errorf("temp file %s left", name)
		}
	}
}

func TestPutDatabaseDown(t *testing.T) {
	t.Parallel()
	db, err := postgres.Open("postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &env{db: db, root: t.TempDir(), owner: 7}
	e.in = newIngester(t, e.root, db, 1<<20)
	_, err = e.in.Put(context.Background(), e.owner, "x.pdf", bytes.NewReader(pdfSample))
	if filegate.ErrorCode(err) != filegate.EUNAVAILABLE {
		t.Errorf("Put with the database down: %v, want EUNAVAILABLE", err)
	}
	if names := e.dirNames(t); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
}

// commitFails is a Store whose transaction fails after the bytes were placed.
type commitFails struct{ Store }

func (s commitFails) CreateFile(ctx context.Context, f *filegate.File, q filegate.Quota, place func() error) error {
	return s.Store.CreateFile(ctx, f, q, func() error {
		if err := place(); err != nil {
			return err
		}
		return errors.New("commit failed")
	})
}

func TestPutCommitFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1<<20)
	e.in = newIngester(t, e.root, commitFails{e.db}, 1<<20)
	if _, err := e.in.Put(context.Background(), e.owner, "x.pdf", bytes.NewReader(pdfSample)); err == nil {
		t.Fatal("Put succeeded")
	}
	e.assertNothingLeft(t)
}

// A real full disk: the private root is a tiny tmpfs (tests run as root,
// as make test does). The upload fails with ENOSPACE and leaves nothing.
func TestPutDiskFull(t *testing.T) {
	e := newEnv(t, 64<<20)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs (make test runs as root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	e.root = filepath.Join(mnt, "private")
	e.in = newIngester(t, e.root, e.db, 64<<20)

	_, err := e.in.Put(context.Background(), e.owner, "big.pdf", io.LimitReader(&patternReader{}, 1<<20))
	if filegate.ErrorCode(err) != filegate.ENOSPACE {
		t.Fatalf("Put on a full disk: %v, want ENOSPACE", err)
	}
	e.assertNothingLeft(t)
	small := e.put(t, "small.pdf", []byte(pdfHeader+"fits\n"))
	if small.Size == 0 {
		t.Error("a file that fits was not stored after the failure")
	}
}

// patternReader produces an endless PDF-looking stream without
// allocating, counting the bytes it hands out.
type patternReader struct{ n int64 }

const pdfHeader = "%PDF-1.4\n"

func (r *patternReader) Read(p []byte) (int, error) {
	for i := range p {
		if pos := r.n + int64(i); pos < int64(len(pdfHeader)) {
			p[i] = pdfHeader[pos]
		} else {
			p[i] = byte('a' + pos%26)
		}
	}
	r.n += int64(len(p))
	return len(p), nil
}

// TestPutStreams runs alone (not parallel): it measures the process's
// allocations.
func TestPutStreams(t *testing.T) {
	e := newEnv(t, 128<<20)
	const size = 64 << 20
	want := sha256.New()
	io.Copy(want, io.LimitReader(&patternReader{}, size))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := e.in.Put(context.Background(), e.owner, "big.pdf", io.LimitReader(&patternReader{}, size))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != size || f.SHA256 != hex.EncodeToString(want.Sum(nil)) {
		t.Errorf("Put = size %d, sha256 %s", f.Size, f.SHA256)
	}
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d MiB upload allocated %d KiB", size>>20, grew>>10)
	if grew > 8<<20 {
		t.Errorf("a %d MiB upload allocated %d KiB; it must stream", size>>20, grew>>10)
	}

	// A huge upload is cut off right after the limit, not read to the end.
	small := newIngester(t, filepath.Join(t.TempDir(), "small"), e.db, 1<<20)
	src := &patternReader{}
	_, err = small.Put(context.Background(), e.owner, "huge.pdf", io.LimitReader(src, 1<<30))
	if filegate.ErrorCode(err) != filegate.ETOOLARGE || filegate.ErrorMessage(err) != `"huge.pdf" is larger than the 1 MiB limit.` {
		t.Errorf("Put of 1 GiB with a 1 MiB limit: %v", err)
	}
	if src.n > 1<<20+64<<10 {
		t.Errorf("read %d bytes of a refused upload, want about 1 MiB", src.n)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1<<20)
	f := e.put(t, "a.pdf", pdfSample)
	keep := e.put(t, "b.pdf", pdfSample)
	got, err := e.in.Delete(context.Background(), f.ID)
	if err != nil || got.ID != f.ID || got.StoredName != f.StoredName {
		t.Fatalf("Delete = %+v, %v", got, err)
	}
	if _, err := e.db.FileByID(context.Background(), f.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("row still there: %v", err)
	}
	if names := e.dirNames(t); len(names) != 1 || names[0] != keep.StoredName {
		t.Errorf("owner dir holds %v, want only %s", names, keep.StoredName)
	}
	if _, err := e.in.Delete(context.Background(), f.ID); filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("second Delete: %v, want ENOTFOUND", err)
	}
	// Bytes already gone: the row still goes, without an error.
	os.Remove(filepath.Join(e.ownerDir(), keep.StoredName))
	if _, err := e.in.Delete(context.Background(), keep.ID); err != nil {
		t.Errorf("Delete of a row without bytes: %v", err)
	}
	e.assertNothingLeft(t)
}

func TestSweep(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1<<20)
	ctx := context.Background()
	kept := e.put(t, "kept.pdf", pdfSample)
	lost := e.put(t, "lost.pdf", pdfSample)
	if err := os.Remove(filepath.Join(e.ownerDir(), lost.StoredName)); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	write := func(name string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(e.ownerDir(), name)
		if err := os.WriteFile(p, pdfSample, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write("orphan.pdf", old)
	write(".upload-dead", old)
	write(".upload-inflight", time.Now()) // an upload in progress
	write("fresh.pdf", time.Now())        // maybe linked, not yet committed
	write("not ours", old)                // not a stored name: never touched
	os.Mkdir(filepath.Join(e.root, "lost+found"), 0o700)

	rep, err := e.in.Sweep(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := strconv.FormatInt(e.owner, 10)
	wantOrphans := []string{dir + "/.upload-dead", dir + "/orphan.pdf"}
	if strings.Join(rep.OrphanFiles, ",") != strings.Join(wantOrphans, ",") || rep.Removed != 0 ||
		len(rep.MissingFiles) != 1 || rep.MissingFiles[0].ID != lost.ID {
		t.Fatalf("Sweep(false) = %+v, want orphans %v and missing %d", rep, wantOrphans, lost.ID)
	}
	if len(e.dirNames(t)) != 6 || len(e.rows(t)) != 2 {
		t.Fatal("Sweep without apply changed something")
	}

	e.in.settle = 100 * time.Millisecond
	rep, err = e.in.Sweep(ctx, true)
	if err != nil || rep.Removed != 3 {
		t.Fatalf("Sweep(true) = %+v, %v, want 3 removed", rep, err)
	}
	if rows := e.rows(t); len(rows) != 1 || rows[0].ID != kept.ID {
		t.Errorf("rows after sweep: %+v", rows)
	}
	if got := strings.Join(e.dirNames(t), ","); got != ".upload-inflight,fresh.pdf,kept.pdf,not ours" {
		t.Errorf("owner dir after sweep: %s", got)
	}
	if rep, err := e.in.Sweep(ctx, false); err != nil || len(rep.OrphanFiles)+len(rep.MissingFiles) != 0 {
		t.Errorf("second sweep = %+v, %v, want nothing", rep, err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, bad := range [][]string{nil, {"image/jpg"}, {""}} {
		if _, err := New(nil, nil, 1, bad, testenv.LargeQuota, nil); err == nil {
			t.Errorf("New with allowed %q succeeded", bad)
		}
	}
	if _, err := New(nil, nil, 0, allowed, testenv.LargeQuota, nil); err == nil {
		t.Error("New with max size 0 succeeded")
	}
	for _, q := range []filegate.Quota{{}, {Bytes: 1}, {Files: 1}, {Bytes: -1, Files: 1}} {
		if _, err := New(nil, nil, 1, allowed, q, nil); err == nil {
			t.Errorf("New with quota %+v succeeded", q)
		}
	}
	in, err := New(nil, nil, 1, []string{" Application/PDF ", "application/x-pdf", "text/plain; charset=utf-8"}, testenv.LargeQuota, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.allowed.human != "PDF, plain text" {
		t.Errorf("allowed types shown as %q", in.allowed.human)
	}
}
