package delivery

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/mail/store"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// byRecipient files juliet's copy into Lists and fails for romeo.
type byRecipient struct{ saw string }

func (f *byRecipient) Evaluate(_ context.Context, u accounts.User, env filters.Envelope, msg io.ReaderAt, size int64) (filters.Outcome, error) {
	b := make([]byte, size)
	msg.ReadAt(b, 0)
	f.saw = string(b)
	if u.Localpart == "romeo" {
		return filters.Outcome{}, errors.New("script error")
	}
	return filters.Outcome{Copies: []filters.Copy{{Mailbox: "Lists", Create: true, Flags: []string{`\Flagged`}}}}, nil
}

func (f *byRecipient) Notify(accounts.User, string, []filters.Notification) {}

func TestDeliver(t *testing.T) {
	db := dbtest.SQLite(t)
	cfg := accounts.DefaultConfig()
	cfg.SCRAMIterations = accounts.MinSCRAMIterations
	acc, _ := accounts.New(db, cfg, nil, nil)
	ctx := context.Background()
	acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{})
	juliet, _ := acc.AddUser(ctx, accounts.NewUser{Address: "juliet@capulet.example", Password: "correct horse battery"})
	romeo, _ := acc.AddUser(ctx, accounts.NewUser{Address: "romeo@capulet.example", Password: "correct horse battery"})
	st, err := store.New(db, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := &byRecipient{}
	d := &Deliverer{Store: st, Filter: f, MaxSize: 1000}
	msg := "Subject: hi\r\n\r\nbody\r\n"
	if err := d.Deliver(ctx, Envelope{From: "tybalt@montague.example", Recipients: []accounts.User{juliet, romeo}}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	want := "Return-Path: <tybalt@montague.example>\r\n" + msg
	if f.saw != want {
		t.Errorf("filter saw %q", f.saw)
	}
	check := func(u accounts.User, box string, flags int) {
		t.Helper()
		m, err := st.Mailbox(ctx, u.ID, box)
		if err != nil {
			t.Fatal(err)
		}
		msgs, _ := st.List(ctx, m.ID, store.AllUIDs, false)
		if len(msgs) != 1 || len(msgs[0].Flags) != flags {
			t.Fatalf("%s/%s: %+v", u.Address, box, msgs)
		}
		_, r, _ := st.Open(ctx, m.ID, msgs[0].UID)
		if b, _ := io.ReadAll(r); string(b) != want {
			t.Errorf("stored %q", b)
		}
	}
	check(juliet, "Lists", 1)
	check(romeo, "INBOX", 0) // filter failed: implicit keep
	err = d.Deliver(ctx, Envelope{Recipients: []accounts.User{juliet}}, strings.NewReader(strings.Repeat("x", 2000)))
	if !errors.Is(err, store.ErrTooBig) {
		t.Errorf("oversized: %v", err)
	}
	if err := d.Deliver(ctx, Envelope{}, strings.NewReader(msg)); err == nil {
		t.Error("no recipients accepted")
	}
}
