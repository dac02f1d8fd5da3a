package managesieve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func accountsDisabled(b *bool) accounts.UserUpdate { return accounts.UserUpdate{Disabled: b} }

func TestShutdownSaysBye(t *testing.T) {
	e := newEnv(t, nil)
	idle := e.login(t)
	fresh := e.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, c := range []*client{idle, fresh} {
		l, err := c.line()
		if err != nil || l != `BYE (TRYLATER) "Server shutting down"` {
			t.Errorf("client %d: %q %v", i, l, err)
		}
		if !c.closed() {
			t.Errorf("client %d: still open", i)
		}
	}
	select {
	case err := <-e.serveDone:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return")
	}
	if nc, err := net.Dial("tcp", e.addr); err == nil {
		nc.Close()
		t.Error("still accepting")
	}
	if e.srv.Connections() != 0 {
		t.Errorf("%d connections left", e.srv.Connections())
	}
}

func TestShutdownWhileReadingCommand(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t)
	// Half a command: the server is reading a literal, not yet answering.
	c.send("PUTSCRIPT \"s\" {5+}\r\nke")
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	// A connection reading a command is idle: BYE comes at once.
	if l, _ := c.line(); l != `BYE (TRYLATER) "Server shutting down"` {
		t.Errorf("got %q", l)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	c.startTLS()
	c.send("AUTHENTICATE \"PLAIN\"\r\n") // busy: waiting for the SASL response
	if l, _ := c.line(); l != `""` {
		t.Fatalf("challenge %q", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v", err)
	}
	if !c.closed() {
		t.Error("still open after the deadline")
	}
}

func TestAccountEventsEndSessions(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, acc *accounts.Store)
	}{
		{"disabled", func(t *testing.T, acc *accounts.Store) {
			on := true
			if _, err := acc.UpdateUser(t.Context(), julietAddr, accountsDisabled(&on)); err != nil {
				t.Fatal(err)
			}
		}},
		{"password", func(t *testing.T, acc *accounts.Store) {
			if err := acc.SetPassword(t.Context(), julietAddr, "another long password"); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, acc *accounts.Store) {
			if err := acc.DeleteUser(t.Context(), julietAddr); err != nil {
				t.Fatal(err)
			}
		}},
		{"mail off for the domain", func(t *testing.T, acc *accounts.Store) {
			off := false
			if _, err := acc.UpdateDomain(t.Context(), "capulet.example", accounts.DomainSettings{MailEnabled: &off}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, db *migrations.DB) {
				e := newEnvDB(t, db, nil)
				c := e.login(t)
				other := e.dial(t) // not logged in: stays
				tc.change(t, e.acc)
				if l, err := c.line(); err != nil || l != `BYE "Account changed; please log in again"` {
					t.Errorf("got %q %v", l, err)
				}
				if !c.closed() {
					t.Error("session open after the change")
				}
				other.expect("NOOP", "OK")
			})
		})
	}
}

func TestOtherAccountChangesKeepSessions(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t)
	on := true
	if _, err := e.acc.UpdateUser(t.Context(), romeoAddr, accountsDisabled(&on)); err != nil {
		t.Fatal(err)
	}
	name := "Juliet Capulet"
	if _, err := e.acc.UpdateUser(t.Context(), julietAddr, accounts.UserUpdate{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the events are dispatched by now
	c.expect("LISTSCRIPTS", "OK")
}

func TestConnectionLimit(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Config.MaxConnsPerIP = 2 })
	e.dial(t)
	e.dial(t)
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, nc: nc}
	c.br = newReader(nc)
	if l, _ := c.line(); l != `BYE (TRYLATER) "Too many connections from your address"` {
		t.Errorf("third connection: %q", l)
	}
}

func TestLoginTimeout(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Config.AuthTimeout = 300 * time.Millisecond })
	c := e.dial(t)
	c.expect("NOOP", "OK")
	if l, _ := c.line(); !strings.HasPrefix(l, `BYE "Too slow to log in"`) {
		t.Errorf("got %q", l)
	}
}

func TestServeAfterClose(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
}

func TestServerNeedsTLS(t *testing.T) {
	s := &Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(ln); err == nil || errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve without Scripts: %v", err)
	}
}

func TestPanicEndsOnlyItsConnection(t *testing.T) {
	e := newEnv(t, nil)
	e.scripts.SetCheck(func(src []byte) error {
		if string(src) == "panic" {
			panic("engine bug")
		}
		return nil
	})
	c := e.login(t)
	other := e.login(t)
	if _, final := c.cmd(`CHECKSCRIPT "panic"`); final != `BYE (TRYLATER) "Internal server error"` {
		t.Errorf("got %q", final)
	}
	if !c.closed() {
		t.Error("still open")
	}
	if n := e.srv.Panics(); n != 1 {
		t.Errorf("Panics() = %d", n)
	}
	other.expect(`CHECKSCRIPT "keep;"`, "OK")
	e.login(t).expect("LISTSCRIPTS", "OK")
}

// The log shows who logged in, never the password or the SASL data.
func TestLogRedactsAuthentication(t *testing.T) {
	var buf syncBuffer
	e := newEnv(t, func(s *Server) {
		s.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	d := e.dial(t)
	d.startTLS()
	d.expect(`AUTHENTICATE "PLAIN" "`+plainB64("", julietAddr, "guess me")+`"`, `NO "Authentication failed"`)
	c := e.login(t)
	c.expect(`PUTSCRIPT "s" "keep; # secret plans"`, "OK")
	c.expect("LOGOUT", "OK")
	time.Sleep(100 * time.Millisecond)
	log := buf.String()
	for _, secret := range []string{pw, plainB64("", julietAddr, pw), "guess me", "secret plans"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q:\n%s", secret, log)
		}
	}
	for _, want := range []string{"cid=ms2", "remote=127.0.0.1", "login failed", "user=" + julietAddr, "mechanism=PLAIN", "size="} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
