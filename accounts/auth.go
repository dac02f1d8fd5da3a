package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// Attempt is one password login (SASL PLAIN or LOGIN, IMAP LOGIN, webmail).
type Attempt struct {
	Username string     // the full address; XMPP joins its localpart with the stream's domain
	Password string     // never logged
	Remote   netip.Addr // client address for the throttle; invalid if unknown
	Service  Service
}

// Authenticate verifies a password login against the stored SCRAM keys,
// under the shared throttle. It returns ErrBadCredentials for an unknown user
// or a wrong password alike, *ThrottledError while in a penalty,
// ErrDisabled, or ErrServiceDisabled. Protocols show the client a generic
// text for all of these.
func (s *Store) Authenticate(ctx context.Context, a Attempt) (User, error) {
	addr, _, _, err := ParseAddress(a.Username)
	if err != nil {
		addr = a.Username // still throttled and logged under what was typed
	}
	if err := s.throttle.Check(a.Remote, addr); err != nil {
		return User{}, err
	}
	u, cred, err := s.credential(ctx, addr, "")
	if errors.Is(err, ErrNotFound) || errors.Is(err, errNoName) {
		s.dummyVerify(a.Password) // the same work as for a real user: no timing oracle
		s.throttle.Failure(a.Remote, addr, a.Service)
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	if !cred.Verify(a.Password) {
		s.throttle.Failure(a.Remote, addr, a.Service)
		return User{}, ErrBadCredentials
	}
	return u, s.LoginAllowed(u, a.Remote, a.Service)
}

// LoginAllowed finishes a login whose secret was verified (by Authenticate,
// or by a SCRAM exchange in a protocol server): it refuses disabled accounts
// and switched-off services, and otherwise clears the account's throttle.
func (s *Store) LoginAllowed(u User, remote netip.Addr, svc Service) error {
	switch {
	case u.Disabled:
		s.log.Info("login refused: account disabled", "service", svc, "remote", remote, "account", u.Address)
		return ErrDisabled
	case !u.CanUse(svc):
		s.log.Info("login refused: service off for account", "service", svc, "remote", remote, "account", u.Address)
		return ErrServiceDisabled
	}
	s.throttle.Success(u.Address)
	s.metrics.logins.WithLabelValues(string(svc)).Inc()
	return nil
}

var errNoName = errors.New("not a valid address")

// SCRAMCredential returns the stored SCRAM keys of a user for a SCRAM server
// (XMPP, IMAP). The caller runs the exchange, checks [Throttle.Check] first,
// and reports the outcome with [Throttle.Failure] or [Store.LoginAllowed].
func (s *Store) SCRAMCredential(ctx context.Context, address string, h SCRAMHash) (SCRAMCredential, User, error) {
	u, c, err := s.credential(ctx, address, h)
	return c, u, err
}

// credential loads a user and one credential: of hash h, or the strongest
// stored if h is "".
func (s *Store) credential(ctx context.Context, address string, h SCRAMHash) (User, SCRAMCredential, error) {
	addr, local, domain, err := ParseAddress(address)
	if err != nil {
		return User{}, SCRAMCredential{}, errNoName
	}
	u, err := s.userByName(ctx, addr, local, domain)
	if err != nil {
		return User{}, SCRAMCredential{}, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT mechanism, salt, iterations, stored_key, server_key FROM credentials WHERE user_id = $1", u.ID)
	if err != nil {
		return User{}, SCRAMCredential{}, err
	}
	defer rows.Close()
	found := map[SCRAMHash]SCRAMCredential{}
	for rows.Next() {
		var c SCRAMCredential
		if err := rows.Scan(&c.Hash, &c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey); err != nil {
			return User{}, SCRAMCredential{}, err
		}
		found[c.Hash] = c
	}
	if err := rows.Err(); err != nil {
		return User{}, SCRAMCredential{}, err
	}
	want := []SCRAMHash{h}
	if h == "" {
		want = scramHashes
	}
	for _, w := range want {
		if c, ok := found[w]; ok {
			return u, c, nil
		}
	}
	return User{}, SCRAMCredential{}, fmt.Errorf("user %s: no %s credential: %w", addr, h, ErrNotFound)
}

// dummyVerify spends what verifying a real password costs.
func (s *Store) dummyVerify(password string) {
	s.dummyOnce.Do(func() {
		creds, _ := newCredentials("not a password anyone has", s.cfg.SCRAMIterations)
		s.dummy = creds[0]
	})
	s.dummy.Verify(password)
}
