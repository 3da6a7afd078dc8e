package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/filegate/filegate/internal/audit"
	"github.com/filegate/filegate/internal/filegate"
)

// showAudit prints the events of the audit log's file (FILEGATE_AUDIT_LOG)
// that match every flag given, in the file's order, one a line
// (auditLine): --user NAME the events NAME did, --file ID those about
// file ID (its downloads by link too), --since D those of the last D. It
// reads the current file only, not the rotated ones, and counts on
// standard error the lines it could not read.
func (a *app) showAudit(ctx context.Context, args []string) error {
	fs := newFlags("audit")
	user := fs.String("user", "", "only the events of this user")
	var fileID int64
	fs.Func("file", "only the events about this file id", func(s string) error {
		id, ok := filegate.ParseID(s)
		if !ok {
			return fmt.Errorf("want a file id, got %q", s)
		}
		fileID = id
		return nil
	})
	since := fs.Duration("since", 0, "only the events of this last span, like 24h")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError("audit: takes flags only")
	}
	if *since < 0 {
		return usageError("audit: --since wants a positive duration like 24h")
	}
	if a.cfg.AuditLog == audit.Std {
		return errors.New("audit: FILEGATE_AUDIT_LOG is - (standard output): there is no file to read; set it to the audit log's path")
	}
	var userID int64
	if *user != "" {
		u, err := a.lookupUser(ctx, *user)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		userID = u.ID
	}
	f, err := os.Open(a.cfg.AuditLog)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var from time.Time
	if *since > 0 {
		from = time.Now().Add(-*since)
	}
	match := func(r audit.Record) bool {
		return (userID == 0 || r.UserID == userID) && (fileID == 0 || r.FileID == fileID) && !r.Time.Before(from)
	}
	out := bufio.NewWriter(os.Stdout)
	bad, err := a.printAudit(ctx, out, f, match)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if bad > 0 {
		fmt.Fprintf(os.Stderr, "audit: %d lines of %s are no audit lines and were skipped\n", bad, a.cfg.AuditLog)
	}
	return err
}

// auditLine is the format of the output's lines: each event's time (UTC),
// action, outcome (for a failure with its reason, for a share change
// which way, for a logout whether everywhere), user as name(id) (only
// (id) once the user is removed), file and link ids, client address and
// nginx's request id; "-" where an event has none. The first line names
// the columns.
const auditLine = "%-20s  %-13s  %-24s  %-16s  %-6s  %-6s  %-15s  %s\n"

// printAudit writes the column names, then every event of r that match
// accepts, and returns how many lines were no audit lines.
func (a *app) printAudit(ctx context.Context, w io.Writer, r io.Reader, match func(audit.Record) bool) (int, error) {
	fmt.Fprintf(w, auditLine, "TIME", "ACTION", "OUTCOME", "USER", "FILE", "LINK", "SOURCE", "REQUEST")
	names := map[int64]string{} // user id → slug, each read once
	userName := func(id int64) (string, error) {
		if name, ok := names[id]; ok {
			return name, nil
		}
		u, err := a.db.UserByID(ctx, id)
		switch filegate.ErrorCode(err) {
		case "":
			names[id] = u.Slug
		case filegate.ENOTFOUND:
			names[id] = "" // removed since
		default:
			return "", err
		}
		return names[id], nil
	}
	bad := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rec, err := audit.Parse(sc.Bytes())
		if err != nil {
			bad++ // a line torn by a crash, or not ours
			continue
		}
		if !match(rec) {
			continue
		}
		user := "-"
		if rec.UserID != 0 {
			name, err := userName(rec.UserID)
			if err != nil {
				return bad, err
			}
			user = name + "(" + strconv.FormatInt(rec.UserID, 10) + ")"
		}
		source := "-"
		if rec.SourceIP.IsValid() {
			source = rec.SourceIP.String()
		}
		fmt.Fprintf(w, auditLine, rec.Time.UTC().Format(time.RFC3339), rec.Action,
			outcome(rec.Event), user, idOrDash(rec.FileID), idOrDash(rec.LinkID), source, orDash(rec.RequestID))
	}
	if err := sc.Err(); err != nil {
		return bad, fmt.Errorf("audit: %w", err)
	}
	return bad, nil
}

// outcome is the OUTCOME column: "success", "failure: deny", "success:
// public", "success: everywhere".
func outcome(e audit.Event) string {
	var detail []string
	if e.Reason != "" {
		detail = append(detail, e.Reason)
	}
	if e.Public != nil {
		detail = append(detail, map[bool]string{true: "public", false: "private"}[*e.Public])
	}
	if e.Everywhere {
		detail = append(detail, "everywhere")
	}
	if len(detail) == 0 {
		return e.Outcome
	}
	return e.Outcome + ": " + strings.Join(detail, ", ")
}

func idOrDash(id int64) string {
	if id == 0 {
		return "-"
	}
	return strconv.FormatInt(id, 10)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
