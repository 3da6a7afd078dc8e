// Package storage holds what the two places files can live in share: the
// object key of an upload. The backends are its subpackages: the private
// root on a filesystem (today's layout, <owner_id>/<stored_name>, sent by
// nginx from disk) and s3, a bucket reached through presigned URLs.
package storage

import "strconv"

// Key is the object key of one upload in a bucket:
// <owner_id>/<file_id>/<stored_name>. The file id is new for every upload,
// so a key is never reused: a file deleted and uploaded again under the
// same name gets a new key, and no cache in front of the store can answer
// for the new file with the old bytes.
func Key(ownerID, fileID int64, storedName string) string {
	return strconv.FormatInt(ownerID, 10) + "/" + strconv.FormatInt(fileID, 10) + "/" + storedName
}
