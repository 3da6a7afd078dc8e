package main

import (
	"errors"
	"flag"
	"fmt"
)

// newFlags returns the flag set of the command name. It prints a bad
// flag's error but not the usage: run prints that for the usageError or
// flag.ErrHelp that parse returns.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {}
	return fs
}

// parse parses flags that may come before or after the positional
// arguments ("user add alice --public" as well as "user add --public
// alice") and returns the positional ones. A bad flag is a usageError.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError(err.Error())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
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
