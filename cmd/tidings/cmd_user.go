package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tidings/tidings/accounts"
)

func init() {
	register("user add", command{args: "ADDRESS", summary: "create a user (mail address and Jabber ID)", run: userAdd})
	register("user del", command{args: "ADDRESS", summary: "delete a user with their aliases and contacts", run: userDel})
	register("user passwd", command{args: "ADDRESS", summary: "set a user's password", run: userPasswd})
	register("user list", command{args: "[DOMAIN]", summary: "list users", run: userList})
	register("user show", command{args: "ADDRESS", summary: "show a user", run: userShow})
	register("user disable", command{args: "ADDRESS", summary: "stop a user from logging in anywhere (ends live sessions)", run: userSetDisabled(true)})
	register("user enable", command{args: "ADDRESS", summary: "allow a disabled user to log in again", run: userSetDisabled(false)})
	register("user set", command{args: "ADDRESS", summary: "change a user's name, admin flag, XMPP switch or quota", run: userSet})
}

// userFields are the settings `user add` and `user set` share.
type userFields struct {
	name  string
	admin switchFlag
	xmpp  switchFlag
	quota string
}

func (u *userFields) register(f *flags) {
	f.StringVar(&u.name, "name", "", "display name")
	f.Var(&u.admin, "admin", "administrator rights: on or off")
	f.Var(&u.xmpp, "xmpp", "XMPP (Jabber) for this user: on or off (the domain's switch must be on too)")
	f.StringVar(&u.quota, "quota", "", "mailbox quota, e.g. 2GiB; 0 is unlimited (default: accounts.default_quota)")
}

func (u *userFields) parseQuota() (*accounts.ByteSize, error) {
	if u.quota == "" {
		return nil, nil
	}
	q, err := accounts.ParseByteSize(u.quota)
	if err != nil {
		return nil, usagef("--quota: %v", err)
	}
	return &q, nil
}

func userAdd(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "user add", "ADDRESS")
	var uf userFields
	var pf passwordFlags
	uf.register(f)
	pf.register(f)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	quota, err := uf.parseQuota()
	if err != nil {
		return err
	}
	s, err := openStore(ctx, e, f)
	if err != nil {
		return err
	}
	defer s.Close()
	// Check what can be checked before asking for a password.
	if _, _, _, err := accounts.ParseAddress(pos[0]); err != nil {
		return err
	}
	pw, err := pf.read(e)
	if err != nil {
		return err
	}
	u, err := s.AddUser(ctx, accounts.NewUser{Address: pos[0], Password: pw, DisplayName: uf.name,
		Admin: uf.admin.v != nil && *uf.admin.v, XMPPEnabled: uf.xmpp.v, Quota: quota})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s (mail address and Jabber ID)\n", u.Address)
	return nil
}

func userDel(ctx context.Context, e *env, args []string) error {
	return withAddress(ctx, e, "user del", args, func(s *cliStore, addr string) error {
		if err := s.DeleteUser(ctx, addr); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted %s\n", addr)
		return nil
	})
}

// withAddress runs a verb that takes one address and no other flags.
func withAddress(ctx context.Context, e *env, name string, args []string, fn func(*cliStore, string) error) error {
	return newFlags(e, name, "ADDRESS").run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		addr, _, _, err := accounts.ParseAddress(pos[0])
		if err != nil {
			return err
		}
		return fn(s, addr)
	})
}

func userPasswd(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "user passwd", "ADDRESS")
	var pf passwordFlags
	pf.register(f)
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		u, err := s.User(ctx, pos[0])
		if err != nil {
			return err
		}
		pw, err := pf.read(e)
		if err != nil {
			return err
		}
		if err := s.SetPassword(ctx, u.Address, pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password changed for %s; its live sessions end\n", u.Address)
		return nil
	})
}

