package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tidings/tidings/migrations"
)

// Service names a protocol a user logs in to; each has its switches.
type Service string

// The services. Mail services need the domain's mail switch; XMPP needs the
// domain's and the user's XMPP switches.
const (
	ServiceSMTP        Service = "smtp"
	ServiceIMAP        Service = "imap"
	ServiceManageSieve Service = "managesieve"
	ServiceWebmail     Service = "webmail"
	ServiceXMPP        Service = "xmpp"
)

// User is an account. Its address is also its bare Jabber ID.
type User struct {
	ID          int64     `json:"-"`
	Address     string    `json:"address"`
	Localpart   string    `json:"localpart"`
	Domain      string    `json:"domain"`
	DisplayName string    `json:"display_name"`
	Disabled    bool      `json:"disabled"`
	Admin       bool      `json:"admin"`
	XMPPEnabled bool      `json:"xmpp_enabled"` // the user's own switch
	Quota       ByteSize  `json:"quota_bytes"`  // 0: unlimited
	DomainMail  bool      `json:"domain_mail_enabled"`
	DomainXMPP  bool      `json:"domain_xmpp_enabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// JID returns the user's bare Jabber ID: the same string as the address.
func (u User) JID() string { return u.Address }

// CanUse reports whether the user may log in to svc right now.
func (u User) CanUse(svc Service) bool {
	if u.Disabled {
		return false
	}
	if svc == ServiceXMPP {
		return u.DomainXMPP && u.XMPPEnabled
	}
	return u.DomainMail
}

// NewUser describes an account to create. Nil switches default to on.
type NewUser struct {
	Address     string
	Password    string
	DisplayName string
	Admin       bool
	XMPPEnabled *bool
	Quota       *ByteSize // nil: the configured default quota
}

// UserUpdate changes an account; nil fields stay as they are.
type UserUpdate struct {
	DisplayName *string
	Disabled    *bool
	Admin       *bool
	XMPPEnabled *bool
	Quota       *ByteSize
}

const userCols = `u.id, u.localpart, d.name, u.display_name, u.disabled, u.is_admin, u.xmpp_enabled,
	u.quota_bytes, d.mail_enabled, d.xmpp_enabled, u.created_at, u.updated_at`

const userFrom = ` FROM users u JOIN domains d ON d.id = u.domain_id`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created, updated int64
	err := row.Scan(&u.ID, &u.Localpart, &u.Domain, &u.DisplayName, &u.Disabled, &u.Admin, &u.XMPPEnabled,
		&u.Quota, &u.DomainMail, &u.DomainXMPP, &created, &updated)
	u.Address = u.Localpart + "@" + u.Domain
	u.CreatedAt, u.UpdatedAt = unix(created), unix(updated)
	return u, err
}

// CheckPassword applies the password policy to a new password.
func (s *Store) CheckPassword(password string) error {
	if n := utf8.RuneCountInString(password); n < s.cfg.MinPasswordLength {
		return &PasswordError{Reason: fmt.Sprintf("shorter than %d characters", s.cfg.MinPasswordLength)}
	}
	if len(password) > maxPassword {
		return &PasswordError{Reason: fmt.Sprintf("longer than %d bytes", maxPassword)}
	}
	_, err := preparePassword(password)
	return err
}

// AddUser creates an account in an existing domain.
func (s *Store) AddUser(ctx context.Context, nu NewUser) (User, error) {
	addr, local, domain, err := ParseAddress(nu.Address)
	if err != nil {
		return User{}, err
	}
	if err := s.CheckPassword(nu.Password); err != nil {
		return User{}, err
	}
	creds, err := newCredentials(nu.Password, s.cfg.SCRAMIterations)
	if err != nil {
		return User{}, err
	}
	xmpp, quota := true, s.cfg.DefaultQuota
	if nu.XMPPEnabled != nil {
		xmpp = *nu.XMPPEnabled
	}
	if nu.Quota != nil {
		quota = *nu.Quota
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		did, err := s.domainID(ctx, tx, domain)
		if err != nil {
			return err
		}
		if kind, err := addressTaken(ctx, tx, did, local); err != nil || kind != "" {
			return takenErr(addr, kind, err)
		}
		now := time.Now().Unix()
		var id int64
		err = tx.QueryRowContext(ctx, `INSERT INTO users (domain_id, localpart, display_name, is_admin, xmpp_enabled,
			quota_bytes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
			did, local, nu.DisplayName, nu.Admin, xmpp, int64(quota), now).Scan(&id)
		if migrations.IsUniqueViolation(err) {
			return fmt.Errorf("user %s: %w", addr, ErrExists)
		}
		if err != nil {
			return err
		}
		return putCredentials(ctx, tx, id, creds)
	})
	if err != nil {
		return User{}, err
	}
	s.log.Info("user added", "user", addr, "admin", nu.Admin)
	return s.User(ctx, addr)
}

