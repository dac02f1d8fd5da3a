package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// outcome is what happened to one recipient in an attempt.
type outcome struct {
	code int    // SMTP reply code; 0 when no server answered
	text string // the reply or the local reason
	host string // the remote MTA, if one answered
}

func (o outcome) delivered() bool { return o.code >= 200 && o.code < 300 }
func (o outcome) permanent() bool { return o.code >= 500 }

// client is a minimal outbound SMTP client (RFC 5321). go-smtp's client
// cannot say EHLO with our name before STARTTLS, which many MX hosts
// require, so outbound speaks SMTP itself.
type client struct {
	conn    net.Conn
	tp      *textproto.Conn
	host    string
	ext     map[string]string
	timeout time.Duration
}

// errNext means: try the next address or host (RFC 5321 §5.1 "connection
// failures").
type errNext struct{ o outcome }

func (e errNext) Error() string { return e.o.text }

func (c *client) reply(expect int) (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	code, msg, err := c.tp.ReadResponse(expect)
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, te.Msg, err
	}
	return code, msg, err
}

func (c *client) cmd(expect int, line string) (int, string, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return 0, "", err
	}
	return c.reply(expect)
}

// open reads the greeting, says EHLO, and does STARTTLS when offered (or
// required: then the certificate is verified with verify).
func (c *client) open(hostname string, require bool, verify *tls.Config) error {
	if code, msg, err := c.reply(220); err != nil {
		return errNext{outcome{code: code, text: fmt.Sprintf("greeting: %d %s", code, msg), host: c.host}}
	}
	if err := c.ehlo(hostname); err != nil {
		return err
	}
	if _, ok := c.ext["STARTTLS"]; !ok {
		if require {
			return errNext{outcome{text: "STARTTLS required for this domain but not offered", host: c.host}}
		}
		return nil
	}
	if code, msg, err := c.cmd(220, "STARTTLS"); err != nil {
		return errNext{outcome{code: code, text: fmt.Sprintf("STARTTLS: %d %s", code, msg), host: c.host}}
	}
	cfg := &tls.Config{ServerName: c.host, InsecureSkipVerify: !require, MinVersion: tls.VersionTLS12}
	if require && verify != nil {
		cfg.RootCAs = verify.RootCAs
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return errNext{outcome{text: "TLS handshake: " + err.Error(), host: c.host}}
	}
	c.conn, c.tp = tc, textproto.NewConn(tc)
	return c.ehlo(hostname) // RFC 3207 §4.2: forget what was learnt before TLS
}

func (c *client) ehlo(hostname string) error {
	code, msg, err := c.cmd(250, "EHLO "+hostname)
	if err != nil {
		return errNext{outcome{code: code, text: fmt.Sprintf("EHLO: %d %s", code, msg), host: c.host}}
	}
	c.ext = map[string]string{}
	for _, line := range strings.Split(msg, "\n")[1:] {
		k, v, _ := strings.Cut(line, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	return nil
}

// deliver runs one mail transaction and returns each recipient's outcome.
func (c *client) deliver(sender string, rcpts []string, body []byte) []outcome {
	out := make([]outcome, len(rcpts))
	fill := func(o outcome) []outcome {
		for i := range out {
			if out[i].code == 0 || out[i].delivered() {
				out[i] = o
			}
		}
		return out
	}
	mail := "MAIL FROM:<" + sender + ">"
	if _, ok := c.ext["SIZE"]; ok {
		mail += " SIZE=" + strconv.Itoa(len(body))
	}
	if _, ok := c.ext["8BITMIME"]; ok {
		mail += " BODY=8BITMIME"
	}
	if code, msg, err := c.cmd(250, mail); err != nil {
		return fill(c.outcome(code, msg, err))
	}
	accepted := 0
	for i, r := range rcpts {
		code, msg, err := c.cmd(250, "RCPT TO:<"+r+">")
		out[i] = c.outcome(code, msg, err)
		if err == nil {
			accepted++
		}
	}
	if accepted == 0 {
		c.cmd(250, "RSET")
		return out
	}
	if code, msg, err := c.cmd(354, "DATA"); err != nil {
		return fill(c.outcome(code, msg, err))
	}
	w := c.tp.DotWriter()
	if _, err := w.Write(body); err != nil {
		return fill(c.outcome(0, "", err))
	}
	if err := w.Close(); err != nil {
		return fill(c.outcome(0, "", err))
	}
	code, msg, err := c.reply(250)
	// Recipients refused at RCPT keep their own outcome.
	for i := range out {
		if out[i].delivered() {
			out[i] = c.outcome(code, msg, err)
		}
	}
	return out
}

func (c *client) outcome(code int, msg string, err error) outcome {
	if code == 0 && err != nil {
		return outcome{text: "connection lost: " + err.Error(), host: c.host}
	}
	return outcome{code: code, text: fmt.Sprintf("%d %s", code, strings.ReplaceAll(msg, "\n", " ")), host: c.host}
}

func (c *client) quit() {
	c.cmd(221, "QUIT")
	c.conn.Close()
}

// dial connects to addr:port and starts a client.
func dial(ctx context.Context, host, addr string, port int, connect, command time.Duration) (*client, error) {
	d := net.Dialer{Timeout: connect}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, tp: textproto.NewConn(conn), host: host, timeout: command}, nil
}
