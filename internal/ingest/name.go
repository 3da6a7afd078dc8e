package ingest

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/filegate/filegate/internal/filegate"
)

const (
	// maxDisplayBytes keeps display names within what file systems and
	// Content-Disposition consumers accept for one file name.
	maxDisplayBytes = 255
	// maxStoredLen is the longest stored name StoredNamePattern allows.
	maxStoredLen = 200
	// maxExtLen is the longest client extension DisplayName's stem strips;
	// anything longer is more likely part of the name ("v2.5 notes").
	maxExtLen = 10
)

// DisplayName turns the client's untrusted file name into the name shown
// to users and sent in Content-Disposition. It keeps the name readable and
// Unicode, but drops any directory part (both / and \), control
// characters, line separators and bidi controls (which can disguise
// "exe.pdf" as "fdp.exe"), normalizes to NFC, trims spaces and dots, and
// caps the result at 255 bytes. It never returns "" ("file" instead).
func DisplayName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) || isBidiControl(r) {
			return -1
		}
		return r
	}, name)
	name = trimName(norm.NFC.String(name))
	if len(name) > maxDisplayBytes {
		name = trimName(truncate(name, maxDisplayBytes))
	}
	if name == "" {
		return "file"
	}
	return name
}

// isBidiControl reports the invisible characters that reorder text.
func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' ||
		('\u202A' <= r && r <= '\u202E') || ('\u2066' <= r && r <= '\u2069')
}

// trimName trims the spaces and dots that make names hidden or ambiguous.
func trimName(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
}

// truncate cuts s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// StoredBase returns the ASCII stem of a stored name for a display name
// (as returned by DisplayName): the client's extension is dropped (the
// stored name gets the detected type's instead), accents are folded
// ("Résumé" -> "Resume"), every run of other characters outside
// [A-Za-z0-9._-] becomes "-", and the stem starts with a letter or digit.
// It never returns "" ("file" instead); StoredName caps its length.
func StoredBase(display string) string {
	stem := display
	if i := strings.LastIndexByte(stem, '.'); i > 0 && isExt(stem[i+1:]) {
		stem = stem[:i]
	}
	var b strings.Builder
	dash := false
	for _, r := range norm.NFKD.String(stem) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// A combining mark left over from NFKD: dropping it folds the accent.
		case r < utf8.RuneSelf && (isAlnum(byte(r)) || r == '.' || r == '_' || r == '-'):
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	return cleanStem(b.String())
}

// isExt reports whether s looks like a file extension, not part of a name.
func isExt(s string) bool {
	if s == "" || len(s) > maxExtLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// cleanStem trims what may not start a stored name or end its stem.
func cleanStem(s string) string {
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r >= utf8.RuneSelf || !isAlnum(byte(r)) })
	s = strings.TrimRight(s, "-._")
	if s == "" {
		return "file"
	}
	return s
}

// StoredName returns the stored name for a display name and the detected
// type's extension (".pdf"), without a collision suffix. The result
// matches filegate.StoredNamePattern for any display name and for any
// extension made of [A-Za-z0-9.] of up to 10 bytes.
func StoredName(display, ext string) string {
	return storedName(StoredBase(display), "", ext)
}

// storedName joins a stem from StoredBase, a collision suffix like "-2"
// and an extension, shortening the stem so the whole fits 200 bytes.
func storedName(base, suffix, ext string) string {
	if room := maxStoredLen - len(suffix) - len(ext); len(base) > room {
		base = cleanStem(base[:room])
	}
	return base + suffix + ext
}

// validStoredName is the last check before a name touches the disk.
func validStoredName(name string) bool { return filegate.StoredNamePattern.MatchString(name) }
