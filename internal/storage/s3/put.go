package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/storage"
)

const (
	// PartSize is the size of each part of a multipart upload, and about
	// the most memory one upload holds: the source gives no length, so a
	// part is read whole before it is sent (its length is signed). 5 MiB
	// is the least S3 takes for every part but the last.
	PartSize = 5 << 20
	// maxParts is S3's limit on the parts of one upload.
	maxParts = 10000
	// MaxObjectSize is the largest upload Write can store (about 48.8
	// GiB): FILEGATE_MAX_UPLOAD may not be larger with FILEGATE_STORAGE=s3.
	MaxObjectSize = PartSize * maxParts
	// firstRead is where a part's buffer starts, so that small files,
	// sent in one PutObject, cost memory in proportion to their size.
	firstRead = 64 << 10
)

// Write streams src to f's key (storage.Key), with f's content type, and
// returns it staged. A source shorter than PartSize is one PutObject;
// a longer one a multipart upload of PartSize parts, aborted when src or
// the store fails, so that no parts stay. src's errors come back wrapped
// as they are; a store that cannot be reached (or answers 5xx) is
// EUNAVAILABLE.
func (b *Bucket) Write(ctx context.Context, f filegate.File, src io.Reader) (storage.Staged, error) {
	key := b.Name(f)
	if err := b.put(ctx, key, f.ContentType, src); err != nil {
		return nil, fmt.Errorf("s3: put %s: %w", key, err)
	}
	return &staged{b: b, key: key}, nil
}

// put is Write's upload.
func (b *Bucket) put(ctx context.Context, key, contentType string, src io.Reader) error {
	part, err := readPart(src, make([]byte, 0, firstRead))
	if err != nil && err != io.EOF {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: contentType}
	if err == io.EOF {
		_, err := b.client.PutObject(ctx, b.name, key, bytes.NewReader(part), int64(len(part)), opts)
		return storeError(err)
	}
	core := minio.Core{Client: b.client}
	upload, err := core.NewMultipartUpload(ctx, b.name, key, opts)
	if err != nil {
		return storeError(err)
	}
	if err := b.putParts(ctx, core, key, upload, part, src); err != nil {
		// Even when ctx is done (the client went away).
		actx, cancel := storage.Cleanup(ctx)
		defer cancel()
		if abortErr := core.AbortMultipartUpload(actx, b.name, key, upload); abortErr != nil {
			// Its parts stay until sweep or the bucket's lifecycle rule.
			b.log().Error("s3: abort upload", "key", key, "upload", upload, "err", abortErr)
		}
		return err
	}
	return nil
}

// putParts sends part, then the rest of src in PartSize parts reusing
// part's buffer, and completes the upload.
func (b *Bucket) putParts(ctx context.Context, core minio.Core, key, upload string, part []byte, src io.Reader) error {
	var done []minio.CompletePart
	for num := 1; ; num++ {
		p, err := core.PutObjectPart(ctx, b.name, key, upload, num, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
		if err != nil {
			return storeError(err)
		}
		done = append(done, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		if len(part) < PartSize {
			break // the last, short part
		}
		part, err = readPart(src, part)
		if err != nil && err != io.EOF {
			return err
		}
		if len(part) == 0 {
			break
		}
		if num == maxParts {
			return fmt.Errorf("more than %d bytes", int64(MaxObjectSize))
		}
	}
	_, err := core.CompleteMultipartUpload(ctx, b.name, key, upload, done, minio.PutObjectOptions{})
	return storeError(err)
}

// readPart reads src into buf[:0] until it holds PartSize bytes or src
// ends (io.EOF, buf possibly short), growing buf by doubling up to
// PartSize. src's other errors come back as they are.
func readPart(src io.Reader, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < PartSize {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), PartSize-len(buf)))
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// staged is an object at the key of the name it was written for.
type staged struct {
	b      *Bucket
	key    string
	placed string
}

// Place keeps the object where it is when f's key is the one it was
// written to, and else copies it there (another upload took the name
// first; rare, since ingest writes to the first name free before the
// upload). Keys hold the file id, so the target key is never taken.
func (s *staged) Place(ctx context.Context, f filegate.File) error {
	key := s.b.Name(f)
	if key != s.key {
		_, err := s.b.client.ComposeObject(ctx,
			minio.CopyDestOptions{Bucket: s.b.name, Object: key},
			minio.CopySrcOptions{Bucket: s.b.name, Object: s.key})
		if err != nil {
			return fmt.Errorf("s3: copy %s to %s: %w", s.key, key, storeError(err))
		}
	}
	s.placed = key
	return nil
}

// Close removes the written object unless it was placed where it is.
func (s *staged) Close(ctx context.Context) error {
	if s.placed == s.key {
		return nil
	}
	return s.b.remove(ctx, s.key)
}

// storeError gives a store that cannot be reached, or fails on its side,
// the code EUNAVAILABLE; its other refusals (a wrong key, a missing
// bucket) stay internal errors, for the log. A done context stays itself.
func storeError(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var netErr net.Error
	if errors.As(err, &netErr) || minio.ToErrorResponse(err).StatusCode >= 500 {
		return filegate.Wrap(filegate.EUNAVAILABLE, "The file store is unavailable; try again shortly.", err)
	}
	return err
}
