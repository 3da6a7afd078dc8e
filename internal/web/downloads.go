package web

import (
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
)

// The web app's part of downloads (docs/interface.md#downloads), which
// nginx and authz serve: the pages nginx shows a browser when a download
// or an upload fails, and the page a visitor lands on after logging in
// from a file's URL.

// errorText is what an error page says: a heading and a sentence or two.
type errorText struct {
	title, message string
}

// downloadErrors are the sentences of GET /error/{status}, by "status of
// reason", "status of" or "status" (the first that exists). The query
// only picks one of them, so no address can make a page say anything
// else. "of" is "file" (/files/) or "link" (/s/); reason is authz's
// X-Filegate-Reason.
var downloadErrors = map[string]errorText{
	// A file's 404 is also a private file when authz hides private files
	// (AUTHZ_HIDE_PRIVATE): the sentence covers both, as the status must.
	"404 file": {"This file isn't available",
		"It was deleted, or its owner doesn't share it with you. If someone sent you this address, check that it's complete."},
	"403 file": {"You can't download this file",
		"Its owner doesn't share their files with you: only they and staff can download them."},
	"403": {"You can't download this", "You are not allowed to download this file."},
	"404 link": {"This link doesn't work",
		"No file is shared at this address: the link is incomplete or mistyped, or the shared file was deleted. " + askForLink},
	"410 link": {"This link no longer works",
		"It has expired, was revoked or has been used up. " + askForLink},
	"410 link expired": {"This link has expired",
		"Share links work for a set time, and this one's time is over. " + askForLink},
	"410 link revoked": {"This link was revoked",
		"Whoever shared the file has turned this link off. " + askForLink},
	"410 link used_up": {"This link has been used up",
		"It allowed a set number of downloads, and all of them have been made. " + askForLink},
	"503": {"Downloads are unavailable for a moment",
		"filegate cannot check right now who may download this. Try again shortly."},
}

const askForLink = "If you still need the file, ask whoever shared it with you for a new link."

// lookupError returns the sentences of downloadErrors for status, of and
// reason; ok is false when none match.
func lookupError(status, of, reason string) (errorText, bool) {
	for _, key := range []string{status + " " + of + " " + reason, status + " " + of, status} {
		if e, ok := downloadErrors[key]; ok {
			return e, true
		}
	}
	return errorText{}, false
}

// errorPageOf is GET|HEAD /error/{status}: the page nginx (filegate.conf)
// proxies a browser to when a download is refused or fails, and when
// nginx refuses an upload as too large (413), keeping that status. The
// query holds keys only: of and reason pick one of downloadErrors, and a
// 413's size (the request's Content-Length, which nginx passes as it is)
// is a number the page formats. A status without a page is ENOTFOUND.
//
// JSON clients get {"error": "{title}. {message}"}: the upload page's
// script shows a 413's sentence next to the file.
func (s *Server) errorPageOf(w http.ResponseWriter, r *http.Request) error {
	statusText := httprouter.ParamsFromContext(r.Context()).ByName("status")
	q := r.URL.Query()
	var e errorText
	page := errorPage{Back: "/", BackText: "Back to the files"}
	if statusText == "413" {
		e = s.tooLarge(q.Get("size"))
		page.Back, page.BackText = "/upload", "Back to the upload page"
	} else if found, ok := lookupError(statusText, q.Get("of"), q.Get("reason")); ok {
		e = found
		if q.Get("of") == "link" && viewerFrom(r.Context()) == nil {
			// Whoever opened a link may have no account here: the way on
			// is the sentence's, not the files list behind a login.
			page.Back = ""
		}
	} else {
		return errNoPage
	}
	page.Status, _ = strconv.Atoi(statusText)
	page.Title, page.Message = e.title, e.message
	if wantsJSON(r) {
		writeJSON(w, page.Status, errorBody{e.title + ". " + e.message})
		return nil
	}
	s.render(w, r, page.Status, "error", page)
	return nil
}

// tooLarge is the 413 page's text for a request of size bytes (a
// decimal; anything else says no number), naming the per-file limit:
// nginx refused the request before the uploader saw it.
func (s *Server) tooLarge(size string) errorText {
	limit := filegate.FormatSize(s.Files.Limits().MaxSize)
	e := errorText{title: "This upload is too large", message: "The limit is " + limit + " per file."}
	if n, err := strconv.ParseInt(size, 10, 64); err == nil && n > 0 {
		e.message = "It is " + filegate.FormatSize(n) + "; the limit is " + limit + " per file."
	}
	return e
}

// downloadPage is the data of the download template.
type downloadPage struct {
	Name string // the file's display name
	URL  string // its download URL
}

// downloadStarted is GET /download/{owner_id}/{stored_name}, where
// logging in from a file's URL lands (login): a page that names the file,
// starts its download (a meta refresh, which needs no script) and links
// it in case it does not start. It names the file only when the viewer
// may download it, by the rule authz applies (policy.Decide); otherwise
// it sends the browser to the file's URL, where nginx and authz answer
// as for any download, with the same status and page. An address that
// cannot name a file is ENOTFOUND.
func (s *Server) downloadStarted(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	p := httprouter.ParamsFromContext(r.Context())
	url := "/files/" + p.ByName("owner") + "/" + p.ByName("name")
	ownerID, name, ok := filegate.ParseFileURI(url)
	if !ok {
		return errNoPage
	}
	facts, err := s.Store.Facts(r.Context(), filegate.FactsKey{ViewerID: viewer.ID,
		SessionHash: loginFrom(r.Context()).tokenHash, OwnerID: ownerID, StoredName: name})
	if err != nil {
		return err
	}
	// hidePrivate only chooses between two refusals, and a refusal is
	// authz's to answer.
	if policy.Decide(facts, s.now(), false) != policy.Allow {
		seeOther(w, r, url)
		return nil
	}
	s.render(w, r, http.StatusOK, "download", downloadPage{Name: facts.File.DisplayName, URL: url})
	return nil
}

// downloadPath is where logging in for next lands: the download page of
// a file's URL, else next itself.
func downloadPath(next string) string {
	if ownerID, name, ok := filegate.ParseFileURI(next); ok {
		return "/download/" + strconv.FormatInt(ownerID, 10) + "/" + name
	}
	return next
}
