package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/testenv"
)

// quotaEnv is newEnv with a quota.
func quotaEnv(t *testing.T, q filegate.Quota) *env {
	t.Helper()
	e := newEnv(t, 1<<20)
	e.in = newIngesterQuota(t, e.root, e.db, 1<<20, q)
	return e
}

// wantQuotaError checks that err is EQUOTA with a sentence about the quota.
func wantQuotaError(t *testing.T, err error) {
	t.Helper()
	if filegate.ErrorCode(err) != filegate.EQUOTA || !strings.Contains(filegate.ErrorMessage(err), "quota") {
		t.Fatalf("err = %v, want EQUOTA with a sentence about the quota", err)
	}
}

// wantStored checks that exactly the rows of files are in the table and
// their bytes, and nothing else, on disk.
func (e *env) wantStored(t *testing.T, files ...filegate.File) {
	t.Helper()
	var want, rows []string
	for _, f := range files {
		want = append(want, f.StoredName)
	}
	for _, f := range e.rows(t) {
		rows = append(rows, f.StoredName)
	}
	if strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("rows %v, want %v", rows, want)
	}
	if names := strings.Join(e.dirNames(t), ","); names != strings.Join(want, ",") {
		t.Errorf("files on disk %s, want %v", names, want)
	}
}

func TestQuotaBytes(t *testing.T) {
	t.Parallel()
	size := int64(len(pdfSample))
	e := quotaEnv(t, filegate.Quota{Bytes: 2*size + size/2, Files: 100})
	a, b := e.put(t, "a.pdf", pdfSample), e.put(t, "b.pdf", pdfSample)
	_, err := e.in.Put(context.Background(), e.owner, "c.pdf", bytes.NewReader(pdfSample))
	wantQuotaError(t, err)
	want := fmt.Sprintf("This file (%d bytes) does not fit in your quota: %d bytes of %d bytes used; delete some files to make room.", size, 2*size, 2*size+size/2)
	if got := filegate.ErrorMessage(err); got != want {
		t.Errorf("sentence %q, want %q", got, want)
	}
	e.wantStored(t, a, b)

	// What still fits is stored; deleting frees its share.
	small := e.put(t, "small.txt", []byte("tiny\n"))
	if _, err := e.in.Delete(context.Background(), a.ID); err != nil {
		t.Fatal(err)
	}
	c := e.put(t, "c.pdf", pdfSample)
	e.wantStored(t, b, c, small)
}

func TestQuotaFiles(t *testing.T) {
	t.Parallel()
	e := quotaEnv(t, filegate.Quota{Bytes: 1 << 30, Files: 2})
	a, b := e.put(t, "a.pdf", pdfSample), e.put(t, "b.pdf", pdfSample)
	_, err := e.in.Put(context.Background(), e.owner, "c.pdf", bytes.NewReader(pdfSample))
	wantQuotaError(t, err)
	if got, want := filegate.ErrorMessage(err), "You have reached your quota of 2 files; delete some to upload more."; got != want {
		t.Errorf("sentence %q, want %q", got, want)
	}
	e.wantStored(t, a, b)

	// Sweep deleting a row whose bytes are gone frees its share too.
	if err := os.Remove(filepath.Join(e.ownerDir(), a.StoredName)); err != nil {
		t.Fatal(err)
	}
	if rep, err := e.in.Sweep(context.Background(), true); err != nil || rep.Removed != 1 {
		t.Fatalf("Sweep = %+v, %v", rep, err)
	}
	c := e.put(t, "c.pdf", pdfSample)
	e.wantStored(t, b, c)

	// The quota is per user: another user starts from nothing.
	bob := testenv.AddUser(t, e.db, testenv.User{Name: "bob"})
	if _, err := e.in.Put(context.Background(), bob.ID, "x.pdf", bytes.NewReader(pdfSample)); err != nil {
		t.Errorf("bob's first file: %v", err)
	}
}

// Concurrent uploads of one user take turns at the quota check: however
// they interleave, exactly as many are stored as fit, and every refused
// one leaves nothing behind.
func TestQuotaRace(t *testing.T) {
	t.Parallel()
	size := int64(len(pdfSample))
	for _, tt := range []struct {
		name  string
		quota filegate.Quota
		fit   int
	}{
		{"files", filegate.Quota{Bytes: 1 << 30, Files: 4}, 4},
		{"bytes", filegate.Quota{Bytes: 3*size + size/2, Files: 100}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := quotaEnv(t, tt.quota)
			const n = 12
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = e.in.Put(context.Background(), e.owner, fmt.Sprintf("f%d.pdf", i), bytes.NewReader(pdfSample))
				})
			}
			close(start)
			wg.Wait()
			stored := 0
			for _, err := range errs {
				switch filegate.ErrorCode(err) {
				case "":
					stored++
				case filegate.EQUOTA:
				default:
					t.Errorf("Put: %v", err)
				}
			}
			rows := e.rows(t)
			if stored != tt.fit || len(rows) != tt.fit || len(e.dirNames(t)) != tt.fit {
				t.Errorf("%d stored, %d rows, %d files on disk; want %d of each", stored, len(rows), len(e.dirNames(t)), tt.fit)
			}
		})
	}
}

// The store tells a removed owner from a full quota.
func TestQuotaRemovedOwner(t *testing.T) {
	t.Parallel()
	e := quotaEnv(t, filegate.Quota{Bytes: 1 << 20, Files: 10})
	if _, err := e.in.RemoveUser(context.Background(), e.owner); err != nil {
		t.Fatal(err)
	}
	_, err := e.in.Put(context.Background(), e.owner, "a.pdf", bytes.NewReader(pdfSample))
	if filegate.ErrorCode(err) != filegate.ENOTFOUND {
		t.Errorf("Put for a removed owner: %v, want ENOTFOUND", err)
	}
	e.assertNothingLeft(t)
}
