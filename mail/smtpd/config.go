// Package smtpd is the SMTP server: MX on port 25 for mail to local
// domains, and submission on 587 (STARTTLS) and 465 (implicit TLS) for
// authenticated users. It implements go-smtp's Backend and Session and
// hands accepted mail to mail/delivery.
//
// Implementation notes:
//   - 250 after DATA is sent only when the message is committed in the
//     store (store.DeliverOptions.AllOrNothing): nothing acknowledged is
//     lost, nothing is half-accepted.
//   - Open relay: RCPT for a non-local domain needs an authenticated
//     session (554 5.7.1 otherwise; RFC 5321 §3.6.2). Addresses are only
//     ever looked up, never rewritten, so %-hacks, bang paths, quoted local
//     parts and source routes cannot route anywhere; IP literals are never
//     local.
//   - SMTP smuggling (CVE-2023-51764): go-smtp ends DATA only at
//     CRLF.CRLF but passes bare CR and bare LF through; the data reader
//     refuses any (554 5.6.0), before anything is committed.
//   - Submission (RFC 6409, RFC 8314): AUTH is offered only over TLS;
//     MAIL FROM and the From header must be addresses the user owns (own
//     address or alias; 553 5.7.1).
//   - Limits: message size (SIZE, 552 5.3.4), recipients, line length,
//     timeouts, connections per client address (421 4.7.0 at accept),
//     errors per connection, and loops (more than MaxReceived Received
//     header fields: 554 5.4.6). Failed AUTH goes through the shared
//     throttle of accounts.
//   - Remote recipients are accepted from authenticated users only once the
//     outbound queue exists; until then they get 451 4.4.0.
package smtpd

import (
	"errors"
	"fmt"
	"time"

	"github.com/tidings/tidings/accounts"
)

// Defaults, after Postfix (mail_params.h) and the reference notes.
const (
	DefaultMaxMessageSize = 50 << 20         // bytes; Postfix 10 MB, mox 100 MiB
	DefaultMaxRecipients  = 1000             // Postfix smtpd_recipient_limit
	DefaultMaxLineLength  = 4096             // RFC 5321 §4.5.3.1.6 says 1000; real mail is longer
	DefaultTimeout        = 5 * time.Minute  // Postfix smtpd_timeout 300 s; RFC 5321 §4.5.3.2
	DefaultMaxConnsPerIP  = 20               // Postfix allows 50 per client
	DefaultMaxErrors      = 20               // Postfix smtpd_hard_error_limit
	DefaultMaxReceived    = 50               // maddy max_received
	shutdownGrace         = 10 * time.Second // for transactions in flight at shutdown
)

// Config holds the SMTP limits.
type Config struct {
	MaxMessageSize accounts.ByteSize `toml:"max_message_size" doc:"Largest message accepted (advertised with SIZE; larger gets 552 5.3.4)."`
	MaxRecipients  int               `toml:"max_recipients" doc:"Most recipients per message."`
	MaxLineLength  int               `toml:"max_line_length" doc:"Longest command or message line in bytes."`
	ReadTimeout    time.Duration     `toml:"read_timeout" doc:"How long to wait for the client's next command or data."`
	WriteTimeout   time.Duration     `toml:"write_timeout" doc:"How long a reply may take to send."`
	MaxConnsPerIP  int               `toml:"max_conns_per_ip" doc:"Most simultaneous connections from one client address."`
	MaxErrors      int               `toml:"max_errors" doc:"Errors after which a connection is closed."`
	MaxReceived    int               `toml:"max_received" doc:"Messages with more Received header fields are refused as looping (554 5.4.6)."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		MaxMessageSize: DefaultMaxMessageSize, MaxRecipients: DefaultMaxRecipients, MaxLineLength: DefaultMaxLineLength,
		ReadTimeout: DefaultTimeout, WriteTimeout: DefaultTimeout, MaxConnsPerIP: DefaultMaxConnsPerIP,
		MaxErrors: DefaultMaxErrors, MaxReceived: DefaultMaxReceived,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, key, want string) {
		if !ok {
			errs = append(errs, fmt.Errorf("smtp.%s: %s", key, want))
		}
	}
	check(c.MaxMessageSize >= 1024, "max_message_size", "must be at least 1KiB")
	check(c.MaxRecipients >= 1, "max_recipients", "must be at least 1")
	check(c.MaxLineLength >= 1000, "max_line_length", "must be at least 1000 (RFC 5321 §4.5.3.1.6)")
	check(c.ReadTimeout >= time.Second && c.WriteTimeout >= time.Second, "read_timeout/write_timeout", "must be at least 1s")
	check(c.MaxConnsPerIP >= 1, "max_conns_per_ip", "must be at least 1")
	check(c.MaxErrors >= 1, "max_errors", "must be at least 1")
	check(c.MaxReceived >= 10, "max_received", "must be at least 10")
	return errors.Join(errs...)
}
