package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/storage"
	"github.com/filegate/filegate/internal/storage/s3"
	"github.com/filegate/filegate/internal/testenv"
)

// s3Cases are the servers of s3Compare, in the order the table shows them.
var s3Cases = []string{"P", "S"}

// s3Compare measures downloads from a bucket (FILEGATE_STORAGE=s3, on a
// local versitygw) side by side with wrk, for a 4 KiB and a 16 MiB file,
// on one nginx with two servers:
//
//	P  nginx proxying the store at a URL presigned once (no gate): what
//	   a bucket behind nginx costs by itself
//	S  the include, asking authz, which presigns a URL per request, and
//	   proxying to it from /_filegate/s3
//
// S/P is the gate's cost on this backend, as gateCompare's C/A is on the
// filesystem.
func s3Compare(t *runner, wrk string) {
	s := testenv.Start(t, testenv.Options{Storage: "s3", MaxUpload: "1GiB", MaxBody: "64m"})
	alice := s.AddUser(t, testenv.User{Name: "alice", Password: "bench-password"})
	s.AddUser(t, testenv.User{Name: "bob", Password: "bench-password", Public: true})
	cookie := s.Cookie(t, alice).String()
	small := s.Put(t, "bob", "s3-small.pdf", pdf(4<<10))
	huge := s.Put(t, "bob", "s3-huge.pdf", pdf(16<<20))
	signer, err := s3.NewSigner(s.S3.Config)
	if err != nil {
		t.Fatalf("%v", err)
	}
	storeAddr := strings.TrimPrefix(s.S3.Endpoint, "http://")

	dir := t.TempDir()
	testenv.RenderHTTPConf(t, dir, strings.TrimPrefix(s.AuthzURL, "http://"), strings.TrimPrefix(s.UploaderURL, "http://"), s.PrivateRoot)
	testenv.RenderS3Upstream(t, dir, storeAddr)
	urls := map[string]string{"P": "http://" + testenv.FreeAddr(t), "S": "http://" + testenv.FreeAddr(t)}
	var servers strings.Builder
	fmt.Fprintf(&servers, "    server {\n        listen %s;\n", strings.TrimPrefix(urls["P"], "http://"))
	for _, u := range []string{small, huge} {
		f := s.File(t, u)
		signed, _ := url.Parse(signer.Presign("GET", storage.Key(f.OwnerID, f.ID, f.StoredName), time.Now(), time.Hour, f.ContentType, "attachment"))
		// The same URL, and the bytes from the store through the same
		// kept-alive upstream the include uses.
		fmt.Fprintf(&servers, "        location = %s {\n            proxy_pass http://filegate_s3%s;\n"+
			"            proxy_set_header Host %s;\n            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n        }\n",
			u, signed.RequestURI(), signed.Host)
	}
	fmt.Fprintf(&servers, "    }\n    server {\n        listen %s;\n        include %s;\n    }\n",
		strings.TrimPrefix(urls["S"], "http://"), filepath.Join(testenv.RepoRoot(), "nginx", "filegate.conf"))
	startNginx(t, dir, servers.String(), urls)

	names := map[string]string{
		"P": "P: nginx proxies the store, no gate",
		"S": "S: include + authz + presigned URL",
	}
	say("objects in a bucket (FILEGATE_STORAGE=s3, versitygw on this machine), one nginx, side by side as above:\n")
	// A 16 MiB object takes the store about a second: fewer connections
	// and longer rounds, so that a round ends few requests halfway.
	for _, f := range []struct {
		label, url string
		conns      int
		round      time.Duration
	}{{"4 KiB", small, 32, gateRound}, {"16 MiB", huge, 8, 2 * gateRound}} {
		res := sideBySide(t, wrk, urls, s3Cases, f.url, cookie, f.conns, f.round)
		say("  %s file, wrk -t2 -c%d, rounds of %s:\n", f.label, f.conns, f.round)
		for _, c := range s3Cases {
			say("    %-44s %s\n", names[c], res[c])
			rep.row(f.label+" s3 "+names[c], fmt.Sprintf("%.0f req/s, p99 %s", res[c].rps, ms(res[c].p99)))
		}
		say("    S/P %.2f\n", res["S"].rps/res["P"].rps)
		rep.row(f.label+" s3 S/P (gated/plain)", ratio(res["S"].rps, res["P"].rps))
	}
	say("\n")
}
