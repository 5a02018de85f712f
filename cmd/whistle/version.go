package main

import (
	"context"
	"fmt"
	"runtime"

	"whistle"
)

func init() {
	register("version", "print the version", func(_ context.Context, _ []string, env Env) error {
		fmt.Fprintf(env.Stdout, "whistle %s %s (%s)\n", whistle.Version, whistle.Commit, runtime.Version())
		return nil
	})
}
