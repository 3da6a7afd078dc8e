package testenv

import (
	"bufio"
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/filegate/filegate/internal/audit"
)

// A stack's audit log (FILEGATE_AUDIT_LOG) is one file that authz, the
// web app and the CLI all append to. No audit line may hold a cookie,
// password, token or key (docs/interface.md#audit-log): the helpers that
// make or use one note it with Secret, and when a test ends its stack's
// audit log is searched for every secret noted so far in the process.

// minSecret is the shortest value Secret notes: passwords are at least 8
// characters, and anything shorter could be a word of the log itself.
const minSecret = 8

var secrets struct {
	sync.Mutex
	what map[string]string // value → what it is, for the failure message
}

// Secret notes v, described by what ("alice's password"), as a secret that
// no audit log may hold. Helpers that make cookies, tokens, passwords and
// keys call it; a test calls it for a secret it makes by other means.
// Values shorter than 8 bytes are not noted.
func Secret(what, v string) {
	if len(v) < minSecret {
		return
	}
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.what == nil {
		secrets.what = map[string]string{}
	}
	if _, ok := secrets.what[v]; !ok {
		secrets.what[v] = what
	}
}

// AuditLines returns the stack's audit log as written so far, one record
// a line; a line that is no audit line fails the test.
func (s *Stack) AuditLines(t T) []audit.Record {
	t.Helper()
	b, err := os.ReadFile(s.AuditLog)
	if os.IsNotExist(err) {
		return nil // nothing audited yet
	} else if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var recs []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		rec, err := audit.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("testenv: %s, line %d: %v: %.200s", s.AuditLog, n, err, sc.Text())
		}
		recs = append(recs, rec)
	}
	return recs
}

// AuditSecrets returns what each secret noted so far (Secret) is that the
// stack's audit log holds, with the line it is on, sorted; none when the
// log is clean. The secrets themselves are left out of the answer, which
// ends up in test output.
func (s *Stack) AuditSecrets(t T) []string {
	t.Helper()
	b, err := os.ReadFile(s.AuditLog)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	log := string(b)
	secrets.Lock()
	defer secrets.Unlock()
	var found []string
	for v, what := range secrets.what {
		if i := strings.Index(log, v); i >= 0 {
			line := strings.Count(log[:i], "\n") + 1
			found = append(found, what+" on line "+strconv.Itoa(line))
		}
	}
	sort.Strings(found)
	return found
}

// checkAudit fails the test when the stack's audit log holds a secret.
func (s *Stack) checkAudit(t T) {
	t.Helper()
	if found := s.AuditSecrets(t); len(found) > 0 {
		t.Fatalf("testenv: the audit log %s holds secrets: %s", s.AuditLog, strings.Join(found, "; "))
	}
}

// noteKeys notes every key of keys (FILEGATE_SESSION_KEYS) as a secret.
func noteKeys(keys string) {
	for _, pair := range strings.Split(keys, ",") {
		hash, block, _ := strings.Cut(pair, ":")
		Secret("a session hash key", hash)
		Secret("a session block key", block)
	}
}
