package filegate

import (
	"fmt"
	"strconv"
)

// typeNames are the people's names of the usual allowed types.
var typeNames = map[string]string{
	"application/pdf": "PDF",
	"image/png":       "PNG",
	"image/jpeg":      "JPEG",
	"image/gif":       "GIF",
	"image/webp":      "WebP",
	"text/plain":      "plain text",
}

// TypeName names a content type for people ("PDF", "plain text") and
// reports whether it has such a name; without one it returns the bare
// type. Pages and refusal messages use it, so a type reads the same in
// both.
func TypeName(contentType string) (string, bool) {
	t := MediaType(contentType)
	if name, ok := typeNames[t]; ok {
		return name, true
	}
	return t, false
}

// typeDescriptions say what a file of a type is, as part of a sentence
// ("x.pdf is a web page (HTML)"): the usual allowed types and what people
// most often upload by mistake. Keys are the type detector's names.
var typeDescriptions = map[string]string{
	"application/pdf":             "a PDF",
	"image/png":                   "a PNG image",
	"image/jpeg":                  "a JPEG image",
	"image/gif":                   "a GIF image",
	"image/webp":                  "a WebP image",
	"text/plain":                  "plain text",
	"text/html":                   "a web page (HTML)",
	"image/svg+xml":               "an SVG image",
	"text/xml":                    "an XML document",
	"application/json":            "JSON data",
	"text/javascript":             "a script (JavaScript)",
	"text/x-shellscript":          "a shell script",
	"application/zip":             "a ZIP archive",
	"application/gzip":            "a gzip archive",
	"application/x-tar":           "a TAR archive",
	"application/x-7z-compressed": "a 7-Zip archive",
	"application/vnd.rar":         "a RAR archive",
	"application/x-elf":           "a program",
	"application/x-executable":    "a program",
	"application/vnd.microsoft.portable-executable":                             "a Windows program",
	"application/msword":                                                        "a Word document",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "a Word document",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "an Excel spreadsheet",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "a PowerPoint presentation",
	"image/heic":               "a HEIC photo",
	"image/tiff":               "a TIFF image",
	"image/bmp":                "a BMP image",
	"video/mp4":                "an MP4 video",
	"audio/mpeg":               "an MP3 file",
	"application/octet-stream": "of an unknown type", // what the detector says when it knows nothing
}

// TypeDescription says what a file of contentType is, to follow "is" in a
// sentence: "a PDF", "a web page (HTML)", "a ZIP archive". A type without
// a description is "a .csv file" by its extension, else "of type x/y".
// Refusal messages use it (ingest).
func TypeDescription(contentType string) string {
	t := MediaType(contentType)
	if d, ok := typeDescriptions[t]; ok {
		return d
	} else if ext := Extension(t); ext != "" {
		return "a " + ext + " file"
	}
	return "of type " + t
}

// FormatSize renders a byte count for people: "25 MiB", "1.5 GiB", "900
// bytes". Pages and refusal messages use it, so a limit reads the same on
// the upload page and in the refusal.
func FormatSize(n int64) string {
	units := []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	for _, u := range units {
		if n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.name)
			}
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + " " + u.name
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
