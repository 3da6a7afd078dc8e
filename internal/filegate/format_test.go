package filegate_test

import (
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		900: "900 bytes", 1 << 10: "1 KiB", 25 << 20: "25 MiB", 3 << 29: "1.5 GiB", 1<<30 + 1: "1.0 GiB",
	} {
		if got := filegate.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTypeName(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		known    bool
	}{
		{"application/pdf", "PDF", true},
		{"text/plain; charset=utf-8", "plain text", true},
		{"IMAGE/PNG", "PNG", true},
		{"application/zip", "application/zip", false},
	} {
		if got, known := filegate.TypeName(tt.in); got != tt.want || known != tt.known {
			t.Errorf("TypeName(%q) = %q, %t; want %q, %t", tt.in, got, known, tt.want, tt.known)
		}
	}
}

func TestTypeDescription(t *testing.T) {
	for in, want := range map[string]string{
		"application/pdf":           "a PDF",
		"text/plain; charset=utf-8": "plain text",
		"TEXT/HTML; charset=utf-8":  "a web page (HTML)",
		"application/zip":           "a ZIP archive",
		"application/octet-stream":  "of an unknown type",
		"text/csv":                  "a .csv file", // described by its extension
		"application/x-elf":         "a program",   // the detector gives it no extension
		"application/x-made-up":     "of type application/x-made-up",
	} {
		if got := filegate.TypeDescription(in); got != want {
			t.Errorf("TypeDescription(%q) = %q, want %q", in, got, want)
		}
	}
}
