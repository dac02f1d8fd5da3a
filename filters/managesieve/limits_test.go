package managesieve

import (
	"fmt"
	"strings"
	"testing"
)

func TestMalformedInputKeepsConnection(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t)
	cases := []struct {
		send string
		want string
	}{
		0:  {`NOOP "unterminated`, `NO "Unterminated quoted string"`},
		1:  {`NOOP "bad \n escape"`, `NO "Only`},
		2:  {"NOOP \"nul\x00\"", `NO "NUL, CR or LF`},
		3:  {`NOOP "a""b"`, `NO "Missing space`},
		4:  {`NOOP (x)`, `NO "Unexpected character`},
		5:  {`NOOP {5++}`, `NO "Malformed literal`},
		6:  {`NOOP {x}`, `NO "Malformed literal`},
		7:  {`NOOP {5+} trailing`, `NO "Malformed literal`},
		8:  {`"NOOP"`, `NO "Expected a command name"`},
		9:  {`NOOP a b c d e f g h i`, `NO "Too many arguments"`},
		10: {`NOOP "` + strings.Repeat("x", 1025) + `"`, `NO "Quoted string longer than 1024 octets`},
		11: {"NOOP \"\xc3\"", `NO "Quoted string is not UTF-8"`},
		12: {`NOOP atom`, `NO "Syntax`},
		13: {`LOGOUT now`, `NO "Syntax`},
		14: {`LISTSCRIPTS "x"`, `NO "Syntax`},
		15: {`HAVESPACE "x" "10"`, `NO "Syntax`},
		16: {`PUTSCRIPT "x" keep`, `NO "Syntax`},
		17: {"NOOP \"a\rb\"", `NO "NUL, CR or LF`},
		18: {"NOOP \x01", `NO "Unexpected character`},
		// A malformed line that ends with a literal announcement: the
		// literal is read and dropped, not run as commands.
		19: {"NOOP \"x {13+}\r\nLISTSCRIPTS\r\n", `NO "Unterminated quoted string"`},
		20: {"NOOP ( {14+}\r\nLOGOUT\r\nNOOP\r\n", `NO "Unexpected character`},
	}
	for i, tc := range cases {
		lines, final := c.cmd(tc.send)
		if !strings.HasPrefix(final, tc.want) || len(lines) != 0 {
			t.Errorf("case %d %q: got %q %q, want %q…", i, trunc(tc.send, 40), lines, final, tc.want)
		}
		c.expect(`NOOP "alive"`, `OK (TAG "alive")`)
	}
	c.send("\r\n\r\n") // empty lines are ignored
	c.expect("NOOP", "OK")
}

func TestLiteralLimits(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Config.MaxDiscard = 64 << 10 })
	t.Run("over the script size: read, dropped, refused", func(t *testing.T) {
		c := e.login(t)
		big := strings.Repeat("#", testLimit+1)
		c.expect(`PUTSCRIPT "big" `+literal(big), `NO (QUOTA/MAXSIZE) "Literal too large"`)
		c.expect(`CHECKSCRIPT `+literal(big), `NO (QUOTA/MAXSIZE)`)
		// Two literals, the second too large: the first is dropped too.
		c.expect(`PUTSCRIPT `+literal("big")+` `+literal(big), `NO (QUOTA/MAXSIZE)`)
		c.expect(`NOOP "alive"`, `OK (TAG "alive")`)
		if lines := c.expect("LISTSCRIPTS", "OK"); len(lines) != 0 {
			t.Errorf("scripts: %q", lines)
		}
	})
	t.Run("over the discard budget: BYE", func(t *testing.T) {
		c := e.login(t)
		c.send(fmt.Sprintf("PUTSCRIPT \"big\" {%d+}\r\n", 1<<20))
		if _, final := c.response(); final != `BYE (QUOTA/MAXSIZE) "Command too large"` {
			t.Errorf("got %q", final)
		}
		if !c.closed() {
			t.Error("still open")
		}
	})
	t.Run("before login: BYE at once", func(t *testing.T) {
		c := e.dial(t)
		c.send(fmt.Sprintf("AUTHENTICATE \"PLAIN\" {%d+}\r\n", 100<<10))
		if _, final := c.response(); final != `BYE (QUOTA/MAXSIZE) "Command too large"` {
			t.Errorf("got %q", final)
		}
	})
	t.Run("before login: small literal is fine", func(t *testing.T) {
		c := e.dial(t)
		c.expect(`NOOP `+literal("tag"), `OK (TAG "tag")`)
	})
	t.Run("long line: refused, connection lives", func(t *testing.T) {
		c := e.login(t)
		c.expect(`NOOP "`+strings.Repeat("x", DefaultMaxLineLength)+`"`, `NO "Line too long"`)
		// A long line ending in a literal: the literal is dropped as well.
		c.expect(`NOOP `+strings.Repeat("x", DefaultMaxLineLength)+` `+literal("LOGOUT"), `NO "Line too long"`)
		c.expect(`NOOP "alive"`, `OK (TAG "alive")`)
	})
	t.Run("long line before login: BYE", func(t *testing.T) {
		c := e.dial(t)
		c.send(`NOOP "` + strings.Repeat("x", 3*DefaultMaxLineLength) + "\"\r\n")
		if _, final := c.response(); final != `BYE (QUOTA/MAXSIZE) "Command too large"` {
			t.Errorf("got %q", final)
		}
	})
	t.Run("endless empty literals", func(t *testing.T) {
		c := e.login(t)
		c.send("NOOP" + strings.Repeat(" {0+}\r\n", 12000))
		if _, final := c.response(); !strings.HasPrefix(final, "BYE") {
			t.Errorf("got %q", final)
		}
	})
}
