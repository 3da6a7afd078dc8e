package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// command is one row of the commands table.
type command struct {
	name string // one word, or two for a subcommand: "user add"
	args string // the synopsis after the name, for usage
	help string // one line, for usage
	run  func(a *app, ctx context.Context, args []string) error
}

// usageError is a command line that names no command, or one that
// command cannot take; run prints the usage before it.
type usageError string

func (e usageError) Error() string { return string(e) }

// lookup finds the command args start with and returns it with the args
// that follow its name. Every error is a usageError.
func lookup(args []string) (command, []string, error) {
	var subs []string // of a group ("user") named by args[0]
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c, args[len(words):], nil
		}
		if len(words) == 2 && words[0] == args[0] {
			subs = append(subs, words[1])
		}
	}
	switch {
	case len(subs) == 0:
		return command{}, nil, usageError(fmt.Sprintf("unknown command %q", args[0]))
	case len(args) == 1:
		return command{}, nil, usageError(fmt.Sprintf("%s: want %s", args[0], orList(subs)))
	}
	return command{}, nil, usageError(fmt.Sprintf("%s: unknown subcommand %q", args[0], args[1]))
}

// orList joins words as a sentence does: "a", "a or b", "a, b or c".
func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// commandList is the commands part of the usage: each command's synopsis
// on a line of its own, its help on the next, every line after indent.
func commandList(indent string) string {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "%suploader %s\n%s    %s\n", indent, strings.TrimSpace(c.name+" "+c.args), indent, c.help)
	}
	return b.String()
}
