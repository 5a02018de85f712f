package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"whistle"
	"whistle/admin"
	"whistle/crypto"
	"whistle/intake"
)

func init() {
	register("user", "staff accounts: create | disable (password from WHISTLE_USER_PASSWORD or stdin)", runUser)
}

// passwordEnv carries a new account's password for scripted setups; stdin
// is read when it is unset. The password is never a flag: flags show up in
// process lists and shell history.
const passwordEnv = "WHISTLE_USER_PASSWORD"

func runUser(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return errors.New("usage: whistle user create|disable --username U [flags]")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	username := fs.String("username", "", "login name: 2–64 of a-z 0-9 . _ -")
	switch sub {
	case "create":
		role := fs.String("role", "", "one of: "+staffRoleList())
		dept := fs.String("department", "", "department (required for handler and dept_lead)")
		city := fs.String("city", "", "jurisdiction: city (optional)")
		county := fs.String("county", "", "jurisdiction: county within --city (optional)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		r, err := whistle.ParseRole(*role)
		if err != nil {
			return fmt.Errorf("--role: want one of %s", staffRoleList())
		}
		if err := checkJurisdiction(*city, *county); err != nil {
			return err
		}
		password, err := readPassword(env)
		if err != nil {
			return err
		}
		return withStore(ctx, env, func(b *backends) error {
			u := admin.NewUser{Username: *username, Role: r, Department: *dept, City: *city, County: *county}
			if err := admin.CreateUser(ctx, b.store, u, password, crypto.DefaultStaffKDF, time.Now()); err != nil {
				return describe(err)
			}
			name, _ := admin.NormalizeUsername(*username)
			fmt.Fprintf(env.Stdout, "created staff account %s (%s)\n", name, r.Label())
			return nil
		})
	case "disable":
		if err := fs.Parse(args); err != nil {
			return err
		}
		return withStore(ctx, env, func(b *backends) error {
			if err := admin.DisableUser(ctx, b.store, *username, time.Now()); err != nil {
				return describe(err)
			}
			fmt.Fprintf(env.Stdout, "disabled staff account %s; its sessions are ended\n", strings.ToLower(strings.TrimSpace(*username)))
			return nil
		})
	}
	return fmt.Errorf("unknown user subcommand %q (want create or disable)", sub)
}

func staffRoleList() string {
	codes := make([]string, len(admin.StaffRoles))
	for i, r := range admin.StaffRoles {
		codes[i] = string(r)
	}
	return strings.Join(codes, ", ")
}

// checkJurisdiction accepts what a report's place may name: nothing, a
// city, or a city and one of its counties.
func checkJurisdiction(city, county string) error {
	if city == "" {
		if county != "" {
			return errors.New("--county needs --city")
		}
		return nil
	}
	i := slices.IndexFunc(intake.Cities, func(c intake.City) bool { return c.Name == city })
	if i < 0 {
		names := make([]string, len(intake.Cities))
		for j, c := range intake.Cities {
			names[j] = c.Name
		}
		return fmt.Errorf("--city: unknown city %q; want one of %s", city, strings.Join(names, ", "))
	}
	if county != "" && !slices.Contains(intake.Cities[i].Counties, county) {
		return fmt.Errorf("--county: %q is not a county of %s", county, city)
	}
	return nil
}

// maxPasswordInput bounds what is read from stdin (crypto refuses longer).
const maxPasswordInput = 4096

// readPassword takes the password from passwordEnv, else the first line of
// stdin (pipe it in; the terminal would echo it).
func readPassword(env Env) (string, error) {
	if p := env.Getenv(passwordEnv); p != "" {
		return p, nil
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, maxPasswordInput+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("no password: set %s or pipe it on stdin", passwordEnv)
	}
	return line, nil
}

// withStore runs fn with the configured store (and the other backends
// startBackends brings up), closing them after.
func withStore(ctx context.Context, env Env, fn func(*backends) error) error {
	cfg, err := loadConfig(env.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	b, err := startBackends(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer b.close()
	return fn(b)
}

// describe shows a domain error's zh-CN message and field to the operator.
func describe(err error) error {
	var we *whistle.Error
	if errors.As(err, &we) && we.Code != whistle.EINTERNAL && we.Code != whistle.EUNAVAILABLE {
		if we.Field != "" {
			return fmt.Errorf("%s: %s", we.Field, we.Message)
		}
		return errors.New(we.Message)
	}
	return err
}
