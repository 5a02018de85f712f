package main

import (
	"bufio"
	"context"
	"fmt"

	"whistle/triage"
)

func init() {
	register("triage", "route JSON-lines reports from stdin to stdout (exit 2 if a line failed)",
		func(_ context.Context, _ []string, env Env) error {
			out := bufio.NewWriterSize(env.Stdout, 64<<10)
			failed, err := triage.RunCLI(env.Stdin, out)
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if failed > 0 {
				fmt.Fprintf(env.Stderr, "whistle triage: %d line(s) failed\n", failed)
				return exitCode(2)
			}
			return nil
		})
}
