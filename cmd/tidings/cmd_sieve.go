package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/tidings/tidings/filters"
)

func init() {
	register("sieve put", command{args: "USER NAME FILE", summary: "store a Sieve script (FILE - reads standard input); it must compile", run: sievePut})
	register("sieve get", command{args: "USER NAME", summary: "print a Sieve script", run: sieveGet})
	register("sieve list", command{args: "USER", summary: "list a user's Sieve scripts", run: sieveList})
	register("sieve activate", command{args: "USER NAME", summary: "make NAME the active script (\"\" deactivates all)", run: sieveActivate})
	register("sieve delete", command{args: "USER NAME", summary: "delete an inactive script", run: sieveDelete})
	register("sieve check", command{args: "[USER] FILE", summary: "compile a Sieve script and report errors with line:column", run: sieveCheck})
}

// withScripts runs fn with the user's ID and the script store.
func withScripts(ctx context.Context, e *env, name, usage string, args []string, n int,
	fn func(sc *filters.Scripts, userID int64, pos []string) error) error {
	f := newFlags(e, name, usage)
	return f.run(ctx, e, args, n, n, func(s *cliStore, pos []string) error {
		u, err := s.User(ctx, pos[0])
		if err != nil {
			return err
		}
		return fn(filters.New(s.db, s.Store, s.cfg.Filters, nil).Scripts(), u.ID, pos[1:])
	})
}

func readScript(e *env, file string) (string, error) {
	var r io.Reader = e.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	return string(b), err
}

func sievePut(ctx context.Context, e *env, args []string) error {
	return withScripts(ctx, e, "sieve put", "USER NAME FILE", args, 3, func(sc *filters.Scripts, uid int64, pos []string) error {
		src, err := readScript(e, pos[1])
		if err != nil {
			return err
		}
		if err := sc.Put(ctx, uid, pos[0], src); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "stored script %q (%d bytes)\n", pos[0], len(src))
		return nil
	})
}

func sieveGet(ctx context.Context, e *env, args []string) error {
	return withScripts(ctx, e, "sieve get", "USER NAME", args, 2, func(sc *filters.Scripts, uid int64, pos []string) error {
		src, err := sc.Get(ctx, uid, pos[0])
		if err != nil {
			return err
		}
		_, err = io.WriteString(e.stdout, src)
		return err
	})
}

func sieveList(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "sieve list", "USER").withJSON()
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		u, err := s.User(ctx, pos[0])
		if err != nil {
			return err
		}
		list, err := filters.New(s.db, s.Store, s.cfg.Filters, nil).Scripts().List(ctx, u.ID)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, nonNil(list))
		}
		rows := make([][]string, len(list))
		for i, si := range list {
			active := ""
			if si.Active {
				active = "active"
			}
			rows[i] = []string{si.Name, active, fmt.Sprint(si.Size), si.Updated.Format("2006-01-02 15:04")}
		}
		return table(e.stdout, []string{"NAME", "ACTIVE", "BYTES", "UPDATED"}, rows)
	})
}

func sieveActivate(ctx context.Context, e *env, args []string) error {
	return withScripts(ctx, e, "sieve activate", "USER NAME", args, 2, func(sc *filters.Scripts, uid int64, pos []string) error {
		if err := sc.Activate(ctx, uid, pos[0]); err != nil {
			return err
		}
		if pos[0] == "" {
			fmt.Fprintln(e.stdout, "no script is active now")
		} else {
			fmt.Fprintf(e.stdout, "script %q is active\n", pos[0])
		}
		return nil
	})
}

func sieveDelete(ctx context.Context, e *env, args []string) error {
	return withScripts(ctx, e, "sieve delete", "USER NAME", args, 2, func(sc *filters.Scripts, uid int64, pos []string) error {
		if err := sc.Delete(ctx, uid, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted script %q\n", pos[0])
		return nil
	})
}

// sieveCheck compiles a file against the configured limits. With USER it
// also checks that the user exists; without, it needs no database.
func sieveCheck(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "sieve check", "[USER] FILE")
	pos, err := f.parse(args, 1, 2)
	if err != nil {
		return err
	}
	if len(pos) == 2 {
		s, err := openStore(ctx, e, f)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.User(ctx, pos[0]); err != nil {
			return err
		}
		pos = pos[1:]
	}
	cfg, _, err := loadConfig(f.config, e.environ)
	if err != nil {
		return err
	}
	src, err := readScript(e, pos[0])
	if err != nil {
		return err
	}
	if err := filters.Check(cfg.Filters, src); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "script is valid")
	return nil
}
