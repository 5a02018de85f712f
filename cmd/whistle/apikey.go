package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"whistle/intake"
)

func init() {
	register("apikey", "API keys of the 12345 work-order import: create | revoke | list", runAPIKey)
}

func runAPIKey(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return errors.New("usage: whistle apikey create|revoke --name N, or whistle apikey list")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("apikey "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	switch sub {
	case "create":
		name := fs.String("name", "", "who the key is for, e.g. 12345平台")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return withStore(ctx, env, func(b *backends) error {
			key, err := intake.CreateAPIKey(ctx, b.store, *name, time.Now())
			if err != nil {
				return describe(err)
			}
			// The key goes to stdout alone so it can be piped into a secret
			// store; it is never shown again.
			fmt.Fprintln(env.Stdout, key)
			fmt.Fprintf(env.Stderr, "API key for %q created; it is shown only this once. Send it as: Authorization: Bearer <key>\n", *name)
			return nil
		})
	case "revoke":
		name := fs.String("name", "", "name of the key to revoke")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return withStore(ctx, env, func(b *backends) error {
			if err := intake.RevokeAPIKey(ctx, b.store, *name, time.Now()); err != nil {
				return describe(err)
			}
			fmt.Fprintf(env.Stdout, "revoked the API key of %q\n", *name)
			return nil
		})
	case "list":
		if err := fs.Parse(args); err != nil {
			return err
		}
		return withStore(ctx, env, func(b *backends) error {
			keys, err := b.store.APIKeys(ctx)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tKEY ID\tCREATED\tSTATUS")
			for _, k := range keys {
				status := "active"
				if k.RevokedAt != nil {
					status = "revoked " + k.RevokedAt.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Name, k.KeyID, k.CreatedAt.Local().Format(time.DateTime), status)
			}
			return w.Flush()
		})
	}
	return fmt.Errorf("unknown apikey subcommand %q (want create, revoke or list)", sub)
}
