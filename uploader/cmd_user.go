package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
)

// The user commands act for the operator through account.Admin, the code
// the staff admin page (/admin) uses too. Their audit lines go where the
// link commands' go (auditLogger): FILEGATE_AUDIT_LOG, or with "-"
// standard error, so standard output carries only what they print.

// admin returns the account.Admin the user commands go through.
func (a *app) admin() (*account.Admin, error) {
	log, err := a.auditLogger(os.Stderr)
	if err != nil {
		return nil, err
	}
	adm := account.NewAdmin(a.db, a)
	adm.Audit = log
	return adm, nil
}

// adminOf returns the account.Admin and the user named name, for the
// commands that change an existing user.
func (a *app) adminOf(ctx context.Context, name string) (*account.Admin, filegate.User, error) {
	u, err := a.lookupUser(ctx, name)
	if err != nil {
		return nil, u, err
	}
	adm, err := a.admin()
	return adm, u, err
}

// RemoveUser is account.UserFiles for the CLI: it opens the private root
// only when a user is removed, so the other commands never need it.
func (a *app) RemoveUser(ctx context.Context, id int64) ([]filegate.File, error) {
	in, err := a.ingester()
	if err != nil {
		return nil, err
	}
	return in.RemoveUser(ctx, id)
}

// userError returns err of the command name as the operator reads it: a
// refusal (a bad name or password, a taken name) as its sentence, after
// the command's name; anything else as it is.
func userError(name string, err error) error {
	switch filegate.ErrorCode(err) {
	case filegate.EINVALID, filegate.ECONFLICT:
		return fmt.Errorf("%s: %s", name, filegate.ErrorMessage(err))
	}
	return err
}

// userAdd creates a user whose password is the first line of standard
// input, so that it shows in no process list or shell history.
func (a *app) userAdd(ctx context.Context, args []string) error {
	fs := newFlags("user add")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	public := fs.Bool("public", false, "share all of this user's files with every logged-in user")
	staff := fs.Bool("staff", false, "staff may download every file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !*stdin {
		return usageError("user add: want NAME and --password-stdin")
	}
	password, err := readPassword()
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	adm, err := a.admin()
	if err != nil {
		return err
	}
	u, err := adm.Create(ctx, account.Actor{}, pos[0], password, *public, *staff)
	if err != nil {
		return userError("user add", err)
	}
	fmt.Printf("user %s added (id %d, public=%t, staff=%t)\n", u.Slug, u.ID, u.IsPublic, u.IsStaff)
	return nil
}

// readPassword returns the first line of standard input, where commands
// take passwords so that they show in no process list or shell history.
func readPassword() (string, error) {
	password, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(password, "\r\n"), nil
}

// userPasswd sets a user's password to the first line of standard input
// and revokes every session of the user, in one transaction: whoever had
// the old password, or a copied cookie, is out on their next request.
func (a *app) userPasswd(ctx context.Context, args []string) error {
	fs := newFlags("user passwd")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !*stdin {
		return usageError("user passwd: want NAME and --password-stdin")
	}
	adm, u, err := a.adminOf(ctx, pos[0])
	if err != nil {
		return err
	}
	password, err := readPassword()
	if err != nil {
		return fmt.Errorf("user passwd: %w", err)
	}
	n, err := adm.ResetPassword(ctx, account.Actor{}, u.ID, password)
	if err != nil {
		return userError("user passwd", err)
	}
	fmt.Printf("user %s: password set, %s logged out\n", u.Slug, sessionCount(n))
	return nil
}

// userLogout revokes every session of a user; their cookies are refused
// from the next request on, downloads included.
func (a *app) userLogout(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("user logout"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("user logout: want NAME")
	}
	adm, u, err := a.adminOf(ctx, pos[0])
	if err != nil {
		return err
	}
	n, err := adm.Logout(ctx, account.Actor{}, u.ID)
	if err != nil {
		return err
	}
	fmt.Printf("user %s: %s logged out\n", u.Slug, sessionCount(n))
	return nil
}

// sessionCount returns "1 session", "2 sessions".
func sessionCount(n int64) string {
	if n == 1 {
		return "1 session"
	}
	return fmt.Sprintf("%d sessions", n)
}

// userSet changes only the flags given; the store tells authz's cache.
func (a *app) userSet(ctx context.Context, args []string) error {
	fs := newFlags("user set")
	var public, staff optBool
	fs.Var(&public, "public", "true or false")
	fs.Var(&staff, "staff", "true or false")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (public.v == nil && staff.v == nil) {
		return usageError("user set: want NAME and --public and/or --staff")
	}
	adm, u, err := a.adminOf(ctx, pos[0])
	if err != nil {
		return err
	}
	u, err = adm.Update(ctx, account.Actor{}, u.ID, filegate.UserUpdate{IsPublic: public.v, IsStaff: staff.v})
	if err != nil {
		return err
	}
	fmt.Printf("user %s: public=%t staff=%t\n", u.Slug, u.IsPublic, u.IsStaff)
	return nil
}

// userRemove deletes a user with all of their files and sessions; the
// next download with their cookie is a 401, and of their files a 404.
func (a *app) userRemove(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("user remove"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("user remove: want NAME")
	}
	adm, u, err := a.adminOf(ctx, pos[0])
	if err != nil {
		return err
	}
	files, err := adm.Remove(ctx, account.Actor{}, u.ID)
	if err != nil {
		return err
	}
	fmt.Printf("user %s removed with %d files\n", u.Slug, len(files))
	return nil
}

// lookupUser returns the user name names; an unknown one is an error that
// says so.
func (a *app) lookupUser(ctx context.Context, name string) (filegate.User, error) {
	slug, err := account.Slug(name)
	if err != nil {
		return filegate.User{}, err
	}
	u, err := a.db.UserBySlug(ctx, slug)
	if filegate.ErrorCode(err) == filegate.ENOTFOUND {
		return u, fmt.Errorf("no user %q", slug)
	}
	return u, err
}

// userFiles is lookupUser for the commands that go on to change the
// user's files: it also opens the private root, once the user is known.
func (a *app) userFiles(ctx context.Context, name string) (filegate.User, *ingest.Ingester, error) {
	u, err := a.lookupUser(ctx, name)
	if err != nil {
		return u, nil, err
	}
	in, err := a.ingester()
	return u, in, err
}
