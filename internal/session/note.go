package session

import (
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

// A note is a short text that a page shows one user after a redirect,
// such as the name of the file they have just deleted
// (docs/interface.md#web-app, flash messages): the redirect's URL
// carries it sealed, encrypted and authenticated like the session
// cookie, for that user and for NoteTTL. Nobody can craft a link that
// makes a page say something else, a note shown to its user only is no
// message from anyone else, and a file's name is not in the URL, the
// access log or the browser's history in the clear.

// noteName binds a sealed note to its purpose: securecookie
// authenticates the name with the value, so a note never opens as a
// session or link cookie, nor they as a note.
const noteName = "filegate_note"

// NoteTTL is how long a sealed note opens: long enough for the redirect
// and a reload, short enough that an old URL shows the plain sentence.
const NoteTTL = 10 * time.Minute

// notePayload is the JSON inside a sealed note.
type notePayload struct {
	UserID  int64  `json:"uid"`
	Text    string `json:"t"`
	Expires int64  `json:"exp"` // unix seconds
}

// SealNote returns text sealed for userID with the first key pair, for
// a URL's query. It fails only for a text too long for one (securecookie
// refuses values over 4096 bytes).
func (c *Codec) SealNote(userID int64, text string) (string, error) {
	p := notePayload{UserID: userID, Text: text, Expires: c.now().Add(NoteTTL).Unix()}
	v, err := securecookie.EncodeMulti(noteName, p, c.codecs[:1]...)
	if err != nil {
		return "", fmt.Errorf("session: seal note: %w", err)
	}
	return v, nil
}

// OpenNote returns the text of sealed when a configured key pair sealed
// it for userID less than NoteTTL ago; anything else, including a
// forged, altered, expired or other user's note, is not ok.
func (c *Codec) OpenNote(userID int64, sealed string) (string, bool) {
	var p notePayload
	if sealed == "" || securecookie.DecodeMulti(noteName, sealed, &p, c.codecs...) != nil {
		return "", false
	}
	if p.UserID != userID || userID <= 0 || !c.now().Before(time.Unix(p.Expires, 0)) {
		return "", false
	}
	return p.Text, true
}
