package authz_test

import (
	"mime"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/authz"
	"github.com/filegate/filegate/internal/filegate"
)

// The header is part of the download contract and pinned here byte for
// byte. Disposition writes it by hand because mime.FormatMediaType cannot
// (checked with Go 1.26): it writes filename or filename*, never the ASCII
// fallback next to the UTF-8 name; it quotes only where it must; it
// escapes '"' and '\' where the fallback replaces them; and it keeps an
// empty filename. FormatMediaType("attachment", {"filename": name}) gives:
//
//	"Résumé 2024.pdf"  attachment; filename*=utf-8''R%C3%A9sum%C3%A9%202024.pdf
//	"report.pdf"       attachment; filename=report.pdf
//	`a"b\c.txt`        attachment; filename="a\"b\\c.txt"
//	""                 attachment; filename=""
//
// Adding a "filename*" key does not give the pair: it comes out as
// filename**=….
func TestDisposition(t *testing.T) {
	long := strings.Repeat("a", 300)
	longU := strings.Repeat("é", 200)
	tests := []struct {
		typ  authz.DispositionType
		name string
		want string
	}{
		{authz.Attachment, "report.pdf", `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`},
		{authz.Inline, "photo.png", `inline; filename="photo.png"; filename*=UTF-8''photo.png`},
		{authz.Attachment, "", `attachment`},
		{authz.Inline, "", `inline`},
		{authz.Attachment, "Résumé 2024.pdf", `attachment; filename="R_sum_ 2024.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf`},
		{authz.Attachment, "Bob's résumé.pdf", `attachment; filename="Bob's r_sum_.pdf"; filename*=UTF-8''Bob%27s%20r%C3%A9sum%C3%A9.pdf`},
		{authz.Attachment, `a"b\c.txt`, `attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b%5Cc.txt`},
		{authz.Attachment, `\"`, `attachment; filename="__"; filename*=UTF-8''%5C%22`},
		{authz.Attachment, "a;b=c.txt", `attachment; filename="a;b=c.txt"; filename*=UTF-8''a%3Bb%3Dc.txt`},
		{authz.Attachment, " two  spaces .txt ", `attachment; filename=" two  spaces .txt "; filename*=UTF-8''%20two%20%20spaces%20.txt%20`},
		{authz.Attachment, "tab\there.txt", `attachment; filename="tab_here.txt"; filename*=UTF-8''tab%09here.txt`},
		{authz.Attachment, "nul\x00.txt", `attachment; filename="nul_.txt"; filename*=UTF-8''nul%00.txt`},
		{authz.Attachment, "del\x7f.txt", `attachment; filename="del_.txt"; filename*=UTF-8''del%7F.txt`},
		{authz.Attachment, "line\r\nX-Evil: 1", `attachment; filename="line__X-Evil: 1"; filename*=UTF-8''line%0D%0AX-Evil%3A%201`},
		{authz.Attachment, "日本語.txt", `attachment; filename="___.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt`},
		{authz.Attachment, "📄.pdf", `attachment; filename="_.pdf"; filename*=UTF-8''%F0%9F%93%84.pdf`},
		{authz.Attachment, "e\u0301.txt", `attachment; filename="e_.txt"; filename*=UTF-8''e%CC%81.txt`},
		{authz.Attachment, "\u202egnp.exe", `attachment; filename="_gnp.exe"; filename*=UTF-8''%E2%80%AEgnp.exe`},
		{authz.Attachment, "\xff\xfe.pdf", `attachment; filename="__.pdf"; filename*=UTF-8''%FF%FE.pdf`},
		{authz.Attachment, "100%41.txt", `attachment; filename="100%41.txt"; filename*=UTF-8''100%2541.txt`},
		{authz.Attachment, "!#$&+-.^_`|~", "attachment; filename=\"!#$&+-.^_`|~\"; filename*=UTF-8''!#$&+-.^_`|~"},
		{authz.Attachment, "%'()*,/:<=>?@[]{}", `attachment; filename="%'()*,/:<=>?@[]{}"; filename*=UTF-8''%25%27%28%29%2A%2C%2F%3A%3C%3D%3E%3F%40%5B%5D%7B%7D`},
		{authz.Attachment, long, `attachment; filename="` + long + `"; filename*=UTF-8''` + long},
		{authz.Attachment, longU, `attachment; filename="` + strings.Repeat("_", 200) + `"; filename*=UTF-8''` + strings.Repeat("%C3%A9", 200)},
	}
	for _, tt := range tests {
		got := authz.Disposition(tt.typ, tt.name)
		if got != tt.want {
			t.Errorf("Disposition(%s, %q) =\n %s\nwant\n %s", tt.typ, tt.name, got, tt.want)
		}
		// A standard parser reads the original name back from filename*.
		typ, params, err := mime.ParseMediaType(got)
		if err != nil || typ != string(tt.typ) || params["filename"] != tt.name {
			t.Errorf("mime.ParseMediaType(%q) = %q, %q, %v; want %s with filename %q", got, typ, params, err, tt.typ, tt.name)
		}
	}
}

