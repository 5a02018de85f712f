package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"whistle"
	"whistle/crypto"
)

func init() {
	register("keys", "key set management: init | rotate | verify | rewrap (see crypto/README.md)", runKeys)
}

func runKeys(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return errors.New("usage: whistle keys init|rotate|verify|rewrap [flags]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dir := fs.String("dir", env.Getenv(crypto.EnvKeysDir), "key set directory (default $WHISTLE_KEYS_DIR)")
	switch sub {
	case "init":
		out := fs.String("custodian-out", "", "file for the custodian PRIVATE key, outside the key set directory (move it offline)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *dir == "" || *out == "" {
			return errors.New("keys init needs --dir and --custodian-out")
		}
		info, err := crypto.InitKeyset(*dir, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created key set in %s\n%s\n", *dir, info)
		return nil
	case "rotate":
		triage := fs.Bool("triage", false, "add a triage key version (then run `whistle keys rewrap`)")
		secrets := fs.Bool("secrets", false, "add a service-secret version (new receipts and tokens use it; old ones keep working)")
		out := fs.String("custodian-out", "", "add a custodian key version; its private half goes to this file")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("keys rotate needs --dir")
		}
		info, err := crypto.RotateKeyset(*dir, crypto.RotateOptions{Triage: *triage, Secrets: *secrets, CustodianOut: *out})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "rotated key set in %s\n%s\n", *dir, info)
		return nil
	case "verify":
		custodian := fs.String("custodian-key", "", "optional: the offline custodian key file, to check it matches")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *dir == "" {
			return errors.New("keys verify needs --dir")
		}
		info, err := crypto.VerifyKeyset(*dir, *custodian)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "key set in %s verified\n%s\n", *dir, info)
		return nil
	case "rewrap":
		if err := fs.Parse(args); err != nil {
			return err
		}
		return rewrapTriageCopies(ctx, env, env.Stdout)
	}
	return fmt.Errorf("unknown keys subcommand %q", sub)
}

// rewrapTriageCopies re-seals, after a triage key rotation, every triage copy
// of a data key under an old version to the current triage key. Only
// unrouted reports hold triage copies, and content is never re-encrypted.
func rewrapTriageCopies(ctx context.Context, env Env, out io.Writer) error {
	cfg, err := loadConfig(env.Getenv)
	if err != nil {
		return err
	}
	b, err := startBackends(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer b.close()
	var ids []string
	if err := b.store.EachCase(ctx, func(c *whistle.Case) error {
		if len(crypto.TriageHolders(c.Sealed.Keys)) > 0 {
			ids = append(ids, c.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	changed := 0
	for _, id := range ids {
		if _, err := b.store.UpdateCase(ctx, id, func(c *whistle.Case) error {
			n, err := b.keys.RewrapTriage(c.ID, c.Sealed.Keys)
			changed += n
			return err
		}); err != nil {
			return fmt.Errorf("case %s: %w", id, err)
		}
	}
	fmt.Fprintf(out, "re-wrapped %d triage copies in %d cases\n", changed, len(ids))
	return nil
}
