package s2s

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidings/tidings/xmpp/streamreader"
)

// Config tunes federation.
type Config struct {
	Enabled            bool                `toml:"enabled" doc:"Federate with other XMPP servers (server-to-server, RFC 6120). Off: no s2s listener, remote addresses bounce with remote-server-not-found."`
	RequireValidCerts  bool                `toml:"require_valid_certs" doc:"Accept and open only streams whose peer certificate is valid for its domain (SASL EXTERNAL); no Server Dialback fallback."`
	Allow              []string            `toml:"allow" doc:"If not empty, the only remote domains federation is allowed with."`
	Block              []string            `toml:"block" doc:"Remote domains federation is refused with (in both directions)."`
	Bidi               bool                `toml:"bidi" doc:"Bidirectional streams (XEP-0288): offer them to servers that connect here and ask for them on streams opened from here, so one connection per domain pair carries stanzas both ways."`
	CAFile             string              `toml:"ca_file" doc:"PEM file of CA certificates trusted for peer certificates, in addition to the system's. Empty: the system's only."`
	ConnectTimeout     time.Duration       `toml:"connect_timeout" doc:"Time an outbound stream has to resolve, connect, secure and authenticate; stanzas queued meanwhile then bounce with remote-server-timeout."`
	NegotiationTimeout time.Duration       `toml:"negotiation_timeout" doc:"Time an inbound connection has to secure and authenticate its stream."`
	IdleTimeout        time.Duration       `toml:"idle_timeout" doc:"A stream that carried no stanza for this long is closed (reopened on demand)."`
	WriteTimeout       time.Duration       `toml:"write_timeout" doc:"Longest a write to a peer may block before the stream is closed."`
	MaxQueue           int                 `toml:"max_queue" doc:"Stanzas queued for one remote domain while its stream is being set up; more bounce."`
	MaxQueueBytes      int                 `toml:"max_queue_bytes" doc:"Bytes waiting to be written on one stream before the peer counts as too slow and the stream is closed."`
	RetryMin           time.Duration       `toml:"retry_min" doc:"Wait after the first failed connection to a domain before trying again (stanzas bounce meanwhile); doubles with each failure."`
	RetryMax           time.Duration       `toml:"retry_max" doc:"Longest wait between connection attempts to a failing domain."`
	PreAuth            streamreader.Limits `toml:"pre_auth" doc:"Limits before the peer is authenticated."`
	Limits             streamreader.Limits `toml:"limits" doc:"Limits on an authenticated server stream."`
}

// DefaultConfig returns the documented defaults. Sources:
// ../shared/reference/xmpp.md §8 and §12 (Prosody s2s_timeout 90 s,
// ejabberd s2s_max_retry_delay 300 s, Prosody read timeout 14 min).
func DefaultConfig() Config {
	pre := streamreader.DefaultPreAuth()
	pre.BytesPerSecond, pre.Burst = streamreader.S2SBytesPerSecond, streamreader.S2SBurst
	return Config{
		Enabled:            true,
		Bidi:               true,
		ConnectTimeout:     90 * time.Second,
		NegotiationTimeout: 90 * time.Second,
		IdleTimeout:        15 * time.Minute,
		WriteTimeout:       30 * time.Second,
		MaxQueue:           1000,
		MaxQueueBytes:      4 << 20,
		RetryMin:           5 * time.Second,
		RetryMax:           5 * time.Minute,
		PreAuth:            pre,
		Limits:             streamreader.DefaultS2S(),
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"negotiation_timeout", c.NegotiationTimeout},
		{"idle_timeout", c.IdleTimeout}, {"write_timeout", c.WriteTimeout}, {"retry_min", c.RetryMin}, {"retry_max", c.RetryMax}} {
		if d.v <= 0 {
			errs = append(errs, errors.New(d.name+" must be positive"))
		}
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, errors.New("retry_max must not be below retry_min"))
	}
	if c.MaxQueue < 1 {
		errs = append(errs, errors.New("max_queue must be at least 1"))
	}
	if c.MaxQueueBytes < 64<<10 {
		errs = append(errs, errors.New("max_queue_bytes must be at least 64KiB"))
	}
	if len(c.Allow) > 0 && len(c.Block) > 0 {
		errs = append(errs, errors.New("allow and block are exclusive: give one of them"))
	}
	for _, d := range append(slices.Clone(c.Allow), c.Block...) {
		if d == "" || strings.ContainsAny(d, "@/ ") {
			errs = append(errs, fmt.Errorf("%q is not a domain", d))
		}
	}
	if err := c.PreAuth.Validate(); err != nil {
		errs = append(errs, errors.New("pre_auth: "+err.Error()))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, errors.New("limits: "+err.Error()))
	}
	return errors.Join(errs...)
}

// allowed applies the allow or block list to a remote domain.
func (c Config) allowed(domain string) bool {
	domain = strings.ToLower(domain)
	if len(c.Allow) > 0 {
		return slices.ContainsFunc(c.Allow, func(d string) bool { return strings.EqualFold(d, domain) })
	}
	return !slices.ContainsFunc(c.Block, func(d string) bool { return strings.EqualFold(d, domain) })
}
