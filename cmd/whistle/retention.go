package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"whistle/triage"
	"whistle/workers"
	"whistle/workers/policy"
)

func init() {
	register("retention", "crypto-shred closed cases past the retention period (--dry-run lists them)", runRetention)
}

// runRetention is the retention:shred task run by hand: with --dry-run it
// only lists the closed cases whose retention period has passed.
func runRetention(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("retention", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dryRun := fs.Bool("dry-run", false, "list what would be shredded and change nothing")
	policyFile := fs.String("policy", "", "policy file (default: the one compiled in, workers/policy/policy.json)")
	holidaysFile := fs.String("holidays", "", "holiday calendar file (default: the one compiled in)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pol, err := policy.Load(*policyFile, *holidaysFile)
	if err != nil {
		return err
	}
	router, err := triage.New()
	if err != nil {
		return err
	}
	return withStore(ctx, env, func(b *backends) error {
		w, err := workers.New(workers.Deps{Store: b.store, Queue: b.queue, Redis: b.redis, Keys: b.keys, Router: router,
			Logger: env.Logger, Policy: pol})
		if err != nil {
			return err
		}
		defer w.Shutdown() // never started: only releases its Redis connections
		expired, err := w.Retention(ctx, *dryRun)
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CASE\tCLOSED\tEXPIRED\tKEY COPIES\tMESSAGES\tATTACHMENTS\tIDENTITY")
		for _, e := range expired {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%v\n", e.CaseID, e.ClosedAt.In(pol.Location()).Format(time.DateOnly),
				e.ExpiredAt.In(pol.Location()).Format(time.DateOnly), e.KeyCopies, e.Messages, e.Attachments, e.Identity)
		}
		tw.Flush()
		verb := "shredded"
		if *dryRun {
			verb = "would be shredded (dry run: nothing changed)"
		}
		fmt.Fprintf(env.Stderr, "%d closed case(s) past the retention period of %s %s\n", len(expired), pol.Retention.ClosedCases, verb)
		return err
	})
}
