package managesieve

import (
	"strings"
	"testing"
)

func TestAuthenticate(t *testing.T) {
	e := newEnv(t, nil)
	good := plainB64("", julietAddr, pw)
	t.Run("before TLS", func(t *testing.T) {
		c := e.dial(t)
		c.expect(`AUTHENTICATE "PLAIN" "`+good+`"`, `NO (ENCRYPT-NEEDED)`)
		c.expect(`AUTHENTICATE "PLAIN"`, `NO (ENCRYPT-NEEDED)`) // no challenge is sent
		c.expect("NOOP", "OK")
	})
	cases := []struct {
		name string
		cmd  string
		want string
	}{
		0:  {"good", `AUTHENTICATE "PLAIN" "` + good + `"`, "OK"},
		1:  {"atom mechanism", `authenticate plain "` + good + `"`, "OK"},
		2:  {"literal response", `AUTHENTICATE "PLAIN" ` + literal(good), "OK"},
		3:  {"authzid self", `AUTHENTICATE "PLAIN" "` + plainB64("Juliet@Capulet.example", julietAddr, pw) + `"`, "OK"},
		4:  {"case-insensitive user", `AUTHENTICATE "PLAIN" "` + plainB64("", "JULIET@capulet.example", pw) + `"`, "OK"},
		5:  {"wrong password", `AUTHENTICATE "PLAIN" "` + plainB64("", julietAddr, "wrong") + `"`, `NO "Authentication failed"`},
		6:  {"unknown user", `AUTHENTICATE "PLAIN" "` + plainB64("", "tybalt@capulet.example", pw) + `"`, `NO "Authentication failed"`},
		7:  {"other authzid", `AUTHENTICATE "PLAIN" "` + plainB64(romeoAddr, julietAddr, pw) + `"`, `NO "You may only act as yourself"`},
		8:  {"bad base64", `AUTHENTICATE "PLAIN" "!!!"`, `NO "Invalid base64`},
		9:  {"malformed", `AUTHENTICATE "PLAIN" "` + plainB64("", "", pw) + `"`, `NO "Malformed PLAIN message"`},
		10: {"weak mechanism", `AUTHENTICATE "DIGEST-MD5"`, `NO (AUTH-TOO-WEAK)`},
		11: {"unknown mechanism", `AUTHENTICATE "X-FOO" "abc"`, `NO "Unsupported mechanism`},
		12: {"no mechanism", `AUTHENTICATE`, `NO "Syntax`},
		13: {"three arguments", `AUTHENTICATE "PLAIN" "a" "b"`, `NO "Syntax`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t)
			c.startTLS()
			c.expect(tc.cmd, tc.want)
			if strings.HasPrefix(tc.want, "OK") {
				caps := parseCaps(t, c.expect("CAPABILITY", "OK"))
				if caps["OWNER"] != julietAddr {
					t.Errorf("case %d: OWNER %q", i, caps["OWNER"])
				}
				c.expect("LISTSCRIPTS", "OK")
			} else {
				c.expect("LISTSCRIPTS", `NO "Authenticate first"`)
			}
		})
	}
}

func TestAuthenticateContinuation(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	c.startTLS()
	// RFC 5804 §2.1: an empty challenge, answered by a string.
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	if l, _ := c.line(); l != `""` {
		t.Fatalf("challenge %q", l)
	}
	c.expect(`"*"`, `NO "Authentication cancelled"`)
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	c.line()
	c.expect("NOOP", `NO "Expected a string`)
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	c.line()
	c.expect(literal(plainB64("", julietAddr, pw)), "OK") // the form sieve-connect sends
	c.expect("LISTSCRIPTS", "OK")
}

func TestTooManyAuthFailures(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	c.startTLS()
	bad := `AUTHENTICATE "PLAIN" "` + plainB64("", julietAddr, "nope") + `"`
	c.expect(bad, "NO")
	c.expect(bad, "NO")
	c.expect(bad, `BYE "Too many failed authentication attempts"`)
	if !c.closed() {
		t.Error("connection open after BYE")
	}
}

func TestAccountStates(t *testing.T) {
	e := newEnv(t, nil)
	off := true
	if _, err := e.acc.UpdateUser(t.Context(), romeoAddr, accountsDisabled(&off)); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t)
	c.startTLS()
	c.expect(`AUTHENTICATE "PLAIN" "`+plainB64("", romeoAddr, pw)+`"`, `NO "Authentication failed"`)
}

func TestInsecureAuthAllowed(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Config.AllowInsecureAuth = true; s.TLS = nil })
	c := e.dial(t)
	if c.caps["SASL"] != "PLAIN" {
		t.Errorf("SASL %q", c.caps["SASL"])
	}
	if _, ok := c.caps["STARTTLS"]; ok {
		t.Error("STARTTLS offered without a TLS configuration")
	}
	c.expect("STARTTLS", `NO "TLS is not available"`)
	c.expect(`AUTHENTICATE "PLAIN" "`+plainB64("", julietAddr, pw)+`"`, "OK")
}
