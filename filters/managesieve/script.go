package managesieve

import (
	"errors"
	"unicode/utf8"

	"github.com/tidings/tidings/filters"
)

// checkSource runs the checks PUTSCRIPT and CHECKSCRIPT share: UTF-8 (Sieve
// scripts are UTF-8, RFC 5228 §2.2) and the engine's compile, whose error
// (line and column first) goes to the client as it is, as a literal when
// it spans lines (RFC 5804 §2.6). ok is false if the command was answered.
func (c *conn) checkSource(src string) (quit, ok bool) {
	if !utf8.ValidString(src) {
		return c.reply(respNO, "", "The script is not valid UTF-8") != nil, false
	}
	if err := c.srv.Scripts.Check(src); err != nil {
		if errors.Is(err, filters.ErrScriptTooBig) {
			return c.reply(respNO, codeMaxSize, err.Error()) != nil, false
		}
		return c.reply(respNO, "", err.Error()) != nil, false
	}
	return false, true
}

// cmdPutScript: RFC 5804 §2.6: compiled first; a script that does not
// compile is not stored and the old one of that name stays.
func (c *conn) cmdPutScript(args []arg) bool {
	if len(args) != 2 || args[1].kind != stringArg {
		return c.syntax(`PUTSCRIPT "name" {size+} script`)
	}
	name, src := args[0].val, args[1].val
	if err := filters.CheckName(name); err != nil {
		return c.storeError("PUTSCRIPT", err)
	}
	if src == "" {
		return c.reply(respNO, "", "Empty script; use DELETESCRIPT to remove one") != nil // §2.6: SHOULD be refused
	}
	if quit, ok := c.checkSource(src); !ok {
		return quit
	}
	// Put compiles again; its errors are now the store's (quota, name).
	if err := c.srv.Scripts.Put(c.ctx, c.user.ID, name, src); err != nil {
		return c.storeError("PUTSCRIPT", err)
	}
	c.log.Info("script stored", "name", name, "size", len(src))
	return c.reply(respOK, "", "Script stored") != nil
}

// cmdCheckScript: RFC 5804 §2.12: PUTSCRIPT's checks without storing.
func (c *conn) cmdCheckScript(args []arg) bool {
	if len(args) != 1 || args[0].kind != stringArg {
		return c.syntax("CHECKSCRIPT {size+} script")
	}
	if quit, ok := c.checkSource(args[0].val); !ok {
		return quit
	}
	return c.reply(respOK, "", "Script is valid") != nil
}

// cmdGetScript: RFC 5804 §2.9: the script as a literal, CRLF, OK.
func (c *conn) cmdGetScript(args []arg) bool {
	names, ok := stringArgs(args, 1)
	if !ok {
		return c.syntax(`GETSCRIPT "name"`)
	}
	src, err := c.srv.Scripts.Get(c.ctx, c.user.ID, names[0])
	if err != nil {
		return c.storeError("GETSCRIPT", err)
	}
	b := appendLiteral(make([]byte, 0, len(src)+32), src)
	b = append(b, "\r\n"...)
	return c.send(appendResponse(b, respOK, "", "Getscript completed")) != nil
}
