package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tidings/tidings/migrations"
)

// Domain is a hosted domain with its service switches.
type Domain struct {
	ID          int64     `json:"-"`
	Name        string    `json:"name"` // canonical A-label form
	MailEnabled bool      `json:"mail_enabled"`
	XMPPEnabled bool      `json:"xmpp_enabled"`
	Users       int       `json:"users"`
	Aliases     int       `json:"aliases"`
	CreatedAt   time.Time `json:"created_at"`
}

// Unicode returns the name for display.
func (d Domain) Unicode() string { return DomainUnicode(d.Name) }

// DomainSettings are the switches of a domain. In [Store.UpdateDomain] a nil
// field stays as it is.
type DomainSettings struct {
	MailEnabled *bool
	XMPPEnabled *bool
}

const domainCols = `d.id, d.name, d.mail_enabled, d.xmpp_enabled, d.created_at,
	(SELECT COUNT(*) FROM users u WHERE u.domain_id = d.id),
	(SELECT COUNT(*) FROM aliases a WHERE a.domain_id = d.id)`

func scanDomain(row interface{ Scan(...any) error }) (Domain, error) {
	var d Domain
	var created int64
	err := row.Scan(&d.ID, &d.Name, &d.MailEnabled, &d.XMPPEnabled, &created, &d.Users, &d.Aliases)
	d.CreatedAt = unix(created)
	return d, err
}

// AddDomain creates a domain. Switches left nil default to on.
func (s *Store) AddDomain(ctx context.Context, name string, set DomainSettings) (Domain, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return Domain{}, err
	}
	mail, xmpp := true, true
	if set.MailEnabled != nil {
		mail = *set.MailEnabled
	}
	if set.XMPPEnabled != nil {
		xmpp = *set.XMPPEnabled
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO domains (name, mail_enabled, xmpp_enabled, created_at) VALUES ($1, $2, $3, $4)",
			n, mail, xmpp, time.Now().Unix())
		if migrations.IsUniqueViolation(err) {
			return fmt.Errorf("domain %s: %w", n, ErrExists)
		}
		if err != nil {
			return err
		}
		return recordEvent(ctx, tx, EventDomainChanged, "", n)
	})
	if err != nil {
		return Domain{}, err
	}
	s.log.Info("domain added", "domain", n, "mail", mail, "xmpp", xmpp)
	return s.Domain(ctx, n)
}

// Domain returns one domain by name (any form).
func (s *Store) Domain(ctx context.Context, name string) (Domain, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return Domain{}, err
	}
	d, err := scanDomain(s.db.QueryRowContext(ctx, "SELECT "+domainCols+" FROM domains d WHERE d.name = $1", n))
	if errors.Is(err, sql.ErrNoRows) {
		return Domain{}, fmt.Errorf("domain %s: %w", n, ErrNotFound)
	}
	return d, err
}

// domainScope turns a list filter into a canonical domain name, checking
// that it exists; "" (all domains) stays "".
func (s *Store) domainScope(ctx context.Context, domain string) (string, error) {
	if domain == "" {
		return "", nil
	}
	d, err := s.Domain(ctx, domain)
	return d.Name, err
}

// Domains lists all domains by name.
func (s *Store) Domains(ctx context.Context) ([]Domain, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+domainCols+" FROM domains d ORDER BY d.name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDomain changes a domain's switches. Turning a service off ends the
// live sessions of that service in the domain (through the change feed).
func (s *Store) UpdateDomain(ctx context.Context, name string, set DomainSettings) (Domain, error) {
	n, err := NormalizeDomain(name)
	if err != nil {
		return Domain{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := s.domainID(ctx, tx, n)
		if err != nil {
			return err
		}
		if set.MailEnabled != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE domains SET mail_enabled = $1 WHERE id = $2", *set.MailEnabled, id); err != nil {
				return err
			}
		}
		if set.XMPPEnabled != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE domains SET xmpp_enabled = $1 WHERE id = $2", *set.XMPPEnabled, id); err != nil {
				return err
			}
		}
		return recordEvent(ctx, tx, EventDomainChanged, "", n)
	})
	if err != nil {
		return Domain{}, err
	}
	s.log.Info("domain updated", "domain", n)
	return s.Domain(ctx, n)
}

// DeleteDomain removes a domain. A domain that still has users or aliases is
// refused with ErrDomainInUse unless force is set; then they go with it.
func (s *Store) DeleteDomain(ctx context.Context, name string, force bool) error {
	n, err := NormalizeDomain(name)
	if err != nil {
		return err
	}
	var users []string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := s.domainID(ctx, tx, n)
		if err != nil {
			return err
		}
		if users, err = domainUsers(ctx, tx, id); err != nil {
			return err
		}
		var aliases int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM aliases WHERE domain_id = $1", id).Scan(&aliases); err != nil {
			return err
		}
		if !force && len(users)+aliases > 0 {
			return fmt.Errorf("domain %s: %w (%d users, %d aliases; delete them first or force)", n, ErrDomainInUse, len(users), aliases)
		}
		for _, u := range users {
			if err := recordEvent(ctx, tx, EventUserDeleted, u, n); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE id = $1", id); err != nil {
			return err
		}
		return recordEvent(ctx, tx, EventDomainChanged, "", n)
	})
	if err == nil {
		s.log.Info("domain deleted", "domain", n, "users_deleted", len(users))
	}
	return err
}

func domainUsers(ctx context.Context, tx *sql.Tx, domainID int64) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT u.localpart || '@' || d.name FROM users u
		JOIN domains d ON d.id = u.domain_id WHERE u.domain_id = $1`, domainID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
