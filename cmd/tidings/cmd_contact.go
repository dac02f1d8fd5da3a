package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/tidings/tidings/accounts"
)

func init() {
	register("contact add", command{args: "USER [--name NAME] [--email ADDR] [--jid JID]", summary: "add an address book entry (what Sieve's :addrbook:default matches)", run: contactAdd})
	register("contact list", command{args: "USER", summary: "list a user's address book", run: contactList})
	register("contact del", command{args: "USER ID", summary: "delete an address book entry", run: contactDel})
}

func contactAdd(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "contact add", "USER [--name NAME] [--email ADDR] [--jid JID]")
	var c accounts.Contact
	f.StringVar(&c.Name, "name", "", "the person's name")
	f.StringVar(&c.Email, "email", "", "mail address")
	f.StringVar(&c.JID, "jid", "", "Jabber ID")
	f.StringVar(&c.Note, "note", "", "a note")
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		c, err := s.AddContact(ctx, pos[0], c)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added contact %d for %s\n", c.ID, pos[0])
		return nil
	})
}

func contactList(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "contact list", "USER").withJSON()
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		cs, err := s.Contacts(ctx, pos[0])
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, nonNil(cs))
		}
		rows := make([][]string, len(cs))
		for i, c := range cs {
			rows[i] = []string{strconv.FormatInt(c.ID, 10), c.Name, c.Email, c.JID}
		}
		return table(e.stdout, []string{"ID", "NAME", "EMAIL", "JID"}, rows)
	})
}

func contactDel(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "contact del", "USER ID")
	return f.run(ctx, e, args, 2, 2, func(s *cliStore, pos []string) error {
		id, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil {
			return usagef("ID must be a number (see tidings contact list)")
		}
		if err := s.DeleteContact(ctx, pos[0], id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted contact %d\n", id)
		return nil
	})
}
