package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/audit"
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

// loader reads at most limit files of one list, newest first, from
// before a cursor: one of the Store's lists with its user bound (of).
type loader func(ctx context.Context, before filegate.Cursor, limit int) ([]filegate.ListedFile, error)

// of binds a Store list to the user whose list it is.
func of(list func(ctx context.Context, userID int64, before filegate.Cursor, limit int) ([]filegate.ListedFile, error), userID int64) loader {
	return func(ctx context.Context, before filegate.Cursor, limit int) ([]filegate.ListedFile, error) {
		return list(ctx, userID, before, limit)
	}
}

// page reads the page of a list that starts after cursor before. It asks
// load for one file more than a page holds, to learn whether a next page
// exists without counting.
func (s *Server) page(ctx context.Context, load loader, before filegate.Cursor) (listing, error) {
	size := s.pageSize()
	files, err := load(ctx, before, size+1)
	l := listing{Files: files, Before: before}
	if len(l.Files) > size {
		l.Files = l.Files[:size]
		l.Next = filegate.CursorAt(l.Files[size-1].File)
	}
	return l, err
}

// list returns one page of the files viewer may list, the files before
// cursor before: with slug "", every public user's files and the
// viewer's own; otherwise the files of the user with that slug, when that
// user is public, the viewer, or the viewer is staff. A user the viewer
// may not see is ENOTFOUND like a missing one, so private profiles cannot
// be probed.
func (s *Server) list(ctx context.Context, viewer filegate.User, slug string, before filegate.Cursor) (listing, error) {
	if slug == "" {
		return s.page(ctx, of(s.Store.VisibleFiles, viewer.ID), before)
	}
	owner, err := s.Store.UserBySlug(ctx, slug)
	if err == nil && !policy.MayView(viewer.Profile(), owner.Profile()) {
		err = errNoUser
	}
	if err != nil {
		return listing{}, err
	}
	l, err := s.page(ctx, of(s.Store.OwnerFiles, owner.ID), before)
	l.Owner = &owner
	return l, err
}

func (s *Server) pageSize() int {
	if s.PageSize > 0 {
		return s.PageSize
	}
	return DefaultPageSize
}

