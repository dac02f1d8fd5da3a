package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidings/tidings/migrations"
)

// Alias is an extra mail address that delivers to a user. Aliases are
// mail-only: they are not Jabber IDs and cannot log in.
type Alias struct {
	Address   string    `json:"address"`
	Target    string    `json:"target"` // the user's address
	CreatedAt time.Time `json:"created_at"`
}

// AddAlias creates alias → target. The alias's domain must be hosted here,
// and the address must not already be a user or an alias.
func (s *Store) AddAlias(ctx context.Context, alias, target string) (Alias, error) {
	addr, local, domain, err := ParseAddress(alias)
	if err != nil {
		return Alias{}, err
	}
	taddr, tlocal, tdomain, err := ParseAddress(target)
	if err != nil {
		return Alias{}, err
	}
	now := time.Now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		did, err := s.domainID(ctx, tx, domain)
		if err != nil {
			return err
		}
		uid, err := userID(ctx, tx, taddr, tlocal, tdomain)
		if err != nil {
			return err
		}
		if kind, err := addressTaken(ctx, tx, did, local); err != nil || kind != "" {
			return takenErr(addr, kind, err)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO aliases (domain_id, localpart, user_id, created_at) VALUES ($1, $2, $3, $4)",
			did, local, uid, now.Unix())
		if migrations.IsUniqueViolation(err) {
			return fmt.Errorf("alias %s: %w", addr, ErrExists)
		}
		return err
	})
	if err != nil {
		return Alias{}, err
	}
	s.log.Info("alias added", "alias", addr, "target", taddr)
	return Alias{Address: addr, Target: taddr, CreatedAt: unix(now.Unix())}, nil
}

// DeleteAlias removes an alias.
func (s *Store) DeleteAlias(ctx context.Context, alias string) error {
	addr, local, domain, err := ParseAddress(alias)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE localpart = $1
			AND domain_id = (SELECT id FROM domains WHERE name = $2)`, local, domain)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("alias %s: %w", addr, ErrNotFound)
		}
		return nil
	})
	if err == nil {
		s.log.Info("alias deleted", "alias", addr)
	}
	return err
}

const aliasQuery = `SELECT a.localpart || '@' || d.name, u.localpart || '@' || ud.name, a.created_at
	FROM aliases a JOIN domains d ON d.id = a.domain_id
	JOIN users u ON u.id = a.user_id JOIN domains ud ON ud.id = u.domain_id`

// Aliases lists the aliases of one domain, or of all if domain is "".
func (s *Store) Aliases(ctx context.Context, domain string) ([]Alias, error) {
	domain, err := s.domainScope(ctx, domain)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, aliasQuery+" WHERE ($1 = '' OR d.name = $1) ORDER BY d.name, a.localpart", domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alias
	for rows.Next() {
		var a Alias
		var created int64
		if err := rows.Scan(&a.Address, &a.Target, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = unix(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Resolve finds the user that mail for address belongs to: the user with
// that address, or the target of the alias. A subaddress (user+tag@domain)
// resolves like its base address. Mail delivery uses this; logins do not.
func (s *Store) Resolve(ctx context.Context, address string) (User, error) {
	base := address
	if at := strings.LastIndexByte(address, '@'); at > 0 {
		if plus := strings.IndexByte(address[:at], '+'); plus > 0 {
			base = address[:plus] + address[at:]
		}
	}
	u, err := s.User(ctx, base)
	if !errors.Is(err, ErrNotFound) {
		return u, err
	}
	_, local, domain, _ := ParseAddress(base)
	var target string
	err = s.db.QueryRowContext(ctx, `SELECT u.localpart || '@' || ud.name FROM aliases a
		JOIN domains d ON d.id = a.domain_id JOIN users u ON u.id = a.user_id JOIN domains ud ON ud.id = u.domain_id
		WHERE d.name = $1 AND a.localpart = $2`, domain, local).Scan(&target)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("address %s: %w", address, ErrNotFound)
	}
	if err != nil {
		return User{}, err
	}
	return s.User(ctx, target)
}
