package managesieve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidings/tidings/accounts"
	"github.com/tidings/tidings/filters"
	"github.com/tidings/tidings/internal/testcert"
	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

const (
	pw         = "correct horse battery"
	julietAddr = "juliet@capulet.example"
	romeoAddr  = "romeo@capulet.example"
	testLimit  = 2048 // script size limit of the test server
	testMaxScr = 3    // scripts per user
)

// compileError stands in for the engine's *sieve.Error.
type compileError struct{ msg string }

func (e *compileError) Error() string { return e.msg }

// testCheck is the compiler the test server uses: "bogus" is an unknown
// command on line 2, "multi" fails with an error over two lines.
func testCheck(src []byte) error {
	switch {
	case bytes.Contains(src, []byte("bogus")):
		return &compileError{"line 2:1: unknown command \"bogus\""}
	case bytes.Contains(src, []byte("multi")):
		return &compileError{"line 1:1: first problem\r\nline 3:5: second problem"}
	}
	return nil
}

type env struct {
	srv       *Server
	acc       *accounts.Store
	scripts   *filters.Scripts
	juliet    accounts.User
	addr      string
	serveDone chan error
}

// newEnv starts a server on 127.0.0.1 over a fresh SQLite database with
// juliet and romeo; mod may change the server before it starts.
func newEnv(t testing.TB, mod func(*Server)) *env {
	t.Helper()
	return newEnvDB(t, dbtest.SQLite(t), mod)
}

// newEnvDB is newEnv over db.
func newEnvDB(t testing.TB, db *migrations.DB, mod func(*Server)) *env {
	t.Helper()
	acfg := accounts.DefaultConfig()
	acfg.SCRAMIterations = accounts.MinSCRAMIterations
	acfg.Throttle.IPFree, acfg.Throttle.AccountFree = 1000, 1000
	acc, err := accounts.New(db, acfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := acc.AddDomain(ctx, "capulet.example", accounts.DomainSettings{}); err != nil {
		t.Fatal(err)
	}
	e := &env{acc: acc, serveDone: make(chan error, 1)}
	if e.juliet, err = acc.AddUser(ctx, accounts.NewUser{Address: julietAddr, Password: pw}); err != nil {
		t.Fatal(err)
	}
	if _, err = acc.AddUser(ctx, accounts.NewUser{Address: romeoAddr, Password: pw}); err != nil {
		t.Fatal(err)
	}
	stop, err := acc.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	fcfg := filters.Config{MaxScripts: testMaxScr, MaxScriptSize: testLimit}
	e.scripts = filters.NewScripts(db, fcfg)
	e.scripts.SetCheck(testCheck)
	tlsConfig, err := testcert.Config("mail.capulet.example")
	if err != nil {
		t.Fatal(err)
	}
	e.srv = &Server{Scripts: e.scripts, Accounts: acc, TLS: tlsConfig, Limits: fcfg,
		Hostname: "mail.capulet.example", Extensions: []string{"fileinto", "vacation", "enotify"},
		Log: testLogger(t)}
	if mod != nil {
		mod(e.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go func() { e.serveDone <- e.srv.Serve(ln) }()
	t.Cleanup(func() { e.srv.Close() })
	return e
}

// testLogger logs to the test with -v, else nowhere.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client is a raw ManageSieve client for the tests.
type client struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	caps map[string]string // the last capability response
}

// dial connects and reads the greeting.
func (e *env) dial(t testing.TB) *client {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	lines, final := c.response()
	if !strings.HasPrefix(final, "OK") {
		t.Fatalf("greeting: %q %q", lines, final)
	}
	c.caps = parseCaps(t, lines)
	return c
}

// login dials, starts TLS and logs in as juliet.
func (e *env) login(t testing.TB) *client {
	t.Helper()
	c := e.dial(t)
	c.startTLS()
	c.expect("AUTHENTICATE \"PLAIN\" \""+plainB64("", julietAddr, pw)+"\"", "OK")
	return c
}

func plainB64(authz, authc, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + authc + "\x00" + pass))
}

// parseCaps turns capability lines into a map; a capability without a
// value maps to "".
func parseCaps(t testing.TB, lines []string) map[string]string {
	t.Helper()
	caps := map[string]string{}
	for _, l := range lines {
		name, rest, ok := cutQuoted(l)
		if !ok {
			t.Fatalf("capability line %q", l)
		}
		val := ""
		if rest != "" {
			if val, rest, ok = cutQuoted(strings.TrimPrefix(rest, " ")); !ok || rest != "" {
				t.Fatalf("capability line %q", l)
			}
		}
		caps[name] = val
	}
	return caps
}

// cutQuoted splits a leading quoted string off s.
func cutQuoted(s string) (val, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			if i < len(s) {
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}

func (c *client) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write %q: %v", trunc(s, 64), err)
	}
}

// line reads one logical line: a server literal {N} at its end is read and
// its octets take its place.
func (c *client) line() (string, error) {
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			return out.String() + l, err
		}
		l = strings.TrimSuffix(l, "\r\n")
		i := strings.LastIndexByte(l, '{')
		if i < 0 || !strings.HasSuffix(l, "}") {
			out.WriteString(l)
			return out.String(), nil
		}
		n, err := strconv.Atoi(l[i+1 : len(l)-1])
		if err != nil {
			out.WriteString(l)
			return out.String(), nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return "", err
		}
		out.WriteString(l[:i])
		out.Write(buf)
	}
}

// response reads lines up to the OK, NO or BYE that ends a response.
func (c *client) response() (lines []string, final string) {
	c.t.Helper()
	for {
		l, err := c.line()
		if err != nil {
			c.t.Fatalf("reading a response after %q: %q: %v", lines, l, err)
		}
		if isFinal(l) {
			return lines, l
		}
		lines = append(lines, l)
	}
}

func isFinal(l string) bool {
	word, _, _ := strings.Cut(l, " ")
	switch strings.ToUpper(word) {
	case "OK", "NO", "BYE":
		return true
	}
	return false
}

// cmd sends a command line and reads the response.
func (c *client) cmd(line string) ([]string, string) {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.response()
}

// expect sends a command and checks that the final line starts with want.
func (c *client) expect(line, want string) []string {
	c.t.Helper()
	lines, final := c.cmd(line)
	if !strings.HasPrefix(final, want) {
		c.t.Fatalf("%s: got %q (lines %q), want %q…", trunc(line, 80), final, lines, want)
	}
	return lines
}

// startTLS runs STARTTLS and reads the capabilities sent after it.
func (c *client) startTLS() {
	c.t.Helper()
	c.expect("STARTTLS", "OK")
	c.finishTLS()
}

// finishTLS runs the TLS handshake after STARTTLS's OK and reads the
// capabilities the server sends then.
func (c *client) finishTLS() {
	c.t.Helper()
	tc := tls.Client(c.nc, &tls.Config{InsecureSkipVerify: true, ServerName: "mail.capulet.example"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.nc, c.br = tc, bufio.NewReader(tc)
	lines, final := c.response()
	if !strings.HasPrefix(final, "OK") {
		c.t.Fatalf("after STARTTLS: %q %q", lines, final)
	}
	c.caps = parseCaps(c.t, lines)
}

// closed reports whether the server closed the connection (after reading
// what is left).
func (c *client) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(c.br)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// literal is a client literal {N+}.
func literal(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// TestMain gives the PostgreSQL cluster of dbtest a clean end, should a
// test here ever use it.
func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }
