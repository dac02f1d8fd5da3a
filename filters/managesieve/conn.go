package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/internal/connlimit"
)

// conn is one client connection. Its serve goroutine owns the session
// state; writes, the busy flag and a pending BYE are guarded by mu, so that
// account events and Shutdown can end it from other goroutines.
type conn struct {
	srv    *Server
	raw    net.Conn // as accepted; closing it frees the per-address slot
	ctx    context.Context
	cancel context.CancelFunc
	remote netip.Addr
	cid    string
	log    *slog.Logger // changed by the serve goroutine under mu

	// Owned by the serve goroutine.
	br        *bufio.Reader
	tls       bool
	user      accounts.User
	authed    bool
	authStart time.Time // start of the unauthenticated phase (AuthTimeout)
	failures  int       // failed AUTHENTICATE commands

	tracked string // address in srv.users; guarded by srv.mu

	mu      sync.Mutex
	nc      net.Conn // raw, or TLS over it after STARTTLS
	bw      *bufio.Writer
	busy    bool // a command (or the greeting) is being answered
	closed  bool
	byeCode string // a BYE waiting for the command to finish
	byeText string
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, raw: nc, nc: nc, remote: accounts.RemoteIP(nc.RemoteAddr()),
		br: bufio.NewReader(nc), bw: bufio.NewWriter(nc), authStart: time.Now(), busy: true}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.cid = fmt.Sprintf("ms%d", s.nextID.Add(1))
	c.log = s.log.With("cid", c.cid, "remote", c.remote)
	return c
}

// serve runs the connection: greeting, then one command at a time.
func (c *conn) serve() {
	defer c.finish()
	c.log.Debug("connected")
	if c.sendCapabilities(c.greeting()) != nil || !c.idle() {
		return
	}
	for {
		args, err := c.readCommand()
		if !c.begin() {
			return
		}
		if c.handle(args, err) || !c.idle() {
			return
		}
	}
}

// handle answers one command or read error; it reports whether the
// connection is over.
func (c *conn) handle(args []arg, err error) (quit bool) {
	var ce *cmdError
	var ne net.Error
	switch {
	case err == nil && len(args) == 0:
		return false // an empty line
	case err == nil:
		return c.dispatch(args)
	case errors.As(err, &ce):
		return c.reply(respNO, ce.code, ce.text) != nil
	case errors.Is(err, errTooLarge):
		c.log.Info("command too large; closing")
		c.bye(codeMaxSize, "Command too large")
	case errors.As(err, &ne) && ne.Timeout():
		if c.authed {
			c.bye("", "Idle for too long")
		} else {
			c.bye("", "Too slow to log in")
		}
	case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
		c.log.Debug("read failed", "err", err)
	}
	return true
}

// readCommand reads the next command under the limits and deadline of the
// session's state.
func (c *conn) readCommand() ([]arg, error) {
	if err := c.raw.SetReadDeadline(c.readDeadline()); err != nil {
		return nil, err
	}
	return readCommand(c.br, c.limits())
}

// readDeadline: the idle timeout once logged in (RFC 5804 §1.2), else
// what is left of the login time.
func (c *conn) readDeadline() time.Time {
	d := time.Now().Add(c.srv.cfg.IdleTimeout)
	if a := c.authStart.Add(c.srv.cfg.AuthTimeout); !c.authed && a.Before(d) {
		return a
	}
	return d
}

// limits: before login, only what AUTHENTICATE needs, and a refused
// literal closes the connection; after, a script literal up to the
// script size limit, and refused ones are read and dropped.
func (c *conn) limits() limits {
	line := c.srv.cfg.MaxLineLength
	if !c.authed {
		return limits{line: line, literal: line, total: 2 * line, discard: line}
	}
	return limits{line: line, literal: c.srv.maxScript, total: c.srv.maxScript + line, discard: c.srv.cfg.MaxDiscard}
}

// begin marks the connection busy before a command is answered; false if
// it was ended meanwhile.
func (c *conn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.byeText != "" {
		c.sayByeLocked()
		return false
	}
	c.busy = true
	return true
}

// idle marks the end of a command; false if a BYE was waiting for it.
func (c *conn) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busy = false
	if c.closed {
		return false
	}
	if c.byeText != "" {
		c.sayByeLocked()
		return false
	}
	return true
}

// setLog replaces the logger; other goroutines read it under mu.
func (c *conn) setLog(l *slog.Logger) {
	c.mu.Lock()
	c.log = l
	c.mu.Unlock()
}

// send writes b (whole responses) to the client.
func (c *conn) send(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	if c.closed {
		return net.ErrClosed
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	c.bw.Write(b)
	if err := c.bw.Flush(); err != nil {
		c.log.Debug("write failed", "err", err)
		c.closeLocked()
		return err
	}
	return nil
}

// reply sends one OK/NO line; an error means the connection is gone.
func (c *conn) reply(kind, code, text string) error {
	return c.send(appendResponse(nil, kind, code, text))
}

// bye sends BYE and closes, from the serve goroutine. Before closing it
// reads what the client is still sending, for a moment: closing a socket
// with unread data makes the kernel send RST, which can destroy the BYE
// before the client has read it.
func (c *conn) bye(code, text string) {
	c.mu.Lock()
	if c.closed || c.byeText != "" {
		c.mu.Unlock()
		return
	}
	c.byeCode, c.byeText = code, text
	c.writeByeLocked()
	c.mu.Unlock()
	c.lingerClose()
}

// lingerClose ends the connection after the last response: it shuts down
// the sending side (close_notify, FIN), so that a client reading to the end
// is done at once, then reads and drops what the client still sends for a
// moment, so that the close is not a reset that could destroy the last
// response before the client read it. From the serve goroutine only.
func (c *conn) lingerClose() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.CloseWrite()
	}
	if lc, ok := c.raw.(*connlimit.Conn); ok {
		if cw, ok := lc.Conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	c.mu.Unlock()
	c.raw.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c.raw, int64(c.srv.cfg.MaxDiscard))
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
}

// end closes the connection with BYE from another goroutine: at once if
// it waits for a command, else once the command is answered. It never
// blocks the caller (account events run on the accounts watcher).
func (c *conn) end(code, text string) {
	c.srv.spawn(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || c.byeText != "" {
			return
		}
		c.byeCode, c.byeText = code, text
		if !c.busy {
			c.sayByeLocked()
		}
	})
}

// sayByeLocked writes the pending BYE (RFC 5804 §1.2: the server may send
// BYE at any time and then closes) and closes.
func (c *conn) sayByeLocked() {
	c.writeByeLocked()
	c.closeLocked()
}

func (c *conn) writeByeLocked() {
	c.log.Info("closing with BYE", "code", c.byeCode, "reason", c.byeText)
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.bw.Write(appendResponse(nil, respBYE, c.byeCode, c.byeText))
	c.bw.Flush()
}

func (c *conn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.nc.Close()
	c.raw.Close()
	c.cancel()
}

// finish is the connection boundary: it recovers a panic (RFC 5804 has no
// internal-error code; the client gets BYE), closes and forgets.
func (c *conn) finish() {
	if p := recover(); p != nil {
		c.srv.panics.Add(1)
		c.log.Error("panic in a managesieve connection", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		c.mu.Lock()
		if !c.closed {
			c.byeCode, c.byeText = codeTryLater, "Internal server error"
			c.sayByeLocked()
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
	c.srv.forget(c)
	c.log.Debug("disconnected")
}
