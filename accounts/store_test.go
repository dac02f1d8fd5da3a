package accounts

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

const pw = "correct horse battery"

func testConfig() Config {
	c := DefaultConfig()
	c.SCRAMIterations = MinSCRAMIterations
	return c
}

func newStore(t *testing.T, db *migrations.DB) *Store {
	t.Helper()
	s, err := New(db, testConfig(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seed creates capulet.example with juliet in it.
func seed(t *testing.T, s *Store) User {
	t.Helper()
	ctx := context.Background()
	if _, err := s.AddDomain(ctx, "Capulet.Example", DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	u, err := s.AddUser(ctx, NewUser{Address: "Juliet@capulet.example", Password: pw, DisplayName: "Juliet"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ptr[T any](v T) *T { return &v }

func TestDomains(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		s, ctx := newStore(t, db), context.Background()
		d, err := s.AddDomain(ctx, "Bücher.Example", DomainSettings{XMPPEnabled: ptr(false)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "xn--bcher-kva.example" || !d.MailEnabled || d.XMPPEnabled || d.Unicode() != "bücher.example" {
			t.Fatalf("domain = %+v", d)
		}
		if _, err := s.AddDomain(ctx, "bücher.example", DomainSettings{}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate domain: %v", err)
		}
		var ne *NameError
		if _, err := s.AddDomain(ctx, "not a domain", DomainSettings{}); !errors.As(err, &ne) {
			t.Fatalf("invalid domain: %v", err)
		}
		d, err = s.UpdateDomain(ctx, "xn--bcher-kva.example", DomainSettings{XMPPEnabled: ptr(true), MailEnabled: ptr(false)})
		if err != nil || d.MailEnabled || !d.XMPPEnabled {
			t.Fatalf("update = %+v, %v", d, err)
		}
		if _, err := s.UpdateDomain(ctx, "nowhere.example", DomainSettings{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update unknown: %v", err)
		}
		seed(t, s)
		ds, err := s.Domains(ctx)
		if err != nil || len(ds) != 2 || ds[0].Name != "capulet.example" || ds[0].Users != 1 {
			t.Fatalf("domains = %+v, %v", ds, err)
		}
		if err := s.DeleteDomain(ctx, "capulet.example", false); !errors.Is(err, ErrDomainInUse) {
			t.Fatalf("delete in use: %v", err)
		}
		if err := s.DeleteDomain(ctx, "capulet.example", true); err != nil {
			t.Fatal(err)
		}
		if _, err := s.User(ctx, "juliet@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("user outlived forced domain delete: %v", err)
		}
		if err := s.DeleteDomain(ctx, "capulet.example", false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestUsers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		s, ctx := newStore(t, db), context.Background()
		u := seed(t, s)
		if u.Address != "juliet@capulet.example" || u.JID() != u.Address || u.DisplayName != "Juliet" ||
			u.Admin || u.Disabled || !u.XMPPEnabled || !u.CanUse(ServiceXMPP) || !u.CanUse(ServiceIMAP) {
			t.Fatalf("user = %+v", u)
		}
		if _, err := s.AddUser(ctx, NewUser{Address: "JULIET@capulet.example", Password: pw}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate user: %v", err)
		}
		if _, err := s.AddUser(ctx, NewUser{Address: "romeo@montague.example", Password: pw}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown domain: %v", err)
		}
		var pe *PasswordError
		if _, err := s.AddUser(ctx, NewUser{Address: "nurse@capulet.example", Password: "short"}); !errors.As(err, &pe) {
			t.Fatalf("short password: %v", err)
		}
		var ne *NameError
		if _, err := s.AddUser(ctx, NewUser{Address: "nu rse@capulet.example", Password: pw}); !errors.As(err, &ne) {
			t.Fatalf("bad name: %v", err)
		}
		if _, err := s.User(ctx, "nurse@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("refused user half-written: %v", err)
		}
		q := ByteSize(1 << 30)
		if _, err := s.AddUser(ctx, NewUser{Address: "tybalt@capulet.example", Password: pw, Admin: true, XMPPEnabled: ptr(false), Quota: &q}); err != nil {
			t.Fatal(err)
		}
		us, err := s.Users(ctx, "capulet.example")
		if err != nil || len(us) != 2 || us[1].Localpart != "tybalt" || !us[1].Admin || us[1].CanUse(ServiceXMPP) || us[1].Quota != q {
			t.Fatalf("users = %+v, %v", us, err)
		}
		if _, err := s.Users(ctx, "nowhere.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("users of unknown domain: %v", err)
		}
		u, err = s.UpdateUser(ctx, "juliet@capulet.example", UserUpdate{DisplayName: ptr("Juliet C."), Disabled: ptr(true)})
		if err != nil || u.DisplayName != "Juliet C." || !u.Disabled || u.CanUse(ServiceIMAP) {
			t.Fatalf("update = %+v, %v", u, err)
		}
		if err := s.DeleteUser(ctx, "tybalt@capulet.example"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, "tybalt@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestAliasesAndResolve(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		s, ctx := newStore(t, db), context.Background()
		seed(t, s)
		a, err := s.AddAlias(ctx, "Jules@Capulet.example", "juliet@capulet.example")
		if err != nil || a.Address != "jules@capulet.example" || a.Target != "juliet@capulet.example" {
			t.Fatalf("alias = %+v, %v", a, err)
		}
		if _, err := s.AddAlias(ctx, "juliet@capulet.example", "juliet@capulet.example"); !errors.Is(err, ErrExists) {
			t.Fatalf("alias over a user: %v", err)
		}
		if _, err := s.AddUser(ctx, NewUser{Address: "jules@capulet.example", Password: pw}); !errors.Is(err, ErrExists) {
			t.Fatalf("user over an alias: %v", err)
		}
		if _, err := s.AddAlias(ctx, "x@capulet.example", "ghost@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("alias to nobody: %v", err)
		}
		if _, err := s.AddAlias(ctx, "x@elsewhere.example", "juliet@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("alias in a foreign domain: %v", err)
		}
		for _, addr := range []string{"juliet@capulet.example", "JULIET+lists@capulet.example", "jules@capulet.example", "jules+x@capulet.example"} {
			u, err := s.Resolve(ctx, addr)
			if err != nil || u.Address != "juliet@capulet.example" {
				t.Errorf("Resolve(%s) = %+v, %v", addr, u.Address, err)
			}
		}
		if _, err := s.Resolve(ctx, "nobody@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(nobody) = %v", err)
		}
		as, err := s.Aliases(ctx, "")
		if err != nil || len(as) != 1 {
			t.Fatalf("aliases = %+v, %v", as, err)
		}
		// Aliases cannot log in.
		if _, err := s.Authenticate(ctx, Attempt{Username: "jules@capulet.example", Password: pw, Service: ServiceIMAP}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("alias login: %v", err)
		}
		if err := s.DeleteAlias(ctx, "jules@capulet.example"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAlias(ctx, "jules@capulet.example"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		// Deleting a user takes its aliases with it.
		s.AddAlias(ctx, "jules@capulet.example", "juliet@capulet.example")
		if err := s.DeleteUser(ctx, "juliet@capulet.example"); err != nil {
			t.Fatal(err)
		}
		if as, _ := s.Aliases(ctx, "capulet.example"); len(as) != 0 {
			t.Fatalf("aliases outlived their user: %+v", as)
		}
	})
}

func TestContacts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		s, ctx := newStore(t, db), context.Background()
		seed(t, s)
		s.AddUser(ctx, NewUser{Address: "nurse@capulet.example", Password: pw})
		c, err := s.AddContact(ctx, "juliet@capulet.example", Contact{Name: "Romeo", Email: "romeo@Montague.Example", JID: "romeo@montague.example", Note: "the one"})
		if err != nil || c.ID == 0 || c.Email != "romeo@montague.example" {
			t.Fatalf("add = %+v, %v", c, err)
		}
		if _, err := s.AddContact(ctx, "juliet@capulet.example", Contact{}); err == nil {
			t.Fatal("empty contact accepted")
		}
		if _, err := s.AddContact(ctx, "juliet@capulet.example", Contact{Email: "no-at-sign"}); err == nil {
			t.Fatal("bad email accepted")
		}
		c.Name = "Romeo Montague"
		if c2, err := s.UpdateContact(ctx, "juliet@capulet.example", c); err != nil || c2.Name != "Romeo Montague" || c2.Note != "the one" {
			t.Fatalf("update = %+v, %v", c2, err)
		}
		// Another user can neither see nor change nor delete it.
		if _, err := s.Contact(ctx, "nurse@capulet.example", c.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("foreign read: %v", err)
		}
		if _, err := s.UpdateContact(ctx, "nurse@capulet.example", c); !errors.Is(err, ErrNotFound) {
			t.Fatalf("foreign update: %v", err)
		}
		if err := s.DeleteContact(ctx, "nurse@capulet.example", c.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("foreign delete: %v", err)
		}
		s.AddContact(ctx, "juliet@capulet.example", Contact{Name: "Benvolio", Email: "ben@montague.example"})
		cs, err := s.Contacts(ctx, "juliet@capulet.example")
		if err != nil || len(cs) != 2 || cs[0].Name != "Benvolio" {
			t.Fatalf("list = %+v, %v", cs, err)
		}
		if err := s.DeleteContact(ctx, "juliet@capulet.example", c.ID); err != nil {
			t.Fatal(err)
		}
		if cs, _ := s.Contacts(ctx, "juliet@capulet.example"); len(cs) != 1 {
			t.Fatalf("after delete: %+v", cs)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		s, ctx := newStore(t, db), context.Background()
		seed(t, s)
		ip := netip.MustParseAddr("192.0.2.1")
		login := func(user, pass string, svc Service) error {
			_, err := s.Authenticate(ctx, Attempt{Username: user, Password: pass, Remote: ip, Service: svc})
			return err
		}
		if err := login("JULIET@capulet.example", pw, ServiceIMAP); err != nil {
			t.Fatalf("good login: %v", err)
		}
		for i, tc := range []struct{ user, pass string }{
			{"juliet@capulet.example", "wrong password!"},
			{"nobody@capulet.example", pw},
			{"not an address", pw},
		} {
			if err := login(tc.user, tc.pass, ServiceSMTP); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("%d: %v, want ErrBadCredentials", i, err)
			}
		}
		// SCRAM servers get both credentials; they verify the password too.
		for _, h := range []SCRAMHash{SCRAMSHA1, SCRAMSHA256} {
			c, u, err := s.SCRAMCredential(ctx, "juliet@capulet.example", h)
			if err != nil || c.Hash != h || c.Iterations != MinSCRAMIterations || !c.Verify(pw) || u.Address != "juliet@capulet.example" {
				t.Errorf("SCRAMCredential(%s) = %+v, %v", h, c, err)
			}
		}
		// A new password works at once and the old one stops working.
		if err := s.SetPassword(ctx, "juliet@capulet.example", "a brand new secret"); err != nil {
			t.Fatal(err)
		}
		if err := login("juliet@capulet.example", pw, ServiceXMPP); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("old password: %v", err)
		}
		if err := login("juliet@capulet.example", "a brand new secret", ServiceXMPP); err != nil {
			t.Errorf("new password: %v", err)
		}
		// Switches.
		s.UpdateUser(ctx, "juliet@capulet.example", UserUpdate{XMPPEnabled: ptr(false)})
		if err := login("juliet@capulet.example", "a brand new secret", ServiceXMPP); !errors.Is(err, ErrServiceDisabled) {
			t.Errorf("xmpp off for user: %v", err)
		}
		s.UpdateDomain(ctx, "capulet.example", DomainSettings{MailEnabled: ptr(false)})
		if err := login("juliet@capulet.example", "a brand new secret", ServiceIMAP); !errors.Is(err, ErrServiceDisabled) {
			t.Errorf("mail off for domain: %v", err)
		}
		s.UpdateUser(ctx, "juliet@capulet.example", UserUpdate{Disabled: ptr(true)})
		if err := login("juliet@capulet.example", "a brand new secret", ServiceIMAP); !errors.Is(err, ErrDisabled) {
			t.Errorf("disabled: %v", err)
		}
	})
}

func TestAuthenticateThrottled(t *testing.T) {
	s, ctx := newStore(t, dbtest.SQLite(t)), context.Background()
	seed(t, s)
	ip := netip.MustParseAddr("192.0.2.9")
	for range s.cfg.Throttle.IPFree + 1 {
		s.Authenticate(ctx, Attempt{Username: "juliet@capulet.example", Password: "guess guess guess", Remote: ip, Service: ServiceIMAP})
	}
	_, err := s.Authenticate(ctx, Attempt{Username: "juliet@capulet.example", Password: pw, Remote: ip, Service: ServiceIMAP})
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter <= 0 {
		t.Fatalf("right password during penalty: %v, want ThrottledError", err)
	}
	// The account itself is not locked for the owner elsewhere.
	if _, err := s.Authenticate(ctx, Attempt{Username: "juliet@capulet.example", Password: pw, Remote: netip.MustParseAddr("198.51.100.1"), Service: ServiceIMAP}); err != nil {
		t.Fatalf("owner from another address: %v", err)
	}
}

// TestEvents: changes reach subscribers, including changes made through a
// second Store on the same database (another process: the CLI).
func TestEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		s, ctx := newStore(t, db), context.Background()
		seed(t, s)
		var mu sync.Mutex
		var got []string
		s.Subscribe(func(ev Event) {
			who := ev.Address
			if who == "" {
				who = ev.Domain
			}
			mu.Lock()
			got = append(got, string(ev.Kind)+" "+who)
			mu.Unlock()
		})
		cancel := s.Subscribe(func(Event) { panic("a broken subscriber must not stop the others") })
		stop, err := s.Watch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		cli := newStore(t, db)
		steps := []func(){
			func() { s.SetPassword(ctx, "juliet@capulet.example", "another long secret") },
			func() { cli.UpdateUser(ctx, "juliet@capulet.example", UserUpdate{Disabled: ptr(true)}) },
			func() { cli.UpdateDomain(ctx, "capulet.example", DomainSettings{XMPPEnabled: ptr(false)}) },
			func() { s.DeleteUser(ctx, "juliet@capulet.example") },
		}
		want := []string{"password juliet@capulet.example", "disabled juliet@capulet.example",
			"domain capulet.example", "deleted juliet@capulet.example"}
		for i, step := range steps {
			step()
			if i == 0 {
				cancel()
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n > i || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("events = %q\nwant     %q", got, want)
		}
	})
}
