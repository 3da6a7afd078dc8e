package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/filegate/filegate/internal/account"
	"github.com/filegate/filegate/internal/filegate"
	"github.com/filegate/filegate/internal/ingest"
)

// parse parses flags that may come before or after the positional
// arguments ("user add alice --public" as well as "user add --public
// alice") and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = printUsage
	return fs
}

func (a *app) migrate(ctx context.Context, args []string) error {
	if _, err := parse(newFlags("migrate"), args); err != nil {
		return err
	}
	applied, err := a.db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Println("migrate: schema up to date")
	}
	for _, name := range applied {
		fmt.Println("migrate: applied", name)
	}
	return nil
}

func (a *app) user(ctx context.Context, args []string) error {
	if len(args) == 0 {
		printUsage()
		return errors.New("user: want add, set or remove")
	}
	switch args[0] {
	case "add":
		return a.userAdd(ctx, args[1:])
	case "set":
		return a.userSet(ctx, args[1:])
	case "remove":
		return a.userRemove(ctx, args[1:])
	}
	printUsage()
	return fmt.Errorf("user: unknown subcommand %q", args[0])
}

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
		printUsage()
		return errors.New("user add: want NAME and --password-stdin")
	}
	password, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("user add: read password: %w", err)
	}
	u, err := account.NewUser(pos[0], strings.TrimRight(password, "\r\n"), *public, *staff)
	if err != nil {
		return fmt.Errorf("user add: %s", filegate.ErrorMessage(err))
	}
	if err := a.db.CreateUser(ctx, &u); err != nil {
		if filegate.ErrorCode(err) == filegate.ECONFLICT {
			return fmt.Errorf("user add: a user %q already exists", u.Slug)
		}
		return err
	}
	fmt.Printf("user %s added (id %d, public=%t, staff=%t)\n", u.Slug, u.ID, u.IsPublic, u.IsStaff)
	return nil
}

// optBool is a flag that records whether it was given at all.
type optBool struct{ v *bool }

func (o *optBool) String() string {
	if o.v == nil {
		return ""
	}
	return fmt.Sprint(*o.v)
}
func (o *optBool) Set(s string) error {
	var b bool
	switch s {
	case "true":
		b = true
	case "false":
	default:
		return fmt.Errorf("want true or false, got %q", s)
	}
	o.v = &b
	return nil
}
func (o *optBool) IsBoolFlag() bool { return true }

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
		printUsage()
		return errors.New("user set: want NAME and --public and/or --staff")
	}
	u, err := a.lookupUser(ctx, pos[0])
	if err != nil {
		return err
	}
	u, err = a.db.UpdateUser(ctx, u.ID, filegate.UserUpdate{IsPublic: public.v, IsStaff: staff.v})
	if err != nil {
		return err
	}
	fmt.Printf("user %s: public=%t staff=%t\n", u.Slug, u.IsPublic, u.IsStaff)
	return nil
}

// userRemove deletes a user with all of their files; the next download
// with their cookie is a 401, and of their files a 404.
func (a *app) userRemove(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("user remove"), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		printUsage()
		return errors.New("user remove: want NAME")
	}
	u, err := a.lookupUser(ctx, pos[0])
	if err != nil {
		return err
	}
	in, err := a.ingester()
	if err != nil {
		return err
	}
	files, err := in.RemoveUser(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Printf("user %s removed with %d files\n", u.Slug, len(files))
	return nil
}

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

// put stores each file through the same ingest path as a web upload. It
// prints one line per file and fails if any file failed.
func (a *app) put(ctx context.Context, args []string) error {
	pos, err := parse(newFlags("put"), args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		printUsage()
		return errors.New("put: want NAME and at least one FILE")
	}
	u, err := a.lookupUser(ctx, pos[0])
	if err != nil {
		return err
	}
	in, err := a.ingester()
	if err != nil {
		return err
	}
	failed := 0
	for _, path := range pos[1:] {
		if err := putOne(ctx, in, u.ID, path); err != nil {
			failed++
			fmt.Printf("%s: error: %s\n", path, filegate.ErrorMessage(err))
			if filegate.ErrorCode(err) == filegate.EINTERNAL {
				a.log.Error("put failed", "file", path, "err", err)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("put: %d of %d files failed", failed, len(pos)-1)
	}
	return nil
}

func putOne(ctx context.Context, in *ingest.Ingester, ownerID int64, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return filegate.Errorf(filegate.EINVALID, "cannot open: %v", errors.Unwrap(err))
	}
	defer f.Close()
	stored, err := in.Put(ctx, ownerID, filepath.Base(path), f)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (%s, %d bytes)\n", path, stored.URL(), stored.ContentType, stored.Size)
	return nil
}

func (a *app) sweep(ctx context.Context, args []string) error {
	fs := newFlags("sweep")
	apply := fs.Bool("apply", false, "remove what the report lists")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	in, err := a.ingester()
	if err != nil {
		return err
	}
	rep, err := in.Sweep(ctx, *apply)
	if err != nil {
		return err
	}
	for _, p := range rep.OrphanFiles {
		fmt.Println("file without row:", p)
	}
	for _, f := range rep.MissingFiles {
		fmt.Printf("row without file: id %d %s\n", f.ID, f.Path())
	}
	fmt.Printf("sweep: %d files without rows, %d rows without files", len(rep.OrphanFiles), len(rep.MissingFiles))
	if *apply {
		fmt.Printf(", %d removed", rep.Removed)
	}
	fmt.Println()
	return nil
}
