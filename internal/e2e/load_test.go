package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testenv"
)

// loadDuration is how long TestLoad runs: FILEGATE_LOAD_DURATION (a Go
// duration; `make chaos` sets 5m), else 20 seconds.
func loadDuration(t *testing.T) time.Duration {
	v := os.Getenv("FILEGATE_LOAD_DURATION")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("FILEGATE_LOAD_DURATION=%q: want a positive Go duration such as 5m", v)
	}
	return d
}

// The load's users with their first flags, and the names each uploads.
var (
	loadUsers = []struct {
		name          string
		public, staff bool
	}{{"sam", false, true}, {"ann", true, false}, {"ben", false, false}, {"cal", false, false}, {"dee", true, false}}
	loadNames = []string{"a.txt", "b.txt"}
)

const loadClients = 8

// The model-checked load: loadClients clients download (GET and HEAD
// through nginx; staff, owners, strangers, removed users and no cookie;
// existing, deleted and never-existing files) while one goroutine keeps
// changing what they may see: is_public flips (web and CLI), staff flips
// (CLI), deletes (web, by the owner or by staff), uploads under a name
// just deleted (web and `uploader put`), users removed and added again.
// Every answer is checked against the states the database went through
// (model_test.go): it must be the answer of some state current at an
// instant between the request's start and its end. Any wrong 200, any
// 5xx, any other wrong status (such as a 404 for a stored upload) fails.
// At the end every file the model holds must download with its exact
// bytes, and the rows and the disk must hold exactly the model's files.
func TestLoad(t *testing.T) {
	runLoad(t, testenv.Options{})
}

// runLoad is TestLoad on a stack started with opt, which it returns once
// the load is over and judged.
func runLoad(t *testing.T, opt testenv.Options) *testenv.Stack {
	duration := loadDuration(t)
	s := testenv.Start(t, opt)
	c := newChanger(t, s)
	run := startDownloads(s, c.tg, loadClients)
	started := time.Now()
	done := make(chan struct{})
	c.t = goT{t}
	go func() {
		defer close(done)
		for time.Since(started) < duration {
			c.step()
		}
	}()
	<-done
	c.t = t
	obs := run.stop()
	elapsed := time.Since(started)

	// Every file that should be there downloads, as its owner, with its
	// bytes.
	final := c.h.current()
	client := newClient(1)
	for _, url := range slices.Sorted(maps.Keys(final.files)) {
		v := viewer(idOf(url))
		obs = append(obs, download(client, s.URL, "GET", url, v, c.tg.cookies[v]))
	}
	verdict := c.h.judge(obs, nil)
	t.Logf("load for %v with %d clients: %v; %.0f requests/s", elapsed.Round(time.Millisecond), loadClients, verdict,
		float64(verdict.requests)/elapsed.Seconds())
	t.Logf("%d changes %v; %d uploads got the URL of a deleted file back; %d states", c.total(), c.counts, c.reused, len(c.h.versions))
	verdict.report(t, c.h)
	for _, kind := range []string{"public (web)", "public (cli)", "staff (cli)", "delete (owner)", "upload (web)", "upload (cli)", "user remove", "user add"} {
		if c.counts[kind] == 0 {
			t.Errorf("no %q change in %v", kind, duration)
		}
	}
	if c.reused == 0 {
		t.Errorf("no upload reused a deleted file's URL")
	}
	checkStorage(t, s, final)
	return s
}

// changer makes the load's changes, one at a time, and records each in
// the history: it knows the state because it is the only one changing it.
type changer struct {
	t   testenv.T // the test's *testing.T, or a goT while changes run in a goroutine
	s   *testenv.Stack
	h   *history
	tg  *targets
	rng *rand.Rand
	web *http.Client

	ids     map[string]int64             // existing users by name
	slots   map[string]map[string]string // user → upload name → its file's URL ("": none)
	fileIDs map[string]int64             // URL → file id, where known
	seq     int                          // uploads made, for unique bytes
	hand    []string                     // the rest of this round's deck
	counts  map[string]int               // changes by kind
	reused  int                          // uploads that got back the URL of a deleted file
}

