package filegate_test

import (
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

func TestExtension(t *testing.T) {
	for in, want := range map[string]string{
		"application/pdf":           ".pdf",
		"image/png":                 ".png",
		"image/jpeg":                ".jpg",
		"image/gif":                 ".gif",
		"image/webp":                ".webp",
		"text/plain":                ".txt",
		"text/plain; charset=utf-8": ".txt",
		"Text/Plain; Charset=UTF-8": ".txt",
		"IMAGE/PNG":                 ".png",
		" image/png ":               ".png",
		"application/x-pdf":         ".pdf", // an alias of the detector's
		"text/html":                 ".html",
		"application/json":          ".json", // not ".har", the detector's second entry for it
		"application/octet-stream":  "",      // the detector's "unknown": no extension
		"application/x-unheard-of":  "",
		"":                          "",
		"garbage;;":                 "",
	} {
		if got := filegate.Extension(in); got != want {
			t.Errorf("Extension(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasExtension(t *testing.T) {
	for _, tt := range []struct {
		name, contentType string
		want              bool
	}{
		{"report.pdf", "application/pdf", true},
		{"report.PDF", "application/pdf", true},
		{"report.Pdf", "application/pdf", true},
		{".pdf", "application/pdf", true},
		{"invoice.html", "application/pdf", false},
		{"invoice.pdf.bat", "application/pdf", false},
		{"report.pdf ", "application/pdf", false},
		{"report.pdf.", "application/pdf", false},
		{"reportpdf", "application/pdf", false},
		{"pdf", "application/pdf", false},
		{"", "application/pdf", false},
		{"photo.jpg", "image/jpeg", true},
		{"photo.JPEG", "image/jpeg", true},
		{"photo.jpe", "image/jpeg", false},
		{"scan.tif", "image/tiff", true},
		{"scan.tiff", "image/tiff", true},
		{"photo.jpeg", "image/png", false}, // another type's other spelling
		{"notes.txt", "text/plain; charset=utf-8", true},
		{"notes.TXT", "text/plain", true},
		{"notes.text", "text/plain", false},
		{"anything.bin", "application/octet-stream", false}, // no extension to end in
		{"x.mkv", "video/x-matroska", true},
		{"x.m\u212Av", "video/x-matroska", false}, // Kelvin sign: EqualFold would say k
		{"x.\u017Fvg", "image/svg+xml", false},    // long s: EqualFold would say s
		{"x.ｐｄｆ", "application/pdf", false},       // fullwidth
	} {
		if got := filegate.HasExtension(tt.name, tt.contentType); got != tt.want {
			t.Errorf("HasExtension(%q, %q) = %t, want %t", tt.name, tt.contentType, got, tt.want)
		}
	}
}
