package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
)

// listing is one page of a file list.
type listing struct {
	Owner  *filegate.User // the user whose files these are; nil for "/"
	Files  []filegate.ListedFile
	Before filegate.Cursor // where this page starts; zero on the first page
	Next   filegate.Cursor // where the next page starts; zero when there is none
}

// list returns one page of the files viewer may list, the files before
// cursor before: with slug "", every public user's files and the
// viewer's own; otherwise the files of the user with that slug, when that
// user is public, the viewer, or the viewer is staff. A user the viewer
// may not see is ENOTFOUND like a missing one, so private profiles cannot
// be probed.
func (s *Server) list(ctx context.Context, viewer filegate.User, slug string, before filegate.Cursor) (listing, error) {
	size := s.pageSize()
	l := listing{Before: before}
	var err error
	if slug == "" {
		l.Files, err = s.Store.VisibleFiles(ctx, viewer.ID, before, size+1)
	} else {
		var owner filegate.User
		owner, err = s.Store.UserBySlug(ctx, slug)
		if err == nil && !policy.MayView(viewer.Profile(), owner.Profile()) {
			err = filegate.Errorf(filegate.ENOTFOUND, "No such user.")
		}
		if err != nil {
			return l, err
		}
		l.Owner = &owner
		l.Files, err = s.Store.OwnerFiles(ctx, owner.ID, before, size+1)
	}
	if len(l.Files) > size {
		l.Files = l.Files[:size]
		l.Next = filegate.CursorAt(l.Files[size-1].File)
	}
	return l, err
}

func (s *Server) pageSize() int {
	if s.PageSize > 0 {
		return s.PageSize
	}
	return DefaultPageSize
}

// home is GET /: every public user's files and the viewer's own.
func (s *Server) home(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	return s.showList(w, r, viewer, "")
}

// userFiles is GET /u/{slug}: one user's files.
func (s *Server) userFiles(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	return s.showList(w, r, viewer, httprouter.ParamsFromContext(r.Context()).ByName("slug"))
}

// apiFiles is GET /api/files[?user={slug}]: the lists above, always JSON.
func (s *Server) apiFiles(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	return s.showList(w, r, viewer, r.URL.Query().Get("user"))
}

// showList answers one page of a list as JSON or HTML: the newest files,
// or with ?before={cursor} the ones after that place in the list. JSON
// is a bare array; a Link header with rel="next" points to the next page
// when there is one. Errors are list's, or EINVALID for a bad cursor.
func (s *Server) showList(w http.ResponseWriter, r *http.Request, viewer filegate.User, slug string) error {
	before, err := pageCursor(r)
	if err != nil {
		return err
	}
	l, err := s.list(r.Context(), viewer, slug, before)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		if !l.Next.IsZero() {
			w.Header().Set("Link", "<"+pageURL(r, l.Next)+`>; rel="next"`)
		}
		writeJSON(w, http.StatusOK, apiList(l.Files))
		return nil
	}
	page := newFilesPage(r, viewer, l)
	page.Expiries = expiries(s.Links.MaxTTL())
	s.render(w, r, http.StatusOK, "files", page)
	return nil
}

// A page's cursor in a URL is "{created_at in Unix microseconds}_{id}":
// PostgreSQL keeps microseconds, so the pair names the same place in the
// list exactly. It only says where a page starts; what a page may show is
// decided afresh on every request, so a made-up cursor shows nothing new.
const cursorSep = "_"

// pageCursor reads ?before=, which defaults to the zero Cursor (the
// newest files).
func pageCursor(r *http.Request) (filegate.Cursor, error) {
	v := r.URL.Query().Get("before")
	if v == "" {
		return filegate.Cursor{}, nil
	}
	micros, id, ok := strings.Cut(v, cursorSep)
	us, err := strconv.ParseInt(micros, 10, 64)
	at := time.UnixMicro(us).UTC()
	n, isID := filegate.ParseID(id)
	// Years PostgreSQL cannot store would fail the query as an internal
	// error; no file was uploaded outside these.
	if !ok || err != nil || !isID || at.Year() < 1 || at.Year() > 9999 {
		return filegate.Cursor{}, filegate.Errorf(filegate.EINVALID, "That page link is not valid; start again from the newest files.")
	}
	return filegate.Cursor{CreatedAt: at, ID: n}, nil
}

// pageURL is r's path and query with the page cursor set to c (zero: left
// out) and any flash message dropped.
func pageURL(r *http.Request, c filegate.Cursor) string {
	q := r.URL.Query()
	q.Del("msg")
	q.Del("n")
	q.Del("before")
	if !c.IsZero() {
		q.Set("before", strconv.FormatInt(c.CreatedAt.UnixMicro(), 10)+cursorSep+strconv.FormatInt(c.ID, 10))
	}
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return u.RequestURI()
}

