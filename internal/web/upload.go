package web

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
	"github.com/filegate/filegate/internal/metrics"
)

// uploadPage is the data of the upload template. Results and Error are
// set when a form upload without JavaScript did not store every file:
// Error (why nothing was stored) is shown only when there are no Results,
// as it is then the first file's own sentence, already in its line.
// MaxUpload also goes to upload.js, which refuses a larger file before
// sending it.
type uploadPage struct {
	MaxUpload int64
	Types     string
	Results   []uploadResult
	Error     string
}

// uploadPage is GET /upload: the form, or for JSON clients what POST
// /upload takes.
func (s *Server) uploadPage(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, s.Files.Limits())
		return nil
	}
	s.render(w, r, http.StatusOK, "upload", s.newUploadPage(nil, nil))
	return nil
}

func (s *Server) newUploadPage(results []uploadResult, err error) uploadPage {
	limits := s.Files.Limits()
	return uploadPage{MaxUpload: limits.MaxSize, Types: limits.Names, Results: results,
		Error: filegate.ErrorMessage(err)}
}

// uploadResult is one file's outcome. A stored file has every field but
// Error; a refused one only Name and Error. Name is always a display name
// (ingest.DisplayName); StoredName, the last part of URL, differs from it
// when the name was cleaned up or taken ("photo.png" stored as
// "photo-2.png"), and the pages then say so.
type uploadResult struct {
	ID          int64  `json:"id,omitempty"`
	URL         string `json:"url,omitempty"`
	Name        string `json:"name"`
	StoredName  string `json:"stored_name,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Error       string `json:"error,omitempty"`
}

// upload is POST /upload: multipart, one or more parts named "file". Each
// file is stored or refused on its own, so one bad file does not lose the
// good ones.
//
// When at least one file was stored the request succeeded: JSON gets 201
// with one result per file; a browser gets 303 to / with a message when
// every file was stored, else the upload page listing each file's
// outcome, with 201. When none was, the request failed with the first
// failure (see receive): JSON gets its status and {"error": …}, a browser
// the upload page again with each file's outcome and that status.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	results, err := s.receive(r, viewer.ID)
	if err != nil {
		return &formError{err: err, page: "upload", data: s.newUploadPage(results, err)}
	}
	switch {
	case wantsJSON(r):
		writeJSON(w, http.StatusCreated, results)
	case allStored(results):
		seeOther(w, r, withFlash("/", "uploaded", len(results)))
	default:
		s.render(w, r, http.StatusCreated, "upload", s.newUploadPage(results, nil))
	}
	return nil
}

// allStored reports whether no file of results was refused.
func allStored(results []uploadResult) bool {
	for _, res := range results {
		if res.Error != "" {
			return false
		}
	}
	return true
}

var errNoUpload = filegate.Errorf(filegate.EINVALID, "Choose at least one file to upload.")

// maxExtraParts is how many parts past MaxFilesPerRequest one upload may
// have. Each file part past the limit gets its own refusal, but a body
// of 26 MiB can carry 300,000 tiny parts. After these the rest of the
// body is not read: the answer lists what was, and net/http closes the
// connection instead of reading on (it drains at most 256 KiB).
const maxExtraParts = 100

// receive streams the "file" parts of r's multipart body, in order, into
// the ingester (never buffering a whole file) and returns one result per
// file part read. err is why nothing was stored, and nil when something
// was: a body that is not multipart or breaks off, a part whose headers
// pass 16 KiB, a body without a file, or the first file's failure.
//
// At most MaxFilesPerRequest files are stored; later file parts are
// refused and their bytes skipped, and after maxExtraParts more parts of
// any kind reading stops. A result names a file by its display name (at
// most 255 bytes), never by the raw name the client sent, so the answer
// stays small whatever the request holds.
//
// A refused file's error is logged here, with logError's policy, unless
// it becomes err: err is the request's error and handle logs it. The
// others are only lines of the answer, which handle never sees. So each
// refusal is logged exactly once.
func (s *Server) receive(r *http.Request, ownerID int64) ([]uploadResult, error) {
	pr, err := newPartReader(r)
	if err != nil {
		return nil, err
	}
	maxFiles := s.maxFilesPerRequest()
	var results []uploadResult
	var first error // the first failure: err when nothing is stored
	stored := false
	for parts, files := 0, 0; parts < maxFiles+maxExtraParts; parts++ {
		part, err := pr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			if first == nil {
				first = pr.streamError(err)
			}
			break
		}
		// Browsers send an empty, nameless part when no file was chosen.
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		if files++; files > maxFiles {
			// Not the first failure: maxFiles files came before it.
			results = append(results, refused(part, tooManyFiles(maxFiles)))
			s.Metrics.Uploaded(metrics.UploadTooMany, 0, 0)
			s.audit(r, audit.Event{Action: "file.upload", Reason: filegate.ETOOLARGE, UserID: ownerID})
			part.Close()
			continue
		}
		start := time.Now()
		res, err := s.store(r.Context(), ownerID, part)
		results = append(results, res)
		s.audit(r, audit.Event{Action: "file.upload", Reason: reason(err), UserID: ownerID, FileID: res.ID, Duration: time.Since(start)})
		switch {
		case err == nil:
			stored = true
		case first == nil:
			first = err
		default:
			s.logError(r, err)
		}
		if filegate.ErrorCode(err) == filegate.ETOOLARGE {
			// Stop here rather than drain an oversized part: net/http
			// closes the connection instead of reading it all.
			break
		}
		part.Close()
	}
	if stored {
		if first != nil {
			s.logError(r, first) // a refusal after all, not the request's error
		}
		return results, nil
	} else if first == nil {
		first = errNoUpload
	}
	return results, first
}

func (s *Server) maxFilesPerRequest() int {
	if s.MaxFilesPerRequest > 0 {
		return s.MaxFilesPerRequest
	}
	return DefaultMaxFilesPerRequest
}

// tooManyFiles is the refusal of a file part past the first n.
func tooManyFiles(n int) error {
	return filegate.Errorf(filegate.ETOOLARGE, "Only %s can be uploaded at once; this one was not stored.", plural(n, "file"))
}

// store passes one part to the ingester, which reads it to the end or to
// the size limit, and returns the file's result and the ingester's error.
func (s *Server) store(ctx context.Context, ownerID int64, part *multipart.Part) (uploadResult, error) {
	start := time.Now()
	f, err := s.Files.Put(ctx, ownerID, part.FileName(), part)
	s.Metrics.Uploaded(outcome(err, metrics.UploadStored, uploadResults, metrics.UploadError), f.Size, time.Since(start))
	if err != nil {
		return refused(part, err), err
	}
	return uploadResult{ID: f.ID, URL: f.URL(), Name: f.DisplayName, StoredName: f.StoredName, ContentType: f.ContentType, Size: f.Size}, nil
}

// uploadResults name, for the metrics, the codes ingest refuses a file
// with.
var uploadResults = map[string]string{
	filegate.ETOOLARGE:    metrics.UploadTooLarge,
	filegate.EUNSUPPORTED: metrics.UploadUnsupported,
	filegate.EQUOTA:       metrics.UploadQuota,
	filegate.ENOSPACE:     metrics.UploadNoSpace,
	filegate.EINVALID:     metrics.UploadInvalid,
}

// refused is the result of a file part that was not stored, and why.
func refused(part *multipart.Part, err error) uploadResult {
	return uploadResult{Name: ingest.DisplayName(part.FileName()), Error: filegate.ErrorMessage(err)}
}
