package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/storage"
)

// Name is f's object key, storage.Key.
func (b *Bucket) Name(f filegate.File) string { return storage.Key(f.OwnerID, f.ID, f.StoredName) }

// Delete removes f's object. S3 does not say whether it was there.
func (b *Bucket) Delete(ctx context.Context, f filegate.File) error { return b.remove(ctx, b.Name(f)) }

// remove removes the object at key.
func (b *Bucket) remove(ctx context.Context, key string) error {
	if err := b.client.RemoveObject(ctx, b.name, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("s3: remove %s: %w", key, storeError(err))
	}
	return nil
}

// RemoveOwner removes every object below "<owner id>/".
func (b *Bucket) RemoveOwner(ctx context.Context, ownerID int64) error {
	prefix := strconv.FormatInt(ownerID, 10) + "/"
	// Listed in full first: RemoveObjects would not tell a failed listing.
	var keys []minio.ObjectInfo
	for o := range b.client.ListObjects(ctx, b.name, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("s3: list %s: %w", prefix, storeError(o.Err))
		}
		keys = append(keys, minio.ObjectInfo{Key: o.Key})
	}
	objects := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		objects <- k
	}
	close(objects)
	var errs []error // read to the end: the sender blocks otherwise
	for res := range b.client.RemoveObjects(ctx, b.name, objects, minio.RemoveObjectsOptions{}) {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("s3: remove %s: %w", res.ObjectName, storeError(res.Err)))
		}
	}
	return errors.Join(errs...)
}

// Exists asks the store for f's object.
func (b *Bucket) Exists(ctx context.Context, f filegate.File) (bool, error) {
	key := b.Name(f)
	_, err := b.client.StatObject(ctx, b.name, key, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	} else if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return false, nil
	}
	return false, fmt.Errorf("s3: stat %s: %w", key, storeError(err))
}

// Remove removes an object List returned, or aborts an unfinished upload.
func (b *Bucket) Remove(ctx context.Context, o storage.Object) error {
	if o.Upload == "" {
		return b.remove(ctx, o.Name)
	}
	core := minio.Core{Client: b.client}
	if err := core.AbortMultipartUpload(ctx, b.name, o.Name, o.Upload); err != nil {
		return fmt.Errorf("s3: abort upload %s of %s: %w", o.Upload, o.Name, storeError(err))
	}
	return nil
}

// List returns every object and every unfinished multipart upload in the
// bucket whose key has the shape of storage.Key, sorted by key. Other
// keys are logged and left out: sweep never touches what filegate did not
// write. The whole listing is held in memory, some 100 bytes a key.
func (b *Bucket) List(ctx context.Context) ([]storage.Object, error) {
	var out []storage.Object
	for o := range b.client.ListObjects(ctx, b.name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3: list: %w", storeError(o.Err))
		}
		if !validKey(o.Key) {
			b.log().Warn("s3: sweep skipped unexpected key", "key", o.Key)
			continue
		}
		out = append(out, storage.Object{Name: o.Key, Modified: o.LastModified})
	}
	for u := range b.client.ListIncompleteUploads(ctx, b.name, "", true) {
		if u.Err != nil {
			return nil, fmt.Errorf("s3: list unfinished uploads: %w", storeError(u.Err))
		}
		if !validKey(u.Key) {
			b.log().Warn("s3: sweep skipped unexpected upload", "key", u.Key, "upload", u.UploadID)
			continue
		}
		out = append(out, storage.Object{Name: u.Key, Modified: u.Initiated, Upload: u.UploadID})
	}
	slices.SortFunc(out, func(x, y storage.Object) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// validKey reports whether key has the shape storage.Key gives.
func validKey(key string) bool {
	owner, rest, _ := strings.Cut(key, "/")
	id, name, _ := strings.Cut(rest, "/")
	_, ownerOK := filegate.ParseID(owner)
	_, idOK := filegate.ParseID(id)
	return ownerOK && idOK && filegate.StoredNamePattern.MatchString(name)
}

// log is b.Log, or a logger that discards.
func (b *Bucket) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}
