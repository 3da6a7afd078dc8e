package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/link"
)

// The link commands act for the operator through the same rules as the
// web app (internal/link). Their audit lines go to the audit log's file,
// or with FILEGATE_AUDIT_LOG=- to standard error, so standard output
// carries only what they print.

// linkCreate shares the file NAME stores as STORED_NAME and prints its
// link's URL path, /s/{token}: the site's address goes in front.
func (a *app) linkCreate(ctx context.Context, args []string) error {
	fs := newFlags("link create")
	expiresIn := fs.Duration("expires-in", link.DefaultTTL, "how long the link lasts")
	var max *int64
	fs.Func("max-downloads", "how many downloads the link allows (default: no limit)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("want a whole number from 1, got %q", s)
		}
		max = &n
		return nil
	})
	stdin := fs.Bool("password-stdin", false, "read the link's password from the first line of standard input")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError("link create: want NAME and STORED_NAME")
	}
	u, err := a.lookupUser(ctx, pos[0])
	if err != nil {
		return err
	}
	f, err := a.db.FileByName(ctx, u.ID, pos[1])
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return fmt.Errorf("link create: user %s has no file %q", u.Slug, pos[1])
	} else if err != nil {
		return err
	}
	spec := link.Spec{FileID: f.ID, ExpiresIn: *expiresIn, MaxDownloads: max}
	if *stdin {
		if spec.Password, err = readPassword(); err != nil {
			return fmt.Errorf("link create: %w", err)
		}
		if spec.Password == "" {
			return fmt.Errorf("link create: --password-stdin read no password")
		}
	}
	links, _, err := a.links(os.Stderr)
	if err != nil {
		return err
	}
	l, err := links.Create(ctx, link.Origin{}, u.ID, spec)
	if code := filegate.ErrorCode(err); code == filegate.EINVALID || code == filegate.ENOTFOUND {
		return fmt.Errorf("link create: %s", filegate.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	fmt.Printf("link %d to %s/%s: %s (expires %s, %s, %s)\n", l.ID, u.Slug, f.StoredName, l.URL,
		l.ExpiresAt.UTC().Format(time.RFC3339), downloadLimit(l.MaxDownloads), passwordNote(l.PasswordHash != nil))
	return nil
}

func downloadLimit(max *int64) string {
	if max == nil {
		return "no download limit"
	} else if *max == 1 {
		return "1 download"
	}
	return fmt.Sprintf("%d downloads", *max)
}

func passwordNote(has bool) string {
	if has {
		return "with a password"
	}
	return "no password"
}

// linkList prints the links NAME made, newest first, one a line under a
// header: id, file (stored name), state, downloads/max ("-" for no
// limit), expiry, URL path.
func (a *app) linkList(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("link list"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("link list: want NAME")
	}
	u, err := a.lookupUser(ctx, pos[0])
	if err != nil {
		return err
	}
	links, _, err := a.links(os.Stderr)
	if err != nil {
		return err
	}
	ls, err := links.List(ctx, u.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFILE\tSTATE\tDOWNLOADS\tEXPIRES\tURL")
	for _, l := range ls {
		max := "-"
		if l.MaxDownloads != nil {
			max = strconv.FormatInt(*l.MaxDownloads, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%s\t%s\t%s\n", l.ID, l.File.StoredName, l.State, l.Downloads, max,
			l.ExpiresAt.UTC().Format(time.RFC3339), l.URL)
	}
	return tw.Flush()
}

// linkRevoke revokes link ID, whoever made it: the operator acts as
// staff. authz refuses the link's next download.
func (a *app) linkRevoke(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("link revoke"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("link revoke: want ID")
	}
	id, ok := filegate.ParseID(pos[0])
	if !ok {
		return usageError(fmt.Sprintf("link revoke: want a link id, got %q", pos[0]))
	}
	links, _, err := a.links(os.Stderr)
	if err != nil {
		return err
	}
	l, err := links.Revoke(ctx, link.Origin{}, filegate.Profile{Staff: true}, id)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return fmt.Errorf("link revoke: no link %d", id)
	} else if err != nil {
		return err
	}
	fmt.Printf("link %d to %s revoked\n", l.ID, l.File.Path())
	return nil
}
