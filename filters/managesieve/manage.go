package managesieve

import (
	"errors"
	"strconv"

	"github.com/tidings/tidings/filters"
)

// storeError answers a failed store call with the RFC 5804 §1.3 response
// code. The texts of the store's own errors are meant for users; anything
// else is logged and the client gets TRYLATER.
func (c *conn) storeError(op string, err error) bool {
	var code string
	switch {
	case errors.Is(err, filters.ErrNoScript):
		code = codeNonexistent
	case errors.Is(err, filters.ErrScriptExists):
		code = codeAlreadyExists
	case errors.Is(err, filters.ErrActive):
		code = codeActive
	case errors.Is(err, filters.ErrTooManyScripts):
		code = codeMaxScripts
	case errors.Is(err, filters.ErrScriptTooBig):
		code = codeMaxSize
	case errors.Is(err, filters.ErrBadName):
		return c.reply(respNO, "", err.Error()) != nil
	default:
		if c.ctx.Err() == nil {
			c.log.Error(op+" failed", "err", err)
		}
		return c.reply(respNO, codeTryLater, "Internal error; try again later") != nil
	}
	return c.reply(respNO, code, err.Error()) != nil
}

// cmdHaveSpace: RFC 5804 §2.5.
func (c *conn) cmdHaveSpace(args []arg) bool {
	if len(args) != 2 || args[1].kind != atomArg {
		return c.syntax(`HAVESPACE "name" size`)
	}
	// number = 1*DIGIT, a 32-bit unsigned number (RFC 5804 §4).
	size, err := strconv.ParseUint(args[1].val, 10, 32)
	if err != nil {
		return c.syntax(`HAVESPACE "name" size (size: a number below 2^32)`)
	}
	if err := filters.CheckName(args[0].val); err != nil {
		return c.storeError("HAVESPACE", err)
	}
	if err := c.srv.Scripts.HaveSpace(c.ctx, c.user.ID, args[0].val, int64(size)); err != nil {
		return c.storeError("HAVESPACE", err)
	}
	return c.reply(respOK, "", "Putscript would succeed") != nil
}

// cmdListScripts: RFC 5804 §2.7: one line per script, ACTIVE after the
// active one.
func (c *conn) cmdListScripts(args []arg) bool {
	if len(args) != 0 {
		return c.syntax("LISTSCRIPTS")
	}
	list, err := c.srv.Scripts.List(c.ctx, c.user.ID)
	if err != nil {
		return c.storeError("LISTSCRIPTS", err)
	}
	var b []byte
	for _, si := range list {
		b = appendString(b, si.Name)
		if si.Active {
			b = append(b, " ACTIVE"...)
		}
		b = append(b, "\r\n"...)
	}
	return c.send(appendResponse(b, respOK, "", "Listscripts completed")) != nil
}

// cmdSetActive: RFC 5804 §2.8; "" deactivates (OK even with none active).
func (c *conn) cmdSetActive(args []arg) bool {
	names, ok := stringArgs(args, 1)
	if !ok {
		return c.syntax(`SETACTIVE "name"`)
	}
	if err := c.srv.Scripts.Activate(c.ctx, c.user.ID, names[0]); err != nil {
		return c.storeError("SETACTIVE", err)
	}
	if names[0] == "" {
		return c.reply(respOK, "", "No script is active now") != nil
	}
	return c.reply(respOK, "", "Script activated") != nil
}

// cmdDeleteScript: RFC 5804 §2.10: not the active script (NO (ACTIVE)).
func (c *conn) cmdDeleteScript(args []arg) bool {
	names, ok := stringArgs(args, 1)
	if !ok {
		return c.syntax(`DELETESCRIPT "name"`)
	}
	if err := c.srv.Scripts.Delete(c.ctx, c.user.ID, names[0]); err != nil {
		return c.storeError("DELETESCRIPT", err)
	}
	return c.reply(respOK, "", "Script deleted") != nil
}

// cmdRenameScript: RFC 5804 §2.11; the active flag stays with the script.
func (c *conn) cmdRenameScript(args []arg) bool {
	names, ok := stringArgs(args, 2)
	if !ok {
		return c.syntax(`RENAMESCRIPT "old" "new"`)
	}
	if err := c.srv.Scripts.Rename(c.ctx, c.user.ID, names[0], names[1]); err != nil {
		return c.storeError("RENAMESCRIPT", err)
	}
	return c.reply(respOK, "", "Script renamed") != nil
}
