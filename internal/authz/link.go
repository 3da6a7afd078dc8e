package authz

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/policy"
)

// Share links (docs/interface.md#share-links): GET and HEAD /s/{token}
// need no session. nginx asks authz exactly as for /files/, adding the
// client's method, Range header and address, which decide what the request
// does to the link's download count.

// linkPrefix starts the URI of every link request.
const linkPrefix = "/s/"

// Reasons a link request is refused, as the audit log names them.
const (
	reasonNotFound    = "not_found"
	reasonExpired     = "expired"
	reasonRevoked     = "revoked"
	reasonUsedUp      = "used_up"
	reasonPassword    = "password"
	reasonUnavailable = "unavailable" // the store failed: a 503
)

// linkVerdict is the outcome of one link request.
type linkVerdict struct {
	decision       policy.Decision
	reason         string          // why it was refused, for the audit log; "" when allowed
	linkID, fileID int64           // for the audit log, once known
	file           filegate.Target // what nginx serves on Allow
	source         string          // where the link's facts came from, for the metrics
}

// link answers one request for the link whose token is token, asked at
// start, and writes one audit line for it. Any error of the store is a
// 503, never a 200.
func (s *Server) link(w http.ResponseWriter, r *http.Request, token string, start time.Time) {
	// A missing or malformed address is the zero Addr: it holds no grant,
	// so its later ranges count as downloads.
	client, _ := netip.ParseAddr(r.Header.Get(HeaderClient))
	v, err := s.decideLink(r, token, client)
	if err != nil {
		s.Log.ErrorContext(r.Context(), "authz: cannot decide a link", "link_id", v.linkID, "err", err)
		v.reason = reasonUnavailable
	}
	// The outcome follows the reason (audit.Event): every refusal has one.
	s.audit(r, start, audit.Event{Action: "link.download", Reason: v.reason, LinkID: v.linkID, FileID: v.fileID})
	if err != nil {
		answer(w, http.StatusServiceUnavailable)
		s.decided(start, v.decision, v.source, err)
		return
	}
	if v.decision == policy.Gone {
		// Which of the three a browser's error page names; the reasons
		// are a fixed set, and the page shows fixed sentences only.
		w.Header().Set(HeaderReason, v.reason)
	}
	s.answerDecision(w, r, v.decision, v.file)
	s.decided(start, v.decision, v.source, nil)
}

// decideLink decides a request from client for the link whose token is
// token. A token the keys did not make is NotFound before any I/O. The
// link's facts come through the cache, its count from the store alone.
// Only the store's errors are returned, with the verdict so far.
func (s *Server) decideLink(r *http.Request, token string, client netip.Addr) (linkVerdict, error) {
	id, nonce, ok := s.Sessions.ParseLinkToken(token)
	if !ok {
		return linkVerdict{decision: policy.NotFound, reason: reasonNotFound, source: metrics.SourceNone}, nil
	}
	v := linkVerdict{linkID: id}
	facts, src, err := s.linkFacts(r.Context(), id)
	v.source = src
	if err != nil {
		return v, err
	}
	v.fileID = facts.FileID
	now := s.now()
	// The cookie is only looked at when the link has a password.
	unlocked := facts.Password && s.Sessions.LinkUnlocked(r, id, nonce)
	switch v.decision = policy.DecideLink(facts, nonce, now, unlocked); v.decision {
	case policy.Allow:
		use := policy.LinkUse(r.Header.Get(HeaderMethod), r.Header.Get(HeaderRange))
		if v.decision, v.reason, err = s.useLink(r.Context(), facts, use, client, now); v.decision == policy.Allow {
			v.file = facts.File
		}
	case policy.NotFound:
		v.reason = reasonNotFound
	case policy.Gone:
		v.reason = reasonExpired
		if facts.Revoked {
			v.reason = reasonRevoked
		}
	case policy.Unauthenticated:
		v.reason = reasonPassword
	default:
		v.reason = failure(v.decision)
	}
	return v, err
}

// useLink applies use to the download count of the link with facts,
// which policy.DecideLink allowed, at now: a Start counts one download, or
// is Gone when none is left. A link without a limit keeps no grants, so
// only its Starts touch the store. For a limited link, a Continue is free
// for a client holding a grant and a Start for anyone else, and a Peek
// passes while downloads are left or for a grant holder.
func (s *Server) useLink(ctx context.Context, facts filegate.LinkFacts, use policy.Use, client netip.Addr, now time.Time) (policy.Decision, string, error) {
	if facts.Max == 0 && use != policy.Start {
		return policy.Allow, "", nil
	}
	if facts.Max == 0 && s.Tally != nil {
		// No limit: DecideLink has checked revocation and expiry on
		// facts that every change reaches by the next request, and no
		// answer depends on the count.
		s.Tally.Add(facts.ID)
		return policy.Allow, "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.StoreTimeout)
	defer cancel()
	if facts.Max > 0 && (use == policy.Peek || use == policy.Continue && client.IsValid()) {
		p, err := s.Store.LinkProgress(ctx, facts.ID, client, now)
		s.storeErr(err)
		switch {
		case filegate.ErrorCode(err) == filegate.ENOTFOUND:
			// Deleted since its facts were read.
			return policy.NotFound, reasonNotFound, nil
		case err != nil:
			return policy.Deny, "", err
		case p.Granted || use == policy.Peek && p.Downloads < p.Max:
			return policy.Allow, "", nil
		case use == policy.Peek:
			return policy.Gone, reasonUsedUp, nil
		}
		// A Continue without a grant starts a download.
	}
	counted, err := s.Store.CountLinkDownload(ctx, facts.ID, client, now, now.Add(policy.LinkGrant))
	s.storeErr(err)
	switch {
	case err != nil:
		return policy.Deny, "", err
	case !counted:
		// Used up, or revoked, expired or deleted since its facts were
		// read: gone either way.
		return policy.Gone, reasonUsedUp, nil
	}
	return policy.Allow, "", nil
}

// linkFacts returns link id's facts, from the cache or the store, and
// where they came from (a Source of package metrics). Only the store's
// error is returned.
func (s *Server) linkFacts(ctx context.Context, id int64) (filegate.LinkFacts, string, error) {
	if f, ok := s.cache().RememberedLink(id); ok {
		return f, metrics.SourceMemory, nil
	}
	var loaded bool
	f, err := s.cache().Link(ctx, id, load(ctx, s.StoreTimeout, &loaded, func(ctx context.Context) (filegate.LinkFacts, error) {
		return s.Store.LinkFacts(ctx, id)
	}))
	return f, s.looked(loaded), s.storeErr(err)
}
