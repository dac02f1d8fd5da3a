package managesieve

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and bounds. RFC 5804 leaves most limits to the server.
const (
	DefaultPort            = 4190             // RFC 5804 §1.8
	DefaultMaxLineLength   = 8 << 10          // bytes of one command line, literals not counted
	DefaultMaxConnsPerIP   = 20               // a few clients per person; offices share addresses
	DefaultIdleTimeout     = 30 * time.Minute // RFC 5804 §1.2: an autologout timer of at least 30 minutes
	MinIdleTimeout         = 30 * time.Minute // RFC 5804 §1.2
	DefaultAuthTimeout     = 2 * time.Minute  // sieve-connect prompts for the password only after STARTTLS
	DefaultWriteTimeout    = 30 * time.Second
	DefaultMaxAuthFailures = 3       // then BYE, as in the RFC 5804 §2.1 example
	DefaultMaxDiscard      = 1 << 20 // bytes of a refused literal read and dropped to stay in step
	minLineLength          = 1 << 10 // a PLAIN initial response with a long password must fit
	maxQuoted              = 1024    // RFC 5804 §4 (erratum 2655): octets between the quotes
	maxArgs                = 8       // no command takes more than 2; room for tolerance
	shutdownText           = "Server shutting down"
	lingerTime             = 500 * time.Millisecond // reading what a client still sends after BYE
)

// Config holds the ManageSieve limits. Zero fields mean their default.
type Config struct {
	MaxLineLength     int           `toml:"max_line_length" doc:"Longest command line in bytes, not counting literals (scripts are sent as literals, limited by filters.max_script_size)."`
	MaxConnsPerIP     int           `toml:"max_conns_per_ip" doc:"Most simultaneous connections from one client address."`
	IdleTimeout       time.Duration `toml:"idle_timeout" doc:"How long a logged-in connection may stay silent (at least 30m, RFC 5804 §1.2)."`
	AuthTimeout       time.Duration `toml:"auth_timeout" doc:"Time a connection has to log in (STARTTLS and AUTHENTICATE) before it is closed."`
	WriteTimeout      time.Duration `toml:"write_timeout" doc:"Longest a write to a client may block before the connection is closed."`
	MaxAuthFailures   int           `toml:"max_auth_failures" doc:"Failed AUTHENTICATE commands on one connection before it is closed with BYE."`
	MaxDiscard        int           `toml:"max_discard" doc:"Bytes of a refused literal (a script over the size limit) read and dropped so the connection can go on; a larger one closes the connection."`
	AllowInsecureAuth bool          `toml:"allow_insecure_auth" doc:"Offer and accept AUTHENTICATE PLAIN before STARTTLS. Leave off outside tests: the password would cross the network in clear."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxLineLength: DefaultMaxLineLength, MaxConnsPerIP: DefaultMaxConnsPerIP,
		IdleTimeout: DefaultIdleTimeout, AuthTimeout: DefaultAuthTimeout, WriteTimeout: DefaultWriteTimeout,
		MaxAuthFailures: DefaultMaxAuthFailures, MaxDiscard: DefaultMaxDiscard}
}

// Validate reports every problem at once. Zero values are allowed (they
// mean the default).
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, key, want string) {
		if !ok {
			errs = append(errs, fmt.Errorf("managesieve.%s: %s", key, want))
		}
	}
	check(c.MaxLineLength == 0 || c.MaxLineLength >= minLineLength && c.MaxLineLength <= 1<<20,
		"max_line_length", "must be between 1KiB and 1MiB")
	check(c.MaxConnsPerIP >= 0, "max_conns_per_ip", "must not be negative")
	check(c.IdleTimeout == 0 || c.IdleTimeout >= MinIdleTimeout, "idle_timeout", "must be at least 30m (RFC 5804 §1.2)")
	check(c.AuthTimeout >= 0 && c.AuthTimeout <= time.Hour, "auth_timeout", "must be between 0 and 1h")
	check(c.WriteTimeout >= 0, "write_timeout", "must not be negative")
	check(c.MaxAuthFailures >= 0, "max_auth_failures", "must not be negative")
	check(c.MaxDiscard >= 0 && c.MaxDiscard <= 64<<20, "max_discard", "must be between 0 and 64MiB")
	return errors.Join(errs...)
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	pickInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pickDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pickInt(&c.MaxLineLength, d.MaxLineLength)
	pickInt(&c.MaxConnsPerIP, d.MaxConnsPerIP)
	pickInt(&c.MaxAuthFailures, d.MaxAuthFailures)
	pickInt(&c.MaxDiscard, d.MaxDiscard)
	pickDur(&c.IdleTimeout, d.IdleTimeout)
	pickDur(&c.AuthTimeout, d.AuthTimeout)
	pickDur(&c.WriteTimeout, d.WriteTimeout)
	return c
}
