package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/policy"
)

// The pages and their assets are part of the binary: no CDN, nothing to
// install next to it.
//
//go:embed templates static
var embedded embed.FS

var funcs = template.FuncMap{
	"size":       filegate.FormatSize,
	"statusText": http.StatusText,
	"typeName":   func(contentType string) string { name, _ := filegate.TypeName(contentType); return name },
	"mayDelete":  func(viewer *filegate.User, ownerID int64) bool { return policy.MayDelete(viewer.Profile(), ownerID) },
	"date":       func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"linkState":  func(st filegate.LinkState) string { return linkStates[st] },
	"plural":     func(n int64, noun string) string { return plural(int(n), noun) },
}

// linkStates are the names the links page gives link states.
var linkStates = map[filegate.LinkState]string{
	filegate.LinkActive:    "Active",
	filegate.LinkExpired:   "Expired",
	filegate.LinkRevoked:   "Revoked",
	filegate.LinkExhausted: "Used up",
}

// pages holds one template set per page: the shared layout plus the page's
// "title" and "content". Parsed at start-up, so a broken template fails
// every test rather than one request.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"error", "login", "files", "delete", "upload", "account", "links", "link", "download", "admin"} {
		m[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(embedded,
			"templates/layout.html", "templates/"+name+".html"))
	}
	return m
}()

// view is what every page's template receives.
type view struct {
	Viewer *filegate.User // nil on the login page when nobody is logged in
	Path   string         // marks the current page in the navigation
	Flash  string
	Data   any
}

// errorPage is the data of the error template.
type errorPage struct {
	Status   int
	Title    string // the heading; "" means the status's text ("Not Found")
	Message  string
	Back     string // the way back, a local path; "" shows none
	BackText string // its link's text
}

// render executes page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	v := view{Viewer: viewerFrom(r.Context()), Path: r.URL.Path, Flash: s.flash(r), Data: data}
	if err := pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Log.ErrorContext(r.Context(), "web: render", "page", page, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// asset is one embedded static file with its validator.
type asset struct {
	body        []byte
	etag        string
	contentType string
}

// assets are the files of static/, read once. They are served with an
// ETag and revalidated on use, so a new binary never serves stale CSS or
// script from a browser cache.
var assets = func() map[string]asset {
	m := map[string]asset{}
	// Reading a directory the build embedded cannot fail.
	entries, _ := fs.ReadDir(embedded, "static")
	for _, e := range entries {
		body, _ := fs.ReadFile(embedded, "static/"+e.Name())
		sum := sha256.Sum256(body)
		m[e.Name()] = asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
			contentType: mime.TypeByExtension(path.Ext(e.Name()))}
	}
	return m
}()

// static is GET /static/{name}: an embedded asset, or ENOTFOUND. It needs
// no session, so it does not look the viewer up.
func (s *Server) static(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(httprouter.ParamsFromContext(r.Context()).ByName("name"), "/")
	a, ok := assets[name]
	if !ok {
		return errNoPage
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	return nil
}
