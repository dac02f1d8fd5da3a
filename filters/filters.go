// Package filters runs each user's Sieve script at delivery and keeps the
// scripts.
//
// Implementation notes:
//   - The engine is filters/sieve (our own; see its package doc for why).
//     This package adds what needs the database and the rest of the server:
//     the per-user script store (table sieve_scripts, at most one active
//     script), the vacation memory (sieve_vacation), the extlists address
//     book (accounts contacts plus roster JIDs through [Roster]), and the
//     live-presence answer to notify_method_capability through [Notifier].
//   - [Filter.Evaluate] runs the active script for one recipient and returns
//     an [Outcome]: where the copies go (decided inside the delivery's
//     transaction) and the actions that create traffic (redirect, vacation,
//     notify), which mail/delivery performs only after commit.
//   - An xmpp: notice to the user's own JID goes to their notification
//     address when they set one ([Scripts.NotifyJID], table
//     filter_settings, edited on the webmail's settings page), so filters
//     always name the own JID and the setting decides where notices land.
//     That address is always allowed; other JIDs need Config.NotifyOthers.
//   - A script that fails at run time (limits, budget, errors) yields the
//     implicit keep and a log line: mail is never lost to a filter
//     (RFC 5228 §2.10.6).
//   - filters never sends mail or XMPP itself (ARCHITECTURE.md): XMPP is
//     reached through the [Notifier] interface, implemented over the XMPP
//     router in cmd/tidings, so mail and xmpp never import each other.
package filters

import (
	"errors"
	"fmt"
	"time"

	"github.com/tidings/tidings/filters/sieve"
	"github.com/tidings/tidings/migrations"
)

// Defaults for [Config].
const (
	DefaultMaxScripts    = 32
	DefaultMaxScriptSize = 64 << 10
	DefaultMaxActions    = 32
	DefaultMaxRedirects  = 4
	DefaultMaxNotifies   = 4
	DefaultRunTimeout    = 200 * time.Millisecond
	DefaultNotifyRate    = 30 // per user per hour
)

// Config holds the limits of user scripts. Zero fields mean their default.
type Config struct {
	MaxScripts    int           `toml:"max_scripts" doc:"Most scripts a user may keep (ManageSieve QUOTA/MAXSCRIPTS)."`
	MaxScriptSize int           `toml:"max_script_size" doc:"Largest script in bytes (ManageSieve QUOTA/MAXSIZE)."`
	MaxActions    int           `toml:"max_actions" doc:"Most actions (fileinto, keep, redirect, notify, vacation, reject) one run may take; more fails the run, which keeps the message in INBOX."`
	MaxRedirects  int           `toml:"max_redirects" doc:"Most redirects per message."`
	MaxNotifies   int           `toml:"max_notifies" doc:"Most notifications one run may send."`
	RunTimeout    time.Duration `toml:"run_timeout" doc:"Time budget of one script run; a run over budget keeps the message in INBOX."`
	NotifyRate    int           `toml:"notify_rate" doc:"Most XMPP notifications per user per hour; further ones are dropped (the mail is still delivered)."`
	NotifyOthers  bool          `toml:"notify_others" doc:"Let scripts notify XMPP addresses other than the user's own. Off by default: a filter could otherwise be used to spam strangers."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxScripts: DefaultMaxScripts, MaxScriptSize: DefaultMaxScriptSize,
		MaxActions: DefaultMaxActions, MaxRedirects: DefaultMaxRedirects, MaxNotifies: DefaultMaxNotifies,
		RunTimeout: DefaultRunTimeout, NotifyRate: DefaultNotifyRate}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"max_scripts", c.MaxScripts}, {"max_script_size", c.MaxScriptSize}, {"max_actions", c.MaxActions},
		{"max_redirects", c.MaxRedirects}, {"max_notifies", c.MaxNotifies}, {"notify_rate", c.NotifyRate}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", f.name))
		}
	}
	if c.MaxScriptSize > 1<<20 {
		errs = append(errs, errors.New("max_script_size is at most 1 MiB"))
	}
	if c.RunTimeout < 0 || c.RunTimeout > 10*time.Second {
		errs = append(errs, errors.New("run_timeout must be between 0 and 10s"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&c.MaxScripts, d.MaxScripts)
	pick(&c.MaxScriptSize, d.MaxScriptSize)
	pick(&c.MaxActions, d.MaxActions)
	pick(&c.MaxRedirects, d.MaxRedirects)
	pick(&c.MaxNotifies, d.MaxNotifies)
	pick(&c.NotifyRate, d.NotifyRate)
	if c.RunTimeout <= 0 {
		c.RunTimeout = d.RunTimeout
	}
	return c
}

// Check compiles src with cfg's limits, as Scripts.Put would.
func Check(cfg Config, src string) error {
	sc := NewScripts(nil, cfg)
	sc.SetCheck(compiler(cfg))
	return sc.Check(src)
}

// compiler compiles with the engine options cfg implies.
func compiler(cfg Config) func(src []byte) error {
	opts := engineOptions(cfg.withDefaults())
	return func(src []byte) error { _, err := sieve.Parse(src, opts); return err }
}

// engineOptions are the engine limits cfg (with defaults) sets.
func engineOptions(cfg Config) sieve.Options {
	opts := sieve.DefaultOptions()
	opts.MaxScriptSize = cfg.MaxScriptSize
	opts.MaxActions = cfg.MaxActions
	opts.MaxRedirects = cfg.MaxRedirects
	opts.MaxNotifies = cfg.MaxNotifies
	opts.Timeout = cfg.RunTimeout
	return opts
}

// NewScripts returns the script store with cfg's quotas. Scripts are
// compiled with the engine before they are stored.
func NewScripts(db *migrations.DB, cfg Config) *Scripts {
	cfg = cfg.withDefaults()
	return &Scripts{db: db, maxScripts: cfg.MaxScripts, maxSize: cfg.MaxScriptSize}
}
