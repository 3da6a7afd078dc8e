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
