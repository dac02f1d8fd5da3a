package imapd

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tidings/tidings/accounts"
)

// Defaults and bounds, after the RFCs and the reference notes.
const (
	DefaultAppendLimit     = 50 << 20         // bytes (APPENDLIMIT, RFC 7889); Postfix takes 10 MB, mox 100 MiB
	DefaultIdleTimeout     = 35 * time.Minute // RFC 9051 §5.4: an autologout timer of at least 30 minutes
	MinIdleTimeout         = 30 * time.Minute // RFC 9051 §5.4
	DefaultMaxConnsPerIP   = 50               // mail clients open several connections per account; offices share addresses
	DefaultMaxConnsPerUser = 20               // Thunderbird opens up to 5 per account; phones and webmail add more
	shutdownNotice         = "Server shutting down"
	changeBuffer           = 1024 // changes buffered per logged-in user before the bus marks it overflowed
)

// Config holds the IMAP limits.
type Config struct {
	AppendLimit     accounts.ByteSize `toml:"append_limit" doc:"Largest message a client may APPEND (advertised as APPENDLIMIT, RFC 7889)."`
	IdleTimeout     time.Duration     `toml:"idle_timeout" doc:"How long an authenticated connection may stay silent, in IDLE or between commands (at least 30m, RFC 9051 §5.4)."`
	MaxConnsPerIP   int               `toml:"max_conns_per_ip" doc:"Most simultaneous connections from one client address."`
	MaxConnsPerUser int               `toml:"max_conns_per_user" doc:"Most simultaneous logged-in sessions of one user."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{AppendLimit: DefaultAppendLimit, IdleTimeout: DefaultIdleTimeout,
		MaxConnsPerIP: DefaultMaxConnsPerIP, MaxConnsPerUser: DefaultMaxConnsPerUser}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, key, want string) {
		if !ok {
			errs = append(errs, fmt.Errorf("imap.%s: %s", key, want))
		}
	}
	check(c.AppendLimit >= 4096 && c.AppendLimit <= math.MaxUint32, "append_limit", "must be between 4KiB (the LITERAL- limit, RFC 7888) and 4GiB-1 (RFC 7889 uses a 32-bit number)")
	check(c.IdleTimeout >= MinIdleTimeout, "idle_timeout", "must be at least 30m (RFC 9051 §5.4)")
	check(c.MaxConnsPerIP >= 1, "max_conns_per_ip", "must be at least 1")
	check(c.MaxConnsPerUser >= 1, "max_conns_per_user", "must be at least 1")
	return errors.Join(errs...)
}
