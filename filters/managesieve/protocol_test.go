package managesieve

import (
	"context"
	"strings"
	"testing"

	"github.com/tidings/tidings/migrations"
	"github.com/tidings/tidings/migrations/dbtest"
)

func TestGreetingAndCapabilities(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	want := map[string]string{"IMPLEMENTATION": "Tidings", "SASL": "", "SIEVE": "fileinto vacation enotify",
		"NOTIFY": "mailto xmpp", "MAXREDIRECTS": "4", "STARTTLS": "", "UNAUTHENTICATE": "", "VERSION": "1.0"}
	if !equalMaps(c.caps, want) {
		t.Errorf("before TLS: %q\nwant %q", c.caps, want)
	}
	// CAPABILITY gives the same, with its own OK.
	lines := c.expect("capability", "OK")
	if got := parseCaps(t, lines); !equalMaps(got, want) {
		t.Errorf("CAPABILITY: %q", got)
	}
	c.startTLS()
	want["SASL"] = "PLAIN"
	delete(want, "STARTTLS") // RFC 5804 §2.2
	if !equalMaps(c.caps, want) {
		t.Errorf("after STARTTLS: %q\nwant %q", c.caps, want)
	}
	c.expect("STARTTLS", "NO")
	c.expect(`AUTHENTICATE "PLAIN" "`+plainB64("", julietAddr, pw)+`"`, "OK")
	want["OWNER"] = julietAddr
	if got := parseCaps(t, c.expect("CAPABILITY", "OK")); !equalMaps(got, want) {
		t.Errorf("after login: %q\nwant %q", got, want)
	}
	c.expect("LOGOUT", `OK "Logout completed"`)
	if !c.closed() {
		t.Error("connection open after LOGOUT")
	}
}