func userList(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "user list", "[DOMAIN]").withJSON()
	return f.run(ctx, e, args, 0, 1, func(s *cliStore, pos []string) error {
		domain := ""
		if len(pos) == 1 {
			domain = pos[0]
		}
		users, err := s.Users(ctx, domain)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(e.stdout, nonNil(users))
		}
		rows := make([][]string, len(users))
		for i, u := range users {
			rows[i] = []string{u.Address, u.DisplayName, status(u), onOff(u.Admin), onOff(u.CanUse(accounts.ServiceXMPP)), quotaText(u.Quota)}
		}
		return table(e.stdout, []string{"ADDRESS", "NAME", "STATUS", "ADMIN", "XMPP", "QUOTA"}, rows)
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func status(u accounts.User) string {
	if u.Disabled {
		return "disabled"
	}
	return "active"
}

func quotaText(q accounts.ByteSize) string {
	if q == 0 {
		return "unlimited"
	}
	return q.String()
}

// userView is `user show`'s JSON: the user with its aliases and effective
// service access.
type userView struct {
	accounts.User
	Aliases  []string        `json:"aliases"`
	Services map[string]bool `json:"services"`
}

func userShow(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "user show", "ADDRESS").withJSON()
	return f.run(ctx, e, args, 1, 1, func(s *cliStore, pos []string) error {
		u, err := s.User(ctx, pos[0])
		if err != nil {
			return err
		}
		all, err := s.Aliases(ctx, "")
		if err != nil {
			return err
		}
		v := userView{User: u, Aliases: []string{}, Services: map[string]bool{}}
		for _, a := range all {
			if a.Target == u.Address {
				v.Aliases = append(v.Aliases, a.Address)
			}
		}
		svcs := []accounts.Service{accounts.ServiceSMTP, accounts.ServiceIMAP, accounts.ServiceXMPP, accounts.ServiceManageSieve, accounts.ServiceWebmail}
		var on []string
		for _, svc := range svcs {
			v.Services[string(svc)] = u.CanUse(svc)
			if u.CanUse(svc) {
				on = append(on, string(svc))
			}
		}
		if f.json {
			return printJSON(e.stdout, v)
		}
		fmt.Fprintf(e.stdout, "Address:      %s\nJabber ID:    %s\nName:         %s\nStatus:       %s\nAdmin:        %s\n",
			u.Address, u.JID(), u.DisplayName, status(u), onOff(u.Admin))
		fmt.Fprintf(e.stdout, "XMPP switch:  %s (domain: %s)\nQuota:        %s\nAliases:      %s\nCan log in:   %s\nCreated:      %s\nUpdated:      %s\n",
			onOff(u.XMPPEnabled), onOff(u.DomainXMPP), quotaText(u.Quota), orNone(strings.Join(v.Aliases, ", ")),
			orNone(strings.Join(on, ", ")), u.CreatedAt.Format(time.RFC3339), u.UpdatedAt.Format(time.RFC3339))
		return nil
	})
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func userSetDisabled(disabled bool) func(context.Context, *env, []string) error {
	name := "user enable"
	if disabled {
		name = "user disable"
	}
	return func(ctx context.Context, e *env, args []string) error {
		return withAddress(ctx, e, name, args, func(s *cliStore, addr string) error {
			u, err := s.UpdateUser(ctx, addr, accounts.UserUpdate{Disabled: &disabled})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s is now %s\n", u.Address, status(u))
			return nil
		})
	}
}

func userSet(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "user set", "ADDRESS")
	var uf userFields
	uf.register(f)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	quota, err := uf.parseQuota()
	if err != nil {
		return err
	}
	up := accounts.UserUpdate{Admin: uf.admin.v, XMPPEnabled: uf.xmpp.v, Quota: quota}
	f.Visit(func(fl *flag.Flag) {
		if fl.Name == "name" {
			up.DisplayName = &uf.name
		}
	})
	if up == (accounts.UserUpdate{}) {
		return usagef("nothing to change: give --name, --admin, --xmpp or --quota")
	}
	s, err := openStore(ctx, e, f)
	if err != nil {
		return err
	}
	defer s.Close()
	u, err := s.UpdateUser(ctx, pos[0], up)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "updated %s\n", u.Address)
	return nil
}
