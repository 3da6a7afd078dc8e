package filegate

import "github.com/gabriel-vasile/mimetype"

// otherExtensions are spellings that open as the same type as Extension's
// on every common system, so a name ending in one already says the type.
var otherExtensions = map[string][]string{
	"image/jpeg": {".jpeg"},
	"image/tiff": {".tif"},
}

// Extension returns the file extension of contentType as the type detector
// names it, with its dot and in lower case: ".pdf" for "application/pdf",
// ".txt" for "text/plain; charset=utf-8", ".jpg" for "image/jpeg". It
// returns "" for a type the detector does not know or gives no extension.
//
// It is the one table both ends use: a stored name ends in it (ingest), and
// so does the name a file is downloaded as (docs/interface.md#downloads).
// The detector knows a few types twice with two extensions
// ("application/json" is also ".har"); Extension always gives the first,
// so the two ends can never disagree.
func Extension(contentType string) string {
	if m := mimetype.Lookup(MediaType(contentType)); m != nil {
		return m.Extension()
	}
	return ""
}

// HasExtension reports whether name ends in contentType's Extension, or in
// another spelling of it (".jpeg" for image/jpeg), ignoring ASCII case only:
// "REPORT.PDF" ends in ".pdf", but a name ending in the Kelvin sign "K" does
// not end in "k". It is false when the type has no extension.
func HasExtension(name, contentType string) bool {
	ext := Extension(contentType)
	if ext == "" {
		return false
	}
	if hasSuffixFold(name, ext) {
		return true
	}
	for _, other := range otherExtensions[MediaType(contentType)] {
		if hasSuffixFold(name, other) {
			return true
		}
	}
	return false
}

// hasSuffixFold is strings.HasSuffix for a lower-case ASCII suffix,
// ignoring the ASCII case of s. strings.EqualFold would also fold Unicode
// look-alikes, which no system reads as the ASCII letter.
func hasSuffixFold(s, lowerSuffix string) bool {
	if len(s) < len(lowerSuffix) {
		return false
	}
	s = s[len(s)-len(lowerSuffix):]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerSuffix[i] {
			return false
		}
	}
	return true
}
