package web

import (
	"errors"
	"fmt"
	"time"

	"github.com/tidings/tidings/accounts"
)

// Config is the [webmail] section.
type Config struct {
	SessionLifetime time.Duration     `toml:"session_lifetime" doc:"A browser session ends this long after login, however active."`
	IdleTimeout     time.Duration     `toml:"idle_timeout" doc:"A browser session ends after this long without a request."`
	PageSize        int               `toml:"page_size" doc:"Messages per page of the message list."`
	MaxUpload       accounts.ByteSize `toml:"max_upload" doc:"Largest request body, e.g. \"60MiB\" (compose with attachments, vCard and mail imports); mail is also bounded by smtp.max_message_size."`
	ACME            bool              `toml:"acme" doc:"Get the HTTPS certificate from Let's Encrypt (ACME, TLS-ALPN and HTTP challenges on listen.https and listen.http) for hostname and every mail domain's webmail name, instead of tls.cert_file or the self-signed one."`
	ACMEEmail       string            `toml:"acme_email" doc:"Contact address given to the ACME CA."`
	ACMEDirectory   string            `toml:"acme_directory" doc:"ACME directory URL; empty means Let's Encrypt production."`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		SessionLifetime: 7 * 24 * time.Hour,
		IdleTimeout:     8 * time.Hour,
		PageSize:        50,
		MaxUpload:       60 << 20,
	}
}

// Validate reports every invalid value.
func (c Config) Validate() error {
	var errs []error
	if c.SessionLifetime < time.Minute {
		errs = append(errs, errors.New("webmail.session_lifetime must be at least 1m"))
	}
	if c.IdleTimeout < time.Minute {
		errs = append(errs, errors.New("webmail.idle_timeout must be at least 1m"))
	}
	if c.PageSize < 5 || c.PageSize > 1000 {
		errs = append(errs, fmt.Errorf("webmail.page_size must be between 5 and 1000, not %d", c.PageSize))
	}
	if c.MaxUpload < 1<<20 {
		errs = append(errs, errors.New("webmail.max_upload must be at least 1048576 (1 MiB)"))
	}
	return errors.Join(errs...)
}
