package main

import (
	"context"
	"fmt"
)

func init() {
	register("alias add", command{args: "ALIAS USER", summary: "deliver mail for ALIAS to USER (mail only)", run: aliasAdd})
	register("alias del", command{args: "ALIAS", summary: "delete an alias", run: aliasDel})
	register("alias list", command{args: "[DOMAIN]", summary: "list aliases", run: aliasList})
}

func aliasAdd(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "alias add", "ALIAS USER")
	return f.run(ctx, e, args, 2, 2, func(s *cliStore, pos []string) error {
		a, err := s.AddAlias(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "mail for %s now goes to %s\n", a.Address, a.Target)
		return nil
	})
}

func aliasDel(ctx context.Context, e *env, args []string) error {
	return withAddress(ctx, e, "alias del", args, func(s *cliStore, addr string) error {
		if err := s.DeleteAlias(ctx, addr); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted alias %s\n", addr)
		return nil
	})
}

func aliasList(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "alias list", "[DOMAIN]").withJSON()
	return f.run(ctx, e, args, 0, 1, func(s *cliStore, pos []string) error {
		domain := ""
		if len(pos) == 1 {
			domain = pos[0]
		}
		as, err := s.Aliases(ctx, domain)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, nonNil(as))
		}
		rows := make([][]string, len(as))
		for i, a := range as {
			rows[i] = []string{a.Address, a.Target}
		}
		return table(e.stdout, []string{"ALIAS", "DELIVERS TO"}, rows)
	})
}
