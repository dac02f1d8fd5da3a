package main

import (
	"crypto/tls"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var e2eListensRE = regexp.MustCompile(`msg=listening service=(submission|imaps) addr=(\S+)`)

// TestEndToEndSMTPToIMAP: with the real binary, mail submitted over SMTP
// reaches an IMAP client that is IDLE in INBOX, pushed, and reads back
// intact.
func TestEndToEndSMTPToIMAP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	environ := testEnv(t, "TIDINGS_LISTEN_SUBMISSION=127.0.0.1:0", "TIDINGS_LISTEN_IMAPS=127.0.0.1:0")
	p := startServeProc(t, binary(t), environ)
	addr := map[string]string{}
	for _, m := range e2eListensRE.FindAllStringSubmatch(p.stderr.String(), -1) {
		addr[m[1]] = m[2]
	}
	for _, u := range []string{"juliet@capulet.example", "romeo@capulet.example"} {
		if r := runCmd(t, environ, strings.NewReader("correct horse battery\n"), "user", "add", u, "--password-stdin"); r.code != 0 {
			t.Fatal(r)
		}
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: true}

	exists := make(chan uint32, 10)
	c, err := imapclient.DialTLS(addr["imaps"], &imapclient.Options{TLSConfig: tlsCfg,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("romeo@capulet.example", "correct horse battery").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}

	s, err := smtp.DialStartTLS(addr["submission"], tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Auth(sasl.NewPlainClient("", "juliet@capulet.example", "correct horse battery")); err != nil {
		t.Fatal(err)
	}
	body := "From: Juliet <juliet@capulet.example>\r\nTo: romeo@capulet.example\r\nSubject: Balcony\r\n\r\nAt nine.\r\n.dot line\r\n"
	if err := s.SendMail("juliet@capulet.example", []string{"romeo@capulet.example"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}

	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no EXISTS pushed during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %d messages", err, len(msgs))
	}
	if env := msgs[0].Envelope; env == nil || env.Subject != "Balcony" || len(env.From) != 1 || env.From[0].Addr() != "juliet@capulet.example" {
		t.Errorf("envelope %+v", msgs[0].Envelope)
	}
	raw := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{}))
	if !strings.HasPrefix(raw, "Return-Path: <juliet@capulet.example>\r\nReceived: from ") || !strings.HasSuffix(raw, body) {
		t.Errorf("BODY[]:\n%s", raw)
	}
}
