package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
)

// usageError is a command line mistake (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// flags is a verb's flag set with the flags every verb has.
type flags struct {
	*flag.FlagSet
	name, args string
	config     string
	json       bool
}

func newFlags(e *env, name, args string) *flags {
	f := &flags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), name: name, args: args}
	f.SetOutput(e.stderr)
	f.StringVar(&f.config, "config", "", "configuration `file` (default ./tidings.toml, or $TIDINGS_CONFIG)")
	f.Usage = func() {
		fmt.Fprintf(f.Output(), "Usage: tidings %s [flags] %s\n\nFlags:\n", f.name, f.args)
		f.PrintDefaults()
	}
	return f
}

// withJSON adds --json.
func (f *flags) withJSON() *flags {
	f.BoolVar(&f.json, "json", false, "print JSON for scripts instead of text")
	return f
}

// parse parses flags anywhere among the arguments (Go's flag package stops
// at the first non-flag) and checks the count of the others.
func (f *flags) parse(args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(pos) < minArgs || maxArgs >= 0 && len(pos) > maxArgs {
		return nil, usagef("usage: tidings %s %s", f.name, f.args)
	}
	return pos, nil
}

// run parses args (minArgs to maxArgs positional, -1 for no limit), opens
// the store and calls fn with it: the shape of every administrative verb.
func (f *flags) run(ctx context.Context, e *env, args []string, minArgs, maxArgs int, fn func(s *cliStore, pos []string) error) error {
	pos, err := f.parse(args, minArgs, maxArgs)
	if err != nil {
		return err
	}
	s, err := openStore(ctx, e, f)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s, pos)
}

// cliStore is an opened account store for a CLI verb.
type cliStore struct {
	*accounts.Store
	db  *migrations.DB
	cfg Config
}

func (s *cliStore) Close() error { return s.db.Close() }

// openStore loads the configuration and opens the database for a CLI verb.
// Warnings go to stderr; informational logs are dropped.
func openStore(ctx context.Context, e *env, f *flags) (*cliStore, error) {
	cfg, _, err := loadConfig(f.config, e.environ)
	if err != nil {
		return nil, err
	}
	db, err := openDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := accounts.New(db, cfg.Accounts, log, nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &cliStore{Store: s, db: db, cfg: cfg}, nil
}

// openDatabase creates the data directory for SQLite and opens (and
// migrates) the database.
func openDatabase(ctx context.Context, cfg Config) (*migrations.DB, error) {
	if cfg.Database.Driver == string(migrations.SQLite) {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	return migrations.Open(ctx, cfg.Database)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows aligned in columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// switchFlag is a flag taking on/off (or yes/no, true/false), nil if unset.
type switchFlag struct{ v *bool }

func (s *switchFlag) String() string {
	if s == nil || s.v == nil {
		return ""
	}
	return onOff(*s.v)
}

func (s *switchFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "on", "yes", "true", "1":
		b := true
		s.v = &b
	case "off", "no", "false", "0":
		b := false
		s.v = &b
	default:
		return fmt.Errorf("want on or off, not %q", v)
	}
	return nil
}

// passwordFlags are the ways a verb can take a password. It is never a
// plain flag value: that would land in shell history and ps output.
type passwordFlags struct {
	file  string
	stdin bool
}

func (p *passwordFlags) register(f *flags) {
	f.StringVar(&p.file, "password-file", "", "read the password from the first line of `file`")
	f.BoolVar(&p.stdin, "password-stdin", false, "read the password from the first line of standard input")
}

// read gets the password from the file, stdin, or a prompt without echo
// (asked twice).
func (p *passwordFlags) read(e *env) (string, error) {
	switch {
	case p.file != "" && p.stdin:
		return "", usagef("use --password-file or --password-stdin, not both")
	case p.file != "":
		f, err := os.Open(p.file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		return firstLine(f)
	case p.stdin:
		return firstLine(e.stdin)
	}
	in, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", usagef("no terminal to ask for the password on: use --password-stdin or --password-file")
	}
	fmt.Fprint(e.stderr, "Password: ")
	a, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(e.stderr, "Repeat password: ")
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("the passwords differ")
	}
	return string(a), nil
}

func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", &accounts.PasswordError{Reason: "empty"}
	}
	return line, nil
}