func newChanger(t *testing.T, s *testenv.Stack) *changer {
	c := &changer{t: t, s: s, tg: newTargets(), rng: rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano()))),
		web: newClient(1), ids: map[string]int64{}, slots: map[string]map[string]string{},
		fileIDs: map[string]int64{}, counts: map[string]int{}}
	c.h = newHistory(newState(), s.S3 != nil)
	for _, u := range loadUsers {
		c.addUser(u.name, u.public, u.staff)
		for _, name := range loadNames {
			c.upload(u.name, name, c.rng.IntN(2) == 0)
		}
	}
	c.tg.never(fileURL(c.ids["ann"], "never.txt"), fileURL(c.ids["sam"], "a-9.txt"), "/files/999999/a.txt")
	clear(c.counts)
	c.reused = 0
	return c
}

func (c *changer) total() int {
	n := 0
	for _, k := range c.counts {
		n += k
	}
	return n
}

// record times call, a change of the given kind, and records the state
// it leaves, which apply makes from the one before.
func (c *changer) record(kind string, call func(), apply func(*state)) {
	start := time.Now()
	call()
	end := time.Now()
	next := c.h.current().with(apply)
	c.h.changed(start, end, next)
	c.tg.update(next, nil)
	c.counts[kind]++
}

// deck is the mix of changes: step deals them in a fresh random order
// every round, so that even a slow run makes every kind.
var deck = []string{"public (web)", "public (web)", "public (cli)", "staff (cli)",
	"delete", "delete", "delete", "upload", "upload", "upload", "user remove", "user add"}

// step makes the next change of the deck, to a random user it applies to.
func (c *changer) step() {
	if len(c.hand) == 0 {
		c.hand = slices.Clone(deck)
		c.rng.Shuffle(len(c.hand), func(i, j int) { c.hand[i], c.hand[j] = c.hand[j], c.hand[i] })
	}
	kind := c.hand[0]
	c.hand = c.hand[1:]
	var present, absent []string
	var live, missing [][2]string // user and upload name
	for _, u := range loadUsers {
		if _, ok := c.ids[u.name]; !ok {
			absent = append(absent, u.name)
			continue
		}
		present = append(present, u.name)
		for _, name := range loadNames {
			if c.slots[u.name][name] != "" {
				live = append(live, [2]string{u.name, name})
			} else {
				missing = append(missing, [2]string{u.name, name})
			}
		}
	}
	pick := func(from []string) string { return from[c.rng.IntN(len(from))] }
	pair := func(from [][2]string) [2]string { return from[c.rng.IntN(len(from))] }
	switch {
	case kind == "user add" && len(absent) > 0:
		c.addUser(pick(absent), c.rng.IntN(2) == 0, c.rng.IntN(5) == 0)
	case kind == "user remove" && len(present) >= 3:
		c.removeUser(pick(present))
	case kind == "delete" && len(live) > 0, kind == "upload" && len(missing) == 0 && len(live) > 0:
		f := pair(live)
		c.delete(f[0], f[1])
	case kind == "upload" && len(missing) > 0, kind == "delete" && len(missing) > 0:
		f := pair(missing)
		c.upload(f[0], f[1], c.seq%2 == 0) // web and CLI by turns
	case kind == "staff (cli)":
		name := pick(present)
		c.setFlag(name, "staff", !c.h.current().users[c.ids[name]].staff)
	case kind == "public (cli)":
		name := pick(present)
		c.setFlag(name, "public", !c.h.current().users[c.ids[name]].public)
	default:
		name := pick(present)
		c.setPublicWeb(name, !c.h.current().users[c.ids[name]].public)
	}
}

func (c *changer) addUser(name string, public, staff bool) {
	var id int64
	c.record("user add", func() {
		id = c.s.AddUser(c.t, testenv.User{Name: name, Password: name + "-load-password", Public: public, Staff: staff})
	}, func(s *state) { s.users[id] = user{public: public, staff: staff} })
	c.ids[name] = id
	c.slots[name] = map[string]string{}
	c.tg.update(c.h.current(), map[viewer]*http.Cookie{viewer(id): c.s.Cookie(c.t, id)})
}

func (c *changer) removeUser(name string) {
	id := c.ids[name]
	c.record("user remove", func() {
		c.s.CLI(c.t, "", "user", "remove", name)
	}, func(s *state) {
		delete(s.users, id)
		for url := range s.files {
			if idOf(url) == id {
				delete(s.files, url)
			}
		}
	})
	delete(c.ids, name)
	delete(c.slots, name)
}

