package ingest

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/filegate/filegate/internal/filegate"
)

// exts are the extensions mimetype gives the default allowed types.
var exts = []string{".pdf", ".png", ".jpg", ".gif", ".webp", ".txt"}

func TestNames(t *testing.T) {
	tests := []struct {
		in, display, stored string // stored with the ".pdf" extension
	}{
		{"report.pdf", "report.pdf", "report.pdf"},
		{"../../etc/passwd", "passwd", "passwd.pdf"},
		{`C:\Users\x\report.pdf`, "report.pdf", "report.pdf"},
		{"a/b\\c/", "file", "file.pdf"},
		{"a\x00b\nc\td\x7f.txt", "abcd.txt", "abcd.pdf"},
		{"evil\u202Efdp.exe", "evilfdp.exe", "evilfdp.pdf"},
		{"\u2066x\u2069\u200Fy\u2028z.png", "xyz.png", "xyz.pdf"},
		{"e\u0301.txt", "\u00e9.txt", "e.pdf"},
		{"R\u00e9sum\u00e9.docx", "R\u00e9sum\u00e9.docx", "Resume.pdf"},
		{"😀 party 🎉.png", "😀 party 🎉.png", "party.pdf"},
		{"日本語.pdf", "日本語.pdf", "file.pdf"},
		{"ｒｅｐｏｒｔ.pdf", "ｒｅｐｏｒｔ.pdf", "report.pdf"},
		{"...", "file", "file.pdf"},
		{"", "file", "file.pdf"},
		{".hidden", "hidden", "hidden.pdf"},
		{"  spaced name .txt  ", "spaced name .txt", "spaced-name.pdf"},
		{"-rf --no-preserve-root.sh", "-rf --no-preserve-root.sh", "rf---no-preserve-root.pdf"},
		{"Version 2.5 notes", "Version 2.5 notes", "Version-2.5-notes.pdf"},
		{"archive.tar.gz", "archive.tar.gz", "archive.tar.pdf"},
		{"a\xffb.txt", "a\uFFFDb.txt", "a-b.pdf"},
		{strings.Repeat("a", 300) + ".pdf", strings.Repeat("a", 255), strings.Repeat("a", 196) + ".pdf"},
		{strings.Repeat("é", 300), strings.Repeat("é", 127), strings.Repeat("e", 127) + ".pdf"},
	}
	for _, tt := range tests {
		display := DisplayName(tt.in)
		if display != tt.display {
			t.Errorf("DisplayName(%q) = %q, want %q", tt.in, display, tt.display)
		}
		if got := StoredName(display, ".pdf"); got != tt.stored {
			t.Errorf("StoredName(%q, .pdf) = %q, want %q", display, got, tt.stored)
		}
		for _, ext := range exts {
			got := StoredName(display, ext)
			if !filegate.StoredNamePattern.MatchString(got) || !strings.HasSuffix(got, ext) {
				t.Errorf("StoredName(%q, %s) = %q: want the pattern and the extension", display, ext, got)
			}
		}
	}
}

func TestStoredNameFitsWithSuffix(t *testing.T) {
	base := StoredBase(strings.Repeat("x", 300))
	for _, suffix := range []string{"", "-2", "-20", "-0123abcd"} {
		got := storedName(base, suffix, ".webp")
		if len(got) > 200 || !filegate.StoredNamePattern.MatchString(got) || !strings.HasSuffix(got, suffix+".webp") {
			t.Errorf("storedName(…, %q, .webp) = %q (%d bytes)", suffix, got, len(got))
		}
	}
}

// stemPattern is the shape of every StoredBase: a stored name's first
// character at both ends, anything a stored name allows between.
var stemPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// FuzzNames checks the invariants every name must keep: DisplayName's
// output is short, valid, one path element and free of controls; the stem
// StoredBase makes of it has the shape above; and StoredName gives a name
// matching StoredNamePattern with the extension, for a display name and
// for the raw client name alike. `go test` runs the seeds; `go test -fuzz
// FuzzNames ./internal/ingest` explores.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "a.pdf", "../x", "\u202E", "\x00", ". .", "e\u0301", "-._", "ǅ\u0345.ｔｘｔ",
		"invoice.html", "a.b.c.d", "x.abcdefghijk", "\xff.pdf", "ﬀ.pdf", "Ⅻ", "㍿", strings.Repeat("é", 130) + ".pdf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		d := DisplayName(name)
		if d == "" || len(d) > 255 || !utf8.ValidString(d) || strings.ContainsAny(d, `/\`) {
			t.Fatalf("DisplayName(%q) = %q", name, d)
		}
		for _, r := range d {
			if unicode.IsControl(r) || isBidiControl(r) {
				t.Fatalf("DisplayName(%q) = %q keeps %U", name, d, r)
			}
		}
		for _, in := range []string{d, name} {
			if b := StoredBase(in); !stemPattern.MatchString(b) {
				t.Fatalf("StoredBase(%q) = %q", in, b)
			}
			for _, ext := range exts {
				if s := StoredName(in, ext); !filegate.StoredNamePattern.MatchString(s) || !strings.HasSuffix(s, ext) {
					t.Fatalf("StoredName(%q, %s) = %q", in, ext, s)
				}
			}
		}
	})
}
