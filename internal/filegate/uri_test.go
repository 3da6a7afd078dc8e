package filegate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/filegate"
)

// FuzzParseFileURI checks that only canonical download URIs name a file:
// whatever ParseFileURI accepts is exactly the URL of the owner and name
// it returns, with a name nginx and PostgreSQL accept too; whatever it
// refuses is owner 0 (who never exists) and no name. And every file's URL
// parses back to it. `go test` runs the seeds; `go test -fuzz
// FuzzParseFileURI ./internal/filegate` explores.
func FuzzParseFileURI(f *testing.F) {
	for _, s := range []string{
		"/files/1/a.pdf", "/files/42/report-2.pdf", "/files/01/a.pdf", "/files/+1/a.pdf", "/files/-1/a.pdf",
		"/files/0/a.pdf", "/files/9223372036854775807/a", "/files/9223372036854775808/a",
		"/files/1/../2/a.pdf", "/files/1/.hidden", "/files/1/a/b", "/files/1/", "/files//a", "/files/1/a.pdf/",
		"/files/1/a%2fb", "/files/1/a\x00b", "/files/1/a.pdf\n", "/files/1/é.pdf", "/files/1_000/a", "/files/0x1/a",
		"/files/١/a", "//files/1/a", "/FILES/1/a", "/other/1/a.pdf", "", "/files/1/" + strings.Repeat("a", 201),
	} {
		f.Add(s, int64(7), "a.pdf")
	}
	f.Add("", int64(-1), "")
	f.Add("", int64(1), ".x")
	f.Fuzz(func(t *testing.T, uri string, id int64, name string) {
		owner, got, ok := filegate.ParseFileURI(uri)
		if ok {
			if owner <= 0 || !filegate.StoredNamePattern.MatchString(got) || fmt.Sprintf("/files/%d/%s", owner, got) != uri {
				t.Fatalf("ParseFileURI(%q) = %d, %q, true: not the canonical URL of what it returns", uri, owner, got)
			}
		} else if owner != 0 || got != "" {
			t.Fatalf("ParseFileURI(%q) = %d, %q, false; a refused URI must be owner 0 and no name", uri, owner, got)
		}

		url := filegate.File{OwnerID: id, StoredName: name}.URL()
		owner, got, ok = filegate.ParseFileURI(url)
		if valid := id > 0 && filegate.StoredNamePattern.MatchString(name); ok != valid || (ok && (owner != id || got != name)) {
			t.Fatalf("ParseFileURI(%q) = %d, %q, %t; the URL of file %d/%q", url, owner, got, ok, id, name)
		}
	})
}

func TestParseFileURI(t *testing.T) {
	long := strings.Repeat("a", 200)
	tests := []struct {
		uri   string
		owner int64
		name  string
		ok    bool
	}{
		{"/files/1/a.pdf", 1, "a.pdf", true},
		{"/files/42/report-2.pdf", 42, "report-2.pdf", true},
		{"/files/9/" + long, 9, long, true},
		{"/files/9/" + long + "a", 0, "", false},
		{"/files/01/a.pdf", 0, "", false},
		{"/files/+1/a.pdf", 0, "", false},
		{"/files/-1/a.pdf", 0, "", false},
		{"/files/0/a.pdf", 0, "", false},
		{"/files/99999999999999999999/a.pdf", 0, "", false},
		{"/files/1/../2/a.pdf", 0, "", false},
		{"/files/1/.hidden", 0, "", false},
		{"/files/1/a/b", 0, "", false},
		{"/files/1/", 0, "", false},
		{"/files/1", 0, "", false},
		{"/files/1/a.pdf/", 0, "", false},
		{"/files/1/a b", 0, "", false},
		{"/files/1/a%2fb", 0, "", false},
		{"/files/1/a\\b", 0, "", false},
		{"/files/1/a\x00b", 0, "", false},
		{"/files/1/é.pdf", 0, "", false},
		{"/other/1/a.pdf", 0, "", false},
		{"", 0, "", false},
	}
	for _, tt := range tests {
		owner, name, ok := filegate.ParseFileURI(tt.uri)
		if owner != tt.owner || name != tt.name || ok != tt.ok {
			t.Errorf("ParseFileURI(%q) = %d, %q, %v; want %d, %q, %v", tt.uri, owner, name, ok, tt.owner, tt.name, tt.ok)
		}
	}
}
