package ingest

import (
	"path"
	"testing"

	"github.com/gabriel-vasile/mimetype"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/filegate"
)

// A stored name and the name a file downloads as take the type's extension
// from one table, filegate.Extension. For a file of every allowed type,
// whatever the client called it, the stored name ends in that extension,
// the served name ends in it (or another spelling of it the client chose),
// and the detector's own answer for the bytes is the same extension.
func TestExtensionsAgree(t *testing.T) {
	samples := map[string][]byte{
		"application/pdf": pdfSample, "image/png": pngSample, "image/jpeg": jpegSample,
		"image/gif": gifSample, "image/webp": webpSample, "text/plain": textSample,
	}
	if len(samples) != len(allowed) {
		t.Fatalf("%d samples for %d allowed types", len(samples), len(allowed))
	}
	for i, typ := range allowed {
		sample := samples[typ]
		d := detect(sample)
		if d.bare != typ {
			t.Fatalf("sample of %s detected as %s", typ, d.bare)
		}
		if d.ext == "" || d.ext != exts[i] || d.ext != mimetype.Detect(sample).Extension() || d.ext != filegate.Extension(d.contentType) {
			t.Errorf("%s: stored extension %q, the detector says %q, filegate.Extension %q, exts %q",
				typ, d.ext, mimetype.Detect(sample).Extension(), filegate.Extension(d.contentType), exts[i])
		}
		for _, client := range []string{"invoice.html", "photo.vbs", "invoice.pdf.bat", "README", "Report.PDF", "IMG.JPEG", "x" + d.ext, "Résumé.txt"} {
			display := DisplayName(client)
			stored := StoredName(display, d.ext)
			served := authz.ServedName(display, d.contentType)
			if path.Ext(stored) != d.ext || !filegate.HasExtension(served, d.contentType) {
				t.Errorf("%s named %q: stored as %q, served as %q; want both to end in %s", typ, client, stored, served, d.ext)
			}
		}
	}
}
