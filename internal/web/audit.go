package web

import (
	"net/http"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
)

// audit writes e, one event of request r, with the client's address and
// nginx's request id as origin finds them. Its outcome follows its reason
// (audit.Event), which callers give with reason.
func (s *Server) audit(r *http.Request, e audit.Event) {
	from := s.origin(r)
	e.SourceIP, e.RequestID = from.Addr, from.RequestID
	s.Audit.Log(r.Context(), e)
}

// reason is the audit log's reason for an action that ended in err: ""
// for none, else err's code ("unauthorized", "throttled", "quota_exceeded",
// …, "internal" for an error without one). Never err's text, which may
// hold what the client sent.
func reason(err error) string {
	return filegate.ErrorCode(err)
}
