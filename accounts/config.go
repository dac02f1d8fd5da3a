package accounts

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for [Config].
const (
	// MinSCRAMIterations is the floor RFC 7677 §4 sets ("at least 4096").
	MinSCRAMIterations = 4096
	// DefaultSCRAMIterations costs a few milliseconds per login on one core.
	DefaultSCRAMIterations = 10000
	DefaultMinPassword     = 10
	// maxPassword bounds the work a login can ask of PBKDF2 and the memory
	// of a request; no real password is longer.
	maxPassword = 1024
)

// Config tunes the account store. [DefaultConfig] gives every field a value.
type Config struct {
	SCRAMIterations   int            `toml:"scram_iterations" doc:"PBKDF2 iteration count for new SCRAM-SHA-1/SCRAM-SHA-256 credentials (at least 4096, RFC 7677). Existing passwords keep theirs until changed."`
	MinPasswordLength int            `toml:"min_password_length" doc:"Shortest password accepted when a password is set (in characters)."`
	DefaultQuota      ByteSize       `toml:"default_quota" doc:"Mailbox quota for new users, e.g. \"2GiB\"; \"0\" means unlimited."`
	Throttle          ThrottleConfig `toml:"throttle" doc:"The failed-login throttle shared by SMTP, IMAP, XMPP, ManageSieve and webmail."`
}

// ThrottleConfig tunes the failed-login throttle. A key (a client address, or
// an account) may fail Free times within Window without delay; after that
// each failure blocks the key for BaseDelay, doubling per failure up to
// MaxDelay. Keys are forgotten Window after their last failure.
type ThrottleConfig struct {
	IPFree        int           `toml:"ip_free" doc:"Failed logins allowed from one client address (IPv6: its /64) before delays start."`
	AccountFree   int           `toml:"account_free" doc:"Failed logins allowed against one account (from anywhere) before delays start."`
	BaseDelay     time.Duration `toml:"base_delay" doc:"First delay after the free failures are used up; doubles with each further failure."`
	MaxDelay      time.Duration `toml:"max_delay" doc:"Longest delay imposed on a client address."`
	AccountMax    time.Duration `toml:"account_max_delay" doc:"Longest delay imposed on an account (kept short: attackers can cause it, the owner suffers it)."`
	Window        time.Duration `toml:"window" doc:"How long failures are remembered after the last one."`
	MaxTrackedKey int           `toml:"max_tracked" doc:"Most addresses and accounts tracked at once (memory bound)."`
}

// DefaultConfig returns the defaults documented in the sample config.
func DefaultConfig() Config {
	return Config{
		SCRAMIterations:   DefaultSCRAMIterations,
		MinPasswordLength: DefaultMinPassword,
		Throttle: ThrottleConfig{
			IPFree:        5,
			AccountFree:   10,
			BaseDelay:     2 * time.Second, // Dovecot's auth penalty starts at 2 s
			MaxDelay:      5 * time.Minute,
			AccountMax:    time.Minute,
			Window:        15 * time.Minute,
			MaxTrackedKey: 100000,
		},
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.SCRAMIterations < MinSCRAMIterations {
		add("accounts.scram_iterations: %d is below the minimum of %d (RFC 7677)", c.SCRAMIterations, MinSCRAMIterations)
	}
	if c.MinPasswordLength < 1 || c.MinPasswordLength > maxPassword {
		add("accounts.min_password_length: must be between 1 and %d", maxPassword)
	}
	if c.DefaultQuota < 0 {
		add("accounts.default_quota: must not be negative")
	}
	t := c.Throttle
	if t.IPFree < 0 || t.AccountFree < 0 {
		add("accounts.throttle: ip_free and account_free must not be negative")
	}
	if t.BaseDelay <= 0 || t.MaxDelay < t.BaseDelay || t.AccountMax < t.BaseDelay {
		add("accounts.throttle: need 0 < base_delay <= max_delay and base_delay <= account_max_delay")
	}
	if t.Window <= 0 {
		add("accounts.throttle.window: must be positive")
	}
	if t.MaxTrackedKey < 100 {
		add("accounts.throttle.max_tracked: must be at least 100")
	}
	return errors.Join(errs...)
}
