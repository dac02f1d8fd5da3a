package managesieve

import (
	"bufio"
	"crypto/tls"
	"time"
)

// cmdStartTLS: RFC 5804 §2.2. OK, the TLS handshake, then the server
// re-issues its capabilities (without STARTTLS) and OK, unasked.
func (c *conn) cmdStartTLS(args []arg) bool {
	switch {
	case len(args) != 0:
		return c.syntax("STARTTLS")
	case c.authed:
		return c.reply(respNO, "", "STARTTLS is only valid before AUTHENTICATE") != nil
	case c.tls:
		return c.reply(respNO, "", "TLS is already active") != nil
	case c.srv.TLS == nil:
		return c.reply(respNO, "", "TLS is not available") != nil
	}
	if c.reply(respOK, "", "Begin TLS negotiation now") != nil {
		return true
	}
	if n := c.br.Buffered(); n > 0 {
		// The client must wait for the OK and the handshake (RFC 5804
		// §2.2); what it sent meanwhile was not protected by TLS and could
		// have been injected. It is dropped.
		c.log.Info("dropping data pipelined after STARTTLS", "bytes", n)
	}
	tc := tls.Server(c.raw, c.srv.TLS)
	tc.SetDeadline(c.authStart.Add(c.srv.cfg.AuthTimeout))
	if err := tc.HandshakeContext(c.ctx); err != nil {
		c.log.Info("TLS handshake failed", "err", err)
		return true
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	c.mu.Lock()
	c.nc, c.bw = tc, bufio.NewWriter(tc)
	c.mu.Unlock()
	c.br = bufio.NewReader(tc)
	c.tls = true
	return c.sendCapabilities("TLS negotiation successful") != nil
}
