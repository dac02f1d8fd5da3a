package managesieve

import (
	"strings"
)

// command is one ManageSieve command. run answers it and reports whether
// the connection is over.
type command struct {
	auth bool // only after AUTHENTICATE (RFC 5804 §2)
	run  func(c *conn, args []arg) (quit bool)
}

// commands by upper-case name. Command names are case-insensitive atoms
// (RFC 5804 §4).
var commands map[string]command

func init() {
	commands = map[string]command{
		"AUTHENTICATE":   {run: (*conn).cmdAuthenticate}, // §2.1
		"STARTTLS":       {run: (*conn).cmdStartTLS},     // §2.2
		"LOGOUT":         {run: (*conn).cmdLogout},       // §2.3
		"CAPABILITY":     {run: (*conn).cmdCapability},   // §2.4
		"HAVESPACE":      {auth: true, run: (*conn).cmdHaveSpace},
		"PUTSCRIPT":      {auth: true, run: (*conn).cmdPutScript},
		"LISTSCRIPTS":    {auth: true, run: (*conn).cmdListScripts},
		"SETACTIVE":      {auth: true, run: (*conn).cmdSetActive},
		"GETSCRIPT":      {auth: true, run: (*conn).cmdGetScript},
		"DELETESCRIPT":   {auth: true, run: (*conn).cmdDeleteScript},
		"RENAMESCRIPT":   {auth: true, run: (*conn).cmdRenameScript},
		"CHECKSCRIPT":    {auth: true, run: (*conn).cmdCheckScript},
		"NOOP":           {run: (*conn).cmdNoop}, // §2.13
		"UNAUTHENTICATE": {auth: true, run: (*conn).cmdUnauthenticate},
	}
}

// dispatch runs one parsed command.
func (c *conn) dispatch(args []arg) (quit bool) {
	if args[0].kind != atomArg {
		return c.reply(respNO, "", "Expected a command name") != nil
	}
	name := strings.ToUpper(args[0].val)
	cmd, ok := commands[name]
	if !ok {
		c.log.Debug("unknown command", "cmd", trunc(args[0].val, 32))
		return c.reply(respNO, "", "Unknown command") != nil
	}
	c.log.Debug("command", append([]any{"cmd", name}, traceArgs(name, args[1:])...)...)
	if cmd.auth && !c.authed {
		// RFC 5804 §2: before authentication, servers MUST refuse the
		// other commands with NO.
		return c.reply(respNO, "", "Authenticate first") != nil
	}
	return cmd.run(c, args[1:])
}

// traceArgs is what the log shows of a command's arguments: never the
// SASL data, and of scripts only their size.
func traceArgs(name string, args []arg) []any {
	switch name {
	case "AUTHENTICATE":
		if len(args) > 0 {
			return []any{"mechanism", trunc(args[0].val, 32), "initial_response", len(args) > 1}
		}
	case "PUTSCRIPT":
		if len(args) == 2 {
			return []any{"name", trunc(args[0].val, 128), "size", len(args[1].val)}
		}
	case "CHECKSCRIPT":
		if len(args) == 1 {
			return []any{"size", len(args[0].val)}
		}
	case "HAVESPACE", "SETACTIVE", "GETSCRIPT", "DELETESCRIPT", "RENAMESCRIPT":
		names := make([]string, 0, len(args))
		for _, a := range args {
			names = append(names, trunc(a.val, 128))
		}
		return []any{"args", names}
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// stringArgs returns the values of args if there are n of them; a string
// may also come as an atom (some clients send bare names).
func stringArgs(args []arg, n int) ([]string, bool) {
	if len(args) != n {
		return nil, false
	}
	out := make([]string, n)
	for i, a := range args {
		out[i] = a.val
	}
	return out, true
}

// syntax answers a command with the wrong arguments.
func (c *conn) syntax(usage string) bool {
	return c.reply(respNO, "", "Syntax: "+usage) != nil
}
