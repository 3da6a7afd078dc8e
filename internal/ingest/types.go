package ingest

import (
	"fmt"
	"mime"
	"strings"

	"github.com/gabriel-vasile/mimetype"

	"github.com/filegate/filegate/internal/filegate"
)

// sniffLen is how many leading bytes decide the type; mimetype's
// signatures for the allowed types all sit well within it.
const sniffLen = 3072

// allowlist is the set of accepted types, matched exactly: mimetype's
// hierarchy puts HTML, SVG and XML under text/plain, so "is a kind of
// text/plain" would let a page with scripts in.
type allowlist struct {
	types map[string]bool
	list  []string // the same types, in configured order
	human string   // "PDF, PNG, …", for pages and refusal messages
}

// newAllowlist checks each configured type against mimetype's list, so a
// typo ("image/jpg") fails at startup rather than refusing every upload.
func newAllowlist(allowed []string) (allowlist, error) {
	a := allowlist{types: make(map[string]bool)}
	var names []string
	for _, t := range allowed {
		t = filegate.MediaType(t)
		if t == "" {
			continue
		}
		m := mimetype.Lookup(t)
		if m == nil {
			return a, fmt.Errorf("ingest: allowed type %q is not a type the detector knows", t)
		}
		// An alias ("application/x-pdf") stands for the type Detect reports.
		t = filegate.MediaType(m.String())
		if a.types[t] {
			continue
		}
		a.types[t] = true
		a.list = append(a.list, t)
		names = append(names, humanType(t, m.Extension()))
	}
	if len(a.types) == 0 {
		return a, fmt.Errorf("ingest: no allowed types")
	}
	a.human = strings.Join(names, ", ")
	return a, nil
}

// humanType names a type for people: a known name, else its extension.
func humanType(t, ext string) string {
	if name, ok := filegate.TypeName(t); ok {
		return name
	} else if ext != "" {
		return strings.ToUpper(strings.TrimPrefix(ext, "."))
	}
	return t
}

// detected is what the bytes say a file is.
type detected struct {
	bare        string // "text/plain", compared with the allowlist
	contentType string // stored in the row and served by nginx
	ext         string // ".txt", the stored name's extension: filegate.Extension, as downloads use
}

// detect sniffs head, the first bytes of a file. Text keeps the charset
// mimetype found (utf-8 for ASCII too), so browsers need not guess;
// every other type is stored bare.
func detect(head []byte) detected {
	m := mimetype.Detect(head)
	d := detected{bare: filegate.MediaType(m.String())}
	d.ext = filegate.Extension(d.bare)
	d.contentType = d.bare
	if d.bare == "text/plain" {
		if _, params, err := mime.ParseMediaType(m.String()); err == nil && params["charset"] != "" {
			d.contentType = mime.FormatMediaType(d.bare, map[string]string{"charset": params["charset"]})
		}
	}
	return d
}