// home is GET /: every public user's files and the viewer's own. A
// browser sees them as two lists, the viewer's newest files first, then
// the files everyone else shares with everyone who logs in; ?before=
// pages through that second list, and the viewer's own go on at
// /u/{slug}. Each list pages by its own cursor, so neither repeats or
// skips a file. JSON is the one list of both, as GET /api/files.
func (s *Server) home(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	if wantsJSON(r) {
		return s.showList(w, r, viewer, "")
	}
	before, err := pageCursor(r)
	if err != nil {
		return err
	}
	page := s.newFilesPage(r, viewer, "Files", before)
	page.ShowSwitch = true
	if before.IsZero() {
		own, err := s.page(r.Context(), of(s.Store.OwnerFiles, viewer.ID), before)
		if err != nil {
			return err
		}
		sec := page.section(sectionOwn, own)
		sec.ID, sec.Heading = "own", "Your files"
		if !own.Next.IsZero() {
			sec.More = withCursor("/u/"+viewer.Slug, nil, own.Next)
		}
		page.Sections = append(page.Sections, sec)
	}
	public, err := s.page(r.Context(), of(s.Store.PublicFiles, viewer.ID), before)
	if err != nil {
		return err
	}
	sec := page.section(sectionPublic, public)
	sec.ID, sec.Heading = "public", "Everyone’s public files"
	sec.pager(r, public)
	page.Sections = append(page.Sections, sec)
	s.render(w, r, http.StatusOK, "files", page)
	return nil
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
// when there is one. HTML is one user's page (home has its own). Errors
// are list's, or EINVALID for a bad cursor.
func (s *Server) showList(w http.ResponseWriter, r *http.Request, viewer filegate.User, slug string) error {
	before, err := pageCursor(r)
	if err != nil {
		return err
	}
	l, err := s.list(r.Context(), viewer, slug, before)
	if err != nil {
		return err
	}
	if wantsJSON(r) || l.Owner == nil { // the list of / is JSON here; home shows its page
		if !l.Next.IsZero() {
			w.Header().Set("Link", "<"+pageURL(r, l.Next)+`>; rel="next"`)
		}
		writeJSON(w, http.StatusOK, apiList(l.Files))
		return nil
	}
	kind, title := sectionUser, l.Owner.DisplayName+"’s files"
	if l.Owner.ID == viewer.ID {
		kind, title = sectionOwn, "Your files"
	}
	page := s.newFilesPage(r, viewer, title, before)
	page.ShowSwitch = kind == sectionOwn
	sec := page.section(kind, l)
	sec.ID = "files"
	sec.pager(r, l)
	page.Sections = append(page.Sections, sec)
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
	for _, k := range flashParams {
		q.Del(k)
	}
	return withCursor(r.URL.Path, q, c)
}

// withCursor is path with query q and the page cursor set to c (zero:
// left out).
func withCursor(path string, q url.Values, c filegate.Cursor) string {
	if q == nil {
		q = url.Values{}
	}
	q.Del("before")
	if !c.IsZero() {
		q.Set("before", strconv.FormatInt(c.CreatedAt.UnixMicro(), 10)+cursorSep+strconv.FormatInt(c.ID, 10))
	}
	u := url.URL{Path: path, RawQuery: q.Encode()}
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

func newAPIFile(f filegate.ListedFile) apiFile {
	return apiFile{ID: f.ID, URL: f.URL(), Name: f.DisplayName, Owner: f.OwnerSlug,
		ContentType: f.ContentType, Size: f.Size, CreatedAt: f.CreatedAt}
}

func apiList(files []filegate.ListedFile) []apiFile {
	out := make([]apiFile, len(files))
	for i, f := range files {
		out[i] = newAPIFile(f)
	}
	return out
}

// filesPage is the data of the files template: a title, the viewer's
// public/private switch on / and on their own page, and one or two
// lists.
type filesPage struct {
	Title      string
	ShowSwitch bool
	Sections   []fileSection
	Deletable  bool     // some row has Delete: the page holds the confirmation dialog
	Here       string   // this page, for the forms' back field
	Expiries   []expiry // the share form's choices, on the viewer's own files
	viewer     filegate.User
}

func (s *Server) newFilesPage(r *http.Request, viewer filegate.User, title string, before filegate.Cursor) *filesPage {
	return &filesPage{Title: title, Here: pageURL(r, before), Expiries: expiries(s.Links.MaxTTL()), viewer: viewer}
}

// The kinds of list a files page shows; the template words each one's
// caption and empty state.
const (
	sectionOwn    = "own"    // the viewer's files
	sectionPublic = "public" // other users' public files, on /
	sectionUser   = "user"   // another user's files, on their page
)

// fileSection is one list of a files page.
type fileSection struct {
	Kind    string // sectionOwn, sectionPublic or sectionUser
	ID      string // the section's id, and its heading's with "-heading"
	Heading string // "" when the page's h1 names the list
	Rows    []fileRow
	Owners  bool // the Owner column: the list mixes owners
	Older   bool // not the first page
	// Newest and Next are the first page and the next one, "" when not
	// linked; More continues the viewer's own files on their page.
	Newest, Next, More string
}

// section returns the rows of l as a list of kind.
func (p *filesPage) section(kind string, l listing) fileSection {
	sec := fileSection{Kind: kind, Owners: kind == sectionPublic, Older: !l.Before.IsZero()}
	for _, f := range l.Files {
		row := newFileRow(p.viewer, f)
		p.Deletable = p.Deletable || row.MayDelete
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

// pager links the first and the next page of l, a list of r's page.
// Going back one page at a time would need a second cursor and query per
// page; the browser's Back does that, and "Newest" jumps home.
func (sec *fileSection) pager(r *http.Request, l listing) {
	if sec.Older {
		sec.Newest = pageURL(r, filegate.Cursor{})
	}
	if !l.Next.IsZero() {
		sec.Next = pageURL(r, l.Next)
	}
}

// fileRow is one file of a list with what its row needs.
type fileRow struct {
	filegate.ListedFile
	// Name is the display name, followed by the stored name in brackets
	// when they differ ("photo.png (photo-2.png)"): unique among one
	// owner's files, whose stored names are.
	Name string
	// Label is Name, followed by "by {owner's slug}" for another user's
	// file: unique on any page, it is the accessible name of the file's
	// download link, Copy link, Share and Delete. Hidden is the part of
	// Label after the display name, which screen readers hear and the
	// page shows otherwise.
	Label, Hidden string
	Mine          bool // the viewer's own file: it has Share
	MayDelete     bool
	Whose         string // for another user's file: whose it is, e.g. "Bob (bob)"
}

func newFileRow(viewer filegate.User, f filegate.ListedFile) fileRow {
	row := fileRow{ListedFile: f, Name: fileName(f.File), Mine: f.OwnerID == viewer.ID,
		MayDelete: policy.MayDelete(viewer.Profile(), f.OwnerID)}
	row.Label = row.Name
	if !row.Mine {
		row.Label += " by " + f.OwnerSlug
		row.Whose = userName(f.OwnerName, f.OwnerSlug)
	}
	row.Hidden = strings.TrimPrefix(row.Label, f.DisplayName)
	return row
}

// fileName is f's display name, followed by its stored name in brackets
// when they differ, so that two files of one owner are never named alike.
func fileName(f filegate.File) string {
	if f.StoredName == f.DisplayName {
		return f.DisplayName
	}
	return f.DisplayName + " (" + f.StoredName + ")"
}

// userName is a user's display name, with the slug in brackets when it
// says something more: "Bob (bob)", "Bob Smith (bob)", "bob".
func userName(display, slug string) string {
	if display == slug {
		return slug
	}
	return display + " (" + slug + ")"
}

var errNoFile = filegate.Errorf(filegate.ENOTFOUND, "No such file.")

// deletable returns the file that the {id} of r's path names when viewer
// may delete it: the owner or staff. A malformed id, a missing file and
// one viewer may not delete are all errNoFile (ENOTFOUND), so other
// users' files cannot be probed; other errors are the store's.
func (s *Server) deletable(r *http.Request, viewer filegate.User) (filegate.File, error) {
	id, ok := pathID(r)
	if !ok {
		return filegate.File{}, errNoFile
	}
	f, err := s.Store.FileByID(r.Context(), id)
	if err != nil {
		return filegate.File{}, err
	}
	if !policy.MayDelete(viewer.Profile(), f.OwnerID) {
		return filegate.File{}, errNoFile
	}
	return f, nil
}

// pathID returns the {id} of r's path, if it is one (filegate.ParseID).
func pathID(r *http.Request) (int64, bool) {
	return filegate.ParseID(httprouter.ParamsFromContext(r.Context()).ByName("id"))
}

// confirmPage is the data of the delete template: the page that asks
// before something is deleted for good, a file (confirmDelete) or a user
// (confirmRemove).
type confirmPage struct {
	Question string // the title and heading: "Delete report.pdf?"
	Detail   string // what follows: "This can’t be undone."
	Action   string // where the form posts
	Button   string // the button that does it: "Delete"
	Back     string // where Cancel and the form's answer go back to
}

// confirmDelete is GET /delete/{id}[?back={page}]: the page that asks
// "Delete report.pdf?", where a file's Delete button leads a browser
// without JavaScript (with it, the files page asks in a dialog). Its
// form posts to /delete/{id}; Cancel goes back. Who may not delete the
// file gets ENOTFOUND (404), as from the delete itself. JSON gets the
// file as the lists show it.
func (s *Server) confirmDelete(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	f, err := s.deletable(r, viewer)
	if err != nil {
		return err
	}
	owner := viewer
	if f.OwnerID != viewer.ID {
		if owner, err = s.Store.UserByID(r.Context(), f.OwnerID); err != nil {
			return err
		}
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, newAPIFile(filegate.ListedFile{File: f, OwnerSlug: owner.Slug, OwnerName: owner.DisplayName}))
		return nil
	}
	name := fileName(f)
	page := confirmPage{Question: "Delete " + name + "?", Detail: "This can’t be undone.",
		Action: fmt.Sprintf("/delete/%d", f.ID), Button: "Delete", Back: localPath(r.URL.Query().Get("back"))}
	if owner.ID != viewer.ID {
		page.Detail += " It belongs to " + userName(owner.DisplayName, owner.Slug) + ", not to you."
	}
	s.render(w, r, http.StatusOK, "delete", page)
	return nil
}

// delete is POST /delete/{id}: the owner or staff removes a file, row
// first, then bytes. Anyone else gets 404, as for a missing file. JSON
// gets {"deleted": id}; a browser goes back to the form's back page, whose
// message names the file: the URL carries its name sealed for this
// viewer (session notes), never as text a link could choose.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, viewer filegate.User) error {
	if err := parseSmallForm(w, r); err != nil {
		return err
	}
	f, err := s.deletable(r, viewer)
	if err == nil {
		f, err = s.Files.Delete(r.Context(), f.ID)
	}
	// The id asked for, also when the file is not the viewer's to delete.
	asked, _ := pathID(r)
	s.audit(r, audit.Event{Action: "file.delete", Reason: reason(err), UserID: viewer.ID, FileID: asked})
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, struct {
			Deleted int64 `json:"deleted"`
		}{f.ID})
		return nil
	}
	to := withFlash(r.PostForm.Get("back"), "deleted", 0)
	if note, err := s.Sessions.SealNote(viewer.ID, fileName(f)); err == nil {
		to = withQuery(to, "note", note)
	} else {
		// The file is gone all the same; the message just says "File deleted."
		s.Log.WarnContext(r.Context(), "web: seal the deleted file's name", "err", err)
	}
	seeOther(w, r, to)
	return nil
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
	s.audit(r, audit.Event{Action: "user.share", Reason: reason(err), UserID: viewer.ID, Public: &public})
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
