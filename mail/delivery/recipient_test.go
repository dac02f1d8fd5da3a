package delivery

import (
	"context"
	"errors"
	"testing"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestResolveRecipient(t *testing.T) {
	ctx := context.Background()
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, err := accounts.New(dbtest.SQLite(t), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustDo := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	off := false
	mustDo(acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{}))
	mustDo(acc.AddDomain(ctx, "nomail.example", accounts.DomainSettings{MailEnabled: &off}))
	mustDo(acc.AddUser(ctx, accounts.NewUser{Address: "juliet@capulet.example", Password: "correct horse battery"}))
	mustDo(acc.AddUser(ctx, accounts.NewUser{Address: "tybalt@capulet.example", Password: "correct horse battery"}))
	on := true
	mustDo(acc.UpdateUser(ctx, "tybalt@capulet.example", accounts.UserUpdate{Disabled: &on}))
	mustDo(acc.AddAlias(ctx, "nurse@capulet.example", "juliet@capulet.example"))
	for _, tc := range []struct {
		addr, user string
		local      bool
		err        error
	}{
		{"juliet@capulet.example", "juliet@capulet.example", true, nil},
		{"Juliet+lists@Capulet.example", "juliet@capulet.example", true, nil},
		{"nurse@capulet.example", "juliet@capulet.example", true, nil},
		{"nobody@capulet.example", "", true, ErrNoRecipient},
		{"tybalt@capulet.example", "", true, ErrNoRecipient},   // disabled
		{"bad/name@capulet.example", "", true, ErrNoRecipient}, // not a valid local part
		{"romeo@montague.example", "", false, nil},
		{"juliet@nomail.example", "", false, nil}, // mail switched off: not ours
		{"juliet", "", false, ErrBadAddress},
		{"@capulet.example", "", false, ErrBadAddress},
		{"juliet@", "", false, ErrBadAddress},
	} {
		u, local, err := ResolveRecipient(ctx, acc, tc.addr)
		if !errors.Is(err, tc.err) || local != tc.local || tc.user != "" && u.Address != tc.user {
			t.Errorf("%s: %q local=%v err=%v; want %q local=%v err=%v", tc.addr, u.Address, local, err, tc.user, tc.local, tc.err)
		}
	}
}