func takenErr(addr, kind string, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("address %s: %w (as %s)", addr, ErrExists, kind)
}

func putCredentials(ctx context.Context, tx *sql.Tx, userID int64, creds []SCRAMCredential) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM credentials WHERE user_id = $1", userID); err != nil {
		return err
	}
	for _, c := range creds {
		_, err := tx.ExecContext(ctx, `INSERT INTO credentials (user_id, mechanism, salt, iterations, stored_key, server_key)
			VALUES ($1, $2, $3, $4, $5, $6)`, userID, string(c.Hash), c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
		if err != nil {
			return err
		}
	}
	return nil
}

// User returns the account with this address (not an alias: see
// [Store.Resolve]).
func (s *Store) User(ctx context.Context, address string) (User, error) {
	addr, local, domain, err := ParseAddress(address)
	if err != nil {
		return User{}, err
	}
	return s.userByName(ctx, addr, local, domain)
}

// UserByID loads a user by its ID (the key other packages' rows refer to).
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+userFrom+" WHERE u.id = $1", id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user #%d: %w", id, ErrNotFound)
	}
	return u, err
}

// userByName loads a user by its normalised parts.
func (s *Store) userByName(ctx context.Context, addr, local, domain string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, "SELECT "+userCols+userFrom+" WHERE d.name = $1 AND u.localpart = $2", domain, local))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", addr, ErrNotFound)
	}
	return u, err
}

// Users lists the accounts of one domain, or of all domains if domain is "".
func (s *Store) Users(ctx context.Context, domain string) ([]User, error) {
	domain, err := s.domainScope(ctx, domain)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+userFrom+
		" WHERE ($1 = '' OR d.name = $1) ORDER BY d.name, u.localpart", domain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// userID finds a user's id inside a transaction.
func userID(ctx context.Context, tx *sql.Tx, addr, local, domain string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT u.id`+userFrom+` WHERE d.name = $1 AND u.localpart = $2`, domain, local).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("user %s: %w", addr, ErrNotFound)
	}
	return id, err
}

// UpdateUser changes an account's settings. Disabling it, or switching XMPP
// off, ends its live sessions (through the change feed).
func (s *Store) UpdateUser(ctx context.Context, address string, up UserUpdate) (User, error) {
	addr, local, domain, err := ParseAddress(address)
	if err != nil {
		return User{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, addr, local, domain)
		if err != nil {
			return err
		}
		sets := []struct {
			col string
			val any
			ok  bool
		}{
			{"display_name", deref(up.DisplayName), up.DisplayName != nil},
			{"disabled", deref(up.Disabled), up.Disabled != nil},
			{"is_admin", deref(up.Admin), up.Admin != nil},
			{"xmpp_enabled", deref(up.XMPPEnabled), up.XMPPEnabled != nil},
			{"quota_bytes", int64(deref(up.Quota)), up.Quota != nil},
		}
		for _, c := range sets {
			if !c.ok {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE users SET "+c.col+" = $1, updated_at = $2 WHERE id = $3",
				c.val, time.Now().Unix(), id); err != nil {
				return err
			}
		}
		kind := EventUserChanged
		if up.Disabled != nil && *up.Disabled {
			kind = EventUserDisabled
		}
		return recordEvent(ctx, tx, kind, addr, domain)
	})
	if err != nil {
		return User{}, err
	}
	s.log.Info("user updated", "user", addr)
	return s.User(ctx, addr)
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// SetPassword replaces a user's credentials and ends their live sessions
// (through the change feed): the old password stops working everywhere.
func (s *Store) SetPassword(ctx context.Context, address, password string) error {
	addr, local, domain, err := ParseAddress(address)
	if err != nil {
		return err
	}
	if err := s.CheckPassword(password); err != nil {
		return err
	}
	creds, err := newCredentials(password, s.cfg.SCRAMIterations)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, addr, local, domain)
		if err != nil {
			return err
		}
		if err := putCredentials(ctx, tx, id, creds); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET updated_at = $1 WHERE id = $2", time.Now().Unix(), id); err != nil {
			return err
		}
		return recordEvent(ctx, tx, EventPasswordChanged, addr, domain)
	})
	if err == nil {
		s.log.Info("password changed", "user", addr)
	}
	return err
}

// DeleteUser removes an account with its credentials, aliases and contacts,
// and ends its live sessions.
func (s *Store) DeleteUser(ctx context.Context, address string) error {
	addr, local, domain, err := ParseAddress(address)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, addr, local, domain)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = $1", id); err != nil {
			return err
		}
		return recordEvent(ctx, tx, EventUserDeleted, addr, domain)
	})
	if err == nil {
		s.log.Info("user deleted", "user", addr)
	}
	return err
}

// CountUsers returns the number of accounts in all domains.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}
