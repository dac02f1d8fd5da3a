// Command tidings is the one Tidings binary: `tidings serve` runs the mail,
// XMPP and web servers over one user base, and the other verbs administer
// that user base from the shell.
//
// This is the only package that imports everything: it loads the
// configuration, constructs the subsystems, starts them in order and stops
// them in reverse (serve.go), and implements the CLI verbs (cmd_*.go).
//
// Exit codes: 0 success, 1 failure, 2 usage error, 3 not found,
// 4 already exists or still in use, 5 invalid input or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/filters/sieve"
	"github.com/tidings/tidings/mail/queue"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
	exitInvalid  = 5
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()})
	stop()
	os.Exit(code)
}

// env is what a command may touch of the outside world, so tests can run
// commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
}

// command is one CLI verb.
type command struct {
	args    string // usage after the verb, e.g. "ADDRESS"
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands maps "group verb" (or a lone verb) to its implementation.
var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return exitOK
	}
	name, rest := args[0], args[1:]
	c, ok := commands[name]
	if !ok && len(rest) > 0 {
		name, rest = args[0]+" "+args[1], args[2:]
		c, ok = commands[name]
	}
	if !ok {
		fmt.Fprintf(e.stderr, "tidings: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		usage(e.stderr)
		return exitUsage
	}
	err := c.run(ctx, e, rest)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "tidings %s: %v\n", name, err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ue *usageError
	var ne *accounts.NameError
	var pe *accounts.PasswordError
	var ce *configError
	var se *sieve.Error
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, accounts.ErrNotFound), errors.Is(err, queue.ErrNoEntry), errors.Is(err, filters.ErrNoScript):
		return exitNotFound
	case errors.Is(err, accounts.ErrExists), errors.Is(err, accounts.ErrDomainInUse),
		errors.Is(err, filters.ErrScriptExists), errors.Is(err, filters.ErrActive):
		return exitConflict
	case errors.As(err, &ne), errors.As(err, &pe), errors.As(err, &ce), errors.As(err, &se),
		errors.Is(err, filters.ErrBadName), errors.Is(err, filters.ErrScriptTooBig), errors.Is(err, filters.ErrTooManyScripts):
		return exitInvalid
	}
	return exitFailure
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Tidings: mail and XMPP over one user base.\n\nUsage: tidings COMMAND [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-40s %s\n", strings.TrimSpace(n+" "+c.args), c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE (default ./tidings.toml or $TIDINGS_CONFIG); list and show take --json.\nRun 'tidings COMMAND -h' for a command's flags.")
}

func init() {
	register("version", command{summary: "print the version", run: func(_ context.Context, e *env, args []string) error {
		if _, err := newFlags(e, "version", "").parse(args, 0, 0); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "tidings %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	}})
}