// FormatMediaType, the standard library's writer, gives other bytes than
// the pinned header for these names (the comment above TestDisposition
// lists them): the reason Disposition writes the header itself. Should a
// future Go produce the pinned header, this fails and the hand-written
// builder can go.
func TestFormatMediaTypeDiffers(t *testing.T) {
	for name, stdlib := range map[string]string{
		"Résumé 2024.pdf": "attachment; filename*=utf-8''R%C3%A9sum%C3%A9%202024.pdf",
		"report.pdf":      "attachment; filename=report.pdf",
		`a"b\c.txt`:       `attachment; filename="a\"b\\c.txt"`,
		"":                `attachment; filename=""`,
	} {
		got := mime.FormatMediaType("attachment", map[string]string{"filename": name})
		if got != stdlib {
			t.Errorf("FormatMediaType(attachment, filename=%q) = %s, want %s as the comment says", name, got, stdlib)
		}
		if got == authz.Disposition(authz.Attachment, name) {
			t.Errorf("FormatMediaType now writes the pinned header for %q; use it", name)
		}
	}
}

// The name a file downloads as ends in its type's extension, so a browser
// never saves bytes the upload check refused under a name that opens them
// as something else.
func TestServedName(t *testing.T) {
	pdf, png, txt := "application/pdf", "image/png", "text/plain; charset=utf-8"
	long := strings.Repeat("a", 255)
	longU := strings.Repeat("é", 127) // 254 bytes
	tests := []struct {
		display, contentType, want string
	}{
		{"invoice.html", pdf, "invoice.html.pdf"},
		{"invoice.pdf.bat", pdf, "invoice.pdf.bat.pdf"},
		{"photo.vbs", png, "photo.vbs.png"},
		{"report.pdf", pdf, "report.pdf"},
		{"report.PDF", pdf, "report.PDF"},
		{"Bob's résumé.pdf", pdf, "Bob's résumé.pdf"},
		{"IMG_0001.JPEG", "image/jpeg", "IMG_0001.JPEG"},
		{"IMG_0001.jpg", "image/jpeg", "IMG_0001.jpg"},
		{"IMG_0001.png", "image/jpeg", "IMG_0001.png.jpg"},
		{"notes.txt", txt, "notes.txt"},
		{"README", txt, "README.txt"},
		{"Version 2.5 notes", txt, "Version 2.5 notes.txt"},
		{"notes.md", "text/plain", "notes.md.txt"},
		{"anim.gif", "IMAGE/GIF", "anim.gif"},
		{"pic.webp", "image/webp", "pic.webp"},
		{"x.svg", "image/svg+xml", "x.svg"},
		{"x.pdf", "image/svg+xml", "x.pdf.svg"},
		{"report.pdf", "application/x-unheard-of", "report.pdf"},   // no known extension: left alone
		{"report.html", "application/octet-stream", "report.html"}, // likewise
		{"report.html", "", "report.html"},
		{"", pdf, ""},
		{"x.m\u212Av", "video/x-matroska", "x.m\u212Av.mkv"},
		{long, pdf, long[:251] + ".pdf"},
		{long[:251], pdf, long[:251] + ".pdf"},
		{long[:252], pdf, long[:251] + ".pdf"},
		{longU, pdf, longU[:250] + ".pdf"}, // cut between runes
		{longU, "image/webp", longU[:250] + ".webp"},
	}
	for _, tt := range tests {
		if got := authz.ServedName(tt.display, tt.contentType); got != tt.want {
			t.Errorf("ServedName(%q, %q) = %q, want %q", tt.display, tt.contentType, got, tt.want)
		}
	}
}

