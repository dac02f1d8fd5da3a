package managesieve

// cmdLogout: RFC 5804 §2.3 (erratum 7825): OK, then the server closes and
// ignores whatever the client sent after LOGOUT.
func (c *conn) cmdLogout(args []arg) bool {
	if len(args) != 0 {
		return c.syntax("LOGOUT")
	}
	if c.reply(respOK, "", "Logout completed") == nil {
		c.lingerClose()
	}
	return true
}

// cmdCapability: RFC 5804 §2.4.
func (c *conn) cmdCapability(args []arg) bool {
	if len(args) != 0 {
		return c.syntax("CAPABILITY")
	}
	return c.sendCapabilities("Capability completed") != nil
}

// cmdNoop: RFC 5804 §2.13. A string argument comes back in the TAG
// response code, which clients use to resynchronise (sieve-connect does
// after STARTTLS).
func (c *conn) cmdNoop(args []arg) bool {
	switch {
	case len(args) == 0:
		return c.reply(respOK, "", "Done") != nil
	case len(args) == 1 && args[0].kind == stringArg:
		return c.reply(respOK, tagCode(args[0].val), "Done") != nil
	}
	return c.syntax(`NOOP ["tag"]`)
}
