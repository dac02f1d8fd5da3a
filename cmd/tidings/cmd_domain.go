package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/mail/dkim"
)

func init() {
	register("domain add", command{args: "NAME", summary: "host a new mail/XMPP domain", run: domainAdd})
	register("domain del", command{args: "NAME", summary: "stop hosting a domain (--force: with its users)", run: domainDel})
	register("domain list", command{summary: "list hosted domains", run: domainList})
	register("domain set", command{args: "NAME", summary: "switch mail or XMPP on or off for a domain", run: domainSet})
}

// domainSwitches registers --mail and --xmpp.
type domainSwitches struct{ mail, xmpp switchFlag }

func (d *domainSwitches) register(f *flags) {
	f.Var(&d.mail, "mail", "mail (SMTP, IMAP, ManageSieve, webmail) for the domain: on or off")
	f.Var(&d.xmpp, "xmpp", "XMPP (Jabber) for the domain: on or off")
}

func (d *domainSwitches) settings() accounts.DomainSettings {
	return accounts.DomainSettings{MailEnabled: d.mail.v, XMPPEnabled: d.xmpp.v}
}

func domainAdd(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "domain add", "NAME")
	var sw domainSwitches
	sw.register(f)
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		d, err := s.AddDomain(ctx, pos[0], sw.settings())
		if err != nil {
			return err
		}
		if err := dkim.New(s.db).EnsureKeys(ctx, d.Name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added domain %s (mail %s, xmpp %s)\n", d.Unicode(), onOff(d.MailEnabled), onOff(d.XMPPEnabled))
		return nil
	})
}

func domainDel(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "domain del", "NAME")
	force := f.Bool("force", false, "also delete the domain's users and aliases")
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		name, err := accounts.NormalizeDomain(pos[0])
		if err != nil {
			return err
		}
		if err := s.DeleteDomain(ctx, name, *force); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted domain %s\n", accounts.DomainUnicode(name))
		return nil
	})
}

func domainList(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "domain list", "").withJSON()
	return f.run(ctx, e, args, 0, 0, func(s *cliStore, _ []string) error {
		ds, err := s.Domains(ctx)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, nonNil(ds))
		}
		rows := make([][]string, len(ds))
		for i, d := range ds {
			rows[i] = []string{d.Unicode(), onOff(d.MailEnabled), onOff(d.XMPPEnabled),
				strconv.Itoa(d.Users), strconv.Itoa(d.Aliases), d.CreatedAt.Format(time.DateOnly)}
		}
		return table(e.stdout, []string{"DOMAIN", "MAIL", "XMPP", "USERS", "ALIASES", "CREATED"}, rows)
	})
}

func domainSet(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "domain set", "NAME")
	var sw domainSwitches
	sw.register(f)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if sw.mail.v == nil && sw.xmpp.v == nil {
		return usagef("nothing to change: give --mail on|off and/or --xmpp on|off")
	}
	s, err := openStore(ctx, e, f)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := s.UpdateDomain(ctx, pos[0], sw.settings())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "domain %s: mail %s, xmpp %s\n", d.Unicode(), onOff(d.MailEnabled), onOff(d.XMPPEnabled))
	return nil
}
