package imapd

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
		e := newEnv(t, db, nil)
		t.Run("starttls", func(t *testing.T) {
			c := e.dial(t, IMAP, nil)
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !caps.Has("AUTH=PLAIN") || caps.Has(imap.CapLoginDisabled) {
				t.Errorf("capabilities after STARTTLS: %v", caps)
			}
			if err := c.Login("juliet@capulet.example", pw).Wait(); err != nil {
				t.Fatal(err)
			}
			caps, err = c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, imap.CapIdle, imap.CapUIDPlus, imap.CapMove,
				imap.CapSpecialUse, imap.CapNamespace, imap.CapListStatus, imap.CapESearch, imap.CapUnselect, imap.CapLiteralMinus,
				"APPENDLIMIT=52428800"} {
				if !caps.Has(want) {
					t.Errorf("capability %s missing from %v", want, caps)
				}
			}
		})
		t.Run("implicit TLS", func(t *testing.T) {
			c := e.dial(t, IMAPS, nil)
			if err := c.Login("romeo@capulet.example", pw).Wait(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("AUTHENTICATE PLAIN", func(t *testing.T) {
			c := e.dial(t, IMAPS, nil)
			if err := c.Authenticate(sasl.NewPlainClient("", "juliet@capulet.example", pw)); err != nil {
				t.Fatal(err)
			}
			c2 := e.dial(t, IMAPS, nil)
			wantCode(t, c2.Authenticate(sasl.NewPlainClient("", "juliet@capulet.example", "wrong")), imap.ResponseCodeAuthenticationFailed)
		})
		t.Run("wrong password", func(t *testing.T) {
			c := e.dial(t, IMAP, nil)
			wantCode(t, c.Login("juliet@capulet.example", "wrong").Wait(), imap.ResponseCodeAuthenticationFailed)
			wantCode(t, c.Login("nobody@capulet.example", pw).Wait(), imap.ResponseCodeAuthenticationFailed)
			if err := c.Login("juliet@capulet.example", pw).Wait(); err != nil {
				t.Fatalf("the connection should survive failed logins: %v", err)
			}
		})
		t.Run("no login before STARTTLS", func(t *testing.T) {
			c, err := imapclient.DialInsecure(e.addr[IMAP], nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			caps, err := c.Capability().Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) || caps.Has("AUTH=PLAIN") {
				t.Errorf("plain-text capabilities: %v", caps)
			}
			wantCode(t, c.Login("juliet@capulet.example", pw).Wait(), imap.ResponseCodePrivacyRequired)
		})
	})
}

func TestThrottle(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	c := e.dial(t, IMAPS, nil)
	var err error
	for i := 0; i < 10; i++ { // IPFree (5) free failures, then delays
		if err = c.Login("juliet@capulet.example", "wrong").Wait(); strings.Contains(err.Error(), "UNAVAILABLE") {
			break
		}
	}
	wantCode(t, err, imap.ResponseCodeUnavailable)
	// The right password is refused too while the penalty lasts.
	wantCode(t, c.Login("juliet@capulet.example", pw).Wait(), imap.ResponseCodeUnavailable)
}

func TestLimits(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), func(c *Config) {
		c.MaxConnsPerIP, c.MaxConnsPerUser, c.AppendLimit = 4, 2, 4096
	})
	a := e.login(t, "juliet", nil)
	e.login(t, "juliet", nil)
	c := e.dial(t, IMAPS, nil)
	wantCode(t, c.Login("juliet@capulet.example", pw).Wait(), imap.ResponseCodeLimit)
	caps, err := a.Capability().Wait()
	if err != nil || !caps.Has("APPENDLIMIT=4096") {
		t.Errorf("capabilities %v, %v: want APPENDLIMIT=4096", caps, err)
	}

	// A synchronising literal over APPENDLIMIT is refused before it is
	// sent, and the connection goes on (imapclient gives up its connection
	// when a literal is refused, so this speaks the protocol itself).
	r := e.raw(t)
	if reply, _ := r.cmd("a1", "LOGIN romeo@capulet.example \""+pw+"\""); !strings.HasPrefix(reply, "OK") {
		t.Fatalf("LOGIN: %s", reply)
	}
	if reply, _ := r.cmd("a2", "APPEND INBOX {5000}"); !strings.HasPrefix(reply, "NO [TOOBIG]") {
		t.Errorf("APPEND over the limit: %s", reply)
	}
	if reply, _ := r.cmd("a3", "NOOP"); !strings.HasPrefix(reply, "OK") {
		t.Errorf("NOOP after a refused APPEND: %s", reply)
	}

	// The fifth connection from this address is turned away with BYE.
	over, err := imapclient.DialInsecure(e.addr[IMAP], nil)
	if err == nil {
		defer over.Close()
		err = over.Noop().Wait()
	}
	if err == nil {
		t.Error("a connection over MaxConnsPerIP was served")
	}
}

func TestAccountChangeEndsSessions(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), nil)
	stop, err := e.acc.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	juliet := e.login(t, "juliet", nil)
	romeo := e.login(t, "romeo", nil)
	if err := e.acc.SetPassword(e.ctx, "juliet@capulet.example", "a new password for juliet"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-juliet.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("juliet's session survived her password change")
	}
	if err := romeo.Noop().Wait(); err != nil {
		t.Fatalf("romeo's session: %v", err)
	}
	// Switching the domain's mail off ends the rest.
	off := false
	if _, err := e.acc.UpdateDomain(e.ctx, "capulet.example", accounts.DomainSettings{MailEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-romeo.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("romeo's session survived mail being switched off for his domain")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{AppendLimit: 10, IdleTimeout: time.Minute}
	err := bad.Validate()
	for _, key := range []string{"append_limit", "idle_timeout", "max_conns_per_ip", "max_conns_per_user"} {
		if err == nil || !strings.Contains(err.Error(), "imap."+key) {
			t.Errorf("Validate(%+v) = %v: want a complaint about %s", bad, err, key)
		}
	}
	if string(delim) != "/" {
		t.Fatal("delim must be store.Separator")
	}
}

func TestIdleDeadline(t *testing.T) {
	// limitConn replaces the library's 35-minute deadline by the configured
	// one and leaves short ones alone.
	var got time.Time
	c := &limitConn{Conn: deadlineConn{got: &got}, idle: 31 * time.Minute}
	c.SetReadDeadline(time.Now().Add(35 * time.Minute))
	if d := time.Until(got); d < 30*time.Minute || d > 31*time.Minute {
		t.Errorf("idle deadline in %v, want 31m", d)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if d := time.Until(got); d > 31*time.Second {
		t.Errorf("command deadline in %v, want 30s", d)
	}
}

type deadlineConn struct {
	net.Conn
	got *time.Time
}

func (d deadlineConn) SetReadDeadline(t time.Time) error { *d.got = t; return nil }
