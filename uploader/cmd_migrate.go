package main

import (
	"context"
	"fmt"
)

// migrate applies the sql/ migrations not yet applied; running it again
// changes nothing.
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
