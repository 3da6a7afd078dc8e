package web

import (
	"context"
	"io"
	"mime/multipart"
	"net/http"

	"github.com/filegate/filegate/internal/filegate"
)

// uploadPage is the data of the upload template. Results and Error are
// set when a form upload without JavaScript did not store every file.
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
// Error; a refused one only Name (as the client sent it) and Error.
type uploadResult struct {
	ID          int64  `json:"id,omitempty"`
	URL         string `json:"url,omitempty"`
	Name        string `json:"name"`
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

var (
	errMalformed = filegate.Errorf(filegate.EINVALID, "The upload was cut off or is not a valid multipart form.")
	errNoUpload  = filegate.Errorf(filegate.EINVALID, "Choose at least one file to upload.")
)

// receive streams the "file" parts of r's multipart body, in order, into
// the ingester (never buffering a whole file) and returns one result per
// file. err is why nothing was stored, and nil when something was: a body
// that is not multipart, one without a file, or the first file's failure.
//
// A refused file's error is logged here, with logError's policy, unless
// it becomes err: err is the request's error and handle logs it. The
// others are only lines of the answer, which handle never sees. So each
// refusal is logged exactly once.
func (s *Server) receive(r *http.Request, ownerID int64) ([]uploadResult, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errMalformed
	}
	var results []uploadResult
	var first error // the first failure: err when nothing is stored
	stored := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			if first == nil {
				first = errMalformed
			}
			break
		}
		// Browsers send an empty, nameless part when no file was chosen.
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		res, err := s.store(r.Context(), ownerID, part)
		results = append(results, res)
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

// store passes one part to the ingester, which reads it to the end or to
// the size limit, and returns the file's result and the ingester's error.
func (s *Server) store(ctx context.Context, ownerID int64, part *multipart.Part) (uploadResult, error) {
	f, err := s.Files.Put(ctx, ownerID, part.FileName(), part)
	if err != nil {
		return uploadResult{Name: part.FileName(), Error: filegate.ErrorMessage(err)}, err
	}
	return uploadResult{ID: f.ID, URL: f.URL(), Name: f.DisplayName, ContentType: f.ContentType, Size: f.Size}, nil
}