func TestNoNotifyWithoutEnotify(t *testing.T) {
	e := newEnv(t, func(s *Server) { s.Extensions = []string{"fileinto"}; s.Limits.MaxRedirects = 7 })
	c := e.dial(t)
	if _, ok := c.caps["NOTIFY"]; ok || c.caps["MAXREDIRECTS"] != "7" || c.caps["SIEVE"] != "fileinto" {
		t.Errorf("capabilities %q", c.caps)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestStartTLSDropsPipelinedCommands(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	// A command injected behind STARTTLS in clear text must not run.
	c.send("STARTTLS\r\nAUTHENTICATE \"PLAIN\" \"" + plainB64("", julietAddr, pw) + "\"\r\n")
	if _, final := c.response(); !strings.HasPrefix(final, "OK") {
		t.Fatalf("STARTTLS: %q", final)
	}
	c.finishTLS()
	c.expect("NOOP \"x\"", `OK (TAG "x") "Done"`)
	c.expect("LISTSCRIPTS", `NO "Authenticate first"`)
}

func TestCommandsBeforeLogin(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(t)
	for _, cmd := range []string{`LISTSCRIPTS`, `GETSCRIPT "a"`, `PUTSCRIPT "a" {5+}` + "\r\nkeep;",
		`HAVESPACE "a" 10`, `SETACTIVE ""`, `DELETESCRIPT "a"`, `RENAMESCRIPT "a" "b"`, `CHECKSCRIPT "keep;"`,
		`UNAUTHENTICATE`} {
		c.expect(cmd, `NO "Authenticate first"`)
	}
	c.expect("NOOP", `OK "Done"`)
	c.expect(`NOOP "tag \"quoted\""`, `OK (TAG "tag \"quoted\"") "Done"`)
	c.expect("FROBNICATE", `NO "Unknown command"`)
}

func TestScriptCommands(t *testing.T) {
	dbtest.Each(t, testScriptCommands)
}

func testScriptCommands(t *testing.T, db *migrations.DB) {
	e := newEnvDB(t, db, nil)
	c := e.login(t)
	steps := []struct {
		cmd, want string
		lines     []string
	}{
		0:  {cmd: `LISTSCRIPTS`, want: "OK"},
		1:  {cmd: `HAVESPACE "vacation" 100`, want: "OK"},
		2:  {cmd: `HAVESPACE "vacation" 4096`, want: `NO (QUOTA/MAXSIZE)`},
		3:  {cmd: `HAVESPACE "vacation" 99999999999`, want: `NO "Syntax`},
		4:  {cmd: `HAVESPACE "a/b" 10`, want: `NO "invalid script name`},
		5:  {cmd: `PUTSCRIPT "vacation" ` + literal("require \"vacation\";\r\nvacation \"away\";\r\n"), want: "OK"},
		6:  {cmd: `PUTSCRIPT "main" {6}` + "\r\nkeep;\n", want: "OK"}, // synchronising form, tolerated
		7:  {cmd: `PUTSCRIPT "quoted" "keep;"`, want: "OK"},
		8:  {cmd: `PUTSCRIPT "fourth" "keep;"`, want: `NO (QUOTA/MAXSCRIPTS)`},
		9:  {cmd: `HAVESPACE "fourth" 10`, want: `NO (QUOTA/MAXSCRIPTS)`},
		10: {cmd: `HAVESPACE "quoted" 10`, want: `OK`}, // replacing needs no new slot
		11: {cmd: `LISTSCRIPTS`, want: "OK", lines: []string{`"main"`, `"quoted"`, `"vacation"`}},
		12: {cmd: `SETACTIVE "vacation"`, want: "OK"},
		13: {cmd: `LISTSCRIPTS`, want: "OK", lines: []string{`"main"`, `"quoted"`, `"vacation" ACTIVE`}},
		14: {cmd: `SETACTIVE "nope"`, want: `NO (NONEXISTENT)`},
		15: {cmd: `GETSCRIPT "main"`, want: "OK", lines: []string{"keep;\n"}},
		16: {cmd: `GETSCRIPT "nope"`, want: `NO (NONEXISTENT)`},
		17: {cmd: `DELETESCRIPT "vacation"`, want: `NO (ACTIVE)`},
		18: {cmd: `DELETESCRIPT "nope"`, want: `NO (NONEXISTENT)`},
		19: {cmd: `RENAMESCRIPT "vacation" "away"`, want: "OK"},
		20: {cmd: `RENAMESCRIPT "away" "main"`, want: `NO (ALREADYEXISTS)`},
		21: {cmd: `RENAMESCRIPT "nope" "other"`, want: `NO (NONEXISTENT)`},
		22: {cmd: `RENAMESCRIPT "main" ""`, want: `NO "invalid script name`},
		23: {cmd: `LISTSCRIPTS`, want: "OK", lines: []string{`"away" ACTIVE`, `"main"`, `"quoted"`}},
		24: {cmd: `SETACTIVE ""`, want: "OK"},
		25: {cmd: `SETACTIVE ""`, want: "OK"}, // none active: still OK (RFC 5804 §2.8)
		26: {cmd: `DELETESCRIPT "away"`, want: "OK"},
		27: {cmd: `LISTSCRIPTS`, want: "OK", lines: []string{`"main"`, `"quoted"`}},
		28: {cmd: `PUTSCRIPT "bad" ` + literal("# comment\r\nbogus;\r\n"), want: `NO "line 2:1: unknown command \"bogus\""`},
		29: {cmd: `PUTSCRIPT "bad" ` + literal("multi"), want: "NO line 1:1: first problem\r\nline 3:5: second problem"},
		30: {cmd: `CHECKSCRIPT ` + literal("bogus"), want: `NO "line 2:1`},
		31: {cmd: `CHECKSCRIPT ` + literal("keep;"), want: "OK"},
		32: {cmd: `CHECKSCRIPT "keep;"`, want: "OK"},
		33: {cmd: `PUTSCRIPT "empty" ""`, want: `NO "Empty script`},
		34: {cmd: `PUTSCRIPT "bin" ` + literal("keep;\xff"), want: `NO "The script is not valid UTF-8"`},
		35: {cmd: `PUTSCRIPT "quoted" ` + literal(strings.Repeat("#", testLimit)), want: "OK"}, // exactly the limit
		36: {cmd: `GETSCRIPT "quoted"`, want: "OK", lines: []string{strings.Repeat("#", testLimit)}},
		37: {cmd: `PUTSCRIPT "main" "bogus"`, want: `NO "line 2:1`},
		38: {cmd: `GETSCRIPT "main"`, want: "OK", lines: []string{"keep;\n"}}, // the failed PUTSCRIPT left it alone
		39: {cmd: `putscript "ünïcødé" "keep;"`, want: "OK"},
		40: {cmd: `GETSCRIPT ` + literal("ünïcødé"), want: "OK", lines: []string{"keep;"}},
		41: {cmd: `LISTSCRIPTS`, want: "OK", lines: []string{`"main"`, `"quoted"`, `"ünïcødé"`}},
		42: {cmd: `PUTSCRIPT "x"`, want: `NO "Syntax`},
		43: {cmd: `GETSCRIPT`, want: `NO "Syntax`},
		44: {cmd: `AUTHENTICATE "PLAIN" "` + plainB64("", julietAddr, pw) + `"`, want: `NO "Already authenticated"`},
		45: {cmd: `STARTTLS`, want: "NO"},
	}
	for i, s := range steps {
		lines, final := c.cmd(s.cmd)
		if !strings.HasPrefix(final, s.want) {
			t.Fatalf("step %d %s: got %q, want %q…", i, trunc(s.cmd, 60), final, s.want)
		}
		if s.lines != nil && strings.Join(lines, "|") != strings.Join(s.lines, "|") {
			t.Errorf("step %d %s: lines %q, want %q", i, trunc(s.cmd, 60), lines, s.lines)
		}
	}
	// The store agrees.
	list, err := e.scripts.List(context.Background(), e.juliet.ID)
	if err != nil || len(list) != 3 {
		t.Errorf("store: %v %v", list, err)
	}
}

func TestUnauthenticate(t *testing.T) {
	e := newEnv(t, nil)
	c := e.login(t)
	c.expect(`PUTSCRIPT "s" "keep;"`, "OK")
	c.expect("UNAUTHENTICATE", "OK")
	if _, ok := c.caps["OWNER"]; ok {
		t.Error("OWNER before CAPABILITY")
	}
	if caps := parseCaps(t, c.expect("CAPABILITY", "OK")); caps["OWNER"] != "" || caps["SASL"] != "PLAIN" {
		t.Errorf("capabilities after UNAUTHENTICATE: %q", caps)
	}
	c.expect("LISTSCRIPTS", `NO "Authenticate first"`)
	c.expect("STARTTLS", "NO") // TLS stays
	c.expect(`AUTHENTICATE "PLAIN" "`+plainB64("", romeoAddr, pw)+`"`, "OK")
	if lines := c.expect("LISTSCRIPTS", "OK"); len(lines) != 0 {
		t.Errorf("romeo sees juliet's scripts: %q", lines)
	}
}