// apiFile is a file as the JSON API shows it.
type apiFile struct {
	ID          int64     `json:"id"`
	URL         string    `json:"url"`
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	CreatedAt   time.Time `json:"created_at"`
}

func apiList(files []filegate.ListedFile) []apiFile {
	out := make([]apiFile, len(files))
	for i, f := range files {
		out[i] = apiFile{ID: f.ID, URL: f.URL(), Name: f.DisplayName, Owner: f.OwnerSlug,
			ContentType: f.ContentType, Size: f.Size, CreatedAt: f.CreatedAt}
	}
	return out
}

// filesPage is the data of the files template.
type filesPage struct {
	Title        string
	Own          bool // the viewer's own page
	ShowSwitch   bool // shows the viewer's public/private switch: on / and on the own page
	Files        []filegate.ListedFile
	Older        bool     // not the first page
	Here         string   // this page, for the forms' back field
	Newest, Next string   // the first page and the next one; "" when not linked
	Expiries     []expiry // the share form's choices, on the viewer's own files
}

func newFilesPage(r *http.Request, viewer filegate.User, l listing) filesPage {
	p := filesPage{Title: "Files", Files: l.Files, Older: !l.Before.IsZero(), Here: pageURL(r, l.Before)}
	switch {
	case l.Owner == nil:
		p.ShowSwitch = true
	case l.Owner.ID == viewer.ID:
		p.Title, p.Own, p.ShowSwitch = "Your files", true, true
	default:
		p.Title = l.Owner.DisplayName + "’s files"
	}
	// Going back one page at a time would need a second cursor and query
	// per page; the browser's Back does that, and "Newest" jumps home.
	if p.Older {
		p.Newest = pageURL(r, filegate.Cursor{})
	}
	if !l.Next.IsZero() {
		p.Next = pageURL(r, l.Next)
	}
	return p
}

// delete is POST /delete/{id}: the owner or staff removes a file, row
// first, then bytes. Anyone else gets 404, as for a missing file.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	if err := parseSmallForm(w, r); err != nil {
		return err
	}
	id, err := strconv.ParseInt(httprouter.ParamsFromContext(r.Context()).ByName("id"), 10, 64)
	if err != nil {
		return errNoFile
	}
	if err := s.deleteFile(r.Context(), viewer, id); err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			Deleted int64 `json:"deleted"`
		}{id})
		return nil
	}
	seeOther(w, r, withFlash(r.PostForm.Get("back"), "deleted", 0))
	return nil
}

var errNoFile = filegate.Errorf(filegate.ENOTFOUND, "No such file.")

// deleteFile removes file id when viewer may delete it. A missing file
// and one viewer may not delete are both errNoFile (ENOTFOUND); other
// errors are the store's or the ingester's.
func (s *Server) deleteFile(ctx context.Context, viewer filegate.User, id int64) error {
	f, err := s.Store.FileByID(ctx, id)
	if err != nil {
		return err
	}
	if !policy.MayDelete(viewer.Profile(), f.OwnerID) {
		return errNoFile
	}
	_, err = s.Files.Delete(ctx, id)
	return err
}

// settings is POST /settings: the viewer makes all of their files public
// or private. The store tells authz's cache, so the very next download
// sees the change.
func (s *Server) settings(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	public, err := parsePublic(w, r)
	if err != nil {
		return err
	}
	u, err := s.Store.UpdateUser(r.Context(), viewer.ID, filegate.UserUpdate{IsPublic: &public})
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			IsPublic bool `json:"is_public"`
		}{u.IsPublic})
		return nil
	}
	msg := "private"
	if u.IsPublic {
		msg = "public"
	}
	seeOther(w, r, withFlash(r.PostForm.Get("back"), msg, 0))
	return nil
}

// parsePublic reads is_public from a JSON body ({"is_public": true}) or
// a form (is_public=true or false).
func parsePublic(w http.ResponseWriter, r *http.Request) (bool, error) {
	bad := filegate.Errorf(filegate.EINVALID, "Send is_public as true or false.")
	var body struct {
		IsPublic *bool `json:"is_public"`
	}
	if isJSON, err := jsonBody(w, r, &body); isJSON {
		if err != nil || body.IsPublic == nil {
			return false, bad
		}
		return *body.IsPublic, nil
	}
	if err := parseSmallForm(w, r); err != nil {
		return false, err
	}
	switch r.PostForm.Get("is_public") {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, bad
}
