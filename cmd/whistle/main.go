// Command whistle is the one binary of Whistle (吹哨). This package only
// wires: it reads configuration, starts the backends and hands them to the
// feature packages. Subcommands register themselves from their own files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Env is what a subcommand may touch of the outside world.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Logger *slog.Logger
}

type command struct {
	help string
	run  func(ctx context.Context, args []string, env Env) error
}

var commands = map[string]command{}

// register adds a subcommand; call it from an init function.
func register(name, help string, run func(ctx context.Context, args []string, env Env) error) {
	if _, dup := commands[name]; dup {
		panic("whistle: duplicate subcommand " + name)
	}
	commands[name] = command{help: help, run: run}
}

// exitCode makes a subcommand exit with a specific status without an error
// message (e.g. `whistle triage` exits 2 when a line failed).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(run(ctx, os.Args[1:], env))
}

func run(ctx context.Context, args []string, env Env) int {
	name := "all"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(env.Stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.Stderr, "whistle: unknown command %q\n\n", name)
		usage(env.Stderr)
		return 2
	}
	if env.Logger == nil {
		env.Logger = newLogger(env.Stderr, env.Getenv("WHISTLE_LOG_LEVEL"))
	}
	err := cmd.run(ctx, args, env)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(env.Stderr, "whistle %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: whistle [command] [flags]   (default command: all)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].help)
	}
	fmt.Fprintln(w, "\nConfiguration is read from environment variables; see README.md.")
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