// setFlag flips public or staff with `uploader user set`.
func (c *changer) setFlag(name, flag string, value bool) {
	id := c.ids[name]
	c.record(flag+" (cli)", func() {
		c.s.CLI(c.t, "", "user", "set", name, fmt.Sprintf("--%s=%t", flag, value))
	}, func(s *state) {
		u := s.users[id]
		if flag == "public" {
			u.public = value
		} else {
			u.staff = value
		}
		s.users[id] = u
	})
}

// setPublicWeb flips public as the user does, with POST /settings.
func (c *changer) setPublicWeb(name string, public bool) {
	id := c.ids[name]
	c.record("public (web)", func() {
		c.post(id, "/settings", "application/json", strings.NewReader(fmt.Sprintf(`{"is_public": %t}`, public)), 200)
	}, func(s *state) {
		u := s.users[id]
		u.public = public
		s.users[id] = u
	})
}

// upload stores new bytes under name for user, through the web app or
// `uploader put`.
func (c *changer) upload(userName, name string, web bool) {
	c.seq++
	data := fmt.Sprintf("%s's %s, upload %d, %x\n", userName, name, c.seq, c.rng.Uint64())
	id := c.ids[userName]
	var url string
	kind := "upload (cli)"
	if web {
		kind = "upload (web)"
	}
	c.record(kind, func() {
		if !web {
			url = c.s.Put(c.t, userName, name, []byte(data))
			return
		}
		contentType, body := multipartFiles(upload{name, []byte(data)})
		answer := c.post(id, "/upload", contentType, body, 201)
		var stored []struct {
			ID  int64  `json:"id"`
			URL string `json:"url"`
		}
		if err := json.Unmarshal(answer, &stored); err != nil || len(stored) != 1 {
			c.t.Fatalf("upload answered %s", answer)
		}
		url = stored[0].URL
		c.fileIDs[url] = stored[0].ID
	}, func(s *state) { s.files[url] = file{bytes: data} })
	if slices.Contains(c.tg.deleted, url) {
		c.reused++
	}
	c.slots[userName][name] = url
}

// delete removes user's upload name with POST /delete/{id}, as its owner
// or, now and then, as someone who is staff.
func (c *changer) delete(userName, name string) {
	url, owner := c.slots[userName][name], c.ids[userName]
	fileID := c.fileID(userName, url)
	as, kind := owner, "delete (owner)"
	cur := c.h.current()
	for _, other := range slices.Sorted(maps.Keys(cur.users)) {
		if other != owner && cur.users[other].staff && c.rng.IntN(3) == 0 {
			as, kind = other, "delete (staff)"
			break
		}
	}
	c.record(kind, func() {
		c.post(as, "/delete/"+strconv.FormatInt(fileID, 10), "", nil, 200)
	}, func(s *state) { delete(s.files, url) })
	c.slots[userName][name] = ""
	delete(c.fileIDs, url) // an upload may get the URL again, with a new id
}

// fileID returns the id of userName's file at url, asking the user's
// list when an upload through the CLI did not tell.
func (c *changer) fileID(userName, url string) int64 {
	if id, ok := c.fileIDs[url]; ok {
		return id
	}
	answer := c.request("GET", c.ids[userName], "/api/files?user="+userName, "", nil, 200)
	var files []struct {
		ID  int64  `json:"id"`
		URL string `json:"url"`
	}
	json.Unmarshal(answer, &files)
	for _, f := range files {
		if f.URL == url {
			c.fileIDs[url] = f.ID
			return f.ID
		}
	}
	c.t.Fatalf("%s is not in its owner's list: %s", url, answer)
	return 0
}

// post sends a JSON-answered POST to the web app as user as, and fails
// unless the answer has status want; it returns the answer's body.
func (c *changer) post(as int64, path, contentType string, body io.Reader, want int) []byte {
	return c.request("POST", as, path, contentType, body, want)
}

func (c *changer) request(method string, as int64, path, contentType string, body io.Reader, want int) []byte {
	req, err := http.NewRequest(method, c.s.URL+path, body)
	if err != nil {
		c.t.Fatalf("%v", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.AddCookie(c.s.Cookie(c.t, as))
	resp, err := c.web.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != want {
		c.t.Fatalf("%s %s as %d: %d %s (%v), want %d", method, path, as, resp.StatusCode, answer, err, want)
	}
	return answer
}