// contentTypes are the types the fuzzers pick from: the default allowed
// ones, one with another spelling of its extension, and types without a
// known extension.
var contentTypes = []string{
	"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain; charset=utf-8",
	"image/tiff", "application/octet-stream", "application/x-unheard-of", "",
}

// FuzzDisposition checks, for any name a row may hold and any type, that
// the served name ends in the type's extension, keeps the name it was
// given as a prefix, and fits 255 bytes when it grows; and that the
// header is printable ASCII (no control character can split it) whose
// filename* parses back to the served name and whose ASCII filename ends
// in the extension too. `go test` runs the seeds; `go test -fuzz
// FuzzDisposition ./internal/authz` explores.
func FuzzDisposition(f *testing.F) {
	for i, s := range []string{"invoice.html", "report.PDF", "photo.vbs", "README", "", "a\"b\\c", "line\r\nX-Evil: 1",
		"\u202egnp.exe", "\xff\xfe", "é", "x.m\u212Av", strings.Repeat("é", 130), "%41;b=c", "\x00", `a"; filename*=UTF-8''x.html`} {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, display string, pick uint8) {
		contentType := contentTypes[int(pick)%len(contentTypes)]
		ext := filegate.Extension(contentType)
		served := authz.ServedName(display, contentType)
		switch {
		case display == "" || ext == "":
			if served != display {
				t.Fatalf("ServedName(%q, %q) = %q, want it unchanged", display, contentType, served)
			}
		case filegate.HasExtension(display, contentType):
			if served != display {
				t.Fatalf("ServedName(%q, %q) = %q: it had the extension already", display, contentType, served)
			}
		default:
			stem, found := strings.CutSuffix(served, ext)
			if !found || !strings.HasPrefix(display, stem) || (stem != display && len(served) > 255) {
				t.Fatalf("ServedName(%q, %q) = %q, want %q plus %s, cut to 255 bytes", display, contentType, served, display, ext)
			}
		}
		if display != "" && ext != "" && !filegate.HasExtension(served, contentType) {
			t.Fatalf("ServedName(%q, %q) = %q does not end in %s", display, contentType, served, ext)
		}

		for _, typ := range []authz.DispositionType{authz.Attachment, authz.Inline} {
			h := authz.Disposition(typ, served)
			for i := 0; i < len(h); i++ {
				if h[i] < 0x20 || h[i] > 0x7e {
					t.Fatalf("Disposition(%s, %q) = %q: byte %#x", typ, served, h, h[i])
				}
			}
			got, params, err := mime.ParseMediaType(h)
			if err != nil || got != string(typ) || params["filename"] != served {
				t.Fatalf("mime.ParseMediaType(%q) = %q, %q, %v; want %s with filename %q", h, got, params, err, typ, served)
			}
			if served == "" {
				continue
			}
			// Old clients read the ASCII filename alone. The last
			// "; filename*=" starts filename*: the name may hold the text.
			ascii := h[:strings.LastIndex(h, "; filename*=")]
			_, params, err = mime.ParseMediaType(ascii)
			if err != nil || (ext != "" && !filegate.HasExtension(params["filename"], contentType)) {
				t.Fatalf("ASCII part %q of %q: %q, %v; want a filename ending in %s", ascii, h, params, err, ext)
			}
		}
	})
}
